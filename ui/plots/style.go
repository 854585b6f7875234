package plots

import (
	"image/color"

	"gonum.org/v1/plot"
)

// Style colours a figure: its background and the text, axes and ticks
// drawn on it. Figures are built in LightStyle (black on white, for
// papers and exports); the window restyles them to its theme.
type Style struct {
	Background color.Color
	Foreground color.Color
}

// LightStyle is black on white, the style every figure is built in.
var LightStyle = Style{Background: color.White, Foreground: color.Black}

// Dark says whether the background is darker than the foreground.
func (s Style) Dark() bool { return luma(s.Background) < luma(s.Foreground) }

// backdrop is the translucent patch under the legend.
func (s Style) backdrop() color.Color {
	c := color.NRGBAModel.Convert(s.Background).(color.NRGBA)
	c.A = 215
	return c
}

// muted is the colour of a note on an empty plot: the foreground two
// thirds of the way from the background.
func (s Style) muted() color.Color {
	bg := color.NRGBAModel.Convert(s.Background).(color.NRGBA)
	fg := color.NRGBAModel.Convert(s.Foreground).(color.NRGBA)
	mix := func(a, b uint8) uint8 { return uint8((int(a) + 2*int(b)) / 3) }
	return color.NRGBA{mix(bg.R, fg.R), mix(bg.G, fg.G), mix(bg.B, fg.B), 255}
}

func luma(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return 0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)
}

// SetStyle recolours the figure. On a dark background the bars are
// filled more opaquely, so that they keep their contrast.
func (f *Figure) SetStyle(s Style) {
	p := f.Plot
	if p == nil {
		return
	}
	fg := s.Foreground
	p.BackgroundColor = s.Background
	p.Title.TextStyle.Color = fg
	p.Legend.TextStyle.Color = fg
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Color = fg
		a.LineStyle.Color = fg
		a.Tick.Label.Color = fg
		a.Tick.LineStyle.Color = fg
	}
	defer func() { f.dark = s.Dark() }()
	if f.backdrop != nil {
		f.backdrop.color = s.backdrop()
	}
	if f.note != nil {
		f.note.color = s.muted()
	}
	for _, b := range f.Bars {
		if b.Hist == nil {
			continue
		}
		// the opacity it was built with (in the light style)
		a := b.Hist.FillColor.(color.NRGBA).A
		if f.dark {
			a = uint8(int(a) * fillAlpha / fillAlphaDark)
		}
		if s.Dark() {
			a = uint8(int(a) * fillAlphaDark / fillAlpha)
		}
		b.Hist.FillColor = color.NRGBA{b.Color.R, b.Color.G, b.Color.B, a}
	}
}

// fillAlphaDark is the bars' opacity on a dark background.
const fillAlphaDark = 160
