package plots

import "testing"

// The logit-weight histogram: every bin's tokens in one of the two
// series, by the side of zero of its centre.
func TestLogitWeights(t *testing.T) {
	edges := []float64{-2, -1, 0, 1, 2, 3}
	counts := []int{3, 10, 40, 5, 1}
	f, err := LogitWeights(7, edges, counts)
	if err != nil {
		t.Fatal(err)
	}
	checkBars(t, f, Options{Counts: true})
	neg, pos := f.Bars[0], f.Bars[1]
	wantNeg, wantPos := []int{3, 10, 0, 0, 0}, []int{0, 0, 40, 5, 1}
	for i := range counts {
		if neg.Counts[i] != wantNeg[i] || pos.Counts[i] != wantPos[i] {
			t.Fatalf("bins %v and %v, want %v and %v", neg.Counts, pos.Counts, wantNeg, wantPos)
		}
	}
	if neg.N+pos.N != 59 || f.Plot.X.Min != -2 || f.Plot.X.Max != 3 {
		t.Errorf("%d tokens, x %g..%g", neg.N+pos.N, f.Plot.X.Min, f.Plot.X.Max)
	}
	for _, bad := range [][2][]float64{{{0, 1}, nil}, {{1, 1}, {1}}} {
		c := make([]int, len(bad[1]))
		if _, err := LogitWeights(1, bad[0], c); err == nil {
			t.Errorf("edges %v accepted", bad[0])
		}
	}
}
