package plots

import (
	"image/color"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/store"
)

var other = synth{rows: 24, seq: 32, d: 64, perToken: 8, randPerToken: 20, stride: 4,
	dead: map[int]bool{2: true}, seed: 9}.build()

// Features of two stores overlay on shared bins; each series counts the
// feature's non-zero activations in its own store.
func TestCompareAcross(t *testing.T) {
	srcs := []Source{{testStore, 3, "blocks.0.hook_resid_pre (96)"}, {other, 7, "blocks.0.hook_mlp_out (64)"}, {other, 2, "blocks.0.hook_mlp_out (64)"}}
	for _, o := range []Options{DefaultOptions(), {Counts: true, Bins: 10}, {Lo: 0.1, Hi: 0.5, Bins: 8, LogY: true}} {
		f, err := CompareAcross(srcs, o)
		if err != nil {
			t.Fatal(err)
		}
		checkBars(t, f, o)
		hi := 0.0
		for i, src := range srcs {
			st, _ := src.Store.Stats(src.Feature)
			hi = max(hi, st.Max)
			b := f.Bars[i]
			if b.N != st.Count || !slices.Equal(b.Edges, f.Bars[0].Edges) {
				t.Errorf("%+v: N %d, count %d", src, b.N, st.Count)
			}
			want := make([]float64, 0, st.Count)
			for _, v := range src.Store.FeatVal[src.Store.FeatPtr[src.Feature]:src.Store.FeatPtr[src.Feature+1]] {
				want = append(want, float64(v))
			}
			if got := histOf(want, b.Edges); !slices.Equal(got, b.Counts) {
				t.Errorf("feature %d: counts %v, want %v", src.Feature, b.Counts, got)
			}
		}
		e := f.Bars[0].Edges
		if o.Lo == o.Hi && (e[0] != 0 || e[len(e)-1] != hi) {
			t.Errorf("edges [%g, %g], want [0, %g]", e[0], e[len(e)-1], hi)
		}
		if o.Lo != o.Hi && !strings.Contains(f.Note, "outside") {
			t.Errorf("note %q", f.Note)
		}
	}
	f, _ := CompareAcross(srcs, DefaultOptions())
	keys := []string{f.Bars[0].Key, f.Bars[1].Key, f.Bars[2].Key}
	if keys[0] != "blocks_0_hook_resid_pre_96_feature_3" || keys[1] != "blocks_0_hook_mlp_out_64_feature_7" {
		t.Errorf("keys %v", keys)
	}
	texts := drawnText(t, f)
	if !containsText(texts, "feature 7 of blocks.0.hook_mlp_out (64) (fires on") || !containsText(texts, "feature 2 of blocks.0.hook_mlp_out (64) (dead)") {
		t.Errorf("legend %q", texts)
	}
	// the same feature twice keeps distinct CSV columns
	f, _ = CompareAcross([]Source{{other, 7, ""}, {other, 7, ""}}, DefaultOptions())
	if f.Bars[0].Key == f.Bars[1].Key {
		t.Errorf("duplicate keys %q", f.Bars[0].Key)
	}
	if _, err := CompareAcross(nil, DefaultOptions()); err == nil {
		t.Error("no sources accepted")
	}
	if _, err := CompareAcross([]Source{{other, 64, ""}}, DefaultOptions()); err == nil {
		t.Error("feature out of range accepted")
	}
	if _, err := CompareAcross([]Source{{nil, 1, ""}}, DefaultOptions()); err == nil {
		t.Error("missing store accepted")
	}
	if f, err := CompareAcross([]Source{{other, 2, ""}}, DefaultOptions()); err != nil || !strings.Contains(f.Note, "feature 2 never fires") {
		t.Errorf("dead: %v %v", f, err)
	}
	if f, err := CompareAcross([]Source{{other, 2, "a"}, {other, 2, "b"}}, DefaultOptions()); err != nil || !strings.Contains(f.Note, "none of these features fires on the") {
		t.Errorf("both dead, one store: %v %v", f, err)
	}
}

// A dark style paints the background and the text in the theme's colours,
// and back.
func TestSetStyle(t *testing.T) {
	f, err := Distribution(testStore, store.PlotFrequency, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dark := Style{Background: color.NRGBA{23, 23, 24, 255}, Foreground: color.NRGBA{243, 243, 243, 255}}
	if !dark.Dark() || LightStyle.Dark() {
		t.Fatal("Dark()")
	}
	f.SetStyle(dark)
	img := Image(f.Plot, 400, 300)
	if r, g, b, _ := img.At(1, 1).RGBA(); r>>8 != 23 || g>>8 != 23 || b>>8 != 24 {
		t.Errorf("corner pixel %d %d %d", r>>8, g>>8, b>>8)
	}
	if f.Plot.Title.TextStyle.Color != dark.Foreground || f.Plot.X.Tick.Label.Color != dark.Foreground {
		t.Error("text not recoloured")
	}
	if a := f.Bars[0].Hist.FillColor.(color.NRGBA).A; a != fillAlphaDark {
		t.Errorf("fill alpha %d on dark", a)
	}
	light := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r>>8 > 200 && g>>8 > 200 && bl>>8 > 200 {
				light++
			}
		}
	}
	if light < 200 {
		t.Errorf("%d light pixels: no text drawn on the dark background?", light)
	}
	f.SetStyle(LightStyle)
	if r, _, _, _ := Image(f.Plot, 400, 300).At(1, 1).RGBA(); r>>8 != 255 {
		t.Error("light style not restored")
	}
	if a := f.Bars[0].Hist.FillColor.(color.NRGBA).A; a != fillAlpha {
		t.Errorf("fill alpha %d on light", a)
	}
	// an empty plot's note takes the style too
	d, _ := Density(testStore, 5, Options{})
	d.SetStyle(dark)
	if d.note == nil || d.note.color == (color.NRGBA{90, 90, 90, 255}) {
		t.Error("note not restyled")
	}
}
