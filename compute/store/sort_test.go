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
