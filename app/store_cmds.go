package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/ui/plots"
	"github.com/saescope/saescope/weights/tokenizer"
)

func openStore(path string) (*store.Store, error) {
	if path == "" {
		return nil, errors.New("--store FILE is required (analyze prints where it wrote the store)")
	}
	return store.Open(path)
}

// checkThreshold checks the --threshold of stats and plot (before it is
// made a float32, where 1e39 would become +Inf).
func checkThreshold(t float64) error {
	if err := store.CheckThreshold(t); err != nil {
		return fmt.Errorf("--threshold: %w", err)
	}
	return nil
}

// jsonFloat keeps NaN (σ/μ of a dead feature) printable as JSON null.
func jsonFloat(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func statsRow(st store.FeatureStats) map[string]any {
	return map[string]any{"id": st.ID, "mean": jsonFloat(st.Mean), "cv": jsonFloat(st.CV), "std": jsonFloat(st.Std),
		"frequency": st.Frequency, "max": st.Max, "count": st.Count}
}

func runRank(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rank", stderr)
	path := fs.String("store", "", "store file written by analyze")
	by := fs.String("by", "mean", "ranking key: mean, cv (σ/μ), frequency, max, id")
	asc := fs.Bool("asc", false, "smallest first")
	from := fs.Int("from", 0, "first rank (0-based), e.g. 2000")
	to := fs.Int("to", 50, "rank after the last, e.g. 2050")
	asCSV := fs.Bool("csv", false, "CSV instead of JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := store.ParseMetric(*by)
	if err != nil {
		return err
	}
	s, err := openStore(*path)
	if err != nil {
		return err
	}
	defer s.Close()
	r := s.Rank(m, !*asc)
	rows, err := r.Slice(*from, *to)
	if err != nil {
		return err
	}
	if *asCSV {
		w := csv.NewWriter(stdout)
		w.Write([]string{"rank", "id", "mean", "cv", "frequency", "max", "count"})
		for i, st := range rows {
			w.Write([]string{strconv.Itoa(*from + i), strconv.Itoa(st.ID), fmtF(st.Mean), fmtF(st.CV), fmtF(st.Frequency), fmtF(st.Max), strconv.Itoa(st.Count)})
		}
		w.Flush()
		return w.Error()
	}
	out := make([]map[string]any, len(rows))
	for i, st := range rows {
		out[i] = statsRow(st)
		out[i]["rank"] = *from + i
	}
	return writeJSON(stdout, map[string]any{"by": m, "descending": !*asc, "live": len(r.Live), "dead": len(r.Dead), "features": out})
}

func fmtF(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 7, 64)
}

func runContexts(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("contexts", stderr)
	path := fs.String("store", "", "store file written by analyze")
	feature := fs.Int("feature", -1, "feature id")
	k := fs.Int("k", 30, "number of top contexts")
	prefix := fs.Int("prefix", 30, "tokens before the activating token")
	suffix := fs.Int("suffix", 2, "tokens after it")
	intervals := fs.Bool("intervals", false, "interval samples (10 equal activation intervals, 5 each) instead of the top contexts")
	text := fs.Bool("text", false, "plain text, the activating token between bars, instead of JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := openStore(*path)
	if err != nil {
		return err
	}
	defer s.Close()
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "feature" })
	if !set {
		return errors.New("--feature N is required")
	}
	if err := s.CheckFeature(*feature); err != nil {
		return err
	}
	tok, err := tokenizer.New()
	if err != nil {
		return err
	}
	render := func(c store.Context) map[string]any {
		ids := make([]int, len(c.Tokens))
		for i, t := range c.Tokens {
			ids[i] = int(t)
		}
		return map[string]any{"row": c.Row, "pos": c.Pos, "value": c.Value, "target": c.Target(),
			"tokens": ids, "str_tokens": tok.DisplayStrings(ids), "acts": c.Acts}
	}
	line := func(c store.Context) string {
		var sb strings.Builder
		for i, t := range c.Tokens {
			s := tok.DisplayString(int(t))
			if i == c.Target() {
				s = "|" + s + "|"
			}
			sb.WriteString(s)
		}
		return fmt.Sprintf("%8.3f  %s", c.Value, sb.String())
	}
	if *intervals {
		if err := refuseFlags(setFlags(fs), "--intervals gives 5 samples of each of 10 activation intervals; --k counts top contexts", "k"); err != nil {
			return err
		}
		groups, err := s.IntervalSamples(*feature, *prefix, *suffix)
		if err != nil {
			return err
		}
		if *text {
			for _, g := range groups {
				fmt.Fprintf(stdout, "interval (%.3f, %.3f]\n", g.Lo, g.Hi)
				for _, c := range g.Contexts {
					fmt.Fprintln(stdout, line(c))
				}
			}
			return nil
		}
		var out []map[string]any
		for _, g := range groups {
			var cs []map[string]any
			for _, c := range g.Contexts {
				cs = append(cs, render(c))
			}
			out = append(out, map[string]any{"lo": g.Lo, "hi": g.Hi, "contexts": cs})
		}
		return writeJSON(stdout, map[string]any{"feature": *feature, "intervals": out})
	}
	ctxs, err := s.TopContexts(*feature, *k, *prefix, *suffix)
	if err != nil {
		return err
	}
	if *text {
		for _, c := range ctxs {
			fmt.Fprintln(stdout, line(c))
		}
		return nil
	}
	out := make([]map[string]any, len(ctxs))
	for i, c := range ctxs {
		out[i] = render(c)
	}
	st, _ := s.Stats(*feature)
	return writeJSON(stdout, map[string]any{"feature": *feature, "stats": statsRow(st), "contexts": out})
}

