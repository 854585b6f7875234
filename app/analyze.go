package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/hub"
)

func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze", stderr)
	ef := addEngineFlags(fs, true)
	corpusPath := fs.String("corpus", "", "corpus: .txt, .jsonl, .parquet or a folder of them (default: openwebtext-10k from the Hugging Face cache, else the small corpus shipped with the app)")
	rows := fs.Int("rows", 1000, "rows of 128 tokens to scan")
	seed := fs.Uint64("seed", 0, "shuffle seed of the corpus rows")
	batch := fs.Int("batch", 32, "rows per forward pass")
	includeBOS := fs.Bool("include-bos", false, "count BOS positions with zero activations, as the notebook did (default: BOS excluded; an SAE trained without BOS is scanned on rows without one)")
	stride := fs.Int("baseline-stride", 5, "random baseline on one row in this many")
	baselineSeed := fs.Uint64("baseline-seed", 1234, "seed of the random baseline's W_enc")
	reconRows := fs.Int("recon-rows", 16, "rows used for the reconstruction score (0: skip)")
	out := fs.String("out", "", "store file (default: the cache folder, keyed by model, SAE, corpus and parameters)")
	force := fs.Bool("force", false, "scan again even when a finished store exists")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	tlCompat := fs.Bool("tl-compat", false, "build rows exactly as TransformerLens 2.x tokenize_and_concatenate did (20 character chunks per 1000-document batch, every EOS removed); default: documents joined with EOS, as TransformerLens 3.1+")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *batch < 1:
		return fmt.Errorf("--batch %d: need at least one row a batch", *batch)
	case *stride < 1:
		return fmt.Errorf("--baseline-stride %d: need at least 1 (1: every row gets the random baseline)", *stride)
	case *reconRows < 0:
		return fmt.Errorf("--recon-rows %d (0 skips the reconstruction score)", *reconRows)
	}
	e, err := ef.load(true)
	if err != nil {
		return err
	}
	defer e.Close()
	say := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, format, a...)
		}
	}
	if e.sae.NoBOS && *tlCompat {
		return errors.New("analyze: the SAE was trained without BOS (prepend_bos false), and --tl-compat makes rows with BOS only (as TransformerLens 2.x's tokenize_and_concatenate did): leave --tl-compat out to scan it on rows without BOS")
	}
	say("analyze: reading the corpus\n")
	copt := corpus.Options{SeqLen: 128, Rows: *rows, Seed: *seed, TLCompat: *tlCompat}
	var c *corpus.Corpus
	if *corpusPath == "" {
		c, err = loadDefaultCorpus(ctx, e, copt, say)
	} else {
		c, err = corpus.Load(ctx, *corpusPath, e.tok, copt, nil)
	}
	if err != nil {
		return err
	}
	noBOS := e.sae.NoBOS
	if noBOS {
		// an SAE trained on text without BOS (prepend_bos false) is
		// scanned on rows without one, as its training data was cut
		if c, err = c.WithoutBOS(); err != nil {
			return fmt.Errorf("analyze: the SAE was trained without BOS (prepend_bos false) and is scanned on rows without it: %w", err)
		}
		say("analyze: rows of 128 tokens without BOS, as the SAE was trained (prepend_bos false)\n")
		if *includeBOS {
			say("analyze: --include-bos does nothing here: the rows have no BOS\n")
		}
	}
	if c.Note != "" {
		say("analyze: %s\n", c.Note)
	}
	meta := store.Meta{Params: analysis.DefaultParams()}
	p := &meta.Params
	p.Rows, p.SeqLen, p.Batch, p.ShuffleSeed, p.IncludeBOS = len(c.Rows), 128, *batch, *seed, *includeBOS && !noBOS
	p.NoBOS = noBOS
	p.BaselineStride, p.BaselineSeed, p.ReconRows = *stride, *baselineSeed, *reconRows
	fp := weights.DefaultFingerprinter()
	if meta.Model.Hash, err = fp.Fingerprint(ctx, *ef.model); err != nil {
		return err
	}
	if meta.SAE.Hash, err = fp.Fingerprint(ctx, *ef.saePath); err != nil {
		return err
	}
	meta.Model.Path, meta.SAE.Path = *ef.model, *ef.saePath
	meta.Corpus = store.Source{Path: c.Path, Hash: c.Hash}
	meta.Hook = e.sae.Hook.String()
	key := analysis.Key(meta)
	meta.Key = key
	path := *out
	if path == "" {
		dir, err := analysis.CacheDir()
		if err != nil {
			return err
		}
		path = analysis.StorePath(dir, key)
	}
	if !*force {
		// A finished store is reused once every section matches its
		// checksum (a damaged one is scanned again and replaced).
		if s, err := store.Open(path); err == nil && s.Meta.Key == key {
			if err := s.Verify(); err == nil {
				defer s.Close()
				say("analyze: already done, %s\n", path)
				return writeJSON(stdout, map[string]any{"store": path, "cached": true, "summary": s.Meta.Summary})
			}
			say("analyze: the store there is damaged; scanning again\n")
			s.Close()
		} else if err == nil {
			s.Close()
		}
	}
	t0 := time.Now()
	st, err := analysis.Scan(ctx, e.m, e.enc, c.Rows, meta, func(pr analysis.Progress) {
		if pr.Stage == "scan" {
			say("\ranalyze: %d/%d rows, %.0f tokens/s, ETA %s    ", pr.Rows, pr.TotalRows, pr.TokensPerS, pr.ETA.Round(time.Second))
		} else {
			say("\nanalyze: %s", pr.Stage)
		}
	})
	say("\n")
	if err != nil {
		return err
	}
	st.Meta.Key = key
	say("analyze: writing %s\n", path)
	if err := st.Write(path); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		say("analyze: %.1f MB in %.1f s\n", float64(fi.Size())/(1<<20), time.Since(t0).Seconds())
	}
	return writeJSON(stdout, map[string]any{"store": path, "cached": false, "summary": st.Meta.Summary})
}

// loadDefaultCorpus reads openwebtext-10k when it is in the Hugging Face
// cache (saescope fetch openwebtext-10k puts it there), and otherwise the
// small corpus embedded in the binary.
func loadDefaultCorpus(ctx context.Context, e *engine, opt corpus.Options, say func(string, ...any)) (*corpus.Corpus, error) {
	if entry, ok := catalog.Lookup("openwebtext-10k"); ok {
		if client, err := hub.NewClientFromEnv(); err == nil {
			if st := entry.Status(client); st.State == catalog.Ready {
				say("analyze: corpus %s\n", st.Path)
				return corpus.Load(ctx, st.Path, e.tok, opt, nil)
			}
		}
	}
	say("analyze: openwebtext-10k is not downloaded (saescope fetch openwebtext-10k); using the small corpus shipped with the app\n")
	return corpus.LoadFS(ctx, assets.CorpusFS(), assets.CorpusDir, e.tok, opt, nil)
}
