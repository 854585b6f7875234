package intervene

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/saescope/saescope/compute/model"
)

// TokenProb is a token with its probability (and, in a change, the
// probability before).
type TokenProb struct {
	ID     int     `json:"id"`
	Prob   float64 `json:"prob"`
	Before float64 `json:"before,omitempty"`
}

// NextToken compares the next-token distributions of a plain and a
// steered run at the prompt's last position: each run's top tokens, the
// tokens whose probability rose and fell most, and KL(plain ‖ steered).
type NextToken struct {
	Plain     []TokenProb `json:"plain_top"`
	Steered   []TokenProb `json:"steered_top"`
	Increases []TokenProb `json:"increases"`
	Decreases []TokenProb `json:"decreases"`
	KL        float64     `json:"kl"`
}

// CompareNext builds the NextToken view of two logit vectors, k tokens a
// list.
func CompareNext(plain, steered []float32, k int) NextToken {
	lp, ls := logSoftmax(plain), logSoftmax(steered)
	p, s := make([]float64, len(lp)), make([]float64, len(ls))
	for i := range lp {
		p[i], s[i] = math.Exp(lp[i]), math.Exp(ls[i])
	}
	top := func(v []float64, score func(i int) float64, before []float64) []TokenProb {
		idx := make([]int, len(v))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool {
			if sa, sb := score(idx[a]), score(idx[b]); sa != sb {
				return sa > sb
			}
			return idx[a] < idx[b]
		})
		out := make([]TokenProb, 0, k)
		for _, i := range idx[:min(k, len(idx))] {
			t := TokenProb{ID: i, Prob: v[i]}
			if before != nil {
				t.Before = before[i]
			}
			out = append(out, t)
		}
		return out
	}
	return NextToken{
		Plain:     top(p, func(i int) float64 { return p[i] }, nil),
		Steered:   top(s, func(i int) float64 { return s[i] }, nil),
		Increases: top(s, func(i int) float64 { return s[i] - p[i] }, p),
		Decreases: top(s, func(i int) float64 { return p[i] - s[i] }, p),
		KL:        klLog(lp, ls),
	}
}

// PromptLoss is the mean next-token cross-entropy over prompt (one
// sequence) with hooks applied: how well the model, steered or not,
// predicts the prompt itself.
func PromptLoss(ctx context.Context, m *model.Model, prompt []int32, hooks model.Hooks) (float64, error) {
	if len(prompt) < 2 {
		return 0, fmt.Errorf("a prompt of %d tokens has no next token to predict", len(prompt))
	}
	m.Lock()
	defer m.Unlock()
	out, err := m.Run(ctx, prompt, 1, len(prompt), hooks)
	if err != nil {
		return 0, err
	}
	tl, err := m.TokenLoss(out, prompt)
	if err != nil {
		return 0, err
	}
	return model.MeanLoss(tl), nil
}