func runStats(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("stats", stderr)
	path := fs.String("store", "", "store file written by analyze")
	kind := fs.String("kind", "", "also a learnt-vs-random histogram: features_per_token, frequency, mean, unembed_entropy, unembed_maxprob")
	threshold := fs.Float64("threshold", 0.1, "activation threshold of features_per_token")
	bins := fs.Int("bins", 50, "histogram bins")
	lo := fs.Float64("lo", 0, "histogram range start (lo = hi: the data's range)")
	hi := fs.Float64("hi", 0, "histogram range end")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkThreshold(*threshold); err != nil {
		return err
	}
	if err := (plots.Options{Bins: *bins, Lo: *lo, Hi: *hi, Threshold: float32(*threshold)}).Check(); err != nil {
		return err
	}
	set := setFlags(fs)
	if *kind == "" {
		if err := refuseFlags(set, "it shapes the histogram of --kind K, and no --kind is given", "bins", "lo", "hi", "threshold"); err != nil {
			return err
		}
	} else if *kind != string(store.PlotFeaturesPerToken) {
		if err := refuseFlags(set, "the threshold applies to --kind features_per_token only", "threshold"); err != nil {
			return err
		}
	}
	s, err := openStore(*path)
	if err != nil {
		return err
	}
	defer s.Close()
	out := map[string]any{"hook": s.Meta.Hook, "d_sae": s.Meta.DSae, "params": s.Meta.Params, "summary": s.Meta.Summary,
		"model": s.Meta.Model, "sae": s.Meta.SAE, "corpus": s.Meta.Corpus}
	if *kind != "" {
		ser, err := s.Distribution(store.PlotKind(*kind), float32(*threshold))
		if err != nil {
			return err
		}
		b := ser.Bin(*bins, *lo, *hi)
		out["histogram"] = map[string]any{"kind": ser.Kind, "unit": ser.Unit, "threshold": ser.Threshold,
			"edges": b.Edges, "learnt": b.Learnt, "random": b.Random, "learnt_n": len(ser.Learnt), "random_n": len(ser.Random)}
	}
	return writeJSON(stdout, out)
}
