package attribution

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
)

// Estimate is attribution patching's estimate of what patching each
// feature of SAE i from the clean run into the corrupted one changes the
// metric by: Σ_pos ∂m/∂f(corrupt)·(f_clean − f_corrupt), [d_sae], over
// every position, or only position pos when pos ≥ 0. Both results must
// come from the same SAEs on prompts of the same length.
func Estimate(corrupt, clean *Result, i, pos int) []float64 {
	g, fx, fc := corrupt.Grads[i], corrupt.Acts[i], clean.Acts[i]
	n := len(g) / corrupt.T
	out := make([]float64, n)
	for j, v := range g {
		if pos >= 0 && j/n != pos {
			continue
		}
		out[j%n] += float64(v) * (float64(fc[j]) - float64(fx[j]))
	}
	return out
}

// PatchEstimate runs the two prompts through Run (two forward passes, two
// backward) and returns Estimate for the features of enc: the estimate of
// intervene.PatchWith's exact effects from one gradient. The metric is as
// Run's; for a Feature metric, target is the SAE it reads (at a hook
// after enc's: a feature read where enc is spliced does not depend on
// enc's features) and metric.SAE is ignored. pos ≥ 0 patches that
// position only (negative counts from the end); pos = nil every position.
func PatchEstimate(ctx context.Context, m *model.Model, enc, target *encoder.Encoder, clean, corrupt []int32, metric Metric, pos *int) ([]float64, error) {
	if len(clean) != len(corrupt) {
		return nil, fmt.Errorf("the clean prompt has %d tokens and the corrupted one %d: patching needs the same length", len(clean), len(corrupt))
	}
	saes := []*encoder.Encoder{enc}
	if metric.Kind == Feature {
		if target == nil {
			return nil, errors.New("a feature metric needs its SAE")
		}
		if target.SAE.Hook.Order() <= enc.SAE.Output().Order() {
			return nil, fmt.Errorf("the estimate needs the metric's feature read after %s, where the patched SAE writes (it is read at %s)", enc.SAE.Output(), target.SAE.Hook)
		}
		saes = append(saes, target)
		metric.SAE = 1
	}
	p := -1
	if pos != nil {
		p = *pos
		if p < 0 {
			p += len(clean)
		}
		if p < 0 || p >= len(clean) {
			return nil, fmt.Errorf("position %d outside prompts of %d tokens", *pos, len(clean))
		}
	}
	rc, err := Run(ctx, m, saes, clean, metric)
	if err != nil {
		return nil, fmt.Errorf("clean run: %w", err)
	}
	rx, err := Run(ctx, m, saes, corrupt, metric)
	if err != nil {
		return nil, fmt.Errorf("corrupted run: %w", err)
	}
	return Estimate(rx, rc, 0, p), nil
}

// Agreement compares estimates with exact effects over the features where
// either is non-zero: their Pearson correlation (NaN with fewer than two
// such features or no spread) and the feature where they differ most
// (−1 when none).
func Agreement(exact, estimate []float64) (corr float64, worst int) {
	worst = -1
	var xs, ys []float64
	big := -1.0
	for i := range exact {
		if exact[i] == 0 && estimate[i] == 0 {
			continue
		}
		xs, ys = append(xs, exact[i]), append(ys, estimate[i])
		if d := math.Abs(exact[i] - estimate[i]); d > big {
			big, worst = d, i
		}
	}
	if len(xs) < 2 {
		return math.NaN(), worst
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var sxy, sxx, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN(), worst
	}
	return sxy / math.Sqrt(sxx*syy), worst
}
