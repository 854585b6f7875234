package attribution

import (
	"math"
	"testing"
)

// Agreement: Pearson's r over the features either side has, by hand, and
// the feature of the largest difference; NaN without two such features.
func TestAgreement(t *testing.T) {
	// feature 1 is 0 on both sides and left out; r by its definition
	exact := []float64{1, 0, 2, 3, 0.5}
	est := []float64{2, 0, 4, 6, 0}
	xs, ys := []float64{1, 2, 3, 0.5}, []float64{2, 4, 6, 0}
	var mx, my float64
	for i := range xs {
		mx += xs[i] / 4
		my += ys[i] / 4
	}
	var sxy, sxx, syy float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
		syy += (ys[i] - my) * (ys[i] - my)
	}
	want := sxy / math.Sqrt(sxx*syy)
	corr, worst := Agreement(exact, est)
	if math.Abs(corr-want) > 1e-12 || worst != 3 {
		t.Errorf("Agreement = %v, %d; want %v, 3", corr, worst, want)
	}
	if corr, worst := Agreement([]float64{0, 1}, []float64{0, 1}); !math.IsNaN(corr) || worst != 1 {
		t.Errorf("one feature: %v, %d; want NaN, 1", corr, worst)
	}
}
