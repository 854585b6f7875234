package ui

import (
	"image/color"
	"testing"
)

func TestActivationScaleIsDivergingFromWhite(t *testing.T) {
	white := ActivationColour(0, 2)
	if white.R < 0xf0 || white.G < 0xf0 || white.B < 0xf0 {
		t.Errorf("0 is %v, want white", white)
	}
	red := ActivationColour(2, 2)
	if red.R <= red.B || red.R <= red.G {
		t.Errorf("max is %v, want red", red)
	}
	if ActivationColour(5, 2) != red {
		t.Error("values above the max are not saturated")
	}
	blue := ActivationColour(-2, 2)
	if blue.B <= blue.R {
		t.Errorf("-max is %v, want blue", blue)
	}
	// monotone: a larger activation is never lighter
	prev := relativeLuminance(white)
	for i := 1; i <= 40; i++ {
		l := relativeLuminance(ActivationColour(float32(i)/20, 2))
		if l > prev+1e-9 {
			t.Fatalf("luminance rises at %d", i)
		}
		prev = l
	}
	if ActivationColour(1, 0) != white {
		t.Error("a zero scale must give white, not divide by zero")
	}
}

// Chip text is legible on every colour of the scale, whatever the theme:
// WCAG AA (4.5:1) for normal text.
func TestChipTextContrast(t *testing.T) {
	for i := -100; i <= 100; i++ {
		bg := ActivationColour(float32(i)/100, 1)
		fg := TextColourOn(bg)
		if r := ContrastRatio(bg, fg); r < 4.5 {
			t.Errorf("value %.2f: text %v on %v has contrast %.2f", float32(i)/100, fg, bg, r)
		}
	}
	if TextColourOn(color.White) != darkText || TextColourOn(color.Black) != lightText {
		t.Error("text colour on white/black")
	}
}
