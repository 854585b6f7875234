package analysis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/store"
)

// manyTargets returns four targets on s's model: sae0 at
// blocks.1.hook_resid_pre, sae1 at blocks.0.hook_mlp_out, sae1 again with
// another baseline stride (two SAEs at one hook), and sae0 marked as
// trained on uncentred activations (a second pass per batch). Each has
// its own sources, so its own key.
func manyTargets(t *testing.T, s *fixture.Setup, p store.Params) []analysis.Target {
	t.Helper()
	raw := *s.SAEs["sae0"].SAE
	raw.Uncentred = true
	rawEnc, err := encoder.New(s.Backend, &raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rawEnc.Close)
	p2 := p
	p2.BaselineStride = 2
	encs := []*encoder.Encoder{s.SAEs["sae0"], s.SAEs["sae1"], s.SAEs["sae1"], rawEnc}
	params := []store.Params{p, p, p2, p}
	out := make([]analysis.Target, len(encs))
	for i, e := range encs {
		meta := store.Meta{Params: params[i], Model: store.Source{Path: "tiny", Hash: "m"},
			SAE: store.Source{Path: fmt.Sprintf("sae-%d", i), Hash: fmt.Sprintf("h%d", i)}, Corpus: store.Source{Path: "rows", Hash: "c"}}
		meta.Hook = e.SAE.Hook.String()
		meta.Key = analysis.Key(meta)
		out[i] = analysis.Target{Enc: e, Meta: meta}
	}
	return out
}

