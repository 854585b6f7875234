package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/lmtrain"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/tokenizer"
)

// trainModelSplit holds out every trainModelSplit-th document of the corpus
// (the last of each run of that many) for the validation loss.
const trainModelSplit = 10

// runTrainModel trains a GPT-2 from scratch on a corpus and writes it as a
// Hugging Face folder.
func runTrainModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train-model", stderr)
	layers := fs.Int("layers", 2, "transformer blocks")
	dModel := fs.Int("d-model", 64, "residual stream width")
	heads := fs.Int("heads", 4, "attention heads (must divide --d-model)")
	seqLen := fs.Int("ctx", 128, "sequence length, BOS included (also n_positions)")
	steps := fs.Int("steps", 2000, "optimiser steps")
	batch := fs.Int("batch", 8, "sequences per step")
	lr := fs.Float64("lr", 3e-3, "peak learning rate (AdamW, cosine decay to a tenth after the warm-up)")
	warmup := fs.Int("warmup", 100, "warm-up steps")
	wd := fs.Float64("weight-decay", 0.1, "AdamW weight decay of matrices and embeddings")
	clip := fs.Float64("clip", 1, "gradient norm clipping (0: none)")
	corpusPath := fs.String("corpus", "", "corpus: .txt, .jsonl, .parquet or a folder of them (default: the small corpus shipped with the app)")
	seed := fs.Uint64("seed", 1, "seed of the initialisation, the rows' shuffle and the batches")
	valEvery := fs.Int("val-every", 200, "measure the validation loss every that many steps (and at the end)")
	out := fs.String("out", "", "folder to write config.json and model.safetensors into (required)")
	minCount := fs.Int("min-count", 2, "tokens seen fewer times than this in the training rows share one embedding row")
	blasName := fs.String("blas", "auto", "matrix products: auto, openblas or gonum")
	force := fs.Bool("force", false, "replace the model (config.json, model.safetensors) in an existing --out folder")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *out == "":
		return errors.New("--out FOLDER is required")
	case *seqLen < 2:
		return fmt.Errorf("--ctx %d: need at least 2 tokens", *seqLen)
	case *batch < 1:
		return fmt.Errorf("--batch %d: at least 1 sequence a step", *batch)
	case !(*lr > 0) || *lr > lmtrain.MaxLR:
		return fmt.Errorf("--lr %g: a learning rate above 0 and at most %g", *lr, float64(lmtrain.MaxLR))
	case !(*wd >= 0) || math.IsInf(*wd, 0):
		return fmt.Errorf("--weight-decay %g: a finite number, 0 or more", *wd)
	case !(*clip >= 0) || math.IsInf(*clip, 0):
		return fmt.Errorf("--clip %g: a finite gradient norm, 0 (no clipping) or more", *clip)
	case *valEvery < 1:
		return fmt.Errorf("--val-every %d: at least 1 step (the validation loss is also measured at the last step)", *valEvery)
	}
	if err := checkModelOut(*out, *force); err != nil {
		return err
	}
	cfg := gpt2.Config{VocabSize: 50257, NPositions: *seqLen, DModel: *dModel, NHead: *heads, NLayer: *layers,
		LayerNormEps: 1e-5, Activation: "gelu_new", ModelType: "gpt2"}
	if err := lmtrain.CheckConfig(cfg); err != nil {
		return err
	}
	opt := lmtrain.Defaults()
	opt.Steps, opt.Batch, opt.LR, opt.MinLR, opt.Warmup, opt.WeightDecay, opt.Clip, opt.Seed =
		*steps, *batch, *lr, *lr/10, *warmup, *wd, *clip, *seed
	gemm, gemmName, err := cpu.HostGemm(cpu.BLAS(*blasName))
	if err != nil {
		return err
	}
	data, err := trainModelData(ctx, *corpusPath, *seqLen, *seed)
	if err != nil {
		return err
	}
	if *batch > len(data.Train) {
		return fmt.Errorf("--batch %d: more than the corpus' %d training rows of %d tokens (a step would hold rows twice): give --batch %d or less", *batch, len(data.Train), *seqLen, len(data.Train))
	}
	// Tokens seen fewer than --min-count times in the training rows share
	// one embedding row (BOS always has its own).
	counts := map[int32]int{}
	for _, s := range data.Train {
		for _, id := range s {
			counts[id]++
		}
	}
	used := []int32{int32(cfg.VocabSize - 1)}
	for id, n := range counts {
		if n >= *minCount {
			used = append(used, id)
		}
	}
	vocab, err := lmtrain.NewVocab(cfg.VocabSize, used)
	if err != nil {
		return err
	}
	p, err := lmtrain.Init(cfg, vocab, *seed)
	if err != nil {
		return err
	}
	unigram := lmtrain.UnigramLoss(data.Train, data.Val, cfg.VocabSize)
	fmt.Fprintf(stderr, "train-model: %d training and %d validation rows of %d tokens, %d tokens with their own row (%d share one), %s; unigram validation loss %.3f\n",
		len(data.Train), len(data.Val), *seqLen, len(vocab.Used), vocab.Shared(), gemmName, unigram)
	start := time.Now()
	last := start
	var trainLoss float64
	tr := &lmtrain.Trainer{P: p, Gemm: gemm, Opt: opt, ValEvery: *valEvery}
	val, err := tr.Train(ctx, data, func(pr lmtrain.Progress) {
		trainLoss = pr.Loss
		now := time.Now()
		if !math.IsNaN(pr.ValLoss) || now.Sub(last) > 10*time.Second || pr.Step == 1 {
			last = now
			el := now.Sub(start)
			eta := time.Duration(float64(el) / float64(pr.Step) * float64(pr.Steps-pr.Step))
			tps := float64(pr.Step*opt.Batch*(*seqLen)) / el.Seconds()
			line := fmt.Sprintf("step %d/%d  loss %.3f  lr %.2e  |g| %.2f  %.0f tok/s  %s left", pr.Step, pr.Steps, pr.Loss, pr.LR, pr.GradNorm, tps, eta.Round(time.Second))
			if !math.IsNaN(pr.ValLoss) {
				line += fmt.Sprintf("  validation %.3f (unigram %.3f)", pr.ValLoss, unigram)
			}
			fmt.Fprintln(stderr, line)
		}
	})
	if err != nil {
		return fmt.Errorf("train-model: %w (nothing written)", err)
	}
	meta := map[string]string{"made_by": "SAE Scope train-model",
		"training": fmt.Sprintf("steps=%d batch=%d ctx=%d lr=%g warmup=%d weight_decay=%g clip=%g seed=%d min_count=%d corpus=%q",
			*steps, *batch, *seqLen, *lr, *warmup, *wd, *clip, *seed, *minCount, describeCorpusFlag(*corpusPath)),
		"validation_loss": fmt.Sprintf("%.4f", val), "unigram_loss": fmt.Sprintf("%.4f", unigram)}
	if err := gpt2.Write(*out, p.Checkpoint(), meta); err != nil {
		return err
	}
	return writeJSON(stdout, map[string]any{"out": *out, "train_rows": len(data.Train), "validation_rows": len(data.Val),
		"tokens_with_own_row": len(vocab.Used), "min_count": *minCount, "steps": *steps, "tokens_seen": *steps * *batch * *seqLen,
		"train_loss": trainLoss, "validation_loss": val, "unigram_validation_loss": unigram,
		"seconds": time.Since(start).Seconds(), "blas": gemmName})
}

