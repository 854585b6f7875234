package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/saescope/saescope/compute/analysis"

	"github.com/saescope/saescope/compute/perf"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	blas := fs.String("blas", "auto", "CPU matrix products: auto, openblas or gonum")
	backend := fs.String("backend", "auto", "compute backend: "+strings.Join(backendNames(), ", "))
	batch := fs.Int("batch", 32, "sequences per batch")
	seq := fs.Int("seq", 128, "tokens per sequence")
	hook := fs.String("hook", "blocks.9.hook_resid_pre", "scan hook")
	hooks := fs.String("hooks", "", "also time several SAEs scanned together, one at each of these comma-separated hooks (the model run once to the deepest), alternating with the single SAE at --hook: scan_tokens_per_s is then the figure together, single_scan_tokens_per_s the single one")
	dsae := fs.Int("d-sae", 6144, "SAE features")
	family := fs.String("family", "relu", "SAE family: relu, topk, jumprelu or gated")
	k := fs.Int("k", 32, "features a TopK SAE keeps per token")
	reps := fs.Int("reps", 2, "timed repetitions (best is kept)")
	skipFull := fs.Bool("skip-full", false, "skip the full forward to logits")
	l0 := fs.Float64("l0", 60, "features firing per token: with --analyze, and on a GPU for the scan timed with its sparse read-back")
	analyzeRows := fs.Int("analyze", 0, "instead: run the full analysis of this many random rows on full-size random weights (a 6144-feature SAE firing about --l0 features per token) and report time, peak RSS and store size")
	loadDir := fs.String("load", "", "instead: time loading a full-size random GPT-2 small written to (or found in) this folder, and the RSS it adds")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file")
	generate := fs.Int("generate", 0, "instead: time greedy generation of this many tokens after a 32-token prompt, a feature steered at --hook (use blocks.6.hook_resid_pre), with the key/value cache")
	patch := fs.Bool("patch", false, "instead: time exact patching of every active feature of a --d-sae SAE at --hook (firing about --l0 features per token) between two random 24-token prompts")
	attribute := fs.Bool("attribute", false, "instead: time attribution (forward with random --d-sae SAEs at blocks 3, 6 and 9 hook_resid_pre, firing about --l0 features per token, then the backward pass) on a random --seq-token prompt; backward_over_forward is the backward's time over the forward's; then the attribution graph of its first 24 tokens")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkBenchMode(setFlags(fs), *family); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	be, err := newBackend(*backend, *blas)
	if err != nil {
		return err
	}
	if *generate > 0 {
		gr, err := perf.Generate(ctx, be, *hook, *generate, func(s string) { fmt.Fprintln(stderr, "bench:", s) })
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, gr)
		}
		fmt.Fprintf(stdout, "backend            %s\n", gr.Backend)
		fmt.Fprintf(stdout, "generation         %.1f tokens/s (%d tokens after a %d-token prompt, steered at %s, %.1f s with the prompt)\n",
			gr.TokensPerSecond, gr.Generated, gr.Prompt, gr.Hook, gr.Seconds)
		return nil
	}
	if *attribute {
		hooks := []string{"blocks.3.hook_resid_pre", "blocks.6.hook_resid_pre", "blocks.9.hook_resid_pre"}
		ar, err := perf.Attribute(ctx, be, hooks, *dsae, *seq, *l0, *reps, func(s string) { fmt.Fprintln(stderr, "bench:", s) })
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, ar)
		}
		fmt.Fprintf(stdout, "backend            %s\n", ar.Backend)
		fmt.Fprintf(stdout, "attribution        %d tokens, %d-feature SAEs at %s: forward %.3f s (model alone %.3f s), backward %.3f s = %.2f× the forward\n",
			ar.Tokens, ar.DSae, strings.Join(ar.Hooks, ", "), ar.ForwardS, ar.ModelForwardS, ar.BackwardS, ar.BackwardOverForward)
		if ar.ForwardCPUS > 0 {
			fmt.Fprintf(stdout, "attribution CPU    forward %.2f s, backward %.2f s = %.2f× (process CPU time: what other load does not change)\n", ar.ForwardCPUS, ar.BackwardCPUS, ar.BackwardOverForwardCPU)
		}
		fmt.Fprintf(stdout, "attribution graph  %d tokens: %.2f s, %d nodes (errors included), %d edges\n", ar.GraphTokens, ar.GraphS, ar.GraphNodes, ar.GraphEdges)
		return nil
	}
	if *patch {
		pr, err := perf.Patch(ctx, be, *hook, *dsae, 24, *l0, func(s string) { fmt.Fprintln(stderr, "bench:", s) })
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, pr)
		}
		fmt.Fprintf(stdout, "backend            %s\n", pr.Backend)
		fmt.Fprintf(stdout, "exact patching     %d active features of %d at %s, 24-token prompts: %.1f s (%.1f ms a feature)\n",
			pr.Active, pr.DSae, pr.Hook, pr.Seconds, 1000*pr.PerFeatS)
		return nil
	}
	if *analyzeRows > 0 {
		dir, err := os.MkdirTemp("", "saescope-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		ar, err := perf.Analyze(ctx, be, *analyzeRows, *hook, *dsae, *l0, dir, func(p analysis.Progress) {
			if p.Stage == "scan" {
				fmt.Fprintf(stderr, "\rbench: scan %d/%d rows, %.0f tokens/s, ETA %s   ", p.Rows, p.TotalRows, p.TokensPerS, p.ETA.Round(time.Second))
			} else {
				fmt.Fprintf(stderr, "\nbench: %s", p.Stage)
			}
		})
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, ar)
		}
		fmt.Fprintf(stdout, "analysis           %d rows, %d tokens counted, L0 %.1f (random %.1f)\n", ar.Rows, ar.Tokens, ar.L0, ar.RandomL0)
		fmt.Fprintf(stdout, "time               scan %.1f s (%.0f tokens/s; %.1f s of it on the host), total %.1f s with unembedding, reconstruction, indexing and writing (%.1f s)\n",
			ar.ScanSeconds, ar.TokensPerS, ar.HostSeconds, ar.TotalSeconds, ar.WriteSeconds)
		fmt.Fprintf(stdout, "memory             peak RSS %.0f MB (model included)\n", ar.PeakRSSMB)
		fmt.Fprintf(stdout, "store              %.0f MB, reopened and ranked in %.1f ms\n", ar.StoreMB, ar.ReopenMS)
		return nil
	}
	if *loadDir != "" {
		lr, err := perf.MeasureLoad(ctx, be, *loadDir)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, lr)
		}
		fmt.Fprintf(stdout, "checkpoint         %.0f MB model.safetensors\n", lr.FileMB)
		fmt.Fprintf(stdout, "load               %.3f s (gpt2.Load + model.New), RSS +%.0f MB (from %.0f MB)\n", lr.LoadSeconds, lr.RSSAddedLoadMB, lr.RSSBeforeMB)
		fmt.Fprintf(stdout, "first forward      %.3f s for %d tokens, RSS then +%.0f MB over the start\n", lr.ForwardSeconds, lr.ForwardTokens, lr.RSSAddedForward)
		return nil
	}
	var hookList []string
	if *hooks != "" {
		for _, h := range strings.Split(*hooks, ",") {
			if h = strings.TrimSpace(h); h == "" {
				return fmt.Errorf("--hooks %q: an empty hook name", *hooks)
			}
			hookList = append(hookList, h)
		}
	}
	rep, err := perf.Run(ctx, be, perf.Options{Batch: *batch, Seq: *seq, Hook: *hook, Hooks: hookList, DSae: *dsae, Family: *family, K: *k, Reps: *reps, SkipFull: *skipFull, L0: *l0,
		Progress: func(s string) { fmt.Fprintln(stderr, "bench:", s) }})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "backend            %s\n", rep.Backend)
	fmt.Fprintf(stdout, "SGEMM              %.1f GFLOPS (4096×768×3072)\n", rep.SGEMMGFLOPS)
	fam := rep.Family
	if rep.K > 0 {
		fam += fmt.Sprintf(" k=%d", rep.K)
	}
	if len(rep.Hooks) > 0 {
		fmt.Fprintf(stdout, "scan, one SAE      %.0f tokens/s  (%d×%d to %s + %d-feature %s SAE encode)\n", rep.SingleTokensPerS, rep.Batch, rep.Seq, rep.Hook, rep.DSae, fam)
		fmt.Fprintf(stdout, "scan, %d together   %.0f tokens/s = %.2f× one SAE  (one pass to the deepest of %s, each SAE encoding at its hook, %.2f s/batch)\n",
			len(rep.Hooks), rep.ScanTokensPerS, rep.TogetherVsSingle, strings.Join(rep.Hooks, ", "), rep.ScanSecondsPerB)
	} else {
		fmt.Fprintf(stdout, "scan               %.0f tokens/s  (%d×%d to %s + %d-feature %s SAE encode, %.2f s/batch)\n", rep.ScanTokensPerS, rep.Batch, rep.Seq, rep.Hook, rep.DSae, fam, rep.ScanSecondsPerB)
	}
	fmt.Fprintf(stdout, "scan effective     %.1f GFLOPS = %.0f%% of SGEMM (%.0f%% of the SGEMM timed just before each repetition, median)\n",
		rep.ScanGFLOPS, 100*rep.ScanFraction, 100*rep.ScanFractionPaired)
	if rep.ReadBackTokensPerS > 0 {
		fmt.Fprintf(stdout, "scan + read-back   %.0f tokens/s  (positive features, %.1f per token, and activation norms copied to the host)\n", rep.ReadBackTokensPerS, rep.ReadBackL0)
	}
	if rep.FullTokensPerS > 0 {
		fmt.Fprintf(stdout, "full forward       %.0f tokens/s to logits and loss (%.1f GFLOPS)\n", rep.FullTokensPerS, rep.FullGFLOPS)
	}
	return nil
}

