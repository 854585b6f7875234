package store

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// hostSideScan is the part of a scan that runs on the host whatever the
// backend: delivering each token's sparse activations to a Builder,
// the random baseline on one row in five, Finish and Write. On a GPU the
// device work of a 1000-row analysis takes under a second, so this is
// what bounds its wall time.
type hostSideScan struct {
	meta    Meta
	tokens  []int32
	learnt  [][]uint32 // per token: ids (ascending)
	lvals   [][]float32
	rids    [][]uint32 // per baseline token
	rvals   [][]float32
	stride  int
	seq     int
	rowsN   int
	perTokL int
	perTokR int
}

// newHostSideScan makes synthetic activations with the densities seen on
// full-size GPT-2 small (L0 ≈ 60 learnt, ≈ 2900 random of 6144).
func newHostSideScan(rows, seq, d, l0, rl0 int) *hostSideScan {
	rng := rand.New(rand.NewPCG(1, 2))
	h := &hostSideScan{seq: seq, rowsN: rows, stride: 5, perTokL: l0, perTokR: rl0}
	h.meta = Meta{DSae: d, DIn: 768, Params: Params{Rows: rows, SeqLen: seq, Batch: 32, BaselineStride: 5, SampleSeed: 42}}
	h.tokens = make([]int32, rows*seq)
	for i := range h.tokens {
		h.tokens[i] = int32(rng.IntN(50257))
	}
	pick := func(k int) ([]uint32, []float32) {
		ids := make([]uint32, 0, k)
		step := d / k
		for f := rng.IntN(step); f < d && len(ids) < k; f += 1 + rng.IntN(2*step-1) {
			ids = append(ids, uint32(f))
		}
		vals := make([]float32, len(ids))
		for i := range vals {
			vals[i] = float32(rng.ExpFloat64())
		}
		return ids, vals
	}
	for range h.tokens {
		ids, vals := pick(l0)
		h.learnt, h.lvals = append(h.learnt, ids), append(h.lvals, vals)
	}
	for r := 0; r < rows; r += h.stride {
		for t := 0; t < seq; t++ {
			ids, vals := pick(rl0)
			h.rids, h.rvals = append(h.rids, ids), append(h.rvals, vals)
		}
	}
	return h
}

func (h *hostSideScan) run(tb testing.TB, dir string, bounded bool) (deliver, random, finish, write time.Duration) {
	b := NewBuilder(h.meta, h.tokens)
	if bounded {
		b = NewBoundedBuilder(h.meta, h.tokens)
	}
	b.Reserve(len(h.tokens)*h.perTokL*5/4, len(h.rids)*h.perTokR*5/4)
	t0 := time.Now()
	for t := range h.tokens {
		b.AddToken(t, h.learnt[t], h.lvals[t], t%h.seq != 0)
	}
	t1 := time.Now()
	// In batches of 32 rows, as the scan hands them over.
	j := 0
	for r0 := 0; r0 < h.rowsN; r0 += 32 {
		var toks []int
		var ids [][]uint32
		var vals [][]float32
		for r := r0; r < min(h.rowsN, r0+32); r++ {
			if r%h.stride != 0 {
				continue
			}
			for t := 0; t < h.seq; t++ {
				toks, ids, vals = append(toks, r*h.seq+t), append(ids, h.rids[j]), append(vals, h.rvals[j])
				j++
			}
		}
		b.AddRandomTokens(toks, ids, vals)
	}
	t2 := time.Now()
	s := b.Finish()
	t3 := time.Now()
	if err := s.Write(filepath.Join(dir, "bench.store")); err != nil {
		tb.Fatal(err)
	}
	t4 := time.Now()
	return t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)
}

// BenchmarkHostSide1000Rows measures the host side of a 1000-row,
// 6144-feature analysis (127,872 tokens) into a full store and reports
// each stage in ms.
func BenchmarkHostSide1000Rows(b *testing.B) { benchHostSide(b, 1000, false) }

// BenchmarkHostSideBounded1000Rows is BenchmarkHostSide1000Rows into a
// bounded store (within its exact prefix).
func BenchmarkHostSideBounded1000Rows(b *testing.B) { benchHostSide(b, 1000, true) }

// BenchmarkHostSideBounded2000Rows is a bounded store past its exact
// prefix: the second half streams.
func BenchmarkHostSideBounded2000Rows(b *testing.B) { benchHostSide(b, 2000, true) }

func benchHostSide(b *testing.B, rows int, bounded bool) {
	h := newHostSideScan(rows, 128, 6144, 60, 2900)
	dir := b.TempDir()
	var d, r, f, w time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		di, ri, fi, wi := h.run(b, dir, bounded)
		d, r, f, w = d+di, r+ri, f+fi, w+wi
	}
	n := float64(b.N)
	b.ReportMetric(float64(d.Milliseconds())/n, "deliver-ms")
	b.ReportMetric(float64(r.Milliseconds())/n, "random-ms")
	b.ReportMetric(float64(f.Milliseconds())/n, "finish-ms")
	b.ReportMetric(float64(w.Milliseconds())/n, "write-ms")
	if fi, err := os.Stat(filepath.Join(dir, "bench.store")); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "store-MB")
	}
}
