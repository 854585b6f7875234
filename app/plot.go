package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/atomicfile"
	"github.com/saescope/saescope/ui/plots"
)

// runPlot draws one plot of a store to a PNG, SVG or PDF file, headless
// (no window toolkit is touched on this path).
func runPlot(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plot", stderr)
	path := fs.String("store", "", "store file written by analyze")
	kind := fs.String("kind", "", "plot: "+strings.Join(plots.Kinds(), ", "))
	out := fs.String("out", "", "output file: .png, .svg or .pdf")
	threshold := fs.Float64("threshold", float64(plots.DefaultThreshold), "activation threshold of features_per_token")
	bins := fs.Int("bins", 0, "number of bins (default 50; density: the store's 32)")
	lo := fs.Float64("lo", 0, "x range start (lo = hi: the data's range)")
	hi := fs.Float64("hi", 0, "x range end")
	logY := fs.Bool("log", false, "log-scale y axis")
	logX := fs.Bool("logx", false, "bin log10 of the samples, those of 0 left out and counted in the note (learnt-vs-random kinds: --kind frequency --logx is the feature density of SAE papers)")
	counts := fs.Bool("counts", false, "raw counts instead of the fraction of each series' samples")
	feature := fs.String("feature", "", "density: feature id, or several comma-separated to overlay")
	width := fs.Float64("width", float64(plots.DefaultWidth), "width in points (PNG: pixels)")
	height := fs.Float64("height", float64(plots.DefaultHeight), "height in points (PNG: pixels)")
	csvPath := fs.String("csv", "", "also write the binned data to this CSV file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Everything that can be checked without the store first.
	if *kind == "" {
		return fmt.Errorf("--kind is required (%s)", strings.Join(plots.Kinds(), ", "))
	}
	if !slices.Contains(plots.Kinds(), *kind) {
		return fmt.Errorf("unknown plot kind %q (%s)", *kind, strings.Join(plots.Kinds(), ", "))
	}
	if *out == "" {
		return errors.New("--out FILE is required (.png, .svg or .pdf)")
	}
	format, err := plots.FormatOf(*out)
	if err != nil {
		return err
	}
	if !(*width > 0 && *height > 0 && *width <= 20000 && *height <= 20000) {
		return fmt.Errorf("--width and --height must be between 1 and 20000, not %g × %g", *width, *height)
	}
	var features []int
	if *feature != "" {
		if *kind != plots.KindDensity {
			return fmt.Errorf("--feature applies to --kind density only")
		}
		for _, f := range strings.Split(*feature, ",") {
			id, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("--feature: %q is not a feature id", f)
			}
			features = append(features, id)
		}
	} else if *kind == plots.KindDensity {
		return errors.New("--kind density needs --feature N (or N,M,… to overlay)")
	}
	if *logX && *kind == plots.KindDensity {
		return errors.New("--logx applies to the learnt-vs-random kinds, not to density")
	}
	if err := checkThreshold(*threshold); err != nil {
		return err
	}
	if *kind != string(store.PlotFeaturesPerToken) {
		if err := refuseFlags(setFlags(fs), "the threshold applies to --kind features_per_token only", "threshold"); err != nil {
			return err
		}
	}
	o := plots.Options{Bins: *bins, Lo: *lo, Hi: *hi, LogY: *logY, LogX: *logX, Counts: *counts, Threshold: float32(*threshold)}
	if err := o.Check(); err != nil {
		return err
	}

	s, err := openStore(*path)
	if err != nil {
		return err
	}
	defer s.Close()
	var fig *plots.Figure
	if *kind == plots.KindDensity {
		fig, err = plots.Compare(s, features, o)
	} else {
		fig, err = plots.Distribution(s, store.PlotKind(*kind), o)
	}
	if err != nil {
		return err
	}
	data, err := plots.Render(fig.Plot, vg.Length(*width), vg.Length(*height), format)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(*out, data, 0o644); err != nil {
		return fmt.Errorf("writing the plot: %w", err)
	}
	if *csvPath != "" {
		var buf bytes.Buffer
		if err := plots.WriteCSV(&buf, fig); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(*csvPath, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing the CSV: %w", err)
		}
	}
	series := make([]map[string]any, len(fig.Bars))
	for i, b := range fig.Bars {
		series[i] = map[string]any{"name": b.Key, "n": b.N, "counts": b.Counts}
	}
	edges := []float64{}
	if len(fig.Bars) > 0 {
		edges = fig.Bars[0].Edges
	}
	res := map[string]any{"out": *out, "format": format, "kind": fig.Kind, "unit": fig.Unit,
		"edges": edges, "series": series, "bytes": len(data)}
	if fig.Note != "" {
		res["note"] = fig.Note
	}
	if *csvPath != "" {
		res["csv"] = *csvPath
	}
	return writeJSON(stdout, res)
}