// benchMode is one of bench's modes: the flag that picks it ("" for the
// default scan timing) and the flags it reads besides benchCommon.
type benchMode struct {
	flag string
	uses []string
}

// benchCommon returns the flags every mode of bench reads.
func benchCommon() []string { return []string{"json", "blas", "backend", "cpuprofile"} }

// benchModes lists bench's modes; the first set mode flag picks one.
func benchModes() []benchMode {
	return []benchMode{
		{"generate", []string{"hook"}},
		{"attribute", []string{"d-sae", "seq", "l0", "reps"}},
		{"patch", []string{"hook", "d-sae", "l0"}},
		{"analyze", []string{"hook", "d-sae", "l0"}},
		{"load", nil},
		{"", []string{"batch", "seq", "hook", "hooks", "d-sae", "family", "k", "reps", "skip-full", "l0"}},
	}
}

// checkBenchMode refuses two modes at once, and a flag that the chosen
// mode does not read (set holds the flags given): each would otherwise be
// ignored without a word.
func checkBenchMode(set map[string]bool, family string) error {
	modes := benchModes()
	var picked []string
	mode := modes[len(modes)-1]
	for _, m := range modes[:len(modes)-1] {
		if set[m.flag] {
			picked = append(picked, "--"+m.flag)
			if len(picked) == 1 {
				mode = m
			}
		}
	}
	if len(picked) > 1 {
		return fmt.Errorf("%s: bench times one thing at a time, pick one", strings.Join(picked, " and "))
	}
	allowed := map[string]bool{}
	for _, f := range append(append(benchCommon(), mode.flag), mode.uses...) {
		allowed[f] = true
	}
	what := "the default scan timing"
	if mode.flag != "" {
		what = "--" + mode.flag
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !allowed[n] {
			return fmt.Errorf("--%s does nothing with %s (it reads %s)", n, what, flagList(append(benchCommon(), mode.uses...)))
		}
	}
	if mode.flag == "" && set["k"] && family != "topk" {
		return fmt.Errorf("--k is the k of a TopK SAE: give --family topk (the family is %s)", family)
	}
	return nil
}

// flagList writes names as "--a, --b and --c".
func flagList(names []string) string {
	for i, n := range names {
		names[i] = "--" + n
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
