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
	"github.com/saescope/saescope/weights/tokenrows"
)

func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze", stderr)
	ef := addEngineFlags(fs, true)
	saes, hooks := repeatableSAE(fs, ef)
	corpusPath := fs.String("corpus", "", "corpus: .txt, .jsonl, .parquet or a folder of them (default: openwebtext-10k from the Hugging Face cache, else the small corpus shipped with the app)")
	tokensFile := fs.String("tokens-file", "", "scan exactly these token rows, in order, instead of a corpus: a .npy int32/int64 array [rows, seq], a .safetensors file with one integer tensor, or a .json list of lists (rows of any length up to the model's context)")
	rows := fs.Int("rows", 1000, "rows of 128 tokens to scan (with --tokens-file or --tokens: the first rows given; default all of them)")
	seed := fs.Uint64("seed", 0, "shuffle seed of the corpus rows")
	batch := fs.Int("batch", 32, "rows per forward pass")
	includeBOS := fs.Bool("include-bos", false, "count BOS positions with zero activations, as the notebook did (default: BOS excluded; an SAE trained without BOS is scanned on rows without one)")
	stride := fs.Int("baseline-stride", 5, "random baseline on one row in this many")
	baselineSeed := fs.Uint64("baseline-seed", 1234, "seed of the random baseline's W_enc")
	reconRows := fs.Int("recon-rows", 16, "rows used for the reconstruction score (0: skip)")
	out := fs.String("out", "", "store file (default: the cache folder, keyed by model, SAE, corpus and parameters)")
	force := fs.Bool("force", false, "scan again even when a finished store exists")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	shard := fs.String("shard", "", shardUsage)
	tlCompat := fs.Bool("tl-compat", false, "build rows exactly as TransformerLens 2.x tokenize_and_concatenate did (20 character chunks per 1000-document batch, every EOS removed); default: documents joined with EOS, as TransformerLens 3.1+")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := setFlags(fs)
	exact := *tokensFile != "" || *ef.tokens != ""
	switch {
	case *batch < 1:
		return fmt.Errorf("--batch %d: need at least one row a batch", *batch)
	case *stride < 1:
		return fmt.Errorf("--baseline-stride %d: need at least 1 (1: every row gets the random baseline)", *stride)
	case *reconRows < 0:
		return fmt.Errorf("--recon-rows %d (0 skips the reconstruction score)", *reconRows)
	case *rows < 0:
		return fmt.Errorf("--rows %d: a number of rows (0: all of them)", *rows)
	case *ef.text != "":
		return errors.New("--text is one sequence, not a corpus: give exact rows with --tokens-file F or --tokens IDS, or a corpus with --corpus")
	case *tokensFile != "" && *ef.tokens != "":
		return errors.New("give --tokens-file or --tokens, not both")
	case exact && *corpusPath != "":
		return errors.New("--corpus with exact token rows: give a corpus, or --tokens-file/--tokens, not both")
	case exact && set["seed"]:
		return errors.New("--seed: exact token rows are scanned in the given order, never shuffled")
	case exact && *tlCompat:
		return errors.New("--tl-compat cuts text into rows: exact token rows are scanned as given")
	case *shard != "" && (len(saes.values) > 1 || len(hooks.values) > 1):
		return errors.New("--shard with several --sae: run analyze --shard I/N once per SAE (each SAE's shards are merged into its own store)")
	}
	if err := checkStoreOut("--out", *out, append([]string{*ef.model, *ef.saePath, *corpusPath, *tokensFile}, saes.values...)...); err != nil {
		return err
	}
	if *shard != "" {
		if _, _, err := store.ParseShard(*shard); err != nil { // before the corpus is read
			return fmt.Errorf("--shard: %w", err)
		}
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
	var c *corpus.Corpus
	if exact {
		var n int
		if set["rows"] {
			n = *rows
		}
		c, err = loadTokenRows(ctx, e, *tokensFile, *ef.tokens, n, say)
	} else {
		c, err = loadTextCorpus(ctx, e, *corpusPath, corpus.Options{SeqLen: 128, Rows: *rows, Seed: *seed, TLCompat: *tlCompat}, say)
	}
	if err != nil {
		return err
	}
	if c.NoBOS && *includeBOS {
		if exact {
			return errors.New("--include-bos: the token rows do not start with BOS")
		}
		return errors.New("--include-bos: the SAE was trained without BOS (prepend_bos false) and is scanned on rows without it")
	}
	if c.Note != "" {
		say("analyze: %s\n", c.Note)
	}
	noBOS := c.NoBOS
	meta := store.Meta{Params: analysis.DefaultParams()}
	p := &meta.Params
	p.Rows, p.SeqLen, p.Batch, p.ShuffleSeed, p.IncludeBOS = len(c.Rows), len(c.Rows[0]), *batch, *seed, *includeBOS
	p.NoBOS, p.FoldDecNorm = noBOS, *ef.foldDec
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
	if c.TokenRows {
		meta.Corpus.Kind = store.TokenRows
	}
	meta.Hook = e.sae.Hook.String()
	if *shard != "" {
		return analyzeShard(ctx, e, c, meta, *shard, *out, *force, say, stdout)
	}
	if len(saes.values) > 1 || len(hooks.values) > 1 {
		return analyzeMany(ctx, e, saes.values, c, meta, manyOptions{out: *out, force: *force, foldDec: *ef.foldDec, hooks: hooks.values, say: say}, stdout)
	}
	return scanStore(meta, *out, *force, "", say, func(meta store.Meta, progress func(analysis.Progress)) (*store.Store, error) {
		return analysis.Scan(ctx, e.m, e.enc, c.Rows, meta, progress)
	}, func(st *store.Store, path string, cached bool) error {
		return writeJSON(stdout, map[string]any{"store": path, "cached": cached, "corpus": st.Meta.Corpus.Describe(), "summary": st.Meta.Summary})
	})
}

