package encoder

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// topK against a sort: the k largest (lower index first among equals),
// through ReLU, every other entry zero; on random rows with many ties,
// short ones with any k and SAE-wide ones (up to 40,000) with a k of at
// most 64, as TopK SAEs keep, so that the candidates' blocks are many.
// Every third row comes with a bias, which topK adds first: the sort sees
// the sums.
func TestTopKMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 2200; trial++ {
		n := 1 + rng.IntN(300)
		k := 1 + rng.IntN(n)
		if trial >= 2000 {
			n = 1000 + rng.IntN(39000)
			k = 1 + rng.IntN(64)
		}
		h := make([]float32, n)
		for i := range h {
			if trial%2 == 0 {
				h[i] = float32(rng.IntN(7) - 3) // many ties, negatives
			} else {
				h[i] = float32(rng.NormFloat64())
			}
		}
		var bias []float32
		if trial%3 == 0 {
			bias = make([]float32, n)
			for i := range bias {
				bias[i] = float32(rng.IntN(5)-2) / 2
			}
		}
		in := append([]float32(nil), h...)
		if bias != nil {
			for i := range h {
				h[i] += bias[i]
			}
		}
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			switch {
			case h[a] > h[b]:
				return -1
			case h[a] < h[b]:
				return 1
			}
			return 0
		})
		want := make([]float32, n)
		for _, i := range idx[:k] {
			want[i] = max(h[i], 0)
		}
		got := append([]float32(nil), in...)
		topK(got, bias, k, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d, n %d, k %d:\n h    %v\n bias %v\n got  %v\n want %v", trial, n, k, in, bias, got, want)
		}
	}
}

func TestJumpReLUAndGate(t *testing.T) {
	h := []float32{-1, 0.5, 0.5, 2, 0}
	jumpReLU(h, nil, []float32{0, 0.5, 0.4, -1, -1})
	if want := []float32{0, 0, 0.5, 2, 0}; !slices.Equal(h, want) {
		t.Errorf("jumpReLU: %v, want %v", h, want)
	}
	// with a bias, added before the threshold
	h = []float32{-1, 0.5, 0.5, 2, 0}
	jumpReLU(h, []float32{2, 0, 0.25, -3, 0.5}, []float32{0, 0.5, 0.4, -1, -1})
	if want := []float32{1, 0, 0.75, 0, 0.5}; !slices.Equal(h, want) {
		t.Errorf("jumpReLU with bias: %v, want %v", h, want)
	}
	mag := []float32{1, -1, 3, 4}
	gate(mag, []float32{0.1, 0.1, 0, -2})
	if want := []float32{1, 0, 0, 0}; !slices.Equal(mag, want) {
		t.Errorf("gate: %v, want %v", mag, want)
	}
}

// A NaN pre-activation (an encoder that overflowed) is kept by every
// family's step, so the scan reports it instead of dropping it.
func TestFamiliesKeepNaN(t *testing.T) {
	nan := float32(math.NaN())
	h := []float32{1, nan, 3, -1}
	topK(h, nil, 1, nil)
	if h[1] == h[1] || h[2] != 3 || h[0] != 0 {
		t.Errorf("topK: %v", h)
	}
	h = []float32{nan, 2}
	jumpReLU(h, nil, []float32{0, 0})
	if h[0] == h[0] || h[1] != 2 {
		t.Errorf("jumpReLU: %v", h)
	}
	m := []float32{1, nan, 1}
	gate(m, []float32{nan, 1, -1})
	if m[0] == m[0] || m[1] == m[1] || m[2] != 0 {
		t.Errorf("gate: %v", m)
	}
}

// BenchmarkTopK is the TopK step of a 32,768-feature SAE keeping 32, on
// one row of pre-activations (a standard normal, as a random encoder's).
func BenchmarkTopK(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, 32768)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	h, scratch := make([]float32, len(src)), make([]float32, 0, len(src))
	for b.Loop() {
		copy(h, src)
		topK(h, nil, 32, scratch)
	}
}
