package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights/safetensors"
)

func idsArg(ids []int64) string {
	s := make([]string, len(ids))
	for i, v := range ids {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

// steer and patch reproduce the fixtures' causal references through the
// commands: the last logits (1e-4) and 8 greedy ids of add 4, clamp 6 and
// ablate on sae0's feature 158, and every feature's patching effect.
func TestSteerAndPatchCommands(t *testing.T) {
	ref, err := safetensors.Open("../testdata/fixtures/v2/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	var v1 struct {
		TokenIDs [][]int64 `json:"token_ids"`
	}
	raw, err := os.ReadFile("../testdata/fixtures/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &v1); err != nil {
		t.Fatal(err)
	}
	prompt := idsArg(append([]int64{50256}, v1.TokenIDs[0]...))
	close1e4 := func(what string, got []float64, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i, w := range want {
			if math.Abs(got[i]-float64(w)) > 1e-4*math.Max(1, math.Abs(float64(w))) {
				t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], w)
			}
		}
	}
	for _, c := range []struct{ name, flag string }{{"add", "--add=4"}, {"clamp", "--clamp=6"}, {"ablate", "--ablate"}} {
		out, errs, code := runCLI(t, "steer", "--model", fixModel, "--sae", fixSAE0, "--feature", "158", c.flag,
			"--tokens", prompt, "--generate", "8", "--logits", "--blas", "gonum")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, errs)
		}
		type run struct {
			Generated  []int64   `json:"generated"`
			LogitsLast []float64 `json:"logits_last"`
		}
		var got struct {
			Plain   run     `json:"plain"`
			Steered run     `json:"steered"`
			KL      float64 `json:"kl"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		res := map[string]run{"plain": got.Plain, "steered": got.Steered}
		if !(got.KL > 0) {
			t.Errorf("%s: KL %g", c.name, got.KL)
		}
		for run, tag := range map[string]string{"plain": "plain", "steered": c.name} {
			want, err := ref.Float32("steer." + tag + ".logits_last")
			if err != nil {
				t.Fatal(err)
			}
			close1e4(c.name+" "+run+" logits", res[run].LogitsLast, want.Data)
			ids, _, err := ref.Int64("steer." + tag + ".greedy_ids")
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(res[run].Generated) != fmt.Sprint(ids) {
				t.Errorf("%s %s: generated %v, want %v", c.name, run, res[run].Generated, ids)
			}
		}
	}

	tok, shape, err := ref.Int64("tokens")
	if err != nil {
		t.Fatal(err)
	}
	T := shape[1]
	out, errs, code := runCLI(t, "patch", "--model", fixModel, "--sae", fixSAE0, "--clean", idsArg(tok[:T]), "--corrupt", idsArg(tok[T:2*T]),
		"--metric", "13,11", "--blas", "gonum")
	if code != 0 {
		t.Fatalf("patch: exit %d: %s", code, errs)
	}
	var pr struct {
		MetricClean   float64   `json:"metric_clean"`
		MetricCorrupt float64   `json:"metric_corrupt"`
		Effect        []float64 `json:"effect"`
	}
	if err := json.Unmarshal([]byte(out), &pr); err != nil {
		t.Fatal(err)
	}
	want, err := ref.Float32("patch.effect")
	if err != nil {
		t.Fatal(err)
	}
	close1e4("patch.effect", pr.Effect, want.Data)
	mcc, _ := ref.Float32("patch.metric_clean_corrupt")
	close1e4("metrics", []float64{pr.MetricClean, pr.MetricCorrupt}, mcc.Data)

	for _, bad := range [][]string{
		{"steer", "--feature", "999", "--add", "1", "--tokens", prompt},
		{"steer", "--feature", "3", "--add", "Inf", "--tokens", prompt},
		{"steer", "--feature", "3", "--tokens", prompt},
		{"patch", "--clean", "50256,1,2", "--corrupt", "50256,1", "--metric", "13,11"},
		{"patch", "--clean", "50256,1,2", "--corrupt", "50256,1,3", "--metric", "hello world,11"},
	} {
		args := append([]string{bad[0], "--model", fixModel, "--sae", fixSAE0}, bad[1:]...)
		if _, errs, code := runCLI(t, args...); code == 0 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", bad, code, errs)
		}
	}
}

// steer's next-token view and prompt losses: the plain run's loss equals
// recons' clean loss on the same tokens, ablation changes it.
func TestSteerNextTokenView(t *testing.T) {
	out, errs, code := runCLI(t, "steer", "--model", fixModel, "--sae", fixSAE0, "--feature", "158", "--ablate", "--text", text0, "--top", "3", "--blas", "gonum")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		KL   float64 `json:"kl"`
		Next struct {
			Plain     []struct{ ID int } `json:"plain_top"`
			Increases []struct{ ID int } `json:"increases"`
		} `json:"next_token"`
		Loss map[string]float64 `json:"prompt_loss"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Next.Plain) != 3 || len(res.Next.Increases) != 3 {
		t.Errorf("lists of %d and %d tokens, want 3", len(res.Next.Plain), len(res.Next.Increases))
	}
	rout, errs, code := runCLI(t, "recons", "--model", fixModel, "--sae", fixSAE0, "--text", text0, "--blas", "gonum")
	if code != 0 {
		t.Fatalf("recons: exit %d: %s", code, errs)
	}
	var rec map[string]float64
	if err := json.Unmarshal([]byte(rout), &rec); err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Loss["plain"]-rec["loss_clean"]) > 1e-6 {
		t.Errorf("plain prompt loss %g, recons' clean loss %g", res.Loss["plain"], rec["loss_clean"])
	}
	if res.Loss["steered"] == res.Loss["plain"] {
		t.Error("ablating the feature left the prompt loss unchanged")
	}
}