// scanStore is what analyze and analyze --shard share once the rows are
// read and meta is built: the store goes to out (when "", to the cache
// folder under meta's key); a finished one there is reused unless force
// (a damaged one is scanned again and replaced); otherwise scan makes it
// from meta, keyed, with progress on say, and it is written there. shard
// is the --shard I/N spec ("" for the whole scan), which the messages
// name. result reports the store, its path and whether it was reused; a
// reused store is closed after it.
func scanStore(meta store.Meta, out string, force bool, shard string, say func(string, ...any),
	scan func(store.Meta, func(analysis.Progress)) (*store.Store, error),
	result func(st *store.Store, path string, cached bool) error) error {
	key := analysis.Key(meta)
	meta.Key = key
	path, err := storePath(out, key)
	if err != nil {
		return err
	}
	var name, kind, rows string // how the messages name a shard
	if shard != "" {
		name, kind, rows = "shard "+shard+" ", "shard ", "shard "+shard+": "
	}
	if !force {
		// A finished store is reused once every section matches its
		// checksum (a damaged one is scanned again and replaced).
		if s, err := store.Open(path); err == nil && s.Meta.Key == key {
			if err := s.Verify(); err == nil {
				defer s.Close()
				say("analyze: %salready done, %s\n", name, path)
				return result(s, path, true)
			}
			say("analyze: the %sstore there is damaged; scanning again\n", kind)
			s.Close()
		} else if err == nil {
			s.Close()
		}
	}
	t0 := time.Now()
	st, err := scan(meta, func(pr analysis.Progress) {
		if pr.Stage == "scan" {
			say("\ranalyze: %s%d/%d rows, %.0f tokens/s, ETA %s    ", rows, pr.Rows, pr.TotalRows, pr.TokensPerS, pr.ETA.Round(time.Second))
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
	return result(st, path, false)
}

// storePath is where a store keyed key goes: out, or when out is "" the
// cache folder's file for key.
func storePath(out, key string) (string, error) {
	if out != "" {
		return out, nil
	}
	dir, err := analysis.CacheDir()
	if err != nil {
		return "", err
	}
	return analysis.StorePath(dir, key), nil
}

// loadTextCorpus reads the corpus at path (the default one when path is
// "") and cuts it into rows: for an SAE trained without BOS (prepend_bos
// false), rows without one, as its training data was cut.
func loadTextCorpus(ctx context.Context, e *engine, path string, opt corpus.Options, say func(string, ...any)) (*corpus.Corpus, error) {
	say("analyze: reading the corpus\n")
	var c *corpus.Corpus
	var err error
	if path == "" {
		c, err = loadDefaultCorpus(ctx, e, opt, say)
	} else {
		c, err = corpus.Load(ctx, path, e.tok, opt, nil)
	}
	if err != nil {
		return nil, err
	}
	if !e.sae.NoBOS {
		return c, nil
	}
	if c, err = c.WithoutBOS(); err != nil {
		return nil, fmt.Errorf("analyze: the SAE was trained without BOS (prepend_bos false) and is scanned on rows without it: %w", err)
	}
	say("analyze: rows of 128 tokens without BOS, as the SAE was trained (prepend_bos false)\n")
	return c, nil
}

// loadTokenRows reads exact token rows from file, or from ids (the
// --tokens form), keeping the first n when n > 0, and checks them against
// the model's vocabulary and context.
func loadTokenRows(ctx context.Context, e *engine, file, ids string, n int, say func(string, ...any)) (*corpus.Corpus, error) {
	lim := tokenrows.Limits{Vocab: e.ck.Config.VocabSize, MaxSeq: e.ck.Config.NPositions}
	var rows [][]int32
	var err error
	if file != "" {
		rows, err = tokenrows.Read(ctx, file, lim)
	} else if rows, err = parseTokens(ids); err == nil {
		if err = tokenrows.Check(rows, lim); err != nil {
			err = fmt.Errorf("--tokens: %w", err)
		}
	}
	if err != nil {
		return nil, err
	}
	note := ""
	switch {
	case n > len(rows):
		note = fmt.Sprintf("asked for %d rows, %d are given: scanning all of them", n, len(rows))
	case n > 0:
		rows = rows[:n]
	}
	c, err := corpus.FromTokenRows(file, rows)
	if err != nil {
		if file != "" {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return nil, fmt.Errorf("--tokens: %w", err)
	}
	c.Note = note
	what := "given"
	if file != "" {
		what = "from " + file
	}
	say("analyze: %d token rows of %d %s, in their order\n", len(c.Rows), len(c.Rows[0]), what)
	if c.NoBOS {
		say("analyze: the rows do not start with BOS: every position is counted\n")
	} else if e.sae.NoBOS {
		say("analyze: the SAE was trained without BOS (prepend_bos false); these rows start with BOS, which is left out of the statistics\n")
	}
	return c, nil
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
