package plots

import (
	"image"
	"image/color"
	"testing"
)

// countNear counts the pixels of img within 12 of c on every channel.
func countNear(img image.Image, c color.NRGBA) int {
	n := 0
	b := img.Bounds()
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d > -12 && d < 12 }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, c.R) && near(g, c.G) && near(bl, c.B) {
				n++
			}
		}
	}
	return n
}

// The effects are drawn first at the top, positive ones blue and negative
// ones red, each bar as long as its value; an empty list draws a note.
func TestEffectsFigure(t *testing.T) {
	fig, err := Effects([]Effect{{"#7 first", 2}, {"#3 second", -1}, {"#9 a label far too long to be shown whole on the axis", 0.5}}, "Top effects", "effect")
	if err != nil {
		t.Fatal(err)
	}
	ticks := fig.Plot.Y.Tick.Marker.Ticks(fig.Plot.Y.Min, fig.Plot.Y.Max)
	at := map[float64]string{}
	for _, tk := range ticks {
		at[tk.Value] = tk.Label
	}
	if at[2] != "#7 first" || at[1] != "#3 second" || len([]rune(at[0])) != maxEffectLabel {
		t.Errorf("bars from the top: %q, %q, %q", at[2], at[1], at[0])
	}
	if fig.Plot.X.Min >= -1 || fig.Plot.X.Max <= 2 || fig.Plot.X.Min < -1.5 || fig.Plot.X.Max > 2.5 {
		t.Errorf("x range [%g, %g] for effects from -1 to 2", fig.Plot.X.Min, fig.Plot.X.Max)
	}
	img := Image(fig.Plot, 600, 300)
	blue, red := countNear(img, positiveColour), countNear(img, negativeColour)
	// bar areas: 2 + 0.5 units of blue for 1 of red
	if red == 0 || blue < 2*red {
		t.Errorf("%d blue pixels, %d red: want both, blue about 2.5 times red", blue, red)
	}
	fig.SetStyle(Style{Background: color.Black, Foreground: color.White}) // no bars of a histogram to restyle

	fig, err = Effects([]Effect{{"#1", 1}, {"#2", 0.25}}, "Top effects", "effect")
	if err != nil {
		t.Fatal(err)
	}
	if n := countNear(Image(fig.Plot, 600, 300), negativeColour); n != 0 {
		t.Errorf("%d red pixels with no negative effect", n)
	}
	if fig.Plot.X.Min != 0 {
		t.Errorf("positive effects only: the axis starts at %g, not 0", fig.Plot.X.Min)
	}

	fig, err = Effects(nil, "Top effects", "effect")
	if err != nil || fig.Note == "" {
		t.Errorf("empty list: %v, note %q", err, fig.Note)
	}
	if img := Image(fig.Plot, 300, 200); img == nil {
		t.Error("empty list: no image")
	}
}
