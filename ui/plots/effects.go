package plots

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// KindEffects is the Kind of an Effects figure.
const KindEffects = "effects"

// Effect is one bar of an Effects figure: a feature and its value.
type Effect struct {
	Label string // the bar's name on the axis ("#158 names of cities")
	Value float64
}

// Colours of positive and negative effects.
var (
	positiveColour = palette[0] // blue
	negativeColour = palette[3] // red
)

// maxEffectLabel bounds a bar's name, in runes.
const maxEffectLabel = 34

// Effects draws effects as horizontal bars in the order given, the first
// at the top: positive values blue, negative red, from zero. An empty list
// draws an empty plot with a note.
func Effects(effects []Effect, title, xlabel string) (*Figure, error) {
	n := len(effects)
	pos, neg := make(plotter.Values, n), make(plotter.Values, n)
	names := make([]string, n)
	lo, hi := 0.0, 0.0
	for i, e := range effects {
		k := n - 1 - i // the first effect at the top
		v := e.Value
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = 0
		}
		if v >= 0 {
			pos[k] = v
		} else {
			neg[k] = v
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		names[k] = truncateRunes(e.Label, maxEffectLabel)
	}
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = fontTitle
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = xlabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = fontLab
		a.Tick.Label.Font.Size = fontTick
		a.Padding = vg.Points(2)
	}
	for _, fnt := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font} {
		fnt.Variant = "Sans"
	}
	f := &Figure{Kind: KindEffects, Unit: "feature"}
	if n == 0 {
		f.Note = "no features to show"
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -1, 1, 0, 1
		f.note = &noteText{text: f.Note, color: LightStyle.muted()}
		p.Add(f.note)
		f.Plot = p
		return f, nil
	}
	width := vg.Points(min(18, 260/float64(n)))
	for _, c := range []struct {
		vals plotter.Values
		col  color.NRGBA
	}{{pos, positiveColour}, {neg, negativeColour}} {
		b, err := plotter.NewBarChart(c.vals, width)
		if err != nil {
			return nil, err
		}
		b.Horizontal = true
		b.Color = c.col
		b.LineStyle.Width = 0
		p.Add(b)
	}
	p.NominalY(names...)
	if lo == hi { // every effect 0
		lo, hi = -1, 1
	}
	pad := 0.04 * (hi - lo)
	p.X.Min, p.X.Max = lo-pad, hi+pad
	if lo == 0 {
		p.X.Min = 0
	}
	if hi == 0 {
		p.X.Max = 0
	}
	p.X.Tick.Marker = niceTicks{n: 8}
	f.Plot = p
	return f, nil
}

// truncateRunes cuts s to at most n runes, marking a cut with an ellipsis.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
