package conformance

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/store"
)

// readCounter passes a device backend through, counting its sparse
// read-backs and, until the batches are done, the dense reads of
// feature-wide tensors ([rows, d_sae] with rows > 1): the reads a scan
// that compacts on the device never makes.
type readCounter struct {
	compute.Backend
	sr   compute.SparseReader
	dSae int

	mu                       sync.Mutex
	batchesDone              bool // the scan's later stages (which may read features densely) began
	sparseRows, denseFeature int
}

func (r *readCounter) SparseRows(t compute.Tensor, ptr []uint64, ids []uint32, vals []float32) ([]uint64, []uint32, []float32) {
	r.mu.Lock()
	if t.Cols() == r.dSae {
		r.sparseRows++
	}
	r.mu.Unlock()
	return r.sr.SparseRows(t, ptr, ids, vals)
}

func (r *readCounter) RowSumSquares(t compute.Tensor, dst []float64) { r.sr.RowSumSquares(t, dst) }

func (r *readCounter) Read(t compute.Tensor, dst []float32) {
	r.mu.Lock()
	if t.Cols() == r.dSae && t.Rows() > 1 && !r.batchesDone {
		r.denseFeature++
	}
	r.mu.Unlock()
	r.Backend.Read(t, dst)
}

// ScanMany scans the fixture model with both fixture SAEs together
// (blocks.1.hook_resid_pre and blocks.0.hook_mlp_out, one pass to the
// deeper) on be, a backend that compacts its results on the device
// (compute.SparseReader), and checks that every batch of each SAE came
// back through the device's compaction, never as a dense feature matrix,
// and that each SAE's store is, byte for byte once written (the time and
// speed of the scan aside), the one its scan alone on be gives.
func ScanMany(t *testing.T, be compute.Backend) {
	ref := fixture.Load(t)
	sr, ok := compute.ReadsBackSparse(be)
	if !ok {
		t.Fatalf("%s does not read results back sparsely", be.Name())
	}
	rng := rand.New(rand.NewPCG(5, 11))
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
	rc := &readCounter{Backend: be, sr: sr}
	s := fixture.NewSetupOn(t, ref, rc)
	var targets []analysis.Target
	for i, tag := range []string{"sae0", "sae1"} {
		enc := s.SAEs[tag]
		rc.dSae = enc.DSae()
		meta := store.Meta{Params: p, SAE: store.Source{Path: tag, Hash: fmt.Sprint(i)}}
		meta.Hook = enc.SAE.Hook.String()
		meta.Key = analysis.Key(meta)
		targets = append(targets, analysis.Target{Enc: enc, Meta: meta})
	}
	if targets[0].Enc.DSae() != targets[1].Enc.DSae() {
		t.Fatal("the fixture SAEs differ in width: the read counter watches one")
	}
	together, err := analysis.ScanMany(context.Background(), s.Model, rows, targets, func(_ int, pr analysis.Progress) {
		if pr.Stage != "scan" {
			rc.mu.Lock()
			rc.batchesDone = true // the reconstruction score reads its features densely
			rc.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// 3 batches (3, 3 and 1 rows), each with baseline rows (stride 2):
	// a learnt and a random read-back per batch and SAE.
	if rc.sparseRows != 3*2*2 || rc.denseFeature != 0 {
		t.Errorf("%d sparse read-backs of features (want 12) and %d dense reads of feature matrices (want 0)", rc.sparseRows, rc.denseFeature)
	}
	dir := t.TempDir()
	written := func(st *store.Store, name string) []byte {
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
	for i, tg := range targets {
		alone, err := analysis.Scan(context.Background(), s.Model, tg.Enc, rows, tg.Meta, nil)
		if err != nil {
			t.Fatal(err)
		}
		if alone.Meta.Summary.L0 <= 0 {
			t.Fatalf("SAE %d: no active feature", i)
		}
		if !bytes.Equal(written(alone, fmt.Sprint("alone", i)), written(together[i], fmt.Sprint("together", i))) {
			t.Errorf("SAE %d (%s): the store made with the other SAE differs from the one made alone", i, tg.Meta.Hook)
		}
	}
}
