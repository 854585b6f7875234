package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/ui"
)

// guiOptions are the window's command-line flags: they open a workspace
// and a pane at start, e.g.
//
//	saescope --model DIR --sae PATH --pane contexts --feature 17
type guiOptions struct {
	model, corpus, pane, theme, text, ranks, find, sortBy, size string
	saes                                                        multiFlag
	hook                                                        string
	rows, feature, tab                                          int
	pos                                                         string
	analyze, foldDec                                            bool
	demo                                                        bool
	pin, plot, steer                                            string
	tabSet                                                      bool // --tab given: it overrides the tab the workspace was left on
	backend, blas                                               string
	patchExample                                                bool
	flowExample, graphExample                                   bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func guiFlags(out io.Writer) (*flag.FlagSet, *guiOptions) {
	o := &guiOptions{}
	fs := flag.NewFlagSet("saescope", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.model, "model", "", "GPT-2 checkpoint folder to open")
	fs.Var(&o.saes, "sae", "SAE .pt file or SAELens folder to add (repeat for several)")
	fs.StringVar(&o.hook, "hook", "", "hook point of the SAEs (default: each SAE's own)")
	fs.BoolVar(&o.foldDec, "fold-dec-norm", false, "fold the SAEs' decoder norms into their encoders (SAELens' fold_W_dec_norm: activations on Neuronpedia's scale)")
	fs.StringVar(&o.corpus, "corpus", ui.ShippedCorpus, `corpus file or folder, or "shipped" for the one built in`)
	fs.IntVar(&o.rows, "rows", 1000, "rows of 128 tokens to analyse")
	fs.BoolVar(&o.analyze, "analyze", false, "analyse the SAEs that have no finished analysis")
	fs.BoolVar(&o.patchExample, "patch-example", false, "run the Patch pane's example (indirect object identification) at start")
	fs.BoolVar(&o.flowExample, "flow-example", false, "run the Flow pane's example prompt at start, for the feature selected (--feature), else for the one most active at its last token")
	fs.BoolVar(&o.graphExample, "graph-example", false, "run the Attribution graph pane's example (indirect object identification) at start")
	fs.BoolVar(&o.demo, "demo", false, "open the demo workspace (no download: a tiny GPT-2 trained on the shipped corpus and two SAEs trained on it)")
	fs.StringVar(&o.pane, "pane", "", "pane to show: "+strings.Join(ui.PaneNames(), ", "))
	fs.IntVar(&o.feature, "feature", -1, "feature to select")
	fs.StringVar(&o.pin, "pin", "", `features to pin for the compare pane: "3,17" in the SAE tab shown, "1:12" for feature 12 of tab 1`)
	fs.StringVar(&o.steer, "steer", "", `features for the Steer pane, ";" between them: "FEATURE [add|clamp|ablate [COEFF]]", "1:12" for feature 12 of tab 1, e.g. "66 add 8; 1:17 ablate" (the prompt is --text)`)
	fs.StringVar(&o.plot, "plot", "", "statistics pane's plot: features_per_token, frequency, mean, unembed_entropy, unembed_maxprob")
	fs.IntVar(&o.tab, "tab", 0, "SAE tab to show (0 is the first SAE)")
	fs.StringVar(&o.text, "text", "", "text for the neuroscope, elicitation and steer panes")
	fs.StringVar(&o.pos, "pos", "", "elicitation position (negative from the end; default: mean over positions)")
	fs.StringVar(&o.ranks, "ranks", "", `rank range to show in the ranking, e.g. "2000-2050"`)
	fs.StringVar(&o.sortBy, "sort", "", "ranking order: mean, cv, frequency, max, id (add :asc for ascending)")
	fs.StringVar(&o.find, "find", "", "label to search in the ranking")
	fs.StringVar(&o.theme, "theme", "", "theme: system, light or dark (default: the last one chosen)")
	fs.StringVar(&o.size, "size", "", "window size in pixels, e.g. 1280x800")
	fs.StringVar(&o.backend, "backend", "auto", "compute backend: "+strings.Join(backendNames(), ", ")+" (auto: the GPU when the CUDA build is installed and a GPU is usable)")
	fs.StringVar(&o.blas, "blas", "auto", "CPU matrix products: auto, openblas or gonum")
	return fs, o
}

// splitGUIArgs returns args as the window's flags when the first one is
// one of them (and no arguments left for main), else nil and args.
func splitGUIArgs(args []string) (gui, rest []string) {
	if len(args) == 0 || !strings.HasPrefix(args[0], "-") {
		return nil, args
	}
	name := strings.TrimLeft(args[0], "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		name = name[:i]
	}
	fs, _ := guiFlags(io.Discard)
	if name == "" || fs.Lookup(name) == nil {
		return nil, args
	}
	return append([]string(nil), args...), nil
}

// gui opens the main window with the window's flags (see guiFlags) and
// runs until it is closed; it returns the exit code.
func gui(args []string, stderr io.Writer) int {
	fs, o := guiFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fs.Visit(func(f *flag.Flag) { o.tabSet = o.tabSet || f.Name == "tab" })
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "saescope: unexpected argument %q after the window's flags (a command comes first: saescope %s --backend …)\n", fs.Arg(0), fs.Arg(0))
		return 2
	}
	size, err := o.check()
	if err != nil {
		fmt.Fprintf(stderr, "saescope: %v\n", err)
		return 2
	}
	if err := checkDisplay(runtime.GOOS, os.Getenv); err != nil {
		fmt.Fprintf(stderr, "saescope: %v\n", err)
		return 2
	}
	a := fyneapp.NewWithID("io.github.saescope")
	// Every widget update from a goroutine goes through fyne.Do: tell Fyne,
	// which otherwise checks the calling goroutine (a stack trace) on every
	// refresh, the largest cost of redrawing a pane.
	meta := a.Metadata()
	if meta.Migrations == nil {
		meta.Migrations = map[string]bool{}
	}
	meta.Migrations["fyneDo"] = true
	fyneapp.SetMetadata(meta)
	if o.theme != "" {
		ui.ApplyTheme(a, o.theme)
	} else {
		ui.ApplySavedTheme(a)
	}
	shell, err := openShell(a, func() (compute.Backend, error) { return newBackend(o.backend, o.blas) })
	if err != nil {
		fmt.Fprintf(stderr, "saescope: %v\n", err)
		return 1
	}
	if size != (fyne.Size{}) {
		shell.Window.Resize(size)
	}
	if o.model != "" || o.demo {
		start(shell, o)
	}
	shell.Window.ShowAndRun()
	return 0
}

