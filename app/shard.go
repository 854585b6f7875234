package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/corpus"
)

// shardUsage is analyze's --shard help.
const shardUsage = "scan only shard I of N of the rows (e.g. 0/4): contiguous row ranges on multiples of lcm(--batch, --baseline-stride), into a shard store that keeps every activation; merge STORE… combines the N shards into the store one run makes"

// analyzeShard is analyze --shard I/N: it scans shard I of N of the
// corpus c's rows (analysis.PlanShard) with the engine's SAE into a
// shard store (format 2, every activation kept), written to out or to
// the cache folder under the shard's own key.
func analyzeShard(ctx context.Context, e *engine, c *corpus.Corpus, meta store.Meta, spec, out string, force bool, say func(string, ...any), stdout io.Writer) error {
	index, count, err := store.ParseShard(spec)
	if err != nil {
		return fmt.Errorf("--shard: %w", err)
	}
	lo, hi, err := analysis.PlanShard(&meta, len(c.Rows), index, count)
	if err != nil {
		return fmt.Errorf("--shard: %w", err)
	}
	return scanStore(meta, out, force, spec, say, func(meta store.Meta, progress func(analysis.Progress)) (*store.Store, error) {
		say("analyze: shard %s: rows %d to %d of %d\n", spec, lo, hi-1, len(c.Rows))
		return analysis.ScanFull(ctx, e.m, e.enc, c.Rows[lo:hi], meta, progress)
	}, func(st *store.Store, path string, cached bool) error {
		return writeJSON(stdout, map[string]any{"store": path, "cached": cached, "shard": spec,
			"rows": []int{lo, hi}, "total_rows": len(c.Rows), "corpus": st.Meta.Corpus.Describe(), "summary": st.Meta.Summary})
	})
}

// runMerge is merge STORE…: the shard stores of one scan (analyze
// --shard I/N, every I of N) combined into the store the single scan
// makes (analysis.Merge), with the model and SAE the shards name (or
// --model and --sae, checked by fingerprint) for the unembedding and the
// reconstruction score.
func runMerge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("merge", stderr)
	modelPath := fs.String("model", "", "GPT-2 checkpoint folder (default: the one the shards were scanned with; it must be the same files)")
	saePath := fs.String("sae", "", "the SAE (default: the one the shards were scanned with; it must be the same file)")
	blas := fs.String("blas", "auto", "CPU matrix products: auto, openblas or gonum")
	backend := fs.String("backend", "auto", "compute backend: cpu or cuda (auto: cuda when a GPU is usable)")
	out := fs.String("out", "", "merged store file (default: the cache folder, under the key the single scan has)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	var paths []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(paths) == 0 {
		return fmt.Errorf("merge: give the shard stores: merge [--out FILE] STORE… (every shard of one analyze --shard I/N scan)")
	}
	if err := checkStoreOut("--out", *out, append([]string{*modelPath, *saePath}, paths...)...); err != nil {
		return err
	}
	say := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, format, a...)
		}
	}
	shards := make([]*store.Store, 0, len(paths))
	defer func() {
		for _, s := range shards {
			s.Close()
		}
	}()
	for _, p := range paths {
		s, err := store.Open(p)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		shards = append(shards, s)
	}
	sorted, meta, err := analysis.CheckShards(shards, paths)
	if err != nil {
		return err
	}
	if *modelPath == "" {
		*modelPath = meta.Model.Path
	}
	if *saePath == "" {
		*saePath = meta.SAE.Path
	}
	if err := checkStoreOut("--out", *out, *modelPath, *saePath); err != nil { // the shards' model and SAE
		return err
	}
	fp := weights.DefaultFingerprinter()
	for _, f := range []struct{ what, path, hash string }{{"model", *modelPath, meta.Model.Hash}, {"SAE", *saePath, meta.SAE.Hash}} {
		h, err := fp.Fingerprint(ctx, f.path)
		if err != nil {
			return fmt.Errorf("merge: the shards' %s: %w (give --%s PATH where it is on this machine)", f.what, err, map[string]string{"model": "model", "SAE": "sae"}[f.what])
		}
		if h != f.hash {
			return fmt.Errorf("merge: the %s at %s is not the one the shards were scanned with (fingerprint %s, not %s)", f.what, f.path, h, f.hash)
		}
	}
	hook, fold, empty := meta.Hook, meta.Params.FoldDecNorm, ""
	ef := &engineFlags{model: modelPath, saePath: saePath, hook: &hook, text: &empty, tokens: &empty, blas: blas, backend: backend, foldDec: &fold}
	e, err := ef.load(true)
	if err != nil {
		return err
	}
	defer e.Close()
	key := analysis.Key(meta)
	path, err := storePath(*out, key)
	if err != nil {
		return err
	}
	say("merge: %d shards of %d rows\n", len(sorted), meta.Params.Rows)
	t0 := time.Now()
	st, err := analysis.Merge(ctx, e.m, e.enc, sorted, nil, func(pr analysis.Progress) {
		if pr.Stage == "merging" {
			say("\rmerge: %d/%d rows    ", pr.Rows, pr.TotalRows)
		} else {
			say("\nmerge: %s", pr.Stage)
		}
	})
	say("\n")
	if err != nil {
		return err
	}
	st.Meta.Key = key
	say("merge: writing %s\n", path)
	if err := st.Write(path); err != nil {
		return err
	}
	res := map[string]any{"store": path, "shards": len(sorted), "rows": meta.Params.Rows, "corpus": st.Meta.Corpus.Describe(), "summary": st.Meta.Summary}
	if fi, err := os.Stat(path); err == nil {
		res["store_mb"] = float64(fi.Size()) / (1 << 20)
		say("merge: %.1f MB in %.1f s\n", float64(fi.Size())/(1<<20), time.Since(t0).Seconds())
	}
	return writeJSON(stdout, res)
}
