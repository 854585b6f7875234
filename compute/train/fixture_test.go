package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// plantedData is n samples of d dimensions, each per of atoms random unit
// atoms (dict, atoms×d) with exponential coefficients 0.5 + Exp(1); noisy
// adds a little noise and an offset of 0.3 (for b_dec) to every value.
// The draws are always the same (PCG 1, 2).
func plantedData(d, atoms, n, per int, noisy bool) (dict, x []float32) {
	rng := rand.New(rand.NewPCG(1, 2))
	dict = make([]float32, atoms*d)
	for a := 0; a < atoms; a++ {
		for j := 0; j < d; j++ {
			dict[a*d+j] = float32(rng.NormFloat64())
		}
		normalize(dict[a*d : (a+1)*d])
	}
	x = make([]float32, n*d)
	for i := 0; i < n; i++ {
		for _, a := range rng.Perm(atoms)[:per] {
			c := float32(0.5 + rng.ExpFloat64())
			for j := 0; j < d; j++ {
				x[i*d+j] += c * dict[a*d+j]
			}
		}
		if noisy {
			for j := 0; j < d; j++ {
				x[i*d+j] += float32(0.01*rng.NormFloat64()) + 0.3 // an offset for b_dec
			}
		}
	}
	return dict, x
}

// randomStep is a batch of m random d-dimensional inputs and random
// parameters of k features (normal, σ 0.5), drawn from PCG seed1, seed2,
// for a gradient check.
func randomStep(seed1, seed2 uint64, m, d, k int) (*params, *scratch) {
	rng := rand.New(rand.NewPCG(seed1, seed2))
	p := newParams(d, k)
	for _, s := range p.slices() {
		for i := range s {
			s[i] = float32(rng.NormFloat64() * 0.5)
		}
	}
	sc := newScratch(m, d, k)
	for i := range sc.x {
		sc.x[i] = float32(rng.NormFloat64())
	}
	return p, sc
}

// checkFiniteDifferences compares the gradient g of every parameter of p
// with central differences of loss (h = 1e-3, tolerance 2% or 2e-2) and
// returns how many of g's values are not zero.
func checkFiniteDifferences(t *testing.T, p, g *params, loss func() float64) (nonzero int) {
	t.Helper()
	names := []string{"W_enc", "W_dec", "b_enc", "b_dec"}
	for si, s := range p.slices() {
		for i := range s {
			old := s[i]
			const h = 1e-3
			s[i] = old + h
			up := loss()
			s[i] = old - h
			down := loss()
			s[i] = old
			num := (up - down) / (2 * h)
			got := float64(g.slices()[si][i])
			if math.Abs(got-num) > 2e-2*math.Max(1, math.Abs(num)) {
				t.Errorf("%s[%d]: gradient %g, finite differences %g", names[si], i, got, num)
			}
			if got != 0 {
				nonzero++
			}
		}
	}
	return nonzero
}
