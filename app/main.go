// Command saescope is SAE Scope: a desktop explorer for the features of
// sparse autoencoders trained on GPT-2 small. Run without arguments it opens
// the window; its subcommands do the same work headless, printing JSON.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"

	// before Fyne reads the locale: no "Error parsing user locale C"
	// under C.UTF-8, for the window and the headless commands alike
	_ "early/localeenv"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// command is one headless subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"version": {"print the version", func(_ context.Context, _ []string, out, _ io.Writer) error {
			_, err := fmt.Fprintln(out, version)
			return err
		}},
		"inspect":  {"describe a model folder or SAE: inspect --model DIR | --sae PATH", runInspect},
		"acts":     {"activations at a hook (and SAE features): acts --model DIR --hook NAME [--sae PATH] --text T|--tokens IDS", runActs},
		"elicit":   {"top features of a text: elicit --model DIR --sae PATH [--top K] [--pos P] --text T", runElicit},
		"bench":    {"measure speed on full-size random GPT-2 small: bench [--json] [--blas gonum|openblas]", runBench},
		"analyze":  {"scan a corpus into a feature store: analyze --model DIR --sae PATH [--sae PATH2 …] [--corpus PATH | --tokens-file F | --tokens IDS] [--rows 1000] [--shard I/N]", runAnalyze},
		"rank":     {"rank features of a store: rank --store FILE [--by mean|cv|frequency|max] [--from 2000 --to 2050] [--csv]", runRank},
		"contexts": {"top contexts of a feature: contexts --store FILE --feature N [--k 30 --prefix 30 --suffix 2] [--intervals] [--text]", runContexts},
		"stats":    {"summary and learnt-vs-random histograms: stats --store FILE [--kind K --threshold T]", runStats},
		"fetch":    {"get models, SAEs and the corpus into the Hugging Face cache: fetch NAME... | fetch --list [--remote]", runFetch},
		"merge":    {"combine the shard stores of analyze --shard I/N into the store one run makes: merge [--out FILE] STORE…", runMerge},
		"plot":     {"draw a plot to PNG/SVG/PDF: plot --store FILE --kind K|density [--feature N,M] --out FILE.png|svg|pdf", runPlot},
		"recons":   {"losses with the SAE spliced in: recons --model DIR --sae PATH --text T|--tokens IDS", runRecons},
		"steer":    {"generate with a feature added, clamped or ablated: steer --model DIR --sae PATH --feature N --add C|--clamp C|--ablate --text T|--tokens IDS [--generate N]", runSteer},
		"patch":    {"each feature's exact patching effect: patch --model DIR --sae PATH --clean IDS --corrupt IDS (--metric A,B|loss | --metric-text \"A,B\" | --metric-feature N[@POS]) [--pos P]", runPatch},

		"train-model": {"train a GPT-2 from scratch on a corpus: train-model --out DIR [--layers 2 --d-model 64 --heads 4 --ctx 128 --steps 2000 --corpus PATH --seed 1]", runTrainModel},

		"attribute": {"each feature's attribution f·∂m/∂f from one backward pass: attribute --model DIR --sae PATH [--sae PATH2 …] (--metric A,B|loss | --target N [--pos P]) (--tokens IDS | --text T) [--exact] [--gradient]", runAttribute},
	}
}

func main() {
	// Hand over to the CUDA build when it is installed beside this one and
	// a GPU is usable (returns only when it does not).
	if err := cudaHandoff(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "saescope:", err)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-psn") {
		return gui(nil, stderr)
	}
	if guiArgs, _ := splitGUIArgs(args); guiArgs != nil {
		return gui(guiArgs, stderr)
	}
	cmds := commands()
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout, cmds)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "saescope: unknown command %q\n", name)
		usage(stderr, cmds)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "saescope %s: %v\n", name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: saescope [window flags]  open the window")
	fmt.Fprintln(w, "       saescope COMMAND [flags]")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "window flags (they open a workspace, a pane and a feature at start):")
	fs, _ := guiFlags(w)
	fs.PrintDefaults()
}
