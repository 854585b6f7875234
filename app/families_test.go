package main

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights/safetensors"
)

// Every SAE of the second fixture set through the commands a researcher
// runs: acts (the feature activations) and recons (clean, spliced and
// zero-ablated losses) on the reference's tokens, at 1e-4; OpenAI's raw
// file opens with --hook.
func TestFamiliesThroughCommands(t *testing.T) {
	v2 := "../testdata/fixtures/v2"
	ref, err := safetensors.Open(filepath.Join(v2, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	tok, shape, err := ref.Int64("tokens")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for b := 0; b < shape[0]; b++ {
		var ids []string
		for _, v := range tok[b*shape[1] : (b+1)*shape[1]] {
			ids = append(ids, fmt.Sprint(v))
		}
		rows = append(rows, strings.Join(ids, ","))
	}
	tokens := strings.Join(rows, ";")
	for _, c := range []struct{ tag, file, hook string }{
		{"topk", "saelens-topk-hook_resid_post-1", ""},
		{"oai", "oai-topk8-hook_resid_post-0.pt", "blocks.0.hook_resid_post"},
		{"jumprelu", "saelens-jumprelu-hook_mlp_out-0", ""},
		{"gated", "saelens-gated-hook_resid_pre-1", ""},
		{"hookz", "saelens-attn-hook_z-1", ""},
		{"transcoder", "saelens-transcoder-mlp-0", ""},
	} {
		t.Run(c.tag, func(t *testing.T) {
			args := []string{"--model", fixModel, "--sae", filepath.Join(v2, c.file), "--tokens", tokens, "--blas", "gonum"}
			if c.hook != "" {
				args = append(args, "--hook", c.hook)
			}
			out, errs, code := runCLI(t, append([]string{"acts"}, args...)...)
			if code != 0 {
				t.Fatalf("acts: exit %d: %s", code, errs)
			}
			var acts struct {
				FeatureActs [][][]float64 `json:"feature_acts"`
			}
			if err := json.Unmarshal([]byte(out), &acts); err != nil {
				t.Fatal(err)
			}
			want, err := ref.Float32(c.tag + ".feature_acts")
			if err != nil {
				t.Fatal(err)
			}
			var got []float64
			for _, r := range acts.FeatureActs {
				for _, p := range r {
					got = append(got, p...)
				}
			}
			if len(got) != len(want.Data) {
				t.Fatalf("%d activations, want %d", len(got), len(want.Data))
			}
			for i, w := range want.Data {
				if math.Abs(got[i]-float64(w)) > 1e-4*math.Max(1, math.Abs(float64(w))) {
					t.Fatalf("feature_acts[%d] = %g, want %g", i, got[i], w)
				}
			}
			out, errs, code = runCLI(t, append([]string{"recons"}, args...)...)
			if code != 0 {
				t.Fatalf("recons: exit %d: %s", code, errs)
			}
			var res map[string]float64
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			losses, err := ref.Float32(c.tag + ".loss_clean_recons_zero")
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range []string{"loss_clean", "loss_recons", "loss_zero"} {
				if w := float64(losses.Data[i]); math.Abs(res[k]-w) > 1e-4*math.Max(1, w) {
					t.Errorf("%s = %g, want %g", k, res[k], w)
				}
			}
		})
	}
}
