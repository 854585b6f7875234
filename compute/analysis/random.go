package analysis

import (
	"math"
	"math/rand/v2"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/sae"
)

// RandomEncoder returns the notebook's baseline SAE: W_enc replaced by a
// standard Gaussian matrix of the same shape (seeded), b_enc and b_dec kept.
func RandomEncoder(be compute.Backend, s *sae.SAE, seed uint64) (*encoder.Encoder, error) {
	rng := rand.New(rand.NewPCG(seed, 0xba5e))
	w := weights.Tensor{Shape: append([]int(nil), s.WEnc.Shape...), Data: make([]float32, len(s.WEnc.Data))}
	for i := range w.Data {
		w.Data[i] = float32(rng.NormFloat64())
	}
	rs := *s
	rs.WEnc = w
	return encoder.New(be, &rs)
}

// randomDirections returns an encoder whose decoder rows are Gaussian
// directions with the norms of s's decoder rows (the rest is s's).
func randomDirections(be compute.Backend, s *sae.SAE, seed uint64) (*encoder.Encoder, error) {
	rng := rand.New(rand.NewPCG(seed, 0xd1))
	w := weights.Tensor{Shape: append([]int(nil), s.WDec.Shape...), Data: make([]float32, len(s.WDec.Data))}
	for f := 0; f < s.DSae; f++ {
		row := s.WDec.Data[f*s.DIn : (f+1)*s.DIn]
		out := w.Data[f*s.DIn : (f+1)*s.DIn]
		var want, got float64
		for j := range out {
			out[j] = float32(rng.NormFloat64())
			got += float64(out[j]) * float64(out[j])
			want += float64(row[j]) * float64(row[j])
		}
		k := float32(math.Sqrt(want / got))
		for j := range out {
			out[j] *= k
		}
	}
	rs := *s
	rs.WDec = w
	return encoder.New(be, &rs)
}
