package plots

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
)

// Source is one feature of one analysis, for CompareAcross: features of
// different SAEs (each with its own store) overlaid on shared bins.
type Source struct {
	Store   *store.Store
	Feature int
	// SAE names the feature's SAE in the legend and the CSV header
	// ("blocks.1.hook_resid_pre (256)"); empty for none.
	SAE string
}

// CompareAcross overlays the activation densities of features that may
// come from different stores, over shared bins (by default
// DefaultDensityBins over (0, the largest max]). Each series counts the
// feature's non-zero activations in its own store, so its counts sum to
// the number of tokens it fires on. A single feature with the default bins
// shows its store's own histogram (32 bins over (0, max]), exactly.
func CompareAcross(srcs []Source, o Options) (*Figure, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, errors.New("no feature to plot")
	}
	stats := make([]store.FeatureStats, len(srcs))
	hi := 0.0
	oneStore := true
	for i, src := range srcs {
		if src.Store == nil {
			return nil, fmt.Errorf("feature %d has no analysis to plot", src.Feature)
		}
		st, err := src.Store.Stats(src.Feature)
		if err != nil {
			return nil, err
		}
		stats[i] = st
		hi = math.Max(hi, st.Max)
		oneStore = oneStore && src.Store == srcs[0].Store
	}
	bins, lo, hi, explicit := densityRange(hi, o)
	fig := &Figure{Kind: KindDensity, Unit: "token"}
	out, dead := 0, 0
	rebinned := false // a bounded store's histogram spread over other bins
	keys := map[string]int{}
	for i, src := range srcs {
		st := stats[i]
		s := src.Store
		var edges []float64
		var counts []int
		switch {
		case len(srcs) == 1 && !explicit && bins == store.HistBins && !st.Dead:
			var err error // the store's histogram, exactly
			if edges, counts, err = s.Histogram(st.ID); err != nil {
				return nil, err
			}
		case s.Bounded():
			// A bounded store keeps a histogram, not the values.
			he, hc, err := s.Histogram(st.ID)
			if err != nil {
				return nil, err
			}
			var o int
			edges, counts, o = rebin(he, hc, bins, lo, hi)
			if explicit {
				out += o
			}
			rebinned = true
		default:
			vals, err := s.FeatureValues(st.ID) // checks the section's checksum
			if err != nil {
				return nil, err
			}
			edges, counts = binValues(vals, bins, lo, hi)
			if explicit {
				out += outside32(vals, lo, hi)
			}
		}
		who := fmt.Sprintf("feature %d", st.ID)
		if src.SAE != "" {
			who += " of " + src.SAE
		}
		name := fmt.Sprintf("%s (fires on %s)", who, fmtPercent(st.Frequency))
		if st.Dead {
			name = who + " (dead)"
			dead++
		}
		key := "feature_" + strconv.Itoa(st.ID)
		if src.SAE != "" {
			key = csvKey(src.SAE) + "_" + key
		}
		keys[key]++
		if n := keys[key]; n > 1 {
			key += "_" + strconv.Itoa(n)
		}
		fig.Bars = append(fig.Bars, densityBars(key, name, edges, counts, i, len(srcs), o))
	}
	tokens := srcs[0].Store.Meta.Summary.Tokens
	switch {
	case dead == 1 && len(srcs) == 1:
		fig.Note = fmt.Sprintf(deadNote, stats[0].ID, numfmt.Thousands(tokens))
	case dead == len(srcs) && oneStore:
		fig.Note = fmt.Sprintf("none of these features fires on the %s counted tokens", numfmt.Thousands(tokens))
	case dead == len(srcs):
		fig.Note = "none of these features fires on its counted tokens"
	case out > 0:
		fig.Note = fmt.Sprintf(outsideNote, plural(out, "activation"), fmtNum(lo), fmtNum(hi))
	}
	if rebinned && fig.Note == "" {
		fig.Note = rebinNote
	}
	fig.YLabel = densityYLabel(o)
	title := fmt.Sprintf("Activation density of %d features (non-zero activations)", len(srcs))
	if len(srcs) == 1 {
		st := stats[0]
		title = fmt.Sprintf("Feature %d activation density\nfires on %s of tokens (%s of %s)",
			st.ID, fmtPercent(st.Frequency), numfmt.Thousands(st.Count), numfmt.Thousands(tokens))
	}
	fig.build(title, "activation (non-zero values only)", o)
	return fig, nil
}

var notKey = regexp.MustCompile(`[^a-z0-9]+`)

// csvKey turns an SAE name into a CSV column prefix:
// "blocks.1.hook_resid_pre (256)" gives "blocks_1_hook_resid_pre_256".
func csvKey(name string) string {
	return strings.Trim(notKey.ReplaceAllString(strings.ToLower(name), "_"), "_")
}

// rebinNote says how a bounded store's densities are drawn on other bins.
const rebinNote = "from each analysis' 32-bin histogram, each bin's count spread over the bins it overlaps (a bounded analysis keeps no single activations)"

// rebin counts a histogram (edges, counts) over bins equal bins of
// [lo, hi]: each source bin's count is spread over the parts of it that
// the new bins cover, in proportion to their widths, rounded so that the
// counts stay whole and sum as before (what lies outside [lo, hi] falls
// in the end bins, as binValues does, and is also returned).
func rebin(edges []float64, counts []int, bins int, lo, hi float64) ([]float64, []int, int) {
	out := make([]float64, bins+1)
	for i := range out {
		out[i] = lo + (hi-lo)*float64(i)/float64(bins)
	}
	got := make([]int, bins)
	outside := 0
	put := func(x float64, c int) { // the c activations of a part whose middle is x
		if x < lo || x > hi {
			outside += c
		}
		i := int((x - lo) / (hi - lo) * float64(bins))
		got[max(0, min(bins-1, i))] += c
	}
	for b, c := range counts {
		e0, e1 := edges[b], edges[b+1]
		if c == 0 {
			continue
		}
		if !(e1 > e0) {
			put(e0, c)
			continue
		}
		// The part of [e0, e1] up to x holds round(c·(x−e0)/(e1−e0)).
		cum := func(x float64) int { return int(math.Round(float64(c) * (x - e0) / (e1 - e0))) }
		x0 := e0
		for _, t := range out {
			if t <= e0 || t >= e1 {
				continue
			}
			put((x0+t)/2, cum(t)-cum(x0))
			x0 = t
		}
		put((x0+e1)/2, c-cum(x0))
	}
	return out, got, outside
}
