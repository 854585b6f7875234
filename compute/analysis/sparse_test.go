package analysis_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/store"
)

func TestScanSparsePathMatchesHostPath(t *testing.T) {
	ref := fixture.Load(t)
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	var _ compute.SparseReader = fixture.SparseCPU{Backend: be}
	if _, ok := compute.Backend(fixture.SparseCPU{Backend: be}).(compute.HostData); ok {
		t.Fatal("SparseCPU still offers HostData: the scan would not take the sparse path")
	}
	rows := rowsOf(23, 24, 11)
	for _, includeBOS := range []bool{false, true} {
		p := analysis.DefaultParams()
		p.Batch, p.IncludeBOS, p.BaselineStride, p.ReconRows = 5, includeBOS, 3, 4
		var got [2]*store.Store
		for i, b := range []compute.Backend{be, fixture.SparseCPU{Backend: be}} {
			s := fixture.NewSetupOn(t, ref, b)
			st, err := analysis.ScanFull(context.Background(), s.Model, s.SAEs["sae1"], rows, store.Meta{Params: p}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = st
		}
		SameStore(t, got[0], got[1])
	}
}

// SameStore fails t unless a and b hold the same activations, baseline,
// statistics and derived lists, to the bit.
func SameStore(t *testing.T, a, b *store.Store) {
	t.Helper()
	eq := func(name string, same bool) {
		t.Helper()
		if !same {
			t.Errorf("%s differ", name)
		}
	}
	eq("TokPtr", slices.Equal(a.TokPtr, b.TokPtr))
	eq("TokFeat", slices.Equal(a.TokFeat, b.TokFeat))
	eq("TokVal", slices.Equal(a.TokVal, b.TokVal))
	eq("RandTok", slices.Equal(a.RandTok, b.RandTok))
	eq("RandPtr", slices.Equal(a.RandPtr, b.RandPtr))
	eq("RandVal", slices.Equal(a.RandVal, b.RandVal))
	eq("TopTok", slices.Equal(a.TopTok, b.TopTok))
	eq("TopVal", slices.Equal(a.TopVal, b.TopVal))
	eq("IntTok", slices.Equal(a.IntTok, b.IntTok))
	eq("Hist", slices.Equal(a.Hist, b.Hist))
	for _, m := range [][2]store.Moments{{a.Learnt, b.Learnt}, {a.Random, b.Random}} {
		eq("moment counts", slices.Equal(m[0].Count, m[1].Count))
		eq("moment sums", slices.Equal(m[0].Sum, m[1].Sum))
		eq("moment sums of squares", slices.Equal(m[0].SumSq, m[1].SumSq))
		eq("moment maxima", slices.Equal(m[0].Max, m[1].Max))
	}
	sa, sb := a.Meta.Summary, b.Meta.Summary
	eq("summary", sa.Tokens == sb.Tokens && sa.RandomTokens == sb.RandomTokens && sa.L0 == sb.L0 &&
		sa.RandomL0 == sb.RandomL0 && sa.Dead == sb.Dead && sa.AvgNorm == sb.AvgNorm && sa.LossRecons == sb.LossRecons)
	eq("unembedding", slices.Equal(a.UnembedEntropy, b.UnembedEntropy) && slices.Equal(a.RandomUnembedMaxProb, b.RandomUnembedMaxProb))
	if a.Bounded() != b.Bounded() {
		t.Error("a bounded and a full store")
	}
	if a.Bounded() {
		eq("Tokens", slices.Equal(a.Tokens, b.Tokens) && slices.Equal(a.RowIDs, b.RowIDs))
		eq("SampPtr", slices.Equal(a.SampPtr, b.SampPtr))
		eq("SampPos", slices.Equal(a.SampPos, b.SampPos))
		eq("SampVal", slices.Equal(a.SampVal, b.SampVal))
		eq("TokCounts", slices.Equal(a.TokCounts, b.TokCounts))
		eq("RandCounts", slices.Equal(a.RandCounts, b.RandCounts))
		eq("Range", slices.Equal(a.Range, b.Range) && slices.Equal(a.IntCount, b.IntCount))
		eq("co-activations", slices.Equal(a.CoN, b.CoN) && slices.Equal(a.CoID, b.CoID) && slices.Equal(a.CoCorr, b.CoCorr))
		if len(a.SampVal) == 0 || a.Meta.Summary.RandomTokens == 0 {
			t.Error("empty store: nothing compared")
		}
		return
	}
	if len(a.TokFeat) == 0 || len(a.RandVal) == 0 {
		t.Error("empty store: nothing compared")
	}
}

// A cancelled scan on the device path stops at the next batch and
// returns only after the batch the host was absorbing is done.
func TestScanSparsePathCancel(t *testing.T) {
	ref := fixture.Load(t)
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	s := fixture.NewSetupOn(t, ref, fixture.SparseCPU{Backend: be})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	_, err = analysis.Scan(ctx, s.Model, s.SAEs["sae0"], rowsOf(40, 24, 1), store.Meta{Params: store.Params{Batch: 4}}, func(p analysis.Progress) {
		calls++
		if p.Stage == "scan" && p.Rows >= 8 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan returned %v", err)
	}
	if calls != 2 {
		t.Errorf("%d progress calls, want 2 (cancelled after the second batch)", calls)
	}
}
