package conformance

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/store"
)

// Scan runs a corpus scan of the fixture model on be — forward, encode,
// sparse read-back, baseline, unembedding, reconstruction — and compares
// its store with the CPU's: the same active features (up to activations
// within 1e-4 of zero) with values within 1e-3, statistics to 1e-3.
func Scan(t *testing.T, be compute.Backend) {
	ref := fixture.Load(t)
	cpuBe, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 9))
	const seq = 16
	rows := make([][]int32, 7)
	for i := range rows {
		rows[i] = make([]int32, seq)
		rows[i][0] = 50256
		for j := 1; j < seq; j++ {
			rows[i][j] = int32(rng.IntN(50257))
		}
	}
	p := analysis.DefaultParams()
	p.Batch, p.BaselineStride, p.ReconRows = 3, 2, 2
	var st [2]*store.Store
	for i, b := range []compute.Backend{cpuBe, be} {
		s := fixture.NewSetupOn(t, ref, b)
		if st[i], err = analysis.ScanFull(context.Background(), s.Model, s.SAEs["sae0"], rows, store.Meta{Params: p}, nil); err != nil {
			t.Fatal(err)
		}
	}
	c, g := st[0], st[1]
	if len(c.TokPtr) != len(g.TokPtr) || len(c.RandTok) != len(g.RandTok) {
		t.Fatalf("%d/%d tokens, %d/%d baseline tokens", len(g.TokPtr), len(c.TokPtr), len(g.RandTok), len(c.RandTok))
	}
	// Token by token: the same features, unless a value is near 0 on one side.
	near := func(ids []uint32, vals []float32, f uint32) bool {
		i, ok := slices.BinarySearch(ids, f)
		return ok && vals[i] < 1e-4
	}
	diffs := 0
	for tok := 0; tok+1 < len(c.TokPtr); tok++ {
		ci, cv := c.TokFeat[c.TokPtr[tok]:c.TokPtr[tok+1]], c.TokVal[c.TokPtr[tok]:c.TokPtr[tok+1]]
		gi, gv := g.TokFeat[g.TokPtr[tok]:g.TokPtr[tok+1]], g.TokVal[g.TokPtr[tok]:g.TokPtr[tok+1]]
		for k, f := range gi {
			j, ok := slices.BinarySearch(ci, f)
			switch {
			case !ok && !near(gi, gv, f):
				t.Errorf("token %d: feature %d active (%g) on the device only", tok, f, gv[k])
			case ok && math.Abs(float64(gv[k]-cv[j])) > 1e-3:
				t.Errorf("token %d feature %d: %g on the device, %g on the CPU", tok, f, gv[k], cv[j])
			case !ok:
				diffs++
			}
		}
		for _, f := range ci {
			if _, ok := slices.BinarySearch(gi, f); !ok && !near(ci, cv, f) {
				t.Errorf("token %d: feature %d active on the CPU only", tok, f)
			}
		}
	}
	close := func(name string, a, b float64) {
		if math.Abs(a-b) > 1e-3*math.Max(1, math.Abs(b)) {
			t.Errorf("%s: %g on the device, %g on the CPU", name, a, b)
		}
	}
	cs, gs := c.Meta.Summary, g.Meta.Summary
	close("L0", gs.L0, cs.L0)
	close("baseline L0", gs.RandomL0, cs.RandomL0)
	close("average norm", gs.AvgNorm, cs.AvgNorm)
	close("reconstruction loss", gs.LossRecons, cs.LossRecons)
	close("mean-ablation loss", gs.LossMean, cs.LossMean)
	for f := range c.UnembedEntropy {
		close("unembedding entropy", float64(g.UnembedEntropy[f]), float64(c.UnembedEntropy[f]))
		close("baseline unembedding max prob", float64(g.RandomUnembedMaxProb[f]), float64(c.RandomUnembedMaxProb[f]))
	}
	t.Logf("%d tokens, %d active entries; %d near-zero entries on one side only", len(c.TokPtr)-1, len(c.TokFeat), diffs)
}
