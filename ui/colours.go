package ui

import (
	"image/color"
	"math"
)

// The diverging activation scale: ColorBrewer's RdBu, white at 0, red for
// positive activations and blue for negative ones, saturated at the scale's
// maximum. (SAE activations are ReLU outputs and never negative, but the
// scale stays diverging so that a signed quantity reads the same way.)
var (
	scalePositive = []color.NRGBA{
		{0xf7, 0xf7, 0xf7, 0xff}, {0xfd, 0xdb, 0xc7, 0xff}, {0xf4, 0xa5, 0x82, 0xff},
		{0xd6, 0x60, 0x4d, 0xff}, {0xb2, 0x18, 0x2b, 0xff},
	}
	scaleNegative = []color.NRGBA{
		{0xf7, 0xf7, 0xf7, 0xff}, {0xd1, 0xe5, 0xf0, 0xff}, {0x92, 0xc5, 0xde, 0xff},
		{0x43, 0x93, 0xc3, 0xff}, {0x21, 0x66, 0xac, 0xff},
	}
	// Chip text colours, chosen by the chip's luminance whatever the theme.
	// Black and white: with them every colour has a text colour of
	// contrast at least 4.58:1 (WCAG AA), the mid-tones of the scale
	// included; any grey would drop those below 4.5.
	darkText  = color.NRGBA{0x00, 0x00, 0x00, 0xff}
	lightText = color.NRGBA{0xff, 0xff, 0xff, 0xff}
)

// ActivationColour maps v to the diverging scale saturated at ±max. A max
// that is not positive (an all-zero text) gives white for every value.
func ActivationColour(v, max float32) color.NRGBA {
	if !(max > 0) || v == 0 || math.IsNaN(float64(v)) {
		return scalePositive[0]
	}
	stops := scalePositive
	if v < 0 {
		stops, v = scaleNegative, -v
	}
	t := float64(v / max)
	if t > 1 {
		t = 1
	}
	x := t * float64(len(stops)-1)
	i := int(x)
	if i >= len(stops)-1 {
		return stops[len(stops)-1]
	}
	f := x - float64(i)
	a, b := stops[i], stops[i+1]
	mix := func(p, q uint8) uint8 { return uint8(math.Round(float64(p) + f*(float64(q)-float64(p)))) }
	return color.NRGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}

// relativeLuminance is WCAG 2's relative luminance of an opaque colour.
func relativeLuminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		s := float64(v) / 0xffff
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// ContrastRatio is WCAG 2's contrast ratio of two opaque colours (1 to 21).
func ContrastRatio(a, b color.Color) float64 {
	la, lb := relativeLuminance(a), relativeLuminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// TextColourOn returns near-black or near-white, whichever contrasts more
// with bg. It ignores the theme: a chip's colour is its own.
func TextColourOn(bg color.Color) color.NRGBA {
	if ContrastRatio(bg, darkText) >= ContrastRatio(bg, lightText) {
		return darkText
	}
	return lightText
}
