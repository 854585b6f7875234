package sae

import (
	"math"
	"math/rand/v2"

	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
)

// Random returns a dIn→dSae SAE with Gaussian encoder columns of norm
// about 1, decoder rows of unit norm, b_dec zero and every b_enc equal to
// bEnc, for benchmarks and tests without downloads. A negative bEnc makes
// the SAE sparse.
func Random(dIn, dSae int, hook hookname.Hook, bEnc float32, seed uint64) *SAE {
	rng := rand.New(rand.NewPCG(seed, 0x5ae))
	enc := weights.Tensor{Shape: []int{dIn, dSae}, Data: make([]float32, dIn*dSae)}
	std := 1 / math.Sqrt(float64(dIn))
	for i := range enc.Data {
		enc.Data[i] = float32(rng.NormFloat64() * std)
	}
	dec := weights.Tensor{Shape: []int{dSae, dIn}, Data: make([]float32, dIn*dSae)}
	for f := 0; f < dSae; f++ {
		for j := 0; j < dIn; j++ {
			dec.Data[f*dIn+j] = enc.Data[j*dSae+f]
		}
	}
	be := weights.Tensor{Shape: []int{dSae}, Data: make([]float32, dSae)}
	for i := range be.Data {
		be.Data[i] = bEnc
	}
	return &SAE{Path: "random", Format: "random", Hook: hook, DIn: dIn, DSae: dSae,
		WEnc: enc, WDec: dec, BEnc: be, BDec: weights.Tensor{Shape: []int{dIn}, Data: make([]float32, dIn)},
		ApplyBDecToInput: true}
}