// checkModelOut refuses a train-model --out that is an existing file, or
// a folder that already holds a model (config.json or model.safetensors)
// unless force: before training, not after it.
func checkModelOut(out string, force bool) error {
	fi, err := os.Stat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("--out %s exists and is not a folder: the model is written as a folder (config.json, model.safetensors); give a new or empty folder", out)
	}
	for _, name := range []string{"config.json", "model.safetensors"} {
		if _, err := os.Lstat(filepath.Join(out, name)); err == nil && !force {
			return fmt.Errorf("--out %s already holds a model (%s): give --force to replace it, or another folder", out, name)
		}
	}
	return nil
}

func describeCorpusFlag(p string) string {
	if p == "" {
		return "shipped corpus"
	}
	return p
}

// trainModelData reads the corpus (the shipped one when path is ""), holds
// out every trainModelSplit-th document and cuts both parts into shuffled
// rows of seqLen tokens, BOS first, as the analysis cuts its corpus.
func trainModelData(ctx context.Context, path string, seqLen int, seed uint64) (lmtrain.Data, error) {
	var docs []corpus.Document
	var err error
	if path == "" {
		docs, _, err = corpus.ReadDocumentsFS(ctx, assets.CorpusFS(), assets.CorpusDir, corpus.Options{})
	} else {
		docs, _, err = corpus.ReadDocuments(ctx, path, corpus.Options{})
	}
	if err != nil {
		return lmtrain.Data{}, fmt.Errorf("read the corpus: %w", err)
	}
	var train, val []corpus.Document
	for i, d := range docs {
		if i%trainModelSplit == trainModelSplit-1 {
			val = append(val, d)
		} else {
			train = append(train, d)
		}
	}
	if len(val) == 0 {
		return lmtrain.Data{}, fmt.Errorf("corpus of %d documents: need at least %d to hold out one for validation", len(docs), trainModelSplit)
	}
	tok, err := tokenizer.New()
	if err != nil {
		return lmtrain.Data{}, err
	}
	opt := corpus.Options{SeqLen: seqLen, Seed: seed}
	tc, err := corpus.Rows(ctx, train, tok, opt, nil)
	if err != nil {
		return lmtrain.Data{}, fmt.Errorf("training rows: %w", err)
	}
	vc, err := corpus.Rows(ctx, val, tok, opt, nil)
	if err != nil {
		return lmtrain.Data{}, fmt.Errorf("validation rows (held-out documents): %w", err)
	}
	return lmtrain.Data{Train: tc.Rows, Val: vc.Rows}, nil
}
