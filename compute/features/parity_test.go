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

func TestParityWithReference(t *testing.T) {
	ref := fixture.Load(t)
	tokens, shape := ref.Ints(t, "tokens")
	B, T := shape[0], shape[1]
	for _, blas := range blasChoices(t) {
		t.Run(string(blas), func(t *testing.T) {
			s := fixture.NewSetup(t, ref, blas)
			m := s.Model
			ctx := context.Background()

			// Every cached hook, then logits and loss, from one full pass.
			cache := map[string][]float32{}
			m.Lock()
			out, err := m.Run(ctx, tokens, B, T, model.Hooks{Observe: func(h hookname.Hook, act compute.Tensor) error {
				buf := make([]float32, act.Rows()*act.Cols())
				s.Backend.Read(act, buf)
				cache[h.String()] = buf
				return nil
			}})
			if err != nil {
				m.Unlock()
				t.Fatal(err)
			}
			for _, name := range ref.Values.Names() {
				if len(name) > 6 && name[:6] == "cache." {
					hook := name[6:]
					got, ok := cache[hook]
					if !ok {
						t.Errorf("hook %s never observed", hook)
						continue
					}
					fixture.Close(t, name, got, ref.Float(t, name).Data, actTol)
				}
			}
			rows := make([]int, B)
			for b := range rows {
				rows[b] = b*T + T - 1
			}
			lg, err := m.Logits(out.Resid, rows)
			if err != nil {
				t.Fatal(err)
			}
			var flat []float32
			for _, r := range lg {
				flat = append(flat, r...)
			}
			fixture.Close(t, "logits_last", flat, ref.Float(t, "logits_last").Data, actTol)
			tl, err := m.TokenLoss(out, tokens)
			m.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			fixture.Close(t, "loss", []float32{float32(model.MeanLoss(tl))}, ref.Float(t, "loss").Data, lossTol)

			for _, sr := range ref.SAEs {
				enc := s.SAEs[sr.Tag]
				acts, err := features.Activations(ctx, m, enc, tokens, B, T)
				if err != nil {
					t.Fatal(err)
				}
				fixture.Close(t, sr.Tag+".feature_acts", acts, ref.Float(t, sr.Tag+".feature_acts").Data, actTol)

				// Reconstruction: decode the reference's own feature acts.
				fa := ref.Float(t, sr.Tag+".feature_acts")
				f := s.Backend.Alloc(B*T, enc.DSae())
				s.Backend.Write(f, fa.Data)
				rec := s.Backend.Alloc(B*T, enc.DIn())
				if err := enc.Decode(rec, f); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, B*T*enc.DIn())
				s.Backend.Read(rec, got)
				fixture.Close(t, sr.Tag+".recons", got, ref.Float(t, sr.Tag+".recons").Data, actTol)

				losses, err := features.Reconstruction(ctx, m, enc, tokens, B, T)
				if err != nil {
					t.Fatal(err)
				}
				fixture.Close(t, sr.Tag+".loss_clean_recons_zero_mean",
					[]float32{float32(losses.Clean), float32(losses.Recons), float32(losses.Zero), float32(losses.Mean)},
					ref.Float(t, sr.Tag+".loss_clean_recons_zero_mean").Data, lossTol)
				want := ref.Float(t, sr.Tag+".loss_clean_recons_zero_mean").Data
				score := (float64(want[2]) - float64(want[1])) / (float64(want[2]) - float64(want[0]))
				if d := losses.Score - score; d > 1e-3 || d < -1e-3 {
					t.Errorf("%s score %g, reference losses give %g", sr.Tag, losses.Score, score)
				}
				// L0: positives per non-BOS token of the activations
				// checked above (the same encode, so the count is exact).
				var pos, nTok int
				for r := 0; r < B*T; r++ {
					if r%T == 0 {
						continue
					}
					nTok++
					for _, v := range acts[r*enc.DSae() : (r+1)*enc.DSae()] {
						if v > 0 {
							pos++
						}
					}
				}
				if want := float64(pos) / float64(nTok); losses.L0 != want {
					t.Errorf("%s L0 %g, the activations give %g", sr.Tag, losses.L0, want)
				}

				// Elicitation on text 0 alone, in both modes.
				text0 := []int32{50256}
				for _, id := range ref.TokenIDs[0] {
					text0 = append(text0, int32(id))
				}
				minus2 := -2
				for mode, pos := range map[string]*int{"elicit_mean": nil, "elicit_pos-2": &minus2} {
					top, err := features.Elicit(ctx, m, enc, text0, 5, pos)
					if err != nil {
						t.Fatal(err)
					}
					wantIDs, _ := ref.Ints(t, sr.Tag+"."+mode+"_ids")
					wantVals := ref.Float(t, sr.Tag+"."+mode+"_vals").Data
					gotVals := make([]float32, len(top))
					for i, r := range top {
						gotVals[i] = r.Value
						if int32(r.ID) != wantIDs[i] {
							t.Errorf("%s.%s: ids %v, want %v", sr.Tag, mode, top, wantIDs)
							break
						}
					}
					fixture.Close(t, sr.Tag+"."+mode+"_vals", gotVals, wantVals, actTol)
				}

				// Direct unembedding of decoder directions (only for d_model SAEs).
				un, err := features.UnembedDecoder(ctx, m, enc, sr.UnembedNorm)
				if err != nil {
					t.Fatal(err)
				}
				fixture.Close(t, sr.Tag+".unembed_entropy_bits", un.EntropyBits, ref.Float(t, sr.Tag+".unembed_entropy_bits").Data, actTol)
				fixture.Close(t, sr.Tag+".unembed_maxprob", un.MaxProb, ref.Float(t, sr.Tag+".unembed_maxprob").Data, actTol)
			}
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
	want := "[hook_embed hook_pos_embed blocks.0.hook_resid_pre blocks.0.hook_attn_out blocks.0.hook_resid_mid blocks.0.mlp.hook_post blocks.0.hook_mlp_out]"
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
	if _, err := features.FeatureLogits(s.Model, enc, 256, 3, 5); err == nil {
		t.Error("feature 256 of 256 accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := features.Activations(cctx, s.Model, enc, []int32{50256, 464}, 1, 2); err == nil {
		t.Error("cancelled context ignored")
	}
}