// fileOf writes st with the fields that record when and how fast it was
// made (creation time, scan and host seconds, tokens per second) set to
// fixed values, and returns the file's bytes.
func fileOf(t *testing.T, st *store.Store, dir, name string) []byte {
	t.Helper()
	st.Meta.Created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st.Meta.Summary.ScanSeconds, st.Meta.Summary.TokensPerS, st.Meta.Summary.HostSeconds = 1, 2, 3
	path := filepath.Join(dir, name)
	if err := st.Write(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Each SAE scanned together with others gives the store it gives alone,
// byte for byte once written (the time and speed of the scan aside), on
// the CPU path, on the CPU path with its batches in lanes (compute.Laner:
// the lanes then meet at other hooks together than alone), and on the path
// of a device that compacts its results.
func TestScanManyEqualsAlone(t *testing.T) {
	ref := fixture.Load(t)
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		t.Fatal(err)
	}
	rows := rowsOf(13, 24, 21)
	p := analysis.DefaultParams()
	p.Batch, p.BaselineStride, p.ReconRows = 4, 3, 2
	// lanes need two cores' worth (on one, they take turns: same results)
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	laned := be.WithLaneRows(1)
	if laned.Lanes(p.Batch*24) < 2 {
		t.Fatalf("batches of %d rows in %d lanes: the lanes go untested", p.Batch*24, laned.Lanes(p.Batch*24))
	}
	for _, b := range []compute.Backend{be, laned, fixture.SparseCPU{Backend: be}} {
		s := fixture.NewSetupOn(t, ref, b)
		targets := manyTargets(t, s, p)
		together, err := analysis.ScanMany(context.Background(), s.Model, rows, targets, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(together) != len(targets) {
			t.Fatalf("%d stores for %d SAEs", len(together), len(targets))
		}
		dir := t.TempDir()
		var files [][]byte
		for i, tg := range targets {
			alone, err := analysis.Scan(context.Background(), s.Model, tg.Enc, rows, tg.Meta, nil)
			if err != nil {
				t.Fatal(err)
			}
			SameStore(t, alone, together[i])
			a := fileOf(t, alone, dir, fmt.Sprintf("alone-%d", i))
			g := fileOf(t, together[i], dir, fmt.Sprintf("together-%d", i))
			if !bytes.Equal(a, g) {
				t.Errorf("%s, SAE %d (%s): the store made together differs from the one made alone (%d and %d bytes)", b.Name(), i, tg.Meta.Hook, len(g), len(a))
			}
			if together[i].Meta.Key != tg.Meta.Key || together[i].Meta.Hook != tg.Meta.Hook {
				t.Errorf("SAE %d: key %s hook %s, want %s %s", i, together[i].Meta.Key, together[i].Meta.Hook, tg.Meta.Key, tg.Meta.Hook)
			}
			files = append(files, g)
		}
		// The SAEs are really different: no two stores alike.
		for i := range files {
			for j := i + 1; j < len(files); j++ {
				if bytes.Equal(files[i], files[j]) {
					t.Errorf("SAEs %d and %d gave the same store", i, j)
				}
			}
		}
	}
}

// Progress comes per SAE: each sees every batch of the scan, then its own
// stages in order, after the batches.
func TestScanManyProgress(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	p := analysis.DefaultParams()
	p.Batch, p.ReconRows = 4, 2
	targets := manyTargets(t, s, p)
	var seen [4][]string
	_, err := analysis.ScanMany(context.Background(), s.Model, rowsOf(10, 24, 3), targets, func(i int, pr analysis.Progress) {
		if pr.Stage == "scan" {
			seen[i] = append(seen[i], fmt.Sprintf("scan %d/%d", pr.Rows, pr.TotalRows))
		} else {
			seen[i] = append(seen[i], pr.Stage)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = "scan 4/10,scan 8/10,scan 10/10,unembedding,reconstruction,indexing"
	for i := range seen {
		if got := strings.Join(seen[i], ","); got != want {
			t.Errorf("SAE %d progress %s, want %s", i, got, want)
		}
	}
}

// A cancelled multi-SAE scan stops at the next batch and returns no
// store; on the device path it returns only after the batches the host
// was absorbing. Nothing is left to write, so no store is half-written.
func TestScanManyCancel(t *testing.T) {
	ref := fixture.Load(t)
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []compute.Backend{be, fixture.SparseCPU{Backend: be}} {
		s := fixture.NewSetupOn(t, ref, b)
		targets := manyTargets(t, s, store.Params{Batch: 4})
		ctx, cancel := context.WithCancel(context.Background())
		calls := make([]int, len(targets))
		sts, err := analysis.ScanMany(ctx, s.Model, rowsOf(40, 24, 1), targets, func(i int, p analysis.Progress) {
			calls[i]++
			if p.Stage == "scan" && p.Rows >= 8 && i == len(targets)-1 {
				cancel()
			}
		})
		cancel()
		if !errors.Is(err, context.Canceled) || sts != nil {
			t.Errorf("%s: cancelled scan returned %d stores, %v", b.Name(), len(sts), err)
		}
		for i, n := range calls {
			if n != 2 {
				t.Errorf("%s: SAE %d had %d progress calls, want 2 (cancelled after the second batch)", b.Name(), i, n)
			}
		}
	}
}

// SAEs that cannot share a pass are refused with the reason: different
// batch sizes, rows with BOS for one and without for the other; and a
// scan needs at least one SAE.
func TestScanManyRefuses(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	p := analysis.DefaultParams()
	p.Batch = 4
	rows := rowsOf(6, 24, 2)
	ctx := context.Background()
	if _, err := analysis.ScanMany(ctx, s.Model, rows, nil, nil); err == nil {
		t.Error("a scan without SAEs accepted")
	}
	targets := manyTargets(t, s, p)
	targets[1].Meta.Params.Batch = 8
	if _, err := analysis.ScanMany(ctx, s.Model, rows, targets, nil); err == nil || !strings.Contains(err.Error(), "share the batch") || !strings.Contains(err.Error(), "sae-1") {
		t.Errorf("different batch sizes: %v", err)
	}
	targets = manyTargets(t, s, p)
	targets[2].Meta.Params.NoBOS = true
	if _, err := analysis.ScanMany(ctx, s.Model, rows, targets, nil); err == nil || !strings.Contains(err.Error(), "BOS") {
		t.Errorf("BOS and no BOS together: %v", err)
	}
}
