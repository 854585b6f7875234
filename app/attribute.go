package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/tokenizer"
)

// runAttribute prints, for every feature of the first --sae at every
// position, f·∂m/∂f for a metric (a logit difference, the loss, or a
// feature of the last --sae), from one backward pass with every --sae
// spliced in (errors held constant); with --exact, also each feature's
// exact zero-ablation effect.
func runAttribute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("attribute", stderr)
	modelDir := fs.String("model", "", "GPT-2 checkpoint folder")
	var saePaths, hooks multiFlag
	fs.Var(&saePaths, "sae", "SAE .pt file or SAELens folder, spliced in (repeat: the first is attributed; with --target the last holds the target)")
	fs.Var(&hooks, "hook", "hook point of the --sae of the same rank, for files that do not say it (repeat, in the order of --sae; \"\" keeps the file's)")
	text := fs.String("text", "", "prompt as text (BOS prepended)")
	tokens := fs.String("tokens", "", `prompt's token ids ("50256,464,…")`)
	metric := fs.String("metric", "", `"A,B": logits[-1, A] − logits[-1, B] (token ids); or "loss": the mean next-token cross-entropy`)
	target := fs.Int("target", -1, "metric: the activation of this feature of the last --sae, at --pos")
	pos := fs.Int("pos", -1, "--target's position (negative counts from the end)")
	exact := fs.Bool("exact", false, "also each first-SAE feature's exact effect: the metric's change when it is zero-ablated at every position (one forward pass per active feature)")
	exactTop := fs.Int("exact-top", 0, "like --exact, for only the N features whose attribution summed over positions is largest in size (one forward pass each)")
	gradient := fs.Bool("gradient", false, "also print ∂m/∂f of the first SAE, [positions][d_sae]")
	batch := fs.Int("batch", 16, "--exact: features ablated per forward pass")
	graph := fs.Bool("graph", false, "also the attribution graph: feature nodes per SAE by |f·∂m/∂f| (--threshold, --max-nodes), every SAE's error at every position, edges f_up·∂f_down/∂f_up between SAEs consecutive in hook order")
	threshold := fs.Float64("threshold", 0, "--graph: keep feature nodes with |attribution| at least this")
	maxNodes := fs.Int("max-nodes", 30, "--graph: at most this many feature nodes per SAE")
	edgeThreshold := fs.Float64("edge-threshold", 0, "--graph: keep edges with |weight| above this")
	flow := fs.Bool("flow", false, "with --target of an SAE at blocks.L+1.hook_resid_pre: its pre-activation split into what block L adds (the --sae at blocks.L.hook_resid_pre and blocks.L.hook_mlp_out, if given: features, decoder bias, error; attention; the target's bias)")
	top := fs.Int("top", 10, "--flow: the features with the largest shares listed per hook")
	blas := fs.String("blas", "auto", "CPU matrix products: auto, openblas or gonum")
	backend := fs.String("backend", "auto", "compute backend: "+strings.Join(backendNames(), ", "))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := setFlags(fs)
	switch {
	case *modelDir == "":
		return errors.New("--model DIR is required")
	case len(saePaths) == 0:
		return errors.New("--sae PATH is required (repeat it for several SAEs)")
	case len(hooks) > len(saePaths):
		return fmt.Errorf("%d --hook for %d --sae", len(hooks), len(saePaths))
	case set["target"] && *target < 0:
		return fmt.Errorf("--target %d: not a feature number (0 to d_sae−1 of the last --sae)", *target)
	case (*metric != "") == set["target"]:
		return errors.New(`give one metric: --metric A,B, --metric loss, or --target N [--pos P]`)
	case *batch < 1:
		return fmt.Errorf("--batch %d: at least 1", *batch)
	case *flow && *target < 0:
		return errors.New("--flow goes with --target N: the feature whose inputs it splits")
	case *exact && *exactTop > 0:
		return errors.New("give --exact (every active feature) or --exact-top N, not both")
	case *exactTop < 0:
		return fmt.Errorf("--exact-top %d: a number of features, at least 1", *exactTop)
	case *maxNodes < 1:
		return fmt.Errorf("--max-nodes %d: at least 1", *maxNodes)
	case *threshold < 0 || math.IsNaN(*threshold) || math.IsInf(*threshold, 0):
		return fmt.Errorf("--threshold %g: a finite |attribution|, 0 or more", *threshold)
	case *edgeThreshold < 0 || math.IsNaN(*edgeThreshold) || math.IsInf(*edgeThreshold, 0):
		return fmt.Errorf("--edge-threshold %g: a finite |edge weight|, 0 or more", *edgeThreshold)
	}
	if *target < 0 {
		if err := refuseFlags(set, "it is the position of --target N's feature, and no --target is given", "pos"); err != nil {
			return err
		}
	}
	if !*exact && *exactTop <= 0 {
		if err := refuseFlags(set, "it counts the features ablated per pass of --exact or --exact-top", "batch"); err != nil {
			return err
		}
	}
	if !*graph {
		if err := refuseFlags(set, "it shapes the graph of --graph", "threshold", "max-nodes", "edge-threshold"); err != nil {
			return err
		}
	}
	if !*flow {
		if err := refuseFlags(set, "it counts the features listed by --flow", "top"); err != nil {
			return err
		}
	}
	var mt attribution.Metric
	switch {
	case *metric == "loss":
		mt = attribution.Metric{Kind: attribution.Loss}
	case *metric != "":
		parts := strings.Split(*metric, ",")
		if len(parts) != 2 {
			return fmt.Errorf(`--metric %q: want two token ids "A,B" or "loss"`, *metric)
		}
		var ids [2]int
		for i, p := range parts {
			v, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || v < 0 || v >= tokenizer.VocabSize {
				return fmt.Errorf("--metric %q: %q is not a token id in [0, %d)", *metric, p, tokenizer.VocabSize)
			}
			ids[i] = v
		}
		mt = attribution.Metric{Kind: attribution.LogitDiff, A: ids[0], B: ids[1]}
	default:
		mt = attribution.Metric{Kind: attribution.Feature, SAE: len(saePaths) - 1, Feature: *target, Pos: *pos}
	}
	be, err := newBackend(*backend, *blas)
	if err != nil {
		return err
	}
	tok, err := tokenizer.New()
	if err != nil {
		return err
	}
	var prompt []int32
	switch {
	case *text != "" && *tokens != "":
		return errors.New("give --text or --tokens, not both")
	case *text != "":
		for _, id := range tok.ToTokens(*text) {
			prompt = append(prompt, int32(id))
		}
	case *tokens != "":
		rows, err := parseTokens(*tokens)
		if err != nil {
			return err
		}
		if len(rows) != 1 {
			return fmt.Errorf("--tokens: one prompt, not %d", len(rows))
		}
		prompt = rows[0]
	default:
		return errors.New("give --text TEXT or --tokens IDS")
	}
	ck, err := gpt2.Load(*modelDir)
	if err != nil {
		return err
	}
	defer ck.Close()
	m, err := model.New(be, ck)
	if err != nil {
		return err
	}
	defer m.Close()
	var encs []*encoder.Encoder
	var names []string
	for i, p := range saePaths {
		hook := ""
		if i < len(hooks) {
			hook = hooks[i]
		}
		w, err := sae.Load(p, hook)
		if err != nil {
			return err
		}
		defer w.Close()
		if err := w.Fits(ck.Config); err != nil {
			return err
		}
		e, err := encoder.New(be, w)
		if err != nil {
			return err
		}
		defer e.Close()
		encs = append(encs, e)
		names = append(names, w.Name())
	}
	if up, last := encs[0].SAE, encs[len(encs)-1].SAE; mt.Kind == attribution.Feature && len(encs) > 1 && last.Hook.Order() < up.Output().Order() {
		// the forward pass computes the target before the attributed
		// features exist: every attribution would be 0
		return fmt.Errorf("--target: the last --sae (%s) reads %s, before %s where the first --sae (%s) writes, so its features cannot change the target: give the attributed SAE first and the target's SAE last",
			saePaths[len(saePaths)-1], last.Hook, up.Output(), saePaths[0])
	}
	if *text != "" && len(prompt) > 1 && prompt[0] == tokenizer.BOS {
		// SAEs trained on text without BOS (prepend_bos false) see the
		// typed text as they saw their training data, when all of them do
		noBOS := true
		for _, e := range encs {
			noBOS = noBOS && e.SAE.NoBOS
		}
		if noBOS {
			prompt = prompt[1:]
		}
	}
	res, err := attribution.Run(ctx, m, encs, prompt, mt)
	if err != nil {
		return err
	}
	T, n := res.T, encs[0].DSae()
	rows := func(v []float32) [][]float32 {
		out := make([][]float32, T)
		for t := range out {
			out[t] = v[t*n : (t+1)*n]
		}
		return out
	}
	out := map[string]any{
		"metric":      mt.String(),
		"tokens":      prompt,
		"saes":        names,
		"backend":     be.Name(),
		"computed_on": attribution.ComputedOn(be),
		"attribution": rows(res.Attribution(0)),
	}
	if mt.Kind == attribution.Feature {
		out["target_act"] = res.Metric
		out["metric"] = fmt.Sprintf("feature %d of %s at position %d", *target, names[len(names)-1], *pos)
	} else {
		out["metric_value"] = res.Metric
	}
	if *gradient {
		out["gradient"] = rows(res.Grads[0])
	}
	if *flow {
		var resid, mlpSAE *encoder.Encoder
		tl := encs[len(encs)-1].SAE.Hook.Layer - 1
		for _, e := range encs[:len(encs)-1] {
			switch e.SAE.Hook {
			case hookname.Hook{Layer: tl, Point: hookname.ResidPre}:
				resid = e
			case hookname.Hook{Layer: tl, Point: hookname.MLPOut}:
				mlpSAE = e
			}
		}
		fl, err := attribution.Flow(ctx, m, resid, mlpSAE, encs[len(encs)-1], prompt, *target, *pos)
		if err != nil {
			return fmt.Errorf("--flow: %w", err)
		}
		out["flow"] = flowJSON(fl, *top)
	}
	if *graph {
		shown := false
		g, err := attribution.BuildGraph(ctx, m, encs, prompt, mt, attribution.GraphOptions{Threshold: *threshold, MaxNodes: *maxNodes, EdgeThreshold: *edgeThreshold,
			Progress: func(done, total int) {
				shown = true
				fmt.Fprintf(stderr, "\rattribute --graph: %d/%d nodes", done, total)
			}})
		if shown {
			fmt.Fprintln(stderr)
		}
		if err != nil {
			return err
		}
		if len(g.Edges) == 0 {
			feats := 0
			for _, nd := range g.Nodes {
				if !nd.IsError() {
					feats++
				}
			}
			fmt.Fprintf(stderr, "attribute --graph: no edge (%d feature nodes at |attribution| ≥ %g; edges kept at |weight| > %g)\n", feats, *threshold, *edgeThreshold)
		}
		out["graph"] = g
	}
	if *exact || *exactTop > 0 {
		progress := func(done, total int) {
			fmt.Fprintf(stderr, "\rattribute --exact: %d/%d features", done, total)
		}
		var ab *attribution.Ablation
		if *exact {
			ab, err = attribution.AblationEffects(ctx, m, encs, prompt, mt, *batch, progress)
		} else {
			top := topAttributed(res.Attribution(0), n, *exactTop)
			out["exact_features"] = top
			ab, err = attribution.AblationEffectsOf(ctx, m, encs, prompt, mt, top, *batch, progress)
		}
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		out["effect"], out["ablated"] = ab.Effect, ab.Active
	}
	return writeJSON(stdout, out)
}

