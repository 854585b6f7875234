//go:build !cuda && cgo

package kernels_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/cuda/conformance"
	"github.com/saescope/saescope/compute/cuda/engine"
	"github.com/saescope/saescope/compute/cuda/kernels"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/store"
)

// The CUDA backend's logic and kernels, run on the CPU emulator.

func TestEmulatedOps(t *testing.T) {
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	conformance.Ops(t, be, conformance.Small)
	t.Logf("%d launches, %d SGEMMs: %v", dev.Stats.Launches, dev.Stats.Sgemms, dev.Stats.Kernels)
}

func TestEmulatedSparseReadBack(t *testing.T) {
	be := engine.New(kernels.NewEmulator(), "cuda-emulated")
	conformance.SparseReadBack(t, be, be, conformance.Small)
}

func TestEmulatedParity(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated fixture forward passes take seconds")
	}
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	conformance.Parity(t, be, 1e-3)
	t.Logf("%d launches, %d SGEMMs", dev.Stats.Launches, dev.Stats.Sgemms)
}

func TestEmulatorFreesScratch(t *testing.T) {
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	x := be.Alloc(4, 40)
	var ptr []uint64
	var ids []uint32
	var vals []float32
	be.Fill(x, 1)
	ptr, ids, vals = be.SparseRows(x, ptr, ids, vals)
	if len(ids) != 160 || len(vals) != 160 || ptr[4] != 160 {
		t.Fatalf("sparse rows of ones: %d ids, %d vals, ptr %v", len(ids), len(vals), ptr)
	}
	be.Free(x)
	be.Close()
	if n := dev.LiveBytes(); n != 0 {
		t.Errorf("%d bytes still allocated after freeing every tensor and closing", n)
	}
}

// TestEmulatedTimed runs the fixture model through the timing wrapper the
// GPU breakdown test uses.
func TestEmulatedTimed(t *testing.T) {
	tb := conformance.NewTimed(engine.New(kernels.NewEmulator(), "cuda-emulated"))
	ref := fixture.Load(t)
	s := fixture.NewSetupOn(t, ref, tb)
	tokens, shape := ref.Ints(t, "tokens")
	acts, err := features.Activations(context.Background(), s.Model, s.SAEs["sae0"], tokens, shape[0], shape[1])
	if err != nil {
		t.Fatal(err)
	}
	if d := conformance.Compare(acts, ref.Float(t, "sae0.feature_acts").Data); d.MaxScaled > 1e-3 {
		t.Errorf("features through the timing wrapper: %v", d)
	}
	rep := tb.Report()
	for _, op := range []string{"MatMul", "CausalAttention", "LayerNorm", "SAEEncode", "Gather"} {
		if !strings.Contains(rep, op) {
			t.Errorf("no %s in the timing report:\n%s", op, rep)
		}
	}
	t.Log("\n" + rep)
}

// TestEmulatedScan runs a corpus scan on the emulated device — forward,
// encode, sparse read-back, baseline, unembedding, reconstruction — and
// compares its store with the CPU's: the same active features (up to
// activations within 1e-4 of zero), statistics to 1e-3.
func TestEmulatedScan(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated scan takes seconds")
	}
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
	for i, be := range []compute.Backend{cpuBe, engine.New(kernels.NewEmulator(), "cuda-emulated")} {
		s := fixture.NewSetupOn(t, ref, be)
		if st[i], err = analysis.Scan(context.Background(), s.Model, s.SAEs["sae0"], rows, store.Meta{Params: p}, nil); err != nil {
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
