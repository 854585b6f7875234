package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/weights/tokenizer"
)

// NeuroscopeExample is the text the neuroscope starts with.
const NeuroscopeExample = "The United States and the United Kingdom signed a trade agreement in London on Tuesday."

// NeuroscopePane colours the tokens of a typed text by one feature's
// activation, updated as the user types (the model runs off the UI thread),
// with the maximum and minimum over the text. The BOS token the model sees
// first is not shown (its activations are not a property of the text).
type NeuroscopePane struct {
	v       *View
	content fyne.CanvasObject

	Text         *textEntry
	FeatureEntry *widget.Entry
	ScaleEntry   *widget.Entry
	Strip        *TokenStrip
	Summary      *widget.Label
	Hover        *widget.Label
	Msg          *widget.Label
	Legend       *Legend

	live         *liveEncoder
	featureField *featureField
	msg          *paneMsg
	acts         *workspace.TextActs
	actsText     string // the text acts are of
	// chipPos is, per chip, the position (BOS dropped) of the token whose
	// activation it shows: byte-level tokens forming one character share
	// a chip.
	chipPos  []int
	ablation *hoverAblation
	scaleMax float64 // 0: automatic (the feature's corpus maximum, else the text's)
	syncing  bool
	// LastLatency is the time from the last keystroke to the colours of
	// the text it produced being set.
	LastLatency time.Duration
}

// NewNeuroscopePane builds the neuroscope of v.
func NewNeuroscopePane(v *View) *NeuroscopePane {
	p := &NeuroscopePane{v: v}
	p.live = newLiveEncoder(v, p.result)
	p.Text = newLiveText(p.live, 4, "Type text: each token is coloured by the feature's activation as you type.")

	p.FeatureEntry = widget.NewEntry()
	p.FeatureEntry.SetPlaceHolder("id")
	// the id typed is selected on Enter or when typing pauses, not each
	// prefix on the way (featurefield.go)
	p.featureField = newFeatureField(p.FeatureEntry, func(s string) {
		if p.syncing || strings.TrimSpace(s) == "" {
			return
		}
		f, err := parseInt(s)
		if err == nil {
			err = v.Select(f)
		}
		if err != nil {
			p.msg.field("feature", err.Error())
			return
		}
		p.msg.field("feature", "")
	})
	p.ScaleEntry = widget.NewEntry()
	p.ScaleEntry.SetPlaceHolder("auto") // the summary says which scale
	p.ScaleEntry.OnChanged = func(s string) {
		m, err := parsePositiveFloat(s)
		if err != nil {
			p.msg.field("scale", "colour scale: "+err.Error())
			return
		}
		p.msg.field("scale", "")
		p.scaleMax = m
		p.recolour()
	}

	p.Strip = NewTokenStrip()
	p.Summary = widget.NewLabel("")
	p.Summary.Wrapping = fyne.TextWrapWord
	p.Hover = widget.NewLabel("Hover a token to see its text, id and activation.")
	p.Hover.Truncation = fyne.TextTruncateEllipsis
	p.Hover.TextStyle = chipStyle // the token text has the chips' glyphs
	p.ablation = newHoverAblation(v)
	p.Strip.OnHover = func(i int) {
		if i < 0 || i >= len(p.chipPos) {
			p.Hover.SetText("Hover a token to see its text, id and activation.")
			p.ablation.Clear()
			return
		}
		p.Hover.SetText(fmt.Sprintf("position %d · %s", p.chipPos[i], p.Strip.Tokens()[i].Describe()))
		p.hoverAblation(i)
	}
	p.Msg = newMessageLine(widget.DangerImportance)
	p.msg = newPaneMsg(p.Msg)
	p.Legend = NewLegend()

	small := func(o fyne.CanvasObject, w float32) fyne.CanvasObject {
		return container.NewGridWrap(fyne.NewSize(w, o.MinSize().Height), o)
	}
	controls := container.NewHBox(widget.NewLabel("Feature"), small(p.FeatureEntry, 80),
		widget.NewLabel("Colour scale max"), small(p.ScaleEntry, 80), layout.NewSpacer(), p.Legend)
	top := container.NewVBox(controls, p.Text, p.Msg, p.Summary)
	p.content = container.NewBorder(top, container.NewVBox(p.Hover, p.ablation.Line), nil, nil, container.NewVScroll(container.NewPadded(p.Strip)))

	v.OnFeature(func(f int) {
		p.syncing = true
		if cur, err := parseInt(p.FeatureEntry.Text); err != nil || cur != f {
			p.FeatureEntry.SetText(fmt.Sprint(f))
			p.featureField.cancel() // the field shows the selection, nothing typed
		}
		p.syncing = false
		p.msg.field("feature", "") // a feature chosen elsewhere replaces a bad one typed
		p.ablation.Clear()         // it was the previous feature's
		p.recolour()
	})
	v.OnStore(func(*store.Store) { p.recolour() }) // the corpus maximum comes from the store
	if f := v.Feature(); f >= 0 {
		p.FeatureEntry.SetText(fmt.Sprint(f))
	}
	p.Text.SetText(NeuroscopeExample)
	return p
}

// Content is the pane's widget tree.
func (p *NeuroscopePane) Content() fyne.CanvasObject { return p.content }

// Settle waits for the runs of typed text to finish (tests, measurements).
func (p *NeuroscopePane) Settle() { p.live.Settle() }

// Acts returns the activations of the text shown.
func (p *NeuroscopePane) Acts() *workspace.TextActs { return p.acts }

