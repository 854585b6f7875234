package ui

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/tokenrows/tokenrowstest"
)

// The corpus field takes a token-rows file: its first rows, in order (all
// of them, with a note, when it has fewer than asked), checked against the
// model.
func TestTokenRowsCorpus(t *testing.T) {
	rows := [][]int32{{50256, 1, 2}, {50256, 3, 4}, {50256, 5, 6}}
	path := tokenrowstest.Write(t, filepath.Join(t.TempDir(), "rows.json"), tokenrowstest.JSON(rows))
	cfg := gpt2.Config{VocabSize: 50257, NPositions: 128}
	c, err := tokenRowsCorpus(context.Background(), path, 2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TokenRows || c.Path != path || !slices.EqualFunc(c.Rows, rows[:2], slices.Equal) || c.Short {
		t.Errorf("first 2 rows: %+v", c)
	}
	all, err := tokenRowsCorpus(context.Background(), path, 1000, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Rows) != 3 || !all.Short || all.Note == "" || all.Hash == c.Hash {
		t.Errorf("all rows: %+v", all)
	}
	if _, err := tokenRowsCorpus(context.Background(), path, 0, gpt2.Config{VocabSize: 5, NPositions: 128}); err == nil || !strings.Contains(err.Error(), "row 0, position 0: id 50256 outside the vocabulary [0, 5)") {
		t.Errorf("ids outside the model's vocabulary: %v", err)
	}
	if exts := corpusExtensions(); !slices.Contains(exts, ".npy") || !slices.Contains(exts, ".parquet") {
		t.Errorf("corpus extensions %v", exts)
	}
}

// A workspace on token rows is titled by them, with the most rows taken.
func TestTitleOfTokenRows(t *testing.T) {
	w := WorkspaceSpec{Model: "m", Corpus: "/x/rows.npy", Rows: 1000, SAEs: []SAESpec{{Path: "a.pt"}}}
	if got := w.Title(); !strings.Contains(got, "token rows rows.npy (up to 1,000)") {
		t.Errorf("title %q", got)
	}
	w.Corpus = "/x/c.jsonl"
	if got := w.Title(); !strings.Contains(got, "c.jsonl (1,000 rows)") {
		t.Errorf("title %q", got)
	}
}
