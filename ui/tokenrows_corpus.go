package ui

import (
	"context"

	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/tokenrows"
)

// tokenRowsCorpus is the corpus of the exact token rows in path (a .npy,
// .safetensors or .json file, as analyze --tokens-file reads it), checked
// against the model of cfg: the first rows of them in their order (all
// when the file has fewer, which the corpus' note says). The same file
// and number of rows give the analysis key analyze --tokens-file gives,
// so the window opens a store the command made.
func tokenRowsCorpus(ctx context.Context, path string, rows int, cfg gpt2.Config) (*corpus.Corpus, error) {
	all, err := tokenrows.Read(ctx, path, tokenrows.Limits{Vocab: cfg.VocabSize, MaxSeq: cfg.NPositions})
	if err != nil {
		return nil, err
	}
	keep := all
	if rows > 0 && rows < len(all) {
		keep = all[:rows]
	}
	c, err := corpus.FromTokenRows(path, keep)
	if err != nil {
		return nil, err
	}
	if rows > len(all) {
		c.Short = true
		c.Note = "the file holds fewer rows than asked for: all of them are scanned"
	}
	return c, nil
}

// corpusExtensions are the files the corpus field takes: text (.txt,
// .jsonl, .parquet) and exact token rows (tokenrows.Extensions).
func corpusExtensions() []string {
	return append([]string{".txt", ".jsonl", ".parquet"}, tokenrows.Extensions...)
}
