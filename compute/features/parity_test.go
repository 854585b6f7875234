package features_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// Tolerances of the fixtures README: activations and logits within 1e-4
// absolute (relative above 1), losses within 1e-4, top-k ids identical.
const (
	actTol  = 1e-4
	lossTol = 1e-4
)

func blasChoices(t *testing.T) []cpu.BLAS {
	choices := []cpu.BLAS{cpu.BLASGonum}
	if _, err := cpu.New(cpu.BLASOpenBLAS); err == nil {
		choices = append(choices, cpu.BLASOpenBLAS)
	} else {
		t.Logf("OpenBLAS not installed: parity checked with gonum only (%v)", err)
	}
	return choices
}

// TestParityWithReference checks the CPU backend, with each BLAS this
// machine has, against every fixture reference (fixture.Parity).
func TestParityWithReference(t *testing.T) {
	for _, blas := range blasChoices(t) {
		t.Run(string(blas), func(t *testing.T) {
			be, err := cpu.New(blas)
			if err != nil {
				t.Fatal(err)
			}
			fixture.Parity(t, be, actTol, lossTol)
		})
	}
}

func TestStopAfterHook(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	tokens, shape := ref.Ints(t, "tokens")
	stop := hookname.Hook{Layer: 0, Point: hookname.MLPOut}
	var seen []string
	s.Model.Lock()
	defer s.Model.Unlock()
	out, err := s.Model.Run(context.Background(), tokens, shape[0], shape[1], model.Hooks{
		StopAfter: &stop,
		Observe: func(h hookname.Hook, _ compute.Tensor) error {
			seen = append(seen, h.String())
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Stopped || out.Resid != nil {
		t.Errorf("pass did not stop: %+v", out)
	}
	want := "[hook_embed hook_pos_embed blocks.0.hook_resid_pre blocks.0.attn.hook_z blocks.0.hook_attn_out blocks.0.hook_resid_mid blocks.0.ln2.hook_normalized blocks.0.mlp.hook_post blocks.0.hook_mlp_out]"
	if fmt.Sprint(seen) != want {
		t.Errorf("hooks seen %v", seen)
	}
}

func TestBadInput(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	ctx := context.Background()
	enc := s.SAEs["sae0"]
	if _, err := features.Elicit(ctx, s.Model, enc, []int32{50256}, 5, nil); err == nil {
		t.Error("elicit on BOS alone accepted")
	}
	p := 7
	if _, err := features.Elicit(ctx, s.Model, enc, []int32{50256, 464, 2068}, 5, &p); err == nil {
		t.Error("position out of range accepted")
	}
	if _, err := features.Activations(ctx, s.Model, enc, []int32{50256, 50257}, 1, 2); err == nil {
		t.Error("token id 50257 accepted")
	}
	long := make([]int32, 129)
	if _, err := features.Activations(ctx, s.Model, enc, long, 1, 129); err == nil {
		t.Error("sequence longer than n_positions accepted")
	}
	if _, err := features.FeatureLogits(s.Model, enc, 256, 5); err == nil {
		t.Error("feature 256 of 256 accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := features.Activations(cctx, s.Model, enc, []int32{50256, 464}, 1, 2); err == nil {
		t.Error("cancelled context ignored")
	}
}
