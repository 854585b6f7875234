package intervene

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A temperature near 0 samples the most likely token, as greedy decoding
// does; before, logits/T overflowed float32 (T below ~1e-37 for logits
// of order 10) and every probability came out NaN.
func TestSampleTinyTemperature(t *testing.T) {
	logits := []float32{2.5, -1, 7.25, 7, -30, 0}
	for _, temp := range []float64{1e-3, 1e-38, 1e-300, 5e-324} {
		for seed := uint64(0); seed < 20; seed++ {
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			if got := sample(logits, Sampling{Temperature: temp, TopP: 1}, rng); got != 2 {
				t.Fatalf("temperature %g, seed %d: token %d, want 2 (the largest logit)", temp, seed, got)
			}
		}
	}
}

// The draws follow softmax(logits/T), computed here independently, and
// top-p keeps the smallest set of most likely tokens reaching p,
// renormalised. Tolerance: 4 standard errors of a frequency over the
// draws (and at most 0.01).
func TestSampleFrequencies(t *testing.T) {
	logits := []float32{1, 0, 2, -1}
	const draws = 40000
	for _, c := range []struct {
		temp, topP float64
	}{{1, 1}, {0.5, 1}, {2, 1}, {1, 0.8}} {
		// softmax(l/T) on the host
		want := make([]float64, len(logits))
		var z float64
		for i, l := range logits {
			want[i] = math.Exp(float64(l) / c.temp)
			z += want[i]
		}
		for i := range want {
			want[i] /= z
		}
		if c.topP < 1 { // tokens by probability: 2, 0, 1, 3; keep until the sum reaches topP
			order := []int{2, 0, 1, 3}
			var cum float64
			keep := map[int]bool{}
			for _, i := range order {
				keep[i] = true
				if cum += want[i]; cum >= c.topP {
					break
				}
			}
			var kz float64
			for i := range want {
				if !keep[i] {
					want[i] = 0
				}
				kz += want[i]
			}
			for i := range want {
				want[i] /= kz
			}
		}
		rng := rand.New(rand.NewPCG(7, 0x5eed))
		got := make([]float64, len(logits))
		for range draws {
			got[sample(logits, Sampling{Temperature: c.temp, TopP: c.topP}, rng)]++
		}
		for i := range got {
			got[i] /= draws
			tol := math.Min(0.01, 4*math.Sqrt(want[i]*(1-want[i])/draws)+1e-9)
			if want[i] == 0 && got[i] != 0 || math.Abs(got[i]-want[i]) > tol {
				t.Errorf("T %g, top-p %g: token %d drawn %.4f of the time, want %.4f (±%.4f)", c.temp, c.topP, i, got[i], want[i], tol)
			}
		}
	}
}
