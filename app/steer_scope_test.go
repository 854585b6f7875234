package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/saescope/saescope/weights/safetensors"
)

// steer --prompt-only changes the prompt exactly as steering everywhere
// does (the fixture's add-4 logits at 1e-4) and --pos steers one
// position: at BOS (position 0, whose residual is the same whatever comes
// after) it moves the last logits less than at the last prompt token;
// bad positions are refused.
func TestSteerScopeFlags(t *testing.T) {
	ref, err := safetensors.Open("../testdata/fixtures/v2/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	prompt := idsArg(append([]int64{50256}, fixtureTokenIDs(t)...))
	type run struct {
		Generated  []int64   `json:"generated"`
		LogitsLast []float64 `json:"logits_last"`
	}
	steer := func(extra ...string) (run, float64) {
		t.Helper()
		args := append([]string{"steer", "--model", fixModel, "--sae", fixSAE0, "--feature", "158", "--add", "4",
			"--tokens", prompt, "--generate", "8", "--logits", "--blas", "gonum"}, extra...)
		out, errs, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", extra, code, errs)
		}
		var got struct {
			Steered run     `json:"steered"`
			KL      float64 `json:"kl"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		return got.Steered, got.KL
	}
	want, err := ref.Float32("steer.add.logits_last")
	if err != nil {
		t.Fatal(err)
	}
	po, _ := steer("--prompt-only")
	if len(po.LogitsLast) != len(want.Data) {
		t.Fatalf("%d logits, want %d", len(po.LogitsLast), len(want.Data))
	}
	for i, w := range want.Data {
		if d := po.LogitsLast[i] - float64(w); d > 1e-4*max(1, abs(float64(w))) || -d > 1e-4*max(1, abs(float64(w))) {
			t.Fatalf("--prompt-only logits[%d] = %g, steering everywhere gives %g", i, po.LogitsLast[i], w)
		}
	}
	_, klBOS := steer("--pos", "0")
	_, klLast := steer("--pos", "-1")
	if !(klLast > klBOS) || !(klBOS >= 0) {
		t.Errorf("KL with the feature added at BOS %g, at the last prompt token %g: want the last larger", klBOS, klLast)
	}
	for _, bad := range [][]string{
		{"--pos", "1", "--prompt-only"},
		{"--pos", "99"},
		{"--pos", "-99"},
		{"--pos", "x"},
	} {
		args := append([]string{"steer", "--model", fixModel, "--sae", fixSAE0, "--feature", "158", "--add", "4", "--tokens", prompt, "--generate", "8"}, bad...)
		if _, errs, code := runCLI(t, args...); code == 0 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", bad, code, errs)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// fixtureTokenIDs is the first text of the fixtures' reference.json.
func fixtureTokenIDs(t *testing.T) []int64 {
	t.Helper()
	raw, err := os.ReadFile("../testdata/fixtures/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var v1 struct {
		TokenIDs [][]int64 `json:"token_ids"`
	}
	if err := json.Unmarshal(raw, &v1); err != nil {
		t.Fatal(err)
	}
	if len(v1.TokenIDs) == 0 {
		t.Fatal("reference.json has no token_ids")
	}
	return v1.TokenIDs[0]
}