func (p *NeuroscopePane) result(text string, ta *workspace.TextActs, err error, typed time.Time) {
	if text != p.Text.Text {
		// an older text; the newest one is on its way
		if err != nil {
			return
		}
	}
	if err != nil {
		p.acts, p.chipPos = nil, nil
		p.msg.setResult(err.Error())
		p.Strip.SetTokens(nil, 1, -1)
		p.Summary.SetText("")
		return
	}
	p.msg.setResult("")
	p.acts, p.actsText = ta, text
	p.ablation.Clear()
	p.recolour()
	p.LastLatency = time.Since(typed)
	logTiming("neuroscope: keystroke to colours set %v (%d tokens)", p.LastLatency, len(ta.Tokens)-1)
	if timingOn {
		t0 := typed
		go fyne.Do(func() { logTiming("neuroscope: keystroke to colours painted %v", time.Since(t0)) })
	}
}

// recolour colours the text's tokens by the selected feature.
func (p *NeuroscopePane) recolour() {
	ta, f := p.acts, p.v.Feature()
	if ta == nil {
		return
	}
	if len(ta.Tokens) < 2 {
		p.chipPos = nil
		p.Strip.SetTokens(nil, 1, -1)
		p.Legend.SetScale(0)
		p.Summary.SetText("Type some text to see the feature's activation on each token.")
		return
	}
	if f < 0 {
		m := mergeByteTokens(p.v.Tok, plainTokens(ta))
		p.chipPos = m.at
		p.Strip.SetTokens(m.chips, 1, -1)
		p.Legend.SetScale(0)
		p.Summary.SetText("Select a feature (in the ranking, in elicitation, or type its id above) to colour the text.")
		return
	}
	vals := ta.Feature(f)[1:] // BOS dropped
	toks := make([]Token, len(vals))
	hi, lo, at := vals[0], vals[0], 0
	for i, v := range vals {
		toks[i] = Token{Text: ta.Display[i+1], ID: ta.Tokens[i+1], Value: v}
		if v > hi {
			hi, at = v, i
		}
		lo = min(lo, v)
	}
	scale, scaleWhy := p.colourScale(f, hi)
	m := mergeByteTokens(p.v.Tok, toks) // “, not <0xE2><0x80><0x9C>
	marked := -1
	if hi > 0 {
		marked = m.marked(at)
	}
	p.chipPos = m.at
	p.Strip.SetTokens(m.chips, scale, marked)
	p.Legend.SetScale(scale)
	sum := fmt.Sprintf("Feature %d on %s: max %.3f at %q (position %d) · min %.3f", f, nOf(len(vals), "token"), hi, toks[at].Text, at, lo)
	if hi == 0 {
		sum = fmt.Sprintf("Feature %d does not fire on this text (%s): max 0 · min %.3f", f, nOf(len(vals), "token"), lo)
	}
	sum += " · colour scale " + scaleWhy
	if ta.Truncated {
		sum += fmt.Sprintf(" · the text was cut to the model's %d-token context", len(ta.Tokens))
	}
	p.Summary.SetText(sum)
}

// colourScale returns the activation that saturates the colours of
// feature f and says which it is: the value typed, else the feature's
// maximum over the analysed corpus (as Contexts uses, so that a weak
// activation looks weak), else, before an analysis or for a feature that
// never fired there, the text's own maximum hi.
func (p *NeuroscopePane) colourScale(f int, hi float32) (float32, string) {
	if p.scaleMax > 0 {
		return float32(p.scaleMax), fmt.Sprintf("%s (typed)", fnum(p.scaleMax))
	}
	if st := p.v.Store(); st != nil {
		if stats, err := st.Stats(f); err == nil && stats.Max > 0 {
			return float32(stats.Max), fmt.Sprintf("%s (the feature's maximum over the corpus)", fnum(stats.Max))
		}
	}
	if hi > 0 {
		return hi, fmt.Sprintf("%s (this text's maximum: no corpus maximum without an analysis)", fnum(float64(hi)))
	}
	return 1, "1 (nothing fires here and no corpus maximum is known)"
}

// hoverAblation shows what ablating the selected feature at chip i's
// token does to the next token.
func (p *NeuroscopePane) hoverAblation(i int) {
	ta, f := p.acts, p.v.Feature()
	if ta == nil || f < 0 {
		p.ablation.Clear()
		return
	}
	pos := p.chipPos[i] + 1 // BOS first
	seq := make([]int32, len(ta.Tokens))
	for j, id := range ta.Tokens {
		seq[j] = int32(id)
	}
	position := pos
	if p.v.SAE.Weights.NoBOS && len(seq) > 0 && seq[0] == tokenizer.BOS {
		seq, position = seq[1:], pos-1 // the SAE sees the text alone, as Encode runs it
	}
	tokens := func() ([]int32, error) { return seq, nil }
	p.ablation.Hover(ablationKey{text: p.actsText, f: f, row: -1, pos: pos, position: position}, tokens, p.Strip.Tokens()[i].Value)
}

// Ablation is the hover line of the ablation effect.
func (p *NeuroscopePane) Ablation() *widget.Label { return p.ablation.Line }

// SettleAblation waits for the hover ablations requested (tests).
func (p *NeuroscopePane) SettleAblation() { p.ablation.Settle() }

// plainTokens are a text's tokens without activations (BOS dropped).
func plainTokens(ta *workspace.TextActs) []Token {
	out := make([]Token, len(ta.Tokens)-1)
	for i := range out {
		out[i] = Token{Text: ta.Display[i+1], ID: ta.Tokens[i+1]}
	}
	return out
}
