package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/tokenizer"
)

// analyze with an SAE trained without BOS (OpenAI's TopK fixture, NoBOS)
// scans the shipped corpus cut into rows without BOS: the store's
// parameters say no_bos, its tokens are corpus.WithoutBOS's rows, and
// every token is counted. With --tl-compat, which makes BOS rows only,
// it says why it cannot.
func TestAnalyzeNoBOSSAE(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	oai := filepath.Join("..", "testdata", "fixtures", "v2", "oai-topk8-hook_resid_post-0.pt")
	path := filepath.Join(t.TempDir(), "s.saestore")
	const rows = 20
	_, errs, code := runCLI(t, "analyze", "--model", fixModel, "--sae", oai, "--hook", "blocks.0.hook_resid_post",
		"--rows", "20", "--batch", "8", "--recon-rows", "2", "--out", path)
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "without BOS") {
		t.Errorf("analyze does not say the rows have no BOS: %s", errs)
	}
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if p := st.Meta.Params; !p.NoBOS || p.IncludeBOS || p.Rows != rows || p.SeqLen != 128 {
		t.Fatalf("params %+v", p)
	}
	raw, err := json.Marshal(st.Meta.Params)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"no_bos":true`) {
		t.Errorf("params JSON %s", raw)
	}
	if st.Meta.Summary.Tokens != rows*128 {
		t.Errorf("%d tokens counted, want all %d", st.Meta.Summary.Tokens, rows*128)
	}
	tok, err := tokenizer.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := corpus.LoadFS(context.Background(), assets.CorpusFS(), assets.CorpusDir, tok, corpus.Options{SeqLen: 128, Rows: rows}, nil)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := c.WithoutBOS()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Tokens, slices.Concat(nb.Rows...)) || st.Meta.Corpus.Hash != nb.Hash {
		t.Error("the store's tokens are not the corpus' rows without BOS")
	}
	if slices.Equal(st.Tokens, slices.Concat(c.Rows...)) || st.Meta.Corpus.Hash == c.Hash {
		t.Error("the store holds the BOS rows")
	}

	_, errs, code = runCLI(t, "analyze", "--model", fixModel, "--sae", oai, "--hook", "blocks.0.hook_resid_post",
		"--rows", "4", "--tl-compat", "--out", filepath.Join(t.TempDir(), "tl.saestore"), "--quiet")
	if code == 0 || !strings.Contains(errs, "prepend_bos false") || !strings.Contains(errs, "--tl-compat") {
		t.Errorf("--tl-compat with an SAE trained without BOS: exit %d: %s", code, errs)
	}
}
