package encoder

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// On the CPU, TopK and JumpReLU add the encoder bias in their own pass over
// each row (rowStep): the activations are those of the product with its
// bias, then the family's step, to the bit.
func TestRowStepSameBitsAsProductWithBias(t *testing.T) {
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	const rows, dIn, dSae = 5, 24, 300
	x := make([]float32, rows*dIn)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, arch := range []sae.Architecture{sae.TopK, sae.JumpReLU} {
		s := sae.Random(dIn, dSae, hookname.Hook{Layer: 0, Point: hookname.ResidPre}, 0, 3)
		for i := range s.BEnc.Data {
			s.BEnc.Data[i] = float32(rng.NormFloat64())
		}
		s.Arch = arch
		if arch == sae.TopK {
			s.K = 7
		} else {
			s.Threshold = weights.Tensor{Shape: []int{dSae}, Data: make([]float32, dSae)}
			for i := range s.Threshold.Data {
				s.Threshold.Data[i] = float32(rng.Float64())
			}
		}
		e, err := New(be, s)
		if err != nil {
			t.Fatal(err)
		}
		in := be.Alloc(rows, dIn)
		be.Write(in, x)
		got := be.Alloc(rows, dSae)
		if err := e.Encode(got, in); err != nil {
			t.Fatal(err)
		}
		want := be.Alloc(rows, dSae)
		be.MatMul(want, in, e.wEnc, e.bEff)
		w := compute.HostData(be).HostData(want)
		for r := 0; r < rows; r++ {
			row := w[r*dSae : (r+1)*dSae]
			if arch == sae.TopK {
				topK(row, nil, s.K, nil)
			} else {
				jumpReLU(row, nil, e.threshold)
			}
		}
		if g := compute.HostData(be).HostData(got); !slices.Equal(g, w) {
			t.Errorf("%s: the bias in the step's pass differs from the product's bias", arch)
		}
		e.Close()
	}
}
