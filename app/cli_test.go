package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const (
	fixModel = "../testdata/fixtures/tiny-gpt2"
	fixSAE0  = "../testdata/fixtures/tiny-gpt2_256_resid_pre_1.pt"
	fixSAE1  = "../testdata/fixtures/tiny-gpt2-saelens-mlp_out-0"
	text0    = "The quick brown fox jumps over the lazy dog near the river bank."
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestElicitMatchesReference(t *testing.T) {
	out, errs, code := runCLI(t, "elicit", "--model", fixModel, "--sae", fixSAE0, "--top", "5", "--text", text0, "--blas", "gonum")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Features []struct {
			ID    int     `json:"id"`
			Value float64 `json:"value"`
		} `json:"features"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// sae0.elicit_mean_ids of the fixture reference.
	want := []int{158, 153, 155, 66, 178}
	for i, f := range res.Features {
		if f.ID != want[i] {
			t.Fatalf("ids %v, want %v", res.Features, want)
		}
	}
	out, errs, code = runCLI(t, "elicit", "--model", fixModel, "--sae", fixSAE1, "--top", "5", "--pos", "-2", "--text", text0)
	if code != 0 || !strings.HasPrefix(out, `{"features":[{"id":84,`) {
		t.Errorf("pos -2: exit %d out %s err %s", code, out, errs)
	}
}

func TestActsShapes(t *testing.T) {
	out, errs, code := runCLI(t, "acts", "--model", fixModel, "--sae", fixSAE1, "--tokens", "50256,464,2068;50256,818,16450")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Tokens      [][]int       `json:"tokens"`
		StrTokens   [][]string    `json:"str_tokens"`
		Hook        string        `json:"hook"`
		Acts        [][][]float64 `json:"acts"`
		FeatureActs [][][]float64 `json:"feature_acts"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Hook != "blocks.0.hook_mlp_out" || len(res.Acts) != 2 || len(res.Acts[0]) != 3 || len(res.Acts[0][0]) != 32 ||
		len(res.FeatureActs[1][2]) != 256 || res.StrTokens[0][1] != "The" || res.Tokens[1][2] != 16450 {
		t.Errorf("unexpected output: hook %s tokens %v str %v", res.Hook, res.Tokens, res.StrTokens)
	}
	out, _, code = runCLI(t, "acts", "--model", fixModel, "--hook", "blocks.1.mlp.hook_post", "--text", "hi")
	if code != 0 || !strings.Contains(out, `"hook":"blocks.1.mlp.hook_post"`) {
		t.Errorf("acts without SAE: %d %s", code, out)
	}
}

func TestReconsScore(t *testing.T) {
	out, errs, code := runCLI(t, "recons", "--model", fixModel, "--sae", fixSAE0, "--text", text0)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res map[string]float64
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"loss_clean", "loss_recons", "loss_zero", "loss_mean", "score", "l0"} {
		if _, ok := res[k]; !ok {
			t.Errorf("missing %s in %s", k, out)
		}
	}
	want := (res["loss_zero"] - res["loss_recons"]) / (res["loss_zero"] - res["loss_clean"])
	if d := res["score"] - want; d > 1e-9 || d < -1e-9 {
		t.Errorf("score %g, losses give %g", res["score"], want)
	}
}

func TestCLIErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"elicit", "--sae", fixSAE0, "--text", "x"}, "--model DIR is required"},
		{[]string{"elicit", "--model", "../testdata/fixtures", "--sae", fixSAE0, "--text", "x"}, "no config.json"},
		{[]string{"elicit", "--model", fixModel, "--sae", fixSAE0}, "give --text"},
		{[]string{"elicit", "--model", fixModel, "--sae", fixSAE0, "--text", "a b", "--pos", "9"}, "position 9 outside"},
		{[]string{"acts", "--model", fixModel, "--sae", fixSAE0, "--tokens", "1,2;3"}, "all rows must be the same length"},
		{[]string{"acts", "--model", fixModel, "--sae", fixSAE0, "--tokens", "1,99999"}, "outside the vocabulary"},
		{[]string{"acts", "--model", fixModel, "--hook", "blocks.7.hook_resid_pre", "--text", "x"}, "out of range"},
		{[]string{"acts", "--model", fixModel, "--sae", fixSAE0, "--text", strings.Repeat("word ", 200)}, "longer than the model's context"},
		{[]string{"bench", "--backend", "tpu"}, `unknown backend "tpu"`},
		// a stray argument stops Go's flag parsing: refused, not ignored
		{[]string{"rank", "--store", "s.saestore", "oops", "--by", "max"}, `rank: unexpected argument "oops"`},
		{[]string{"analyze", "--model", fixModel, "--sae", fixSAE0, "corpus.txt", "--rows", "50"}, `analyze: unexpected argument "corpus.txt"`},
		{[]string{"acts", "--model", fixModel, "x"}, `acts: unexpected argument "x"`},
		{[]string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--batch", "-4"}, "--batch -4"},
		{[]string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--baseline-stride", "0"}, "--baseline-stride 0"},
		{[]string{"stats", "--store", "s.saestore", "--bins", "2000000000"}, "bins must be between"},
		{[]string{"stats", "--store", "s.saestore", "--lo", "5", "--hi", "1"}, "x range start 5 is after its end 1"},
		{[]string{"stats", "--store", "s.saestore", "--threshold", "NaN"}, "threshold is not a number"},
	}
	for _, c := range cases {
		out, errs, code := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q), stdout %q", c.args, code, errs, c.want, out)
		}
	}
}

