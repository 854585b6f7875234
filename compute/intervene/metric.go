package intervene

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/tokenizer"
)

// metricKind says what a Metric reads.
type metricKind int

const (
	logitDiffMetric metricKind = iota
	lossMetric
	featureMetric
)

// Metric is the number a patching run reads off each forward pass: a
// logit difference at the last position (LogitDiff), the prompt's loss
// (LossMetric) or one feature's activation at one position (FeatureMetric).
// The zero Metric is LogitDiff(0, 0).
type Metric struct {
	kind    metricKind
	a, b    int              // LogitDiff's tokens
	enc     *encoder.Encoder // FeatureMetric's SAE
	feature int
	pos     int // FeatureMetric's position, negative from the end
}

// LogitDiff is the metric logits[a] − logits[b] at the prompt's last
// position.
func LogitDiff(a, b int) Metric { return Metric{kind: logitDiffMetric, a: a, b: b} }

// LossMetric is the prompt's loss: the mean next-token cross-entropy of
// the run over positions 0..T−2 of the prompt it runs on (each position
// predicting the prompt's next token), TransformerLens'
// model(tokens, return_type="loss"). A patched corrupted run is scored on
// the corrupted prompt's tokens.
func LossMetric() Metric { return Metric{kind: lossMetric} }

// FeatureMetric is the activation of feature f of the SAE enc at position
// pos (negative counts from the end), read at that SAE's hook. The hook
// may be anywhere at or after the patched SAE's hook.
func FeatureMetric(enc *encoder.Encoder, f, pos int) Metric {
	return Metric{kind: featureMetric, enc: enc, feature: f, pos: pos}
}

// String describes the metric, for output and labels.
func (mt Metric) String() string {
	switch mt.kind {
	case lossMetric:
		return "loss: mean next-token cross-entropy over the prompt"
	case featureMetric:
		name := "<no SAE>"
		if mt.enc != nil {
			name = mt.enc.SAE.Hook.String()
		}
		return fmt.Sprintf("feature %d of the SAE at %s, position %d", mt.feature, name, mt.pos)
	}
	return fmt.Sprintf("logits[-1, %d] - logits[-1, %d]", mt.a, mt.b)
}

// check says what is wrong with mt for prompts of T tokens on m, patching
// the SAE at hook h (uncentred: that SAE's centring), if anything.
func (mt Metric) check(m *model.Model, h hookname.Hook, uncentred bool, T int) error {
	switch mt.kind {
	case logitDiffMetric:
		v := m.Config.VocabSize
		for _, id := range []int{mt.a, mt.b} {
			if id < 0 || id >= v {
				return fmt.Errorf("metric token %d outside the vocabulary [0, %d)", id, v)
			}
		}
	case lossMetric:
		if T < 2 {
			return fmt.Errorf("the loss needs prompts of at least 2 tokens (these have %d): a prompt of one token has no next token to predict", T)
		}
	case featureMetric:
		if mt.enc == nil {
			return errors.New("feature metric without an SAE")
		}
		s := mt.enc.SAE
		if mt.feature < 0 || mt.feature >= s.DSae {
			return fmt.Errorf("metric feature %d out of range: the SAE at %s has features 0 to %d", mt.feature, s.Hook, s.DSae-1)
		}
		if mt.pos < -T || mt.pos >= T {
			return fmt.Errorf("metric position %d outside prompts of %d tokens (0 to %d, or -1 to -%d from the end)", mt.pos, T, T-1, T)
		}
		if s.Hook.Order() < h.Order() {
			return fmt.Errorf("the metric feature's hook %s comes before the patched hook %s: patching cannot change it", s.Hook, h)
		}
		if s.Hook.Layer >= m.Config.NLayer {
			return fmt.Errorf("the metric feature's hook %s is not in a %d-layer model", s.Hook, m.Config.NLayer)
		}
		if s.Uncentred != uncentred {
			return fmt.Errorf("the metric SAE at %s and the patched SAE at %s differ in centring (one was trained on uncentred residual writes): they cannot share a pass", s.Hook, h)
		}
	default:
		return fmt.Errorf("unknown metric kind %d", mt.kind)
	}
	return nil
}

// measure runs B sequences of T tokens with hooks (the caller's observer
// still sees every hook) and returns the metric of each sequence. A
// feature metric ends the pass at its hook.
func (mt Metric) measure(ctx context.Context, m *model.Model, tokens []int32, B, T int, hooks model.Hooks) ([]float64, error) {
	vals := make([]float64, B)
	if mt.kind == featureMetric {
		mh := mt.enc.SAE.Hook
		inner, reached := hooks.Observe, false
		hooks.Observe = func(h hookname.Hook, act compute.Tensor) error {
			if inner != nil {
				if err := inner(h, act); err != nil {
					return err
				}
			}
			if h != mh {
				return nil
			}
			reached = true
			return mt.readFeature(m.Backend(), act, B, T, vals)
		}
		hooks.StopAfter = &mh
		if _, err := m.Run(ctx, tokens, B, T, hooks); err != nil {
			return nil, err
		}
		if !reached {
			return nil, fmt.Errorf("the pass did not reach the metric feature's hook %s", mh)
		}
		return vals, nil
	}
	out, err := m.Run(ctx, tokens, B, T, hooks)
	if err != nil {
		return nil, err
	}
	if mt.kind == lossMetric {
		tl, err := m.TokenLoss(out, tokens)
		if err != nil {
			return nil, err
		}
		for b := range vals {
			vals[b] = model.MeanLoss(tl[b : b+1])
		}
		return vals, nil
	}
	rows := make([]int, B)
	for b := range rows {
		rows[b] = b*T + T - 1
	}
	lg, err := m.Logits(out.Resid, rows)
	if err != nil {
		return nil, err
	}
	for b := range vals {
		vals[b] = float64(lg[b][mt.a]) - float64(lg[b][mt.b])
	}
	return vals, nil
}

// readFeature sets vals[b] to the metric feature of sequence b, encoding
// the row of its position in act ([B·T, d_in]).
func (mt Metric) readFeature(be compute.Backend, act compute.Tensor, B, T int, vals []float64) error {
	s := mt.enc.SAE
	q := mt.pos
	if q < 0 {
		q += T
	}
	x := be.Alloc(B, act.Cols())
	defer be.Free(x)
	for b := 0; b < B; b++ {
		be.Copy(be.RowsView(x, b, b+1), be.RowsView(act, b*T+q, b*T+q+1))
	}
	f := be.Alloc(B, s.DSae)
	defer be.Free(f)
	if err := mt.enc.Encode(f, x); err != nil {
		return fmt.Errorf("metric feature at %s: %w", s.Hook, err)
	}
	host := make([]float32, B*s.DSae)
	be.Read(f, host)
	for b := range vals {
		vals[b] = float64(host[b*s.DSae+mt.feature])
	}
	return nil
}

// OneToken returns the id of text if it is exactly one GPT-2 token (no BOS
// added, spaces kept: " Paris" and "Paris" are different tokens), and an
// error naming the tokens it is otherwise.
func OneToken(tok *tokenizer.Tokenizer, text string) (int, error) {
	ids := tok.Encode(text)
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		return 0, errors.New("an empty text is no token: type one token (with its leading space, as \" Paris\")")
	}
	parts := tok.StrTokens(ids)
	quoted := make([]string, len(parts))
	for i, p := range parts {
		quoted[i] = fmt.Sprintf("%q (%d)", p, ids[i])
	}
	return 0, fmt.Errorf("%q is %d tokens, not one: %s", text, len(ids), strings.Join(quoted, " + "))
}
