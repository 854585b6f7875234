package train

import (
	"context"
	"math"
	"sort"
	"testing"

	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// TestTopKGradientMatchesFiniteDifferences: the TopK step's gradient
// against central differences of an independent float64 loss (the top 2
// of 6 pre-activations kept, ReLU'd), h = 1e-3, tolerance 2% or 2e-2.
func TestTopKGradientMatchesFiniteDifferences(t *testing.T) {
	const m, d, k, topK = 5, 4, 6, 2
	p, sc := randomStep(7, 8, m, d, k)
	sc.topK = topK
	loss := func() float64 {
		var sum float64
		for i := 0; i < m; i++ {
			pre := make([]float64, k)
			for f := range pre {
				pre[f] = float64(p.bEnc[f])
				for j := 0; j < d; j++ {
					pre[f] += (float64(sc.x[i*d+j]) - float64(p.bDec[j])) * float64(p.wEnc[j*k+f])
				}
			}
			idx := []int{0, 1, 2, 3, 4, 5}
			sort.SliceStable(idx, func(a, b int) bool { return pre[idx[a]] > pre[idx[b]] })
			for j := 0; j < d; j++ {
				xh := float64(p.bDec[j])
				for _, f := range idx[:topK] {
					xh += math.Max(pre[f], 0) * float64(p.wDec[f*d+j])
				}
				e := xh - float64(sc.x[i*d+j])
				sum += e * e
			}
		}
		return sum / m
	}
	g := newParams(d, k)
	sc.step(p, g, 0)
	nonzero := checkFiniteDifferences(t, p, g, loss)
	if nonzero < 10 {
		t.Fatalf("only %d nonzero gradients: the check says little", nonzero)
	}
}

// TestTopKRecoversPlantedDictionary: a TopK SAE (K 2) on data made of 2
// of 24 atoms per sample explains it (FVU ≤ 0.1) with at most K features
// per token, and says it is TopK.
func TestTopKRecoversPlantedDictionary(t *testing.T) {
	const d, atoms, n, per = 16, 24, 24000, 2
	_, x := plantedData(d, atoms, n, per, false)
	h := hookname.Hook{Layer: 0, Point: hookname.ResidPre}
	s, fit, err := SAE(context.Background(), x, n, d, h, Options{DSae: 48, K: per, LR: 3e-3, Batch: 512, Epochs: 25, Seed: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit: %+v", fit)
	if fit.FVU > 0.1 || fit.L0 > per {
		t.Errorf("fit %+v: want FVU ≤ 0.1 and L0 ≤ %d", fit, per)
	}
	if s.Arch != sae.TopK || s.K != per {
		t.Errorf("architecture %v k %d, want TopK %d", s.Arch, s.K, per)
	}
	if _, _, err := SAE(context.Background(), x, n, d, h, Options{DSae: 48, K: per, L1: 0.1, LR: 3e-3, Batch: 512, Epochs: 1}, nil); err == nil {
		t.Error("TopK with an L1 penalty accepted")
	}
}