// analyze on the shipped corpus, then rank, contexts and stats on the store.
func TestAnalyzeThenQuery(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	store := t.TempDir() + "/s.saestore"
	out, errs, code := runCLI(t, "analyze", "--model", fixModel, "--sae", fixSAE0, "--rows", "60", "--batch", "16", "--recon-rows", "4", "--out", store, "--quiet")
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, errs)
	}
	var res struct {
		Store   string `json:"store"`
		Cached  bool   `json:"cached"`
		Summary struct {
			Tokens int     `json:"tokens"`
			L0     float64 `json:"l0"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Store != store || res.Cached || res.Summary.Tokens != 60*127 || res.Summary.L0 <= 0 {
		t.Fatalf("analyze result %+v", res)
	}
	// The same analysis again is found, not redone.
	out, _, code = runCLI(t, "analyze", "--model", fixModel, "--sae", fixSAE0, "--rows", "60", "--batch", "16", "--recon-rows", "4", "--out", store, "--quiet")
	if code != 0 || !strings.Contains(out, `"cached":true`) {
		t.Errorf("second analyze: %d %s", code, out)
	}
	out, errs, code = runCLI(t, "rank", "--store", store, "--by", "cv", "--from", "10", "--to", "15", "--csv")
	if code != 0 || strings.Count(out, "\n") != 6 || !strings.HasPrefix(out, "rank,id,mean,cv") {
		t.Errorf("rank: %d %q %s", code, out, errs)
	}
	out, errs, code = runCLI(t, "contexts", "--store", store, "--feature", "17", "--k", "3", "--text")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Errorf("contexts: %d %q %s", code, out, errs)
	}
	out, errs, code = runCLI(t, "stats", "--store", store, "--kind", "features_per_token", "--threshold", "0.5")
	if code != 0 || !strings.Contains(out, `"learnt_n":7620`) {
		t.Errorf("stats: %d %q %s", code, out, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"contexts", "--store", store, "--feature", "256"}, "feature 256 out of range"},
		{[]string{"contexts", "--store", store, "--feature", "-3"}, "feature -3 out of range"},
		{[]string{"contexts", "--store", store}, "--feature N is required"},
		{[]string{"contexts", "--store", store, "--feature", "17", "--intervals", "--prefix", "-5"}, "negative window"},
		{[]string{"rank", "--store", store, "--by", "bogus"}, "unknown ranking"},
		{[]string{"rank", "--store", store, "--from", "5000", "--to", "5050"}, "past the"},
		{[]string{"stats", "--store", t.TempDir() + "/none.saestore"}, "no such file"},
		{[]string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--corpus", t.TempDir(), "--quiet"}, "corpus"},
	} {
		_, errs, code := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errs, c.want)
		}
	}
}