// flowJSON is a LayerFlow for the attribute command: each hook's totals and
// its top features by |share|.
func flowJSON(fl *attribution.LayerFlow, top int) map[string]any {
	hook := func(s attribution.FlowShares) map[string]any {
		out := map[string]any{"total": s.Sum(), "features": s.Total, "bias": s.Bias, "error": s.Error}
		if s.Features == nil {
			out["sae"] = false
			return out
		}
		idx := make([]int, 0, len(s.Features))
		for i, v := range s.Features {
			if v != 0 {
				idx = append(idx, i)
			}
		}
		sort.Slice(idx, func(a, b int) bool { return math.Abs(s.Features[idx[a]]) > math.Abs(s.Features[idx[b]]) })
		if len(idx) > top {
			idx = idx[:top]
		}
		list := make([]map[string]any, len(idx))
		for k, i := range idx {
			list[k] = map[string]any{"feature": i, "share": s.Features[i]}
		}
		out["top"] = list
		return out
	}
	return map[string]any{"layer": fl.Layer, "pos": fl.Pos, "feature": fl.Feature, "act": fl.Act, "pre_act": fl.PreAct,
		"resid_pre": hook(fl.Resid), "attention": fl.Attention, "mlp_out": hook(fl.MLP), "bias": fl.Bias, "unexplained": fl.Unexplained}
}

// topAttributed returns the k features (of n) whose attribution summed
// over positions (attr is [T, n]) is largest in size, largest first; only
// features with a non-zero sum.
func topAttributed(attr []float32, n, k int) []int {
	sum := make([]float64, n)
	for j, v := range attr {
		sum[j%n] += float64(v)
	}
	var idx []int
	for i, v := range sum {
		if v != 0 {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return math.Abs(sum[idx[a]]) > math.Abs(sum[idx[b]]) })
	return idx[:min(k, len(idx))]
}
