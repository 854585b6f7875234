package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/tokenizer"
)

// runPatch measures each feature's exact patching effect from a clean
// prompt into a corrupted one.
func runPatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("patch", stderr)
	ef := addEngineFlags(fs, true)
	cleanIDs := fs.String("clean", "", `clean prompt's token ids ("50256,464,…"), or --clean-text`)
	corruptIDs := fs.String("corrupt", "", "corrupted prompt's token ids, or --corrupt-text")
	cleanText := fs.String("clean-text", "", "clean prompt as text (BOS prepended)")
	corruptText := fs.String("corrupt-text", "", "corrupted prompt as text (BOS prepended)")
	metric := fs.String("metric", "", `"A,B": logits[-1, A] − logits[-1, B], two token ids or two texts of one token each; or "loss": the mean next-token cross-entropy over the prompt`)
	metricText := fs.String("metric-text", "", `"A,B": the logit difference of two texts of exactly one token each (leading spaces count: " Mary, John")`)
	metricFeature := fs.String("metric-feature", "", "N or N@POS: the activation of feature N at position POS (default -1, the last; negative counts from the end), of --metric-sae")
	metricSAE := fs.String("metric-sae", "", "SAE whose feature --metric-feature reads, at its own hook at or after the patched one (default: --sae)")
	metricHook := fs.String("metric-hook", "", "hook of --metric-sae, for files that do not say it")
	pos := fs.String("pos", "", "patch only this position (negative counts from the end; default: every position)")
	batch := fs.Int("batch", 16, "features patched per forward pass")
	exact := fs.Bool("exact", true, "exact effects, one patched pass per feature (the only method until attribution lands)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !*exact {
		return errors.New("--exact=false: patch computes exact effects only (attribute estimates them from one backward pass)")
	}
	if *ef.text != "" || *ef.tokens != "" {
		return errors.New("patch takes --clean and --corrupt, not --text or --tokens")
	}
	if *batch < 1 {
		return fmt.Errorf("--batch %d: at least 1", *batch)
	}
	opt := intervene.PatchOptions{Batch: *batch}
	if *pos != "" {
		p, err := strconv.Atoi(strings.TrimSpace(*pos))
		if err != nil {
			return fmt.Errorf("--pos %q is not a position (an integer, negative from the end)", *pos)
		}
		opt.OnePosition, opt.Pos = true, p
	}
	e, err := ef.load(true)
	if err != nil {
		return err
	}
	defer e.Close()
	prompt := func(ids, text, name string) ([]int32, error) {
		switch {
		case ids != "" && text != "":
			return nil, fmt.Errorf("give --%s or --%s-text, not both", name, name)
		case ids != "":
			rows, err := parseTokens(ids)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", name, err)
			}
			if len(rows) != 1 {
				return nil, fmt.Errorf("--%s: one prompt, not %d", name, len(rows))
			}
			return rows[0], nil
		case text != "":
			var out []int32
			for _, id := range e.tok.ToTokens(text) {
				out = append(out, int32(id))
			}
			return out, nil
		}
		return nil, fmt.Errorf("--%s IDS or --%s-text TEXT is required", name, name)
	}
	clean, err := prompt(*cleanIDs, *cleanText, "clean")
	if err != nil {
		return err
	}
	corrupt, err := prompt(*corruptIDs, *corruptText, "corrupt")
	if err != nil {
		return err
	}
	given := 0
	for _, s := range []string{*metric, *metricText, *metricFeature} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return errors.New(`give one metric: --metric A,B (token ids or one-token texts), --metric loss, --metric-text "A,B" or --metric-feature N[@POS]`)
	}
	if *metricHook != "" && *metricSAE == "" {
		return errors.New("--metric-hook names the hook of --metric-sae, and no --metric-sae is given (--sae's hook is --hook)")
	}
	if (*metricSAE != "" || *metricHook != "") && *metricFeature == "" {
		return errors.New("--metric-sae and --metric-hook go with --metric-feature")
	}
	out := map[string]any{}
	var mt intervene.Metric
	var am attribution.Metric // the same metric, for the estimate
	var target *encoder.Encoder
	switch {
	case *metric == "loss":
		mt, am = intervene.LossMetric(), attribution.Metric{Kind: attribution.Loss}
	case *metric != "" || *metricText != "":
		arg, name, texts := *metric, "--metric", false
		if *metricText != "" {
			arg, name, texts = *metricText, "--metric-text", true
		}
		ids, err := metricTokens(arg, name, texts, e.tok)
		if err != nil {
			return err
		}
		mt = intervene.LogitDiff(ids[0], ids[1])
		am = attribution.Metric{Kind: attribution.LogitDiff, A: ids[0], B: ids[1]}
		strs := e.tok.StrTokens(ids[:])
		out["metric_tokens"] = []map[string]any{{"id": ids[0], "text": strs[0]}, {"id": ids[1], "text": strs[1]}}
	default:
		f, p, err := parseFeatureAt(*metricFeature)
		if err != nil {
			return err
		}
		enc := e.enc
		if *metricSAE != "" {
			w, err := sae.Load(*metricSAE, *metricHook)
			if err != nil {
				return fmt.Errorf("--metric-sae: %w", err)
			}
			defer w.Close()
			if *ef.foldDec {
				if err := w.FoldDecoderNorm(); err != nil {
					return fmt.Errorf("--metric-sae: %w", err)
				}
			}
			if err := w.Fits(e.ck.Config); err != nil {
				return fmt.Errorf("--metric-sae: %w", err)
			}
			if enc, err = encoder.New(e.be, w); err != nil {
				return fmt.Errorf("--metric-sae: %w", err)
			}
			defer enc.Close()
		}
		mt = intervene.FeatureMetric(enc, f, p)
		am, target = attribution.Metric{Kind: attribution.Feature, Feature: f, Pos: p}, enc
	}
	res, err := intervene.PatchWith(ctx, e.m, e.enc, clean, corrupt, mt, opt)
	if err != nil {
		return err
	}
	out["metric"] = mt.String()
	out["metric_clean"], out["metric_corrupt"] = res.MetricClean, res.MetricCorrupt
	out["effect"], out["active"], out["patched"] = res.Effect, res.Active, res.Patched
	// attribution patching's estimate of the same effects, from one
	// backward pass on each prompt
	var onePos *int
	if opt.OnePosition {
		onePos = &opt.Pos
	}
	if est, err := attribution.PatchEstimate(ctx, e.m, e.enc, target, clean, corrupt, am, onePos); err != nil {
		out["estimate_error"] = err.Error()
	} else {
		out["estimate"] = est
		corr, worst := attribution.Agreement(res.Effect, est)
		if !math.IsNaN(corr) {
			out["estimate_correlation"] = corr
		}
		if worst >= 0 {
			out["estimate_worst_feature"] = worst
		}
	}
	out["tokens"] = len(clean)
	if res.Pos >= 0 {
		out["position"] = res.Pos
	} else {
		out["position"] = "all"
	}
	return writeJSON(stdout, out)
}

