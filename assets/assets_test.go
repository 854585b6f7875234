package assets_test

import (
	"context"
	"io/fs"
	"testing"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/tokenizer"
)

func TestCorpusFiles(t *testing.T) {
	names, err := fs.Glob(assets.CorpusFS(), assets.CorpusDir+"/*")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"corpus/README.md": true, "corpus/devils-dictionary.jsonl": true, "corpus/jargon-file.jsonl": true,
		"corpus/opticks.jsonl": true, "corpus/state-of-the-union.jsonl": true}
	total := 0
	for _, n := range names {
		if !want[n] {
			t.Errorf("unexpected file %s", n)
		}
		delete(want, n)
		st, err := fs.Stat(assets.CorpusFS(), n)
		if err != nil {
			t.Fatal(err)
		}
		total += int(st.Size())
	}
	for n := range want {
		t.Errorf("missing %s", n)
	}
	if total > 3<<20 {
		t.Errorf("bundled corpus is %d bytes, keep it under 3 MiB", total)
	}
}

// The demo scans 1000 rows of 128 tokens: the bundled corpus must give them.
func TestCorpusGives1000Rows(t *testing.T) {
	tok, err := tokenizer.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := corpus.LoadFS(context.Background(), assets.CorpusFS(), assets.CorpusDir, tok, corpus.Options{Rows: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 1000 || c.Short || c.AvailableRows < 1000 {
		t.Fatalf("%d rows kept, %d available", len(c.Rows), c.AvailableRows)
	}
	for i, r := range c.Rows {
		if len(r) != 128 || r[0] != tokenizer.BOS {
			t.Fatalf("row %d: %d tokens, first %d", i, len(r), r[0])
		}
	}
	t.Logf("%d documents, %d tokens, %d rows of 128", c.Stats.Documents, c.TotalTokens, c.AvailableRows)
}
