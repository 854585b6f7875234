package train

import (
	"context"
	"math"
	"testing"

	"github.com/saescope/saescope/weights/hookname"
)

// Data made of a known sparse dictionary: each sample is 3 of 48 unit
// atoms in 16 dimensions with exponential coefficients, plus a little
// noise. A trained SAE must explain it with few features and find most
// atoms among its decoder rows.
func TestRecoversPlantedDictionary(t *testing.T) {
	const d, atoms, n, per = 16, 24, 24000, 2
	dict, x := plantedData(d, atoms, n, per, true)
	h := hookname.Hook{Layer: 0, Point: hookname.ResidPre}
	s, fit, err := SAE(context.Background(), x, n, d, h, Options{DSae: 48, L1: 0.3, LR: 3e-3, Batch: 512, Epochs: 25, Seed: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit: %+v", fit)
	if fit.FVU > 0.1 || fit.L0 > 3*per {
		t.Errorf("fit %+v: want FVU ≤ 0.1 and L0 ≤ %d", fit, 3*per)
	}
	found := 0
	for a := 0; a < atoms; a++ {
		best := 0.0
		for f := 0; f < s.DSae; f++ {
			var dot float64
			for j := 0; j < d; j++ {
				dot += float64(dict[a*d+j]) * float64(s.WDec.Data[f*d+j])
			}
			best = math.Max(best, dot)
		}
		if best > 0.9 {
			found++
		}
	}
	t.Logf("%d of %d atoms found (cosine > 0.9)", found, atoms)
	if found < atoms*8/10 {
		t.Errorf("only %d of %d atoms found among the decoder rows", found, atoms)
	}
	for f := 0; f < s.DSae; f++ {
		var n2 float64
		for _, v := range s.WDec.Data[f*d : (f+1)*d] {
			n2 += float64(v) * float64(v)
		}
		if math.Abs(n2-1) > 1e-4 {
			t.Fatalf("decoder row %d has norm² %g, want 1", f, n2)
		}
	}
}

// The analytic gradient against finite differences of the loss.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	const m, d, k = 5, 4, 6
	p, sc := randomStep(5, 6, m, d, k)
	const l1 = 0.3
	loss := func() float64 {
		var sum float64
		for i := 0; i < m; i++ {
			for j := 0; j < d; j++ {
				var xh float64 = float64(p.bDec[j])
				for f := 0; f < k; f++ {
					pre := float64(p.bEnc[f])
					for jj := 0; jj < d; jj++ {
						pre += (float64(sc.x[i*d+jj]) - float64(p.bDec[jj])) * float64(p.wEnc[jj*k+f])
					}
					xh += math.Max(pre, 0) * float64(p.wDec[f*d+j])
				}
				e := xh - float64(sc.x[i*d+j])
				sum += e * e
			}
			for f := 0; f < k; f++ {
				pre := float64(p.bEnc[f])
				for jj := 0; jj < d; jj++ {
					pre += (float64(sc.x[i*d+jj]) - float64(p.bDec[jj])) * float64(p.wEnc[jj*k+f])
				}
				sum += l1 * math.Max(pre, 0)
			}
		}
		return sum / m
	}
	g := newParams(d, k)
	sc.step(p, g, l1)
	checkFiniteDifferences(t, p, g, loss)
}
