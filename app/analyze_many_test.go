package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/store"
)

// analyze --sae A --sae B scans both SAEs of the fixtures (at
// blocks.1.hook_resid_pre and blocks.0.hook_mlp_out) in one pass, each
// into its own store in the cache folder, under the key it has alone:
// analysing either alone afterwards finds its store, and the pair again
// finds both. --hook comes once per --sae; --out, which names one store,
// a --hook count that does not match, and SAEs of different BOS
// conventions are refused.
func TestAnalyzeSeveralSAEs(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	base := []string{"analyze", "--model", fixModel, "--rows", "12", "--batch", "4", "--recon-rows", "2", "--quiet", "--blas", "gonum"}
	type entry struct {
		SAE     string        `json:"sae"`
		Hook    string        `json:"hook"`
		Store   string        `json:"store"`
		Cached  bool          `json:"cached"`
		Summary store.Summary `json:"summary"`
	}
	pair := func() []entry {
		t.Helper()
		out, errs, code := runCLI(t, append(base, "--sae", fixSAE0, "--sae", fixSAE1)...)
		if code != 0 {
			t.Fatalf("analyze of two SAEs: exit %d: %s", code, errs)
		}
		var res struct {
			Stores []entry `json:"stores"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(res.Stores) != 2 || res.Stores[0].SAE != fixSAE0 || res.Stores[1].SAE != fixSAE1 ||
			res.Stores[0].Hook != "blocks.1.hook_resid_pre" || res.Stores[1].Hook != "blocks.0.hook_mlp_out" ||
			res.Stores[0].Store == res.Stores[1].Store {
			t.Fatalf("stores %+v", res.Stores)
		}
		return res.Stores
	}
	first := pair()
	for i, e := range first {
		if e.Cached || e.Summary.Tokens != 12*127 || e.Summary.L0 <= 0 {
			t.Errorf("SAE %d: %+v", i, e)
		}
		st, err := store.Open(e.Store)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Verify(); err != nil || st.Meta.Hook != e.Hook || st.Meta.SAE.Path != e.SAE {
			t.Errorf("store of %s: %v, hook %s, SAE %s", e.SAE, err, st.Meta.Hook, st.Meta.SAE.Path)
		}
		st.Close()
	}
	for _, e := range first {
		out, errs, code := runCLI(t, append(base, "--sae", e.SAE)...)
		var res entry
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("analyze %s alone: exit %d: %s %s", e.SAE, code, out, errs)
		}
		if !res.Cached || res.Store != e.Store {
			t.Errorf("%s alone: store %s cached %v, the pair made %s", e.SAE, res.Store, res.Cached, e.Store)
		}
	}
	for i, e := range pair() {
		if !e.Cached || e.Store != first[i].Store {
			t.Errorf("the pair again, SAE %d: %+v", i, e)
		}
	}
	// --hook once per --sae: the files' own hooks give the same stores,
	// another hook another store, at that hook
	out, errs, code := runCLI(t, append(base, "--sae", fixSAE0, "--hook", "blocks.1.hook_resid_pre", "--sae", fixSAE1, "--hook", "")...)
	if code != 0 || strings.Count(out, `"cached":true`) != 2 {
		t.Errorf("the pair with their own hooks given: exit %d: %s %s", code, out, errs)
	}
	out, errs, code = runCLI(t, append(base, "--sae", fixSAE0, "--hook", "blocks.0.hook_resid_pre", "--sae", fixSAE1, "--hook", "")...)
	var res struct {
		Stores []entry `json:"stores"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Stores) != 2 {
		t.Fatalf("the pair with another hook: exit %d: %s %s", code, out, errs)
	}
	if e := res.Stores[0]; e.Cached || e.Hook != "blocks.0.hook_resid_pre" || e.Store == first[0].Store || !res.Stores[1].Cached {
		t.Errorf("SAE 0 at blocks.0.hook_resid_pre: %+v, %+v", e, res.Stores[1])
	}
	// one file at two hooks is two SAEs (both stores are in the cache now)
	out, errs, code = runCLI(t, append(base, "--sae", fixSAE0, "--hook", "blocks.1.hook_resid_pre", "--sae", fixSAE0, "--hook", "blocks.0.hook_resid_pre")...)
	if code != 0 || strings.Count(out, `"cached":true`) != 2 {
		t.Errorf("one file at two hooks: exit %d: %s %s", code, out, errs)
	}
	oai := "../testdata/fixtures/v2/oai-topk8-hook_resid_post-0.pt"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sae", fixSAE0, "--sae", fixSAE1, "--out", t.TempDir() + "/s.saestore"}, "--out names one store"},
		{[]string{"--sae", fixSAE0, "--sae", fixSAE1, "--hook", "blocks.1.hook_resid_pre"}, "1 --hook for 2 --sae"},
		{[]string{"--sae", fixSAE0, "--hook", "blocks.1.hook_resid_pre", "--hook", "blocks.0.hook_mlp_out"}, "2 --hook for 1 --sae"},
		{[]string{"--sae", fixSAE0, "--hook", "", "--sae", oai, "--hook", "blocks.0.hook_resid_post"}, "trained without BOS"},
		// the same SAE twice: by the same path, by another path to the
		// same file, and at the same hook given once by name
		{[]string{"--sae", fixSAE0, "--sae", fixSAE0}, "--sae " + fixSAE0 + " is given twice"},
		{[]string{"--sae", fixSAE0, "--sae", fixSAE1, "--sae", "../testdata/fixtures/../fixtures/tiny-gpt2_256_resid_pre_1.pt"}, "the same SAE at blocks.1.hook_resid_pre"},
		{[]string{"--sae", fixSAE0, "--hook", "", "--sae", fixSAE0, "--hook", "blocks.1.hook_resid_pre"}, "is given twice"},
	} {
		_, errs, code := runCLI(t, append(base, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d: %s", c.args, code, errs)
		}
	}
}