// metricTokens reads "A,B" given to flag: two token ids or two texts that
// are one token each (texts: only texts), saying which tokens a text that
// is not one token is.
func metricTokens(s, flag string, texts bool, tok *tokenizer.Tokenizer) ([2]int, error) {
	var ids [2]int
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return ids, fmt.Errorf(`%s "A,B": two tokens separated by one comma, got %q`, flag, s)
	}
	for i, p := range parts {
		if !texts {
			if v, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
				if v < 0 || v >= tokenizer.VocabSize {
					return ids, fmt.Errorf("%s: id %d outside the vocabulary [0, %d)", flag, v, tokenizer.VocabSize)
				}
				ids[i] = v
				continue
			}
		}
		id, err := intervene.OneToken(tok, p)
		if err != nil {
			return ids, fmt.Errorf("%s: %w (give its id, or a text of one token)", flag, err)
		}
		ids[i] = id
	}
	return ids, nil
}

// parseFeatureAt reads "N" or "N@POS" (POS defaults to -1, the last
// position).
func parseFeatureAt(s string) (feature, pos int, err error) {
	fs, ps, hasPos := strings.Cut(s, "@")
	feature, err = strconv.Atoi(strings.TrimSpace(fs))
	if err != nil || feature < 0 {
		return 0, 0, fmt.Errorf("--metric-feature %q: want N or N@POS, N a feature number", s)
	}
	pos = -1
	if hasPos {
		if pos, err = strconv.Atoi(strings.TrimSpace(ps)); err != nil {
			return 0, 0, fmt.Errorf("--metric-feature %q: POS after @ must be an integer (negative from the end)", s)
		}
	}
	return feature, pos, nil
}
