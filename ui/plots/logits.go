package plots

import (
	"errors"
	"fmt"

	"github.com/saescope/saescope/internal/numfmt"
)

// KindLogitWeights names the histogram of one feature's logit weights.
const KindLogitWeights = "logit_weights"

// LogitWeights draws the histogram of feature f's logit weights over the
// vocabulary (features.LogitEffect's: edges from the smallest weight to
// the largest, tokens per bin), as sae_vis shows it beside the most
// boosted and suppressed tokens: the bins below zero red, the others blue.
func LogitWeights(f int, edges []float64, counts []int) (*Figure, error) {
	if len(counts) == 0 || len(edges) != len(counts)+1 {
		return nil, fmt.Errorf("logit weights of feature %d: %d edges for %d bins", f, len(edges), len(counts))
	}
	if !(edges[len(edges)-1] > edges[0]) {
		return nil, errors.New("logit weights: empty range")
	}
	neg, pos := make([]int, len(counts)), make([]int, len(counts))
	total := 0
	for i, c := range counts {
		if (edges[i]+edges[i+1])/2 < 0 {
			neg[i] = c
		} else {
			pos[i] = c
		}
		total += c
	}
	o := Options{Counts: true}
	fig := &Figure{Kind: KindLogitWeights, Unit: "token", YLabel: "tokens"}
	fig.Bars = []Bars{
		newBars("suppressed", "lowered (weight < 0)", edges, neg, palette[3], o),
		newBars("boosted", "raised (weight ≥ 0)", edges, pos, palette[0], o),
	}
	fig.build(fmt.Sprintf("Logit weights of feature %d (%s tokens)", f, numfmt.Thousands(total)),
		"logit weight, W_dec[f]·W_U", o)
	fig.Plot.X.Tick.Marker = niceTicks{n: 4} // drawn narrow, beside the density
	return fig, nil
}
