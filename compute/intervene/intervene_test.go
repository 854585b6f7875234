package intervene_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/safetensors"
)

// Two features added at once move the activation by the sum of their
// directions; bad interventions are refused.
func TestTwoFeaturesAdd(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc := s.SAEs["sae0"]
	prompt := []int32{50256, 464, 2068, 7586}
	one := func(ivs ...intervene.Intervention) []float32 {
		p, err := intervene.Patches(ivs)
		if err != nil {
			t.Fatal(err)
		}
		res, err := intervene.Greedy(context.Background(), s.Model, prompt, 0, model.Hooks{Patches: p})
		if err != nil {
			t.Fatal(err)
		}
		return res.LogitsLast
	}
	a := intervene.Intervention{Enc: enc, Feature: 3, Mode: intervene.Add, Coeff: 2}
	b := intervene.Intervention{Enc: enc, Feature: 17, Mode: intervene.Add, Coeff: -1.5}
	both := one(a, b)
	// the same change as one added direction: 2·W_dec[3] − 1.5·W_dec[17]
	d := enc.SAE.DIn
	w := enc.SAE.WDec.Data
	sum := func() []float32 {
		var got []float32
		p := map[string]model.Patch{"blocks.1.hook_resid_pre": model.HostFunc(func(_ hookname.Hook, data []float32, _, _, _ int) error {
			for r := 0; r < len(data)/d; r++ {
				for j := 0; j < d; j++ {
					data[r*d+j] += float32(2*float64(w[3*d+j]) - 1.5*float64(w[17*d+j]))
				}
			}
			return nil
		})}
		res, err := intervene.Greedy(context.Background(), s.Model, prompt, 0, model.Hooks{Patches: p})
		if err != nil {
			t.Fatal(err)
		}
		got = res.LogitsLast
		return got
	}()
	fixture.Close(t, "two features", both, sum, 1e-4)
	if kl := intervene.KL(both, one()); !(kl > 0) {
		t.Errorf("KL of steered and plain %g", kl)
	}
	for _, bad := range []intervene.Intervention{
		{Enc: enc, Feature: 256, Mode: intervene.Add},
		{Enc: enc, Feature: -1, Mode: intervene.Add},
		{Enc: enc, Feature: 3, Mode: "boost"},
		{Enc: enc, Feature: 3, Mode: intervene.Add, Coeff: float32(math.Inf(1))},
	} {
		if _, err := intervene.Patches([]intervene.Intervention{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// Exact patching of every sae0 feature from tokens[0] (clean) into
// tokens[1] (corrupt), metric logits[-1, 13] − logits[-1, 11], against
// PyTorch at 1e-4, batched and not.
func TestPatchEffectsMatchReference(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	v2, err := safetensors.Open(filepath.Join(fixture.Dir(), "v2", "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	clean, corrupt := tokens[:T], tokens[T:2*T]
	want, err := v2.Float32("patch.effect")
	if err != nil {
		t.Fatal(err)
	}
	mcc, err := v2.Float32("patch.metric_clean_corrupt")
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 7, 64} {
		p, err := intervene.PatchEffects(context.Background(), s.Model, s.SAEs["sae0"], clean, corrupt, intervene.LogitDiff(13, 11), batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		fixture.Close(t, "metric clean, corrupt", []float32{float32(p.MetricClean), float32(p.MetricCorrupt)}, mcc.Data, 1e-4)
		got := make([]float32, len(p.Effect))
		for i, v := range p.Effect {
			got[i] = float32(v)
		}
		fixture.Close(t, "patch.effect", got, want.Data, 1e-4)
		if p.Active == 0 || p.Active > len(got) {
			t.Errorf("%d active features", p.Active)
		}
	}
	if _, err := intervene.PatchEffects(context.Background(), s.Model, s.SAEs["sae0"], clean, corrupt[:T-1], intervene.LogitDiff(13, 11), 4, nil); err == nil {
		t.Error("prompts of different lengths accepted")
	}
}

// Steering sae0's feature 158 at blocks.1.hook_resid_pre at every position
// (add 4, clamp to 6, ablate), generation with the key/value cache and
// patching against PyTorch (fixture.CausalParity, as the CUDA emulator
// runs it): the prompt's last logits at 1e-4 and the 8 greedy tokens
// identical, with either BLAS.
func TestCausalParity(t *testing.T) {
	for _, blas := range []cpu.BLAS{cpu.BLASGonum, cpu.BLASAuto} {
		be, err := cpu.New(blas)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(be.Name(), func(t *testing.T) { fixture.CausalParity(t, be, 1e-4) })
	}
}
