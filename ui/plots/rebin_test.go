package plots

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/saescope/saescope/compute/store"
)

// rebin places each source bin's count at its centre: over [0, 4] in two
// bins, and over an explicit [1, 3] whose outside centres are counted and
// clamped to the end bins.
func TestRebin(t *testing.T) {
	edges, counts := []float64{0, 1, 2, 3, 4}, []int{1, 2, 3, 4}
	e, c, out := rebin(edges, counts, 2, 0, 4)
	if !reflect.DeepEqual(e, []float64{0, 2, 4}) || !reflect.DeepEqual(c, []int{3, 7}) || out != 0 {
		t.Errorf("over [0, 4]: %v %v %d", e, c, out)
	}
	_, c, out = rebin(edges, counts, 2, 1, 3)
	if !reflect.DeepEqual(c, []int{3, 7}) || out != 5 {
		t.Errorf("over [1, 3]: %v, %d outside, want [3 7], 5", c, out)
	}
	// A bin split in two: 3 over [0, 2] gives round(1.5) = 2, then 1; 10
	// over [2, 5] into [2, 4] and the end bin's 4..5 outside part.
	_, c, out = rebin([]float64{0, 2, 5}, []int{3, 10}, 4, 0, 4)
	if !reflect.DeepEqual(c, []int{2, 1, 3, 7}) || out != 3 {
		t.Errorf("split bins: %v, %d outside, want [2 1 3 7], 3", c, out)
	}
}

// The densities of features of a bounded store (which keeps no single
// activations) are drawn from its histograms: every activation counted
// once, and the figure says how.
func TestCompareAcrossBounded(t *testing.T) {
	const rows, seq, d = 40, 16, 8
	meta := store.Meta{DSae: d, Params: store.Params{Rows: rows, SeqLen: seq}}
	b := store.NewBoundedBuilder(meta, make([]int32, rows*seq))
	rng := rand.New(rand.NewPCG(1, 2))
	for tok := 0; tok < rows*seq; tok++ {
		var ids []uint32
		var vals []float32
		for f := 0; f < d; f++ {
			if tok%seq != 0 && rng.IntN(3) == 0 {
				ids = append(ids, uint32(f))
				vals = append(vals, float32(rng.ExpFloat64())*float32(f+1))
			}
		}
		b.AddToken(tok, ids, vals, tok%seq != 0)
	}
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	fig, err := CompareAcross([]Source{{Store: s, Feature: 1}, {Store: s, Feature: 6}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range []int{1, 6} {
		st, _ := s.Stats(f)
		n := 0
		for _, c := range fig.Bars[i].Counts {
			n += c
		}
		if n != st.Count || n == 0 {
			t.Errorf("feature %d: %d activations drawn, want %d", f, n, st.Count)
		}
	}
	if fig.Note != rebinNote {
		t.Errorf("note %q", fig.Note)
	}
}
