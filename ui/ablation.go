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

type ablationReq struct {
	key    ablationKey
	tokens []int32 // the sequence the model runs, up to and including the position
}

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
	// Runs counts the ablations computed (the cache's misses).
	Runs int
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

// Hover shows the ablation of feature f at position pos of seq (the
// tokens the model runs, BOS first when the SAE has one), value being
// the feature's activation there.
func (h *hoverAblation) Hover(key ablationKey, seq []int32, value float32) {
	h.want = key
	switch {
	case key.f < 0:
		h.Line.SetText(ablationIdle)
		return
	case value == 0:
		h.Line.SetText(fmt.Sprintf("Feature %d is 0 here: ablating it changes nothing.\n\n", key.f))
		return
	case key.position < 0 || key.position >= len(seq):
		h.Line.SetText("This token is not one the SAE sees\n(the BOS of an SAE trained without one).\n")
		return
	}
	if text, ok := h.cache[key]; ok {
		h.Line.SetText(text)
		return
	}
	h.Line.SetText(fmt.Sprintf("Ablating feature %d here: computing the next token's log-probabilities…\n\n", key.f))
	h.lat.Request(ablationReq{key: key, tokens: append([]int32(nil), seq[:key.position+1]...)})
}

// Settle waits for the requested ablations (tests).
func (h *hoverAblation) Settle() { h.lat.Settle() }

func (h *hoverAblation) run(ctx context.Context, req ablationReq) func() {
	sae := h.v.SAE
	res, err := intervene.AblateAt(ctx, sae.W.Model, sae.Enc, req.tokens, req.key.f, req.key.position, ablationTop)
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