// openShell makes the main window. The GL driver panics when it cannot
// start (no OpenGL, a display that refuses the connection): that becomes
// an error saying so in one line. Later panics are bugs and keep their
// stack traces.
func openShell(a fyne.App, newBackend func() (compute.Backend, error)) (shell *ui.Shell, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the window could not open: %v (it needs a desktop session with OpenGL 2.1; the commands of saescope help work without one)", p)
		}
	}()
	return ui.NewShell(a, version, newBackend), nil
}

// checkDisplay says why no window can open on a Unix desktop without a
// display (an ssh session, a console): the GL driver would panic there.
func checkDisplay(goos string, getenv func(string) string) error {
	switch goos {
	case "windows", "darwin", "android", "ios":
		return nil
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return errors.New("no display to open the window on (DISPLAY is not set: run it in a desktop session, or with ssh -X); the commands of saescope help work without one")
	}
	return nil
}

// check refuses window flags whose values the window would otherwise
// only report later (an unknown backend when the first model opens) or
// silently ignore (a malformed size, an unknown theme or pane), and returns
// the window size asked for (zero when none).
func (o *guiOptions) check() (fyne.Size, error) {
	if !slices.Contains(backendNames(), o.backend) {
		return fyne.Size{}, fmt.Errorf("--backend %q: this build knows %s", o.backend, strings.Join(backendNames(), ", "))
	}
	if err := cpu.BLAS(o.blas).Check(); err != nil {
		return fyne.Size{}, fmt.Errorf("--blas %q: %w", o.blas, err)
	}
	if err := ui.CheckTheme(o.theme); err != nil {
		return fyne.Size{}, fmt.Errorf("--theme %q: %w", o.theme, err)
	}
	if o.pane != "" && !slices.Contains(ui.PaneNames(), o.pane) {
		return fyne.Size{}, fmt.Errorf("--pane %q: use one of %s", o.pane, strings.Join(ui.PaneNames(), ", "))
	}
	if o.rows < 1 {
		return fyne.Size{}, fmt.Errorf("--rows %d: need at least one row", o.rows)
	}
	if o.tab < 0 {
		return fyne.Size{}, fmt.Errorf("--tab %d: tabs count from 0", o.tab)
	}
	if o.feature < -1 {
		return fyne.Size{}, fmt.Errorf("--feature %d: features count from 0", o.feature)
	}
	if o.pos != "" {
		if _, err := parsePos(o.pos); err != nil {
			return fyne.Size{}, err
		}
	}
	if o.size == "" {
		return fyne.Size{}, nil
	}
	ws, hs, _ := strings.Cut(strings.ReplaceAll(o.size, "×", "x"), "x")
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	if errW != nil || errH != nil || w < 1 || h < 1 || w > 100000 || h > 100000 {
		return fyne.Size{}, fmt.Errorf("--size %q: give the width and height in pixels, e.g. 1280x800", o.size)
	}
	return fyne.NewSize(float32(w), float32(h)), nil
}

