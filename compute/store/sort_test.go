package store

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/saescope/saescope/weights"
)

// The radix sort of half bit patterns must give exactly what sorting the
// float32 values in decreasing order and converting them gives.
func TestAddRandomTokenOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 2, 5, 63, 64, 65, 300, 2900, 6144} {
		vals := make([]float32, n)
		ids := make([]uint32, n)
		for i := range vals {
			switch rng.IntN(10) {
			case 0: // ties and extremes
				vals[i] = []float32{1, 0.5, 65504, 1e-8, float32(math.Inf(1)), 7e4}[rng.IntN(6)]
			default:
				vals[i] = float32(rng.ExpFloat64() * math.Pow(10, float64(rng.IntN(9)-4)))
			}
			ids[i] = uint32(rng.IntN(16))
		}
		want := slices.Clone(vals)
		slices.SortFunc(want, func(a, b float32) int { // decreasing
			switch {
			case a > b:
				return -1
			case a < b:
				return 1
			}
			return 0
		})
		b := NewBuilder(Meta{DSae: 16, Params: Params{SeqLen: 1, Rows: 1}}, []int32{0})
		b.AddRandomToken(0, ids, vals)
		b.AddRandomToken(0, ids[:n/2], vals[:n/2]) // a second token after the first
		s := b.s
		got := s.RandVal[s.RandPtr[0]:s.RandPtr[1]]
		if len(got) != n {
			t.Fatalf("n=%d: %d values stored", n, len(got))
		}
		for i, v := range want {
			if h := weights.Float32ToHalf(v); got[i] != h {
				t.Fatalf("n=%d: value %d is half %#04x, want %#04x (%g)", n, i, got[i], h, v)
			}
		}
		if !slices.IsSortedFunc(s.RandVal[s.RandPtr[1]:s.RandPtr[2]], func(a, b uint16) int { return int(b) - int(a) }) {
			t.Fatalf("n=%d: second token not in decreasing order", n)
		}
	}
}

// AddRandomTokens gives, to the bit, what AddRandomToken token by token
// gives: values, pointers and moments; with ascending ids (split by
// feature over workers) and without (one pass).
func TestAddRandomTokensMatchesOneByOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const d = 6144
	for _, ascending := range []bool{true, false} {
		var toks []int
		var ids [][]uint32
		var vals [][]float32
		for i := 0; i < 40; i++ {
			var fs []uint32
			var vs []float32
			for f := rng.IntN(3); f < d; f += 1 + rng.IntN(3) {
				fs = append(fs, uint32(f))
				vs = append(vs, float32(rng.ExpFloat64()))
			}
			if !ascending && i == 7 {
				fs[0], fs[1] = fs[1], fs[0]
			}
			toks, ids, vals = append(toks, 5*i), append(ids, fs), append(vals, vs)
		}
		meta := Meta{DSae: d, Params: Params{SeqLen: 8, Rows: 25}}
		one, all := NewBuilder(meta, make([]int32, 200)), NewBuilder(meta, make([]int32, 200))
		one.AddRandomToken(0, ids[0], vals[0]) // something there before
		all.AddRandomToken(0, ids[0], vals[0])
		for i := range toks {
			one.AddRandomToken(toks[i], ids[i], slices.Clone(vals[i]))
		}
		all.AddRandomTokens(toks, ids, vals)
		a, b := one.s, all.s
		if !slices.Equal(a.RandVal, b.RandVal) || !slices.Equal(a.RandPtr, b.RandPtr) || !slices.Equal(a.RandTok, b.RandTok) {
			t.Fatalf("ascending=%v: baseline arrays differ", ascending)
		}
		if !slices.Equal(a.Random.Count, b.Random.Count) || !slices.Equal(a.Random.Sum, b.Random.Sum) ||
			!slices.Equal(a.Random.SumSq, b.Random.SumSq) || !slices.Equal(a.Random.Max, b.Random.Max) {
			t.Fatalf("ascending=%v: moments differ", ascending)
		}
	}
}

// topK agrees with sorting every entry, ties included, for lists shorter
// and longer than k.
func TestTopKMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{0, 1, 5, 99, 100, 101, 1000, 20000} {
		toks := make([]uint32, n)
		vals := make([]float32, n)
		for i := range vals {
			toks[i] = uint32(i * 3)
			vals[i] = float32(rng.IntN(50)) / 7 // many ties
		}
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		slices.SortStableFunc(all, func(a, b int) int { // by value down, then token up
			switch {
			case vals[a] > vals[b]:
				return -1
			case vals[a] < vals[b]:
				return 1
			}
			return int(toks[a]) - int(toks[b])
		})
		got := topK(toks, vals, TopK, nil)
		if want := all[:min(n, TopK)]; !slices.Equal(got, want) {
			t.Fatalf("n=%d: top %v, want %v", n, got, want)
		}
	}
}
