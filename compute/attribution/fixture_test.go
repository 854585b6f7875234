package attribution

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/safetensors"
)

// causalRef opens the second fixture set's reference tensors.
func causalRef(t *testing.T) *safetensors.File {
	t.Helper()
	v2, err := safetensors.Open(filepath.Join(fixture.Dir(), "v2", "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v2.Close() })
	return v2
}

func want(t *testing.T, v2 *safetensors.File, name string) []float32 {
	t.Helper()
	w, err := v2.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return w.Data
}

// The attribution-patching references of the fixtures (PyTorch autograd,
// sae0 spliced at blocks.1.hook_resid_pre with its error detached, metric
// logits[-1, 13] − logits[-1, 11]) at 1e-4: the gradient on the corrupted
// prompt, Σ_pos grad·(f_clean − f_corrupt), and −f·grad on the clean one.
func TestAttributionPatchingFixture(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	v2 := causalRef(t)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	clean, corrupt := tokens[:T], tokens[T:2*T]
	enc := s.SAEs["sae0"]
	metric := Metric{Kind: LogitDiff, A: 13, B: 11}
	rc, err := Run(context.Background(), s.Model, []*encoder.Encoder{enc}, clean, metric)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := Run(context.Background(), s.Model, []*encoder.Encoder{enc}, corrupt, metric)
	if err != nil {
		t.Fatal(err)
	}
	mc := want(t, v2, "patch.metric_clean_corrupt")
	fixture.Close(t, "metric (clean, corrupt)", []float32{float32(rc.Metric), float32(rx.Metric)}, mc, 1e-4)
	fixture.Close(t, "attr.grad_corrupt", rx.Grads[0], want(t, v2, "attr.grad_corrupt"), 1e-4)
	est := Estimate(rx, rc, 0, -1)
	fixture.Close(t, "attr.ie_estimate", f32(est), want(t, v2, "attr.ie_estimate"), 1e-4)
	// PatchEstimate runs the same; at one position, that row's terms only
	pe, err := PatchEstimate(context.Background(), s.Model, enc, nil, clean, corrupt, metric, nil)
	if err != nil {
		t.Fatal(err)
	}
	fixture.Close(t, "PatchEstimate", f32(pe), want(t, v2, "attr.ie_estimate"), 1e-4)
	last := -1
	one, err := PatchEstimate(context.Background(), s.Model, enc, nil, clean, corrupt, metric, &last)
	if err != nil {
		t.Fatal(err)
	}
	n := enc.DSae()
	byHand := make([]float32, n)
	for i := range byHand {
		j := (T-1)*n + i
		byHand[i] = float32(float64(rx.Grads[0][j]) * (float64(rc.Acts[0][j]) - float64(rx.Acts[0][j])))
	}
	fixture.Close(t, "estimate at the last position", f32(one), byHand, 1e-6)
	// the fixture's note: the estimate correlates 0.98 with the exact effects
	exact := want(t, v2, "patch.effect")
	ex := make([]float64, len(exact))
	for i, v := range exact {
		ex[i] = float64(v)
	}
	if corr, worst := Agreement(ex, pe); !(corr > 0.97) || worst < 0 {
		t.Errorf("estimate vs exact effect: correlation %.3f (largest disagreement at feature %d), the fixture says 0.98", corr, worst)
	}
	za := rc.Attribution(0)
	for i := range za {
		za[i] = -za[i]
	}
	fixture.Close(t, "attr.zero_ablation_clean", za, want(t, v2, "attr.zero_ablation_clean"), 1e-4)
}

// The flow references: sae1 at blocks.0.hook_mlp_out upstream of sae0's
// feature 135 at the last position of tokens[0]: the target's value and
// f_up·∂f_target/∂f_up at every position (1e-4).
func TestFlowFixture(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	v2 := causalRef(t)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	up, down := s.SAEs["sae1"], s.SAEs["sae0"]
	r, err := Run(context.Background(), s.Model, []*encoder.Encoder{up, down}, tokens[:T],
		Metric{Kind: Feature, SAE: 1, Feature: 135, Pos: -1})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Close(t, "flow.target_act", []float32{float32(r.Metric)}, want(t, v2, "flow.target_act"), 1e-4)
	fixture.Close(t, "flow.attribution", r.Attribution(0), want(t, v2, "flow.attribution"), 1e-4)
	// the target is the downstream feature most active at the last position
	n := down.DSae()
	last := r.Acts[1][(T-1)*n : T*n]
	best := 0
	for i, v := range last {
		if v > last[best] {
			best = i
		}
	}
	if best != 135 {
		t.Errorf("most active downstream feature at the last position is %d, the fixture's target 135", best)
	}
}

// The metric Run reports is the model's own: the logit difference and the
// loss of model.Run on the same prompt (1e-5), so the pass that the
// backward differentiates is the forward the model runs.
func TestForwardIsTheModels(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	prompt := tokens[T : 2*T]
	encs := []*encoder.Encoder{s.SAEs["sae1"], s.SAEs["sae0"]}
	out, err := s.Model.Run(context.Background(), prompt, 1, T, model.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	lg, err := s.Model.Logits(out.Resid, []int{T - 1})
	if err != nil {
		t.Fatal(err)
	}
	wantDiff := float64(lg[0][7]) - float64(lg[0][42])
	per, err := s.Model.TokenLoss(out, prompt)
	if err != nil {
		t.Fatal(err)
	}
	wantLoss := model.MeanLoss(per)
	for _, c := range []struct {
		m    Metric
		want float64
	}{{Metric{Kind: LogitDiff, A: 7, B: 42}, wantDiff}, {Metric{Kind: Loss}, wantLoss}} {
		r, err := Run(context.Background(), s.Model, encs, prompt, c.m)
		if err != nil {
			t.Fatal(err)
		}
		fixture.Close(t, c.m.String(), []float32{float32(r.Metric)}, []float32{float32(c.want)}, 1e-5)
	}
}

// The flow reference's exact effects: sae0's feature 135 at the last
// position when each sae1 feature is zero-ablated at every position
// (1e-4), in batches of 1, 7 and 2^40 (cut to the active features: it
// ran out of memory before); and with the logit difference and the
// loss, each effect equals a separate run with that one feature ablated.
func TestAblationEffectsFixture(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	v2 := causalRef(t)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	up, down := s.SAEs["sae1"], s.SAEs["sae0"]
	saes := []*encoder.Encoder{up, down}
	metric := Metric{Kind: Feature, SAE: 1, Feature: 135, Pos: -1}
	for _, batch := range []int{1, 7, 1 << 40} {
		a, err := AblationEffects(context.Background(), s.Model, saes, tokens[:T], metric, batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(a.Effect))
		for i, v := range a.Effect {
			got[i] = float32(v)
		}
		fixture.Close(t, "flow.ablation_effect", got, want(t, v2, "flow.ablation_effect"), 1e-4)
		fixture.Close(t, "target before ablation", []float32{float32(a.Metric)}, want(t, v2, "flow.target_act"), 1e-4)
		if a.Active == 0 {
			t.Error("no upstream feature was ablated")
		}
	}
	// a chosen few: the same effects, the others 0
	all := want(t, v2, "flow.ablation_effect")
	some := []int{}
	for i, v := range all {
		if v != 0 && len(some) < 3 {
			some = append(some, i)
		}
	}
	some = append(some, 0)
	a, err := AblationEffectsOf(context.Background(), s.Model, saes, tokens[:T], metric, some, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	chosen := map[int]bool{}
	for _, i := range some {
		chosen[i] = true
	}
	for i, v := range a.Effect {
		w := float64(all[i])
		if !chosen[i] {
			w = 0
		}
		if math.Abs(v-w) > 1e-4*math.Max(1, math.Abs(w)) {
			t.Errorf("feature %d: effect %g, want %g", i, v, w)
		}
	}
	if _, err := AblationEffectsOf(context.Background(), s.Model, saes, tokens[:T], metric, []int{256}, 2, nil); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("feature 256 of 256: %v", err)
	}
}

// With the logit difference and the loss, AblationEffects' batched,
// resumed passes equal whole passes of the model with one feature's
// f·W_dec[i] subtracted on the host (1e-4).
func TestAblationEffectsMatchWholePasses(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	prompt := tokens[T : 2*T]
	up := s.SAEs["sae1"]
	w := up.SAE
	n, d := w.DSae, w.OutDim()
	for _, metric := range []Metric{{Kind: LogitDiff, A: 13, B: 11}, {Kind: Loss}} {
		a, err := AblationEffects(context.Background(), s.Model, []*encoder.Encoder{up}, prompt, metric, 5, nil)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for i := 0; i < n && checked < 4; i++ {
			if a.Effect[i] == 0 {
				continue
			}
			checked++
			patch := model.HostFunc(func(_ hookname.Hook, data []float32, _, _, width int) error {
				ft := s.Backend.Alloc(T, n)
				defer s.Backend.Free(ft)
				x := s.Backend.Alloc(T, width)
				defer s.Backend.Free(x)
				s.Backend.Write(x, data)
				if err := up.Encode(ft, x); err != nil {
					return err
				}
				f := make([]float32, T*n)
				s.Backend.Read(ft, f)
				for r := 0; r < T; r++ {
					for j := 0; j < d; j++ {
						data[r*d+j] = float32(float64(data[r*d+j]) - float64(f[r*n+i])*float64(w.WDec.Data[i*d+j]))
					}
				}
				return nil
			})
			out, err := s.Model.Run(context.Background(), prompt, 1, T, model.Hooks{Patches: map[string]model.Patch{w.Hook.String(): patch}})
			if err != nil {
				t.Fatal(err)
			}
			var got float64
			if metric.Kind == Loss {
				per, err := s.Model.TokenLoss(out, prompt)
				if err != nil {
					t.Fatal(err)
				}
				got = model.MeanLoss(per)
			} else {
				lg, err := s.Model.Logits(out.Resid, []int{T - 1})
				if err != nil {
					t.Fatal(err)
				}
				got = float64(lg[0][13]) - float64(lg[0][11])
			}
			fixture.Close(t, fmt.Sprintf("%s, feature %d ablated", metric, i), []float32{float32(a.Metric + a.Effect[i])}, []float32{float32(got)}, 1e-4)
		}
		if checked == 0 {
			t.Errorf("%s: no feature had an effect", metric)
		}
	}
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// A cancelled context ends Run, AblationEffects and BuildGraph with its
// error; a one-token prompt has a gradient for the logit difference and
// no loss.
func TestCancelAndShortPrompts(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	tokens, _ := ref.Ints(t, "tokens")
	saes := []*encoder.Encoder{s.SAEs["sae1"], s.SAEs["sae0"]}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	metric := Metric{Kind: LogitDiff, A: 13, B: 11}
	if _, err := Run(ctx, s.Model, saes, tokens[:24], metric); !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v, want context.Canceled", err)
	}
	if _, err := AblationEffects(ctx, s.Model, saes, tokens[:24], metric, 4, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("AblationEffects: %v, want context.Canceled", err)
	}
	if _, err := BuildGraph(ctx, s.Model, saes, tokens[:24], metric, GraphOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("BuildGraph: %v, want context.Canceled", err)
	}
	r, err := Run(context.Background(), s.Model, saes, []int32{50256}, metric)
	if err != nil || r.T != 1 || len(r.Grads[1]) != s.SAEs["sae0"].DSae() {
		t.Errorf("one token: %v", err)
	}
	if _, err := Run(context.Background(), s.Model, saes, []int32{50256}, Metric{Kind: Loss}); err == nil || !strings.Contains(err.Error(), "at least 2 tokens") {
		t.Errorf("loss of one token: %v", err)
	}
	if _, err := Run(context.Background(), s.Model, saes, nil, metric); err == nil {
		t.Error("empty prompt accepted")
	}
}