// parsePos reads --pos: a token position, negative from the end (a
// typographic minus too).
func parsePos(s string) (int, error) {
	n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(s), "−", "-"))
	if err != nil {
		return 0, fmt.Errorf("--pos %q: give a token position, negative from the end (e.g. -1 for the last token)", s)
	}
	return n, nil
}

// start opens the workspace of the flags, then the pane and feature.
func start(s *ui.Shell, o *guiOptions) {
	spec := ui.WorkspaceSpec{Model: o.model, Corpus: o.corpus, Rows: o.rows}
	for _, p := range o.saes {
		spec.SAEs = append(spec.SAEs, ui.SAESpec{Path: p, Hook: o.hook, FoldDecNorm: o.foldDec})
	}
	open := func(then func(error)) { s.OpenWorkspace(spec, o.analyze, then) }
	if o.demo {
		open = s.OpenDemo
	}
	open(func(err error) {
		if err != nil {
			return
		}
		switch {
		case !o.tabSet && s.Spec().State != nil: // the tab the workspace was left on, shown as it reopened
		case o.tab < len(s.Tabs.Items):
			s.Tabs.SelectIndex(o.tab)
		case o.tab > 0:
			s.SetStatus(fmt.Sprintf("--tab %d: the workspace has %d SAE tabs (0 to %d)", o.tab, len(s.Tabs.Items), len(s.Tabs.Items)-1))
		}
		e := s.Explorer()
		if e == nil {
			return
		}
		if o.sortBy != "" {
			if err := e.Ranking.SortByName(o.sortBy); err != nil {
				s.SetStatus(err.Error())
			}
		}
		if o.ranks != "" {
			e.Ranking.RangeEntry.SetText(o.ranks)
			e.Ranking.ApplyRange()
		}
		if o.find != "" {
			e.Ranking.FindEntry.SetText(o.find)
			e.Ranking.Find()
		}
		if o.feature >= 0 {
			if err := e.View.Select(o.feature); err != nil {
				s.SetStatus(err.Error())
			}
		}
		if o.pin != "" {
			if err := s.PinFeatures(o.pin); err != nil {
				s.SetStatus(err.Error())
			}
		}
		if o.steer != "" {
			if err := s.SteerFeatures(o.steer); err != nil {
				s.SetStatus(err.Error())
			}
		}
		if o.plot != "" {
			if err := e.Statistics().SetKindName(o.plot); err != nil {
				s.SetStatus(err.Error())
			}
		}
		if o.text != "" {
			e.Neuroscope().Text.SetText(o.text)
			s.SetSteerPrompt(o.text)
			var pos *int
			if o.pos != "" {
				n, _ := parsePos(o.pos) // checked at start
				pos = &n
			}
			e.Elicit().Example(o.text, pos)
		}
		if o.pane != "" {
			if err := e.ShowPane(o.pane); err != nil {
				s.SetStatus(err.Error())
			}
		}
		if o.patchExample {
			e.Patch().RunExample()
		}
		if o.flowExample {
			e.Flow().RunExample()
		}
		if o.graphExample {
			e.AttrGraph().RunExample()
		}
		fmt.Fprintln(os.Stderr, "saescope: workspace ready")
	})
}
