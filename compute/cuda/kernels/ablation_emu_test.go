//go:build !cuda && cgo

package kernels_test

import (
	"context"
	"math"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/cuda/engine"
	"github.com/saescope/saescope/compute/cuda/kernels"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/intervene"
)

// The hover ablation (intervene.AblateAt: a pass cut at the position, the
// ablated one resumed at the hook's block, one row of the activation
// patched through a row view) on the device path, through the emulator,
// against the CPU: the same tokens, log-probability changes within 1e-3.
func TestEmulatedAblateAt(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated forward passes take seconds")
	}
	ref := fixture.Load(t)
	dev := fixture.NewSetupOn(t, ref, engine.New(kernels.NewEmulator(), "cuda-emulated"))
	host := fixture.NewSetup(t, ref, cpu.BLASGonum)
	prompt := []int32{50256, 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13}
	ctx := context.Background()
	checked := 0
	for _, pos := range []int{4, len(prompt) - 1} {
		here := 0 // two firing features a position
		for f := 0; f < 256 && here < 2; f++ {
			want, err := intervene.AblateAt(ctx, host.Model, host.SAEs["sae0"], prompt, f, pos, 5)
			if err != nil {
				t.Fatal(err)
			}
			if want.Value == 0 {
				continue
			}
			got, err := intervene.AblateAt(ctx, dev.Model, dev.SAEs["sae0"], prompt, f, pos, 5)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(float64(got.Value-want.Value)) > 1e-3*math.Max(1, float64(want.Value)) {
				t.Errorf("feature %d at %d: value %v on the device, %v on the CPU", f, pos, got.Value, want.Value)
			}
			for i := range want.Increases {
				for _, c := range [][2]intervene.LogProbChange{{got.Increases[i], want.Increases[i]}, {got.Decreases[i], want.Decreases[i]}} {
					if c[0].ID != c[1].ID || math.Abs(c[0].Delta-c[1].Delta) > 1e-3 {
						t.Errorf("feature %d at %d, rank %d: device %+v, CPU %+v", f, pos, i, c[0], c[1])
					}
				}
			}
			checked++
			here++
		}
	}
	if checked < 4 {
		t.Fatalf("%d features of sae0 fire at the positions tried, want 4", checked)
	}
}
