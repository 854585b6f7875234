package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/store"
)

// ablationTop is how many tokens each list of the hover ablation line
// shows (sae_vis shows five).
const ablationTop = 5

// maxAblations bounds the hover ablation cache of one pane.
const maxAblations = 512

// ablationIdle is the ablation lines' text when no token is hovered
// (three lines, as a result: the pane does not jump).
const ablationIdle = "Hover a token to see what ablating the feature there does\nto the next token's log-probabilities.\n"

// ablationKey is one ablation: feature f at position pos of a corpus row
// of st, or of a typed text (row -1).
type ablationKey struct {
	st       *store.Store
	text     string
	f, row   int
	pos      int
	position int // pos in the sequence the model runs (differs without BOS)
}

// seqKey is the sequence of an ablation: a corpus row of st, or a text.
type seqKey struct {
	st   *store.Store
	text string
	row  int
}

func (k ablationKey) seq() seqKey { return seqKey{k.st, k.text, k.row} }

type ablationReq struct {
	key ablationKey
	// tokens returns the whole sequence the model runs (BOS first when the
	// SAE has one); called off the UI thread, once a sequence.
	tokens func() ([]int32, error)
}

// maxAblators bounds the sequences whose plain pass a pane keeps.
const maxAblators = 8

// hoverAblation shows, for the token under the pointer, what ablating the
// selected feature there does to the next token (intervene.AblateAt):
// computed off the UI thread, the newest hover winning, and cached per
// (feature, row or text, position).
type hoverAblation struct {
	v     *View
	Line  *widget.Label
	lat   *latest[ablationReq]
	cache map[ablationKey]string // UI thread only
	want  ablationKey
	// ablators keep the plain pass of the sequences hovered last, the
	// oldest first (the runner's goroutine only: one run at a time)
	ablators []ablatorOf
	// Runs counts the ablations computed (the cache's misses).
	Runs int
}

type ablatorOf struct {
	seq seqKey
	ab  *intervene.Ablator
}

func newHoverAblation(v *View) *hoverAblation {
	h := &hoverAblation{v: v, cache: map[ablationKey]string{}}
	h.Line = widget.NewLabel(ablationIdle)
	h.Line.Truncation = fyne.TextTruncateEllipsis
	h.Line.TextStyle = chipStyle // token texts
	h.lat = newLatest(v.Jobs, h.run)
	return h
}

// Clear shows the idle text (the pointer left the tokens).
func (h *hoverAblation) Clear() {
	h.want = ablationKey{row: -2}
	h.Line.SetText(ablationIdle)
}

// Hover shows the ablation of feature key.f at position key.position of
// the sequence tokens returns (the tokens the model runs, BOS first when
// the SAE has one; called off the UI thread), value being the feature's
// activation there.
func (h *hoverAblation) Hover(key ablationKey, tokens func() ([]int32, error), value float32) {
	h.want = key
	switch {
	case key.f < 0:
		h.Line.SetText(ablationIdle)
		return
	case value == 0:
		h.Line.SetText(fmt.Sprintf("Feature %d is 0 here: ablating it changes nothing.\n\n", key.f))
		return
	case key.position < 0:
		h.Line.SetText("This token is not one the SAE sees\n(the BOS of an SAE trained without one).\n")
		return
	}
	if text, ok := h.cache[key]; ok {
		h.Line.SetText(text)
		return
	}
	h.Line.SetText(fmt.Sprintf("Ablating feature %d here: computing the next token's log-probabilities…\n\n", key.f))
	h.lat.Request(ablationReq{key: key, tokens: tokens})
}

// Settle waits for the requested ablations (tests).
func (h *hoverAblation) Settle() { h.lat.Settle() }

func (h *hoverAblation) run(ctx context.Context, req ablationReq) func() {
	res, err := h.ablate(ctx, req)
	if ctx.Err() != nil {
		return nil
	}
	var text string
	if err != nil {
		text = err.Error() + "\n\n"
	} else {
		text = h.describe(res)
	}
	return func() {
		h.Runs++
		if len(h.cache) >= maxAblations {
			clear(h.cache)
		}
		h.cache[req.key] = text
		if h.want == req.key {
			h.Line.SetText(text)
		}
	}
}

// ablate runs the ablation with the Ablator of its sequence (made, and
// its plain pass run, the first time the sequence is hovered).
func (h *hoverAblation) ablate(ctx context.Context, req ablationReq) (*intervene.Ablation, error) {
	seq := req.key.seq()
	var ab *intervene.Ablator
	for i, a := range h.ablators {
		if a.seq == seq {
			ab = a.ab
			h.ablators = append(append(h.ablators[:i:i], h.ablators[i+1:]...), a) // most recent last
			break
		}
	}
	if ab == nil {
		toks, err := req.tokens()
		if err != nil {
			return nil, err
		}
		ab = intervene.NewAblator(h.v.SAE.W.Model, h.v.SAE.Enc, toks)
		if len(h.ablators) == maxAblators {
			h.ablators = h.ablators[1:]
		}
		h.ablators = append(h.ablators, ablatorOf{seq, ab})
	}
	return ab.At(ctx, req.key.f, req.key.position, ablationTop)
}

// rowTokens returns corpus row row of st, which the store keeps whole for
// feature f's top and interval samples (a bounded store keeps no other).
func rowTokens(st *store.Store, f, row int) ([]int32, error) {
	seq := st.SeqLen()
	top, err := st.TopContexts(f, store.TopK, seq, seq)
	if err != nil {
		return nil, err
	}
	groups, err := st.IntervalSamples(f, seq, seq)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		top = append(top, g.Contexts...)
	}
	for _, c := range top {
		if c.Row == row && c.Start == 0 {
			return append([]int32(nil), c.Tokens...), nil
		}
	}
	return nil, fmt.Errorf("row %d is not one the analysis keeps for feature %d", row, f)
}

// describe is the line of an ablation: the tokens whose log-probability
// rose and fell most.
func (h *hoverAblation) describe(a *intervene.Ablation) string {
	if a.Value == 0 {
		return fmt.Sprintf("Feature %d is 0 here: ablating it changes nothing.\n\n", a.Feature)
	}
	list := func(cs []intervene.LogProbChange) string {
		parts := make([]string, len(cs))
		for i, c := range cs {
			parts[i] = fmt.Sprintf("%s %+.2f", h.v.Tok.DisplayString(c.ID), c.Delta)
		}
		return strings.Join(parts, "  ")
	}
	return fmt.Sprintf("Ablating feature %d here (%.3f → 0), the next token's log-probabilities:\n↑ %s\n↓ %s",
		a.Feature, a.Value, list(a.Increases), list(a.Decreases))
}
