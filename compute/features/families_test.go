package features_test

import (
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
)

// Every SAE family of the second fixture set (TopK with layer_norm,
// OpenAI's raw TopK file, JumpReLU, Gated, an attn.hook_z SAE and an MLP
// transcoder) against PyTorch: activations, reconstructions and losses at
// 1e-4.
func TestFamilyParity(t *testing.T) {
	for _, blas := range []cpu.BLAS{cpu.BLASGonum, cpu.BLASAuto} {
		be, err := cpu.New(blas)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(be.Name(), func(t *testing.T) { fixture.FamilyParity(t, be, 1e-4, 1e-4) })
	}
}
