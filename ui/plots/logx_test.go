package plots

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/store"
)

// The feature density plot: log10 of each feature's activation frequency
// (from the store's per-feature statistics), the features that never fire
// left out and counted in the note, the x range in log10 units.
func TestLogXFrequency(t *testing.T) {
	s := testStore
	var learnt, random []float64
	deadL, deadR := 0, 0
	for id := 0; id < s.DSae(); id++ {
		a, _ := s.Stats(id)
		r, _ := s.RandomStats(id)
		if a.Count > 0 {
			learnt = append(learnt, math.Log10(float64(a.Count)/float64(s.Meta.Summary.Tokens)))
		} else {
			deadL++
		}
		if r.Frequency > 0 {
			random = append(random, math.Log10(r.Frequency))
		} else {
			deadR++
		}
	}
	if deadL == 0 {
		t.Fatal("the synthetic store has no dead feature: the test needs one")
	}
	for _, o := range []Options{{LogX: true}, {LogX: true, Counts: true, Bins: 7}, {LogX: true, Lo: -3, Hi: 0}} {
		f, err := Distribution(s, store.PlotFrequency, o)
		if err != nil {
			t.Fatal(err)
		}
		checkBars(t, f, o)
		l, r := f.Bars[0], f.Bars[1]
		if l.N != len(learnt) || r.N != len(random) {
			t.Errorf("%+v: %d and %d samples, want %d and %d", o, l.N, r.N, len(learnt), len(random))
		}
		lh, rh := histOf(learnt, l.Edges), histOf(random, r.Edges)
		for i := range lh { // log10 of count/tokens vs of the store's frequency: an edge may split them
			if d := lh[i] - l.Counts[i]; d > 1 || d < -1 {
				t.Errorf("%+v: learnt bins %v, direct %v", o, l.Counts, lh)
				break
			}
		}
		if !slices.Equal(rh, r.Counts) {
			t.Errorf("%+v: random bins %v, direct %v", o, r.Counts, rh)
		}
		if o.Lo != o.Hi && (l.Edges[0] != o.Lo || l.Edges[len(l.Edges)-1] != o.Hi) {
			t.Errorf("range %g..%g: edges %g..%g", o.Lo, o.Hi, l.Edges[0], l.Edges[len(l.Edges)-1])
		}
		if !f.LogX || !strings.Contains(f.Plot.X.Label.Text, "log10") || !strings.Contains(f.Plot.Title.Text, "Feature density") {
			t.Errorf("labels: x %q, title %q", f.Plot.X.Label.Text, f.Plot.Title.Text)
		}
		if !strings.Contains(f.Note, plural(deadL, "feature")+" of the learnt SAE") {
			t.Errorf("note %q, %d dead", f.Note, deadL)
		}
	}
	// the CSV says its edges are log10
	f, _ := Distribution(s, store.PlotFrequency, Options{LogX: true})
	var b strings.Builder
	if err := WriteCSV(&b, f); err != nil || !strings.HasPrefix(b.String(), "log10_bin_lo,log10_bin_hi,") {
		t.Errorf("CSV header %q, %v", strings.SplitN(b.String(), "\n", 2)[0], err)
	}
	// without LogX: every feature, linear
	f, _ = Distribution(s, store.PlotFrequency, Options{})
	if f.LogX || f.Bars[0].N != s.DSae() || strings.Contains(f.Plot.X.Label.Text, "log10") {
		t.Errorf("linear: %d samples, x %q", f.Bars[0].N, f.Plot.X.Label.Text)
	}
}
