//go:build !cuda && cgo

package kernels_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/cuda/engine"
	"github.com/saescope/saescope/compute/cuda/kernels"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/sae"
)

// openTranscoder loads the v2 fixtures' MLP transcoder (blocks.0.ln2
// .hook_normalized → blocks.0.hook_mlp_out) on s's backend.
func openTranscoder(t *testing.T, s *fixture.Setup) *encoder.Encoder {
	t.Helper()
	w, err := sae.Load(filepath.Join(fixture.Dir(), "v2", "saelens-transcoder-mlp-0"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if !w.Transcoder {
		t.Fatal("the fixture is not a transcoder")
	}
	e, err := encoder.New(s.Model.Backend(), w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// A transcoder's interventions on the device path, through the emulator,
// against the CPU: clamp at every position with greedy generation (the
// key/value cache; the input hook observed and the output patched a step
// at a time), ablation on the prompt, exact patching of every active
// feature, and the hover ablation: the same tokens, numbers within 1e-3.
func TestEmulatedTranscoderInterventions(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated forward passes take seconds")
	}
	ref := fixture.Load(t)
	dev := fixture.NewSetupOn(t, ref, engine.New(kernels.NewEmulator(), "cuda-emulated"))
	host := fixture.NewSetup(t, ref, cpu.BLASGonum)
	tcDev, tcHost := openTranscoder(t, dev), openTranscoder(t, host)
	ctx := context.Background()
	prompt := []int32{50256, 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13}
	const feat = 5
	for _, iv := range []intervene.Intervention{
		{Feature: feat, Mode: intervene.Clamp, Coeff: 20},
		{Feature: feat, Mode: intervene.Ablate, Where: intervene.Prompt(len(prompt))},
	} {
		var res [2]*intervene.Result
		for k, s := range []struct {
			m   *model.Model
			enc *encoder.Encoder
		}{{host.Model, tcHost}, {dev.Model, tcDev}} {
			iv.Enc = s.enc
			hooks, err := intervene.Apply(model.Hooks{}, []intervene.Intervention{iv})
			if err != nil {
				t.Fatal(err)
			}
			if res[k], err = intervene.Greedy(ctx, s.m, prompt, 6, hooks); err != nil {
				t.Fatal(err)
			}
		}
		fixture.Close(t, string(iv.Mode)+": prompt's last logits", res[1].LogitsLast, res[0].LogitsLast, 1e-3)
		if len(res[0].Generated) != len(res[1].Generated) {
			t.Fatalf("%s: %d tokens on the device, %d on the CPU", iv.Mode, len(res[1].Generated), len(res[0].Generated))
		}
		for i := range res[0].Generated {
			if res[0].Generated[i] != res[1].Generated[i] {
				t.Errorf("%s: generated %v on the device, %v on the CPU", iv.Mode, res[1].Generated, res[0].Generated)
				break
			}
		}
	}

	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	want, err := intervene.PatchWith(ctx, host.Model, tcHost, tokens[:T], tokens[T:2*T], intervene.LogitDiff(13, 11), intervene.PatchOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	got, err := intervene.PatchWith(ctx, dev.Model, tcDev, tokens[:T], tokens[T:2*T], intervene.LogitDiff(13, 11), intervene.PatchOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	if got.Active != want.Active || want.Active == 0 {
		t.Fatalf("%d features patched on the device, %d on the CPU", got.Active, want.Active)
	}
	g, w := make([]float32, len(want.Effect)), make([]float32, len(want.Effect))
	for i := range want.Effect {
		g[i], w[i] = float32(got.Effect[i]), float32(want.Effect[i])
	}
	fixture.Close(t, "transcoder patch effects", g, w, 1e-3)

	checked := 0
	for f := 0; f < tcHost.DSae() && checked < 3; f++ {
		want, err := intervene.AblateAt(ctx, host.Model, tcHost, prompt, f, 6, 5)
		if err != nil {
			t.Fatal(err)
		}
		if want.Value == 0 {
			continue
		}
		got, err := intervene.AblateAt(ctx, dev.Model, tcDev, prompt, f, 6, 5)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(got.Value-want.Value)) > 1e-3*math.Max(1, float64(want.Value)) {
			t.Errorf("feature %d: value %v on the device, %v on the CPU", f, got.Value, want.Value)
		}
		for i := range want.Increases {
			for _, c := range [][2]intervene.LogProbChange{{got.Increases[i], want.Increases[i]}, {got.Decreases[i], want.Decreases[i]}} {
				if c[0].ID != c[1].ID || math.Abs(c[0].Delta-c[1].Delta) > 1e-3 {
					t.Errorf("feature %d, rank %d: device %+v, CPU %+v", f, i, c[0], c[1])
				}
			}
		}
		checked++
	}
	if checked < 3 {
		t.Fatalf("%d transcoder features fire at position 6, want 3", checked)
	}
}
