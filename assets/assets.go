// Package assets holds the resources embedded in the SAE Scope binary.
//
// The corpus folder is a small corpus of real English prose (about 1.9 MB
// of text, some 440 thousand GPT-2 tokens, over 3000 rows of 128 tokens):
// public-domain and openly licensed works in JSON Lines files, one document
// of a few paragraphs a line in a "text" field (a "source" field names the
// work). Tests and the offline demo scan it when the default corpus,
// openwebtext-10k, is not on disk. corpus/README.md records where each
// piece comes from and its licence. Read it with package weights/corpus:
//
//	c, err := corpus.LoadFS(ctx, assets.CorpusFS(), "corpus", tok, corpus.Options{}, nil)
package assets

import (
	"embed"
	"io/fs"
)

//go:embed corpus/*
var files embed.FS

// CorpusDir is the name of the bundled corpus folder in CorpusFS.
const CorpusDir = "corpus"

// CorpusFS returns the embedded files; the bundled corpus is the folder
// CorpusDir ("corpus") in it, its .jsonl files the documents and
// README.md their provenance.
func CorpusFS() fs.FS { return files }
