package store

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkBoundedGrowth streams synthetic activations of a 6144-feature
// SAE (L0 ≈ 60; the random baseline, ≈ 2900 active, on one row in five),
// generated on the fly so that nothing but the builder grows, into a
// bounded store, writes it, and reports the process' peak RSS and the
// store's size. Run one size per process to compare their peaks:
//
//	go test -run '^$' -bench 'BoundedGrowth/rows=500$' -benchtime 1x ./compute/store/
//	go test -run '^$' -bench 'BoundedGrowth/rows=2000$' -benchtime 1x ./compute/store/
func BenchmarkBoundedGrowth(b *testing.B) {
	for _, rows := range []int{500, 1000, 2000} {
		b.Run("rows="+strconv.Itoa(rows), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				mb := growBounded(b, rows, 128, 6144, 60, 2900)
				b.ReportMetric(mb, "store-MB")
			}
			b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
		})
	}
}

// growBounded runs the synthetic scan and returns the store's size in MB.
func growBounded(b *testing.B, rows, seq, d, l0, rl0 int) float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	meta := Meta{DSae: d, DIn: 768, Params: Params{Rows: rows, SeqLen: seq, Batch: 32, BaselineStride: 5, SampleSeed: 42}}
	tokens := make([]int32, rows*seq)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(50257))
	}
	bb := NewBoundedBuilder(meta, tokens)
	pick := func(k int, ids []uint32, vals []float32) ([]uint32, []float32) {
		ids, vals = ids[:0], vals[:0]
		step := d / k
		for f := rng.IntN(step); f < d && len(ids) < k; f += 1 + rng.IntN(2*step-1) {
			ids = append(ids, uint32(f))
			vals = append(vals, float32(rng.ExpFloat64()))
		}
		return ids, vals
	}
	var ids []uint32
	var vals []float32
	for r := 0; r < rows; r++ {
		for t := 0; t < seq; t++ {
			ids, vals = pick(l0, ids, vals)
			if t == 0 {
				ids, vals = ids[:0], vals[:0]
			}
			bb.AddToken(r*seq+t, ids, vals, t != 0)
		}
		if r%5 == 0 {
			var toks []int
			var rids [][]uint32
			var rvals [][]float32
			for t := 0; t < seq; t++ {
				i, v := pick(rl0, nil, nil)
				toks, rids, rvals = append(toks, r*seq+t), append(rids, i), append(rvals, v)
			}
			bb.AddRandomTokens(toks, rids, rvals)
		}
	}
	s, err := bb.Build()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "grow.store")
	if err := s.Write(path); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return float64(fi.Size()) / (1 << 20)
}

// peakRSSMB reads the process' peak resident set (VmHWM) on Linux; 0
// elsewhere.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
