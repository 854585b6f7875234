package analysis_test

import (
	"context"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/store"
)

// A scan into a bounded store (what analyze writes) answers the queries
// of the panes as the full store of the same scan does, exactly: ranking
// statistics, top contexts and interval samples with their activations,
// histograms, co-activations and the learnt-versus-random distributions
// (features per token on every grid threshold, as multisets).
func TestBoundedScanEqualsFull(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	p := analysis.DefaultParams()
	p.Batch, p.BaselineStride, p.ReconRows = 4, 2, 2
	rows := rowsOf(12, 24, 5)
	full, err := analysis.ScanFull(context.Background(), s.Model, s.SAEs["sae0"], rows, store.Meta{Params: p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bnd, err := analysis.Scan(context.Background(), s.Model, s.SAEs["sae0"], rows, store.Meta{Params: p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if full.Bounded() || !bnd.Bounded() {
		t.Fatal("ScanFull must give a full store, Scan a bounded one")
	}
	fs, bs := full.Meta.Summary, bnd.Meta.Summary
	fs.ScanSeconds, fs.TokensPerS, fs.HostSeconds = 0, 0, 0
	bs.ScanSeconds, bs.TokensPerS, bs.HostSeconds = 0, 0, 0
	if fs != bs {
		t.Errorf("summary %+v, want %+v", bs, fs)
	}
	live := 0
	for f := 0; f < full.DSae(); f++ {
		a, _ := full.Stats(f)
		b, _ := bnd.Stats(f)
		if math.IsNaN(a.CV) && math.IsNaN(b.CV) {
			a.CV, b.CV = 0, 0
		}
		if a != b {
			t.Fatalf("feature %d: %+v, want %+v", f, b, a)
		}
		if !a.Dead {
			live++
		}
		ta, _ := full.TopContexts(f, store.TopK, 30, 2)
		tb, err := bnd.TopContexts(f, store.TopK, 30, 2)
		if err != nil || !reflect.DeepEqual(ta, tb) {
			t.Fatalf("feature %d: top contexts differ (%v)", f, err)
		}
		ia, _ := full.IntervalSamples(f, 127, 127)
		ib, err := bnd.IntervalSamples(f, 127, 127)
		if err != nil || !reflect.DeepEqual(ia, ib) {
			t.Fatalf("feature %d: interval samples differ (%v)", f, err)
		}
		ea, ca, _ := full.Histogram(f)
		eb, cb, err := bnd.Histogram(f)
		if err != nil || !reflect.DeepEqual(ea, eb) || !reflect.DeepEqual(ca, cb) {
			t.Fatalf("feature %d: histograms differ (%v)", f, err)
		}
		xa, _ := full.CoActivation(f, store.CoK)
		xb, err := bnd.CoActivation(f, store.CoK)
		if err != nil || !reflect.DeepEqual(xa, xb) {
			t.Fatalf("feature %d: co-activations differ (%v)", f, err)
		}
	}
	if live < 10 {
		t.Fatalf("only %d live features: nothing compared", live)
	}
	for _, th := range store.GridThresholds() {
		a, err := full.Distribution(store.PlotFeaturesPerToken, th)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bnd.Distribution(store.PlotFeaturesPerToken, th)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(a.Learnt)
		slices.Sort(a.Random)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("features per token at %g differ", th)
		}
	}
}
