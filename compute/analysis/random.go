package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/sae"
)

// RandomEncoder returns the notebook's baseline SAE: W_enc replaced by a
// standard Gaussian matrix of the same shape (seeded), b_enc and b_dec kept,
// and the SAE's own family kept with them (RandomMeaning says what that
// makes the baseline): a TopK baseline keeps k features per token, a
// JumpReLU one its thresholds, a Gated one its gate and magnitude biases
// and r_mag (its magnitude matrix is the Gaussian W_enc ⊙ exp(r_mag)).
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
	d := s.OutDim()
	for f := 0; f < s.DSae; f++ {
		row := s.WDec.Data[f*d : (f+1)*d]
		out := w.Data[f*d : (f+1)*d]
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

// RandomMeaning says in a sentence what the random baseline of s is, for
// the statistics pane and reports.
func RandomMeaning(s *sae.SAE) string {
	base := "random: the same SAE with a Gaussian W_enc (b_enc, b_dec kept), each token's activations rescaled to the learnt ones' norm"
	switch s.Arch {
	case sae.TopK:
		return fmt.Sprintf("%s; TopK keeps k = %d random pre-activations per token", base, s.K)
	case sae.JumpReLU:
		return base + "; JumpReLU keeps the learnt thresholds"
	case sae.Gated:
		return base + "; Gated keeps b_gate, b_mag and r_mag (magnitude path W_enc ⊙ exp(r_mag) of the Gaussian W_enc)"
	}
	return base
}
