package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/intervene"
)

// SteerPane changes features while the model generates: the workbench's
// Steer list (features of any SAE tab, each added, clamped or ablated with
// a coefficient), a prompt and the generation settings; it shows the
// plain and the steered continuations side by side (the same sampling
// seed) and, for the prompt's last position, the top tokens before and
// after, the largest probability rises and falls, the KL divergence and
// the loss over the prompt with and without the steering. Every change
// reruns the model in the background (steerRunner): the window never
// waits for it.
type SteerPane struct {
	v       *View
	set     *SteerSet
	runner  *steerRunner
	content fyne.CanvasObject

	// List holds one row per feature of the Steer list.
	List  *fyne.Container
	Rows  []*SteerRow
	Empty *widget.Label
	Clear *widget.Button

	Prompt      *textEntry
	Tokens      *widget.Entry
	Greedy      *widget.Check
	Temperature *widget.Entry
	TopP        *widget.Entry
	Seed        *widget.Entry
	Scope       *widget.Select
	Pos         *widget.Entry

	// Msg says what is wrong with the input; Status what ran; Busy moves
	// while a run is under way.
	Msg    *widget.Label
	Status *widget.Label
	Busy   *widget.ProgressBarInfinite

	// PlainText and SteeredText show the prompt (dimmed) and each
	// continuation.
	PlainText, SteeredText *widget.RichText
	// TopPlain, TopSteered, Rises and Falls are the next-token lists.
	TopPlain, TopSteered, Rises, Falls *TokenList
	Summary                            *widget.Label

	result  *SteerResult
	active  bool
	dirty   bool
	syncing bool
}

// SteerRow is one feature of the Steer list: its mode, its coefficient
// (a slider and the exact value) and a button that removes it.
type SteerRow struct {
	Title  *widget.Label
	Mode   *widget.Select
	Slider *widget.Slider
	Value  *widget.Entry
	Remove *widget.Button
	box    fyne.CanvasObject
}

var scopeNames = map[SteerScope]string{
	ScopeAll:      "every position",
	ScopePrompt:   "the prompt only",
	ScopePosition: "one position",
}

// NewSteerPane builds the Steer pane of v (the list is v's workbench's).
func NewSteerPane(v *View) *SteerPane {
	p := &SteerPane{v: v, set: v.Bench().Steer(), active: true}
	p.runner = p.set.runnerFor(v.Jobs)
	p.set.OnResult(p.show)

	p.List = container.NewVBox()
	p.Empty = widget.NewLabel("No feature to steer yet: press Steer in the feature header, or right-click a feature in the ranking.")
	p.Empty.Wrapping = fyne.TextWrapWord
	p.Clear = widget.NewButtonWithIcon("Clear", theme.ContentClearIcon(), func() { p.set.Clear() })
	p.Clear.Importance = widget.LowImportance

	p.Prompt = newTextEntry()
	p.Prompt.SetMinRowsVisible(1)
	p.Prompt.SetPlaceHolder("Prompt: the model continues it with and without the steering")
	p.Tokens = widget.NewEntry()
	p.Greedy = widget.NewCheck("Greedy", nil)
	p.Temperature = widget.NewEntry()
	p.TopP = widget.NewEntry()
	p.Seed = widget.NewEntry()
	p.Scope = widget.NewSelect([]string{scopeNames[ScopeAll], scopeNames[ScopePrompt], scopeNames[ScopePosition]}, nil)
	p.Pos = widget.NewEntry()
	p.Pos.SetPlaceHolder("-1")

	p.Msg = newMessageLine(widget.DangerImportance)
	p.Status = widget.NewLabel("")
	p.Status.Truncation = fyne.TextTruncateEllipsis
	p.Busy = widget.NewProgressBarInfinite()
	p.Busy.Hide()

	wrapped := func() *widget.Label {
		l := widget.NewLabel("")
		l.Wrapping = fyne.TextWrapWord
		return l
	}
	p.PlainText, p.SteeredText = widget.NewRichText(), widget.NewRichText()
	p.PlainText.Wrapping, p.SteeredText.Wrapping = fyne.TextWrapWord, fyne.TextWrapWord
	p.TopPlain, p.TopSteered, p.Rises, p.Falls = newTokenList(), newTokenList(), newTokenList(), newTokenList()
	p.Summary = wrapped()

	p.syncSettings()
	changed := func(string) { p.settingsChanged() }
	p.Prompt.OnChanged = func(s string) {
		adaptWrap(&p.Prompt.Entry, s)
		p.settingsChanged()
	}
	p.Tokens.OnChanged = changed
	p.Temperature.OnChanged = changed
	p.TopP.OnChanged = changed
	p.Seed.OnChanged = changed
	p.Pos.OnChanged = changed
	p.Scope.OnChanged = changed
	p.Greedy.OnChanged = func(bool) { p.settingsChanged() }

	field := func(name string, w fyne.CanvasObject, width float32) fyne.CanvasObject {
		return container.NewBorder(nil, nil, widget.NewLabel(name), nil, container.NewGridWrap(fyne.NewSize(width, w.MinSize().Height), w))
	}
	settings := container.NewHBox(field("Tokens", p.Tokens, 56), p.Greedy,
		field("Temperature", p.Temperature, 60), field("Top-p", p.TopP, 60), field("Seed", p.Seed, 80))
	listHead := container.NewBorder(nil, nil, heading("Features steered"),
		container.NewHBox(field("at", p.Scope, 160), field("position", p.Pos, 56), p.Clear))
	heads := func(a, b string) fyne.CanvasObject {
		return container.NewGridWithColumns(2, heading(a), heading(b))
	}
	conts := container.NewGridWithColumns(2, p.PlainText, p.SteeredText)
	next := container.NewGridWithColumns(4,
		container.NewVBox(heading("Top tokens, plain"), p.TopPlain.box),
		container.NewVBox(heading("Top tokens, steered"), p.TopSteered.box),
		container.NewVBox(heading("Largest rises"), p.Rises.box),
		container.NewVBox(heading("Largest falls"), p.Falls.box))
	body := container.NewVBox(
		listHead, p.Empty, p.List,
		p.Prompt,
		settings,
		p.Msg, container.NewStack(p.Status, p.Busy),
		heads("Plain continuation", "Steered continuation"), conts,
		p.Summary, next,
	)
	p.content = container.NewVScroll(container.NewPadded(body))

	p.set.OnChange(func(structural bool) {
		if p.syncing {
			return
		}
		if structural {
			p.rebuildRows()
		} else {
			p.syncRows()
			p.syncSettings()
		}
		p.request()
	})
	p.rebuildRows()
	p.request()
	return p
}

// heading is a bold label.
func heading(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.TextStyle.Bold = true
	return l
}

// Content is the pane's widget tree.
func (p *SteerPane) Content() fyne.CanvasObject { return p.content }

// SetActive runs the model only while the pane is shown; a change made
// meanwhile runs when it is shown again.
func (p *SteerPane) SetActive(on bool) {
	p.active = on
	if on && p.dirty {
		p.request()
	}
}

// Settle waits for the runs asked for (tests, measurements).
func (p *SteerPane) Settle() { p.runner.Settle() }

// Result is the result shown, nil before the first run.
func (p *SteerPane) Result() *SteerResult { return p.result }

// Set is the Steer list the pane shows.
func (p *SteerPane) Set() *SteerSet { return p.set }

// sliderRange is the coefficient slider's range for a feature: ±3 times
// its default (its maximum activation) for add, 0 to 3 times for clamp.
func sliderRange(f SteerFeature) (lo, hi float64) {
	m := SteerDefault(f.View, f.Feature)
	if f.Mode == intervene.Clamp {
		return 0, 3 * m
	}
	return -3 * m, 3 * m
}

// rebuildRows makes one row per feature of the list.
func (p *SteerPane) rebuildRows() {
	fs := p.set.Features()
	p.Rows = p.Rows[:0]
	objs := make([]fyne.CanvasObject, 0, len(fs))
	for i, f := range fs {
		r := p.newRow(i, f)
		p.Rows = append(p.Rows, r)
		objs = append(objs, r.box)
	}
	p.List.Objects = objs
	p.List.Refresh()
	if len(fs) == 0 {
		p.Empty.Show()
		p.Clear.Disable()
	} else {
		p.Empty.Hide()
		p.Clear.Enable()
	}
}

// newRow builds the row of the i-th feature.
func (p *SteerPane) newRow(i int, f SteerFeature) *SteerRow {
	r := &SteerRow{}
	title := fmt.Sprintf("%d · %s", f.Feature, f.View.Name())
	if l := f.View.Label(f.Feature); l != "" {
		title += " · " + l
	}
	r.Title = widget.NewLabel(title)
	r.Title.Truncation = fyne.TextTruncateEllipsis
	r.Mode = widget.NewSelect([]string{string(intervene.Add), string(intervene.Clamp), string(intervene.Ablate)}, nil)
	r.Mode.SetSelected(string(f.Mode))
	r.Mode.OnChanged = func(s string) { p.set.SetMode(i, intervene.Mode(s)) }
	lo, hi := sliderRange(f)
	r.Slider = widget.NewSlider(lo, hi)
	r.Slider.Step = (hi - lo) / 300
	r.Slider.SetValue(f.Coeff)
	r.Value = widget.NewEntry()
	r.Value.SetText(fmtCoeff(f.Coeff))
	r.Slider.OnChanged = func(c float64) {
		if p.syncing {
			return
		}
		p.syncing = true
		r.Value.SetText(fmtCoeff(c))
		p.set.SetCoeff(i, c)
		p.syncing = false
		p.request()
	}
	r.Value.OnChanged = func(s string) {
		if p.syncing {
			return
		}
		c, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(c) || math.IsInf(c, 0) {
			p.runner.Cancel()
			p.message(fmt.Sprintf("Feature %d: the coefficient %q is not a finite number.", f.Feature, s))
			return
		}
		p.syncing = true
		r.Slider.SetValue(c)
		p.set.SetCoeff(i, c)
		p.syncing = false
		p.request()
	}
	r.Remove = widget.NewButtonWithIcon("", theme.DeleteIcon(), func() { p.set.Remove(i) })
	r.Remove.Importance = widget.LowImportance
	if f.Mode == intervene.Ablate {
		r.Slider.Disable()
		r.Value.Disable()
	}
	value := container.NewGridWrap(fyne.NewSize(80, r.Value.MinSize().Height), r.Value)
	mode := container.NewGridWrap(fyne.NewSize(96, r.Mode.MinSize().Height), r.Mode)
	left := container.NewGridWrap(fyne.NewSize(260, r.Title.MinSize().Height), r.Title)
	r.box = container.NewBorder(nil, nil, container.NewHBox(left, mode), container.NewHBox(value, r.Remove), r.Slider)
	return r
}

// syncRows shows the list's coefficients in the rows (changed elsewhere).
func (p *SteerPane) syncRows() {
	fs := p.set.Features()
	if len(fs) != len(p.Rows) {
		p.rebuildRows()
		return
	}
	p.syncing = true
	defer func() { p.syncing = false }()
	for i, f := range fs {
		r := p.Rows[i]
		if r.Slider.Value != f.Coeff {
			r.Slider.SetValue(f.Coeff)
		}
		if c, err := strconv.ParseFloat(r.Value.Text, 64); err != nil || c != f.Coeff {
			r.Value.SetText(fmtCoeff(f.Coeff))
		}
	}
}

// fmtCoeff writes a coefficient with 3 significant digits.
func fmtCoeff(c float64) string { return strconv.FormatFloat(c, 'g', 3, 64) }

// syncSettings shows the list's settings in the fields.
func (p *SteerPane) syncSettings() {
	st := p.set.Settings()
	p.syncing = true
	defer func() { p.syncing = false }()
	setText := func(e *widget.Entry, s string) {
		if e.Text != s {
			e.SetText(s)
		}
	}
	setText(&p.Prompt.Entry, st.Prompt)
	if n, err := strconv.Atoi(p.Tokens.Text); err != nil || n != st.Tokens {
		setText(p.Tokens, strconv.Itoa(st.Tokens))
	}
	p.Greedy.SetChecked(st.Temperature == 0)
	if st.Temperature > 0 {
		setText(p.Temperature, strconv.FormatFloat(st.Temperature, 'g', -1, 64))
	} else if p.Temperature.Text == "" {
		setText(p.Temperature, "1")
	}
	setText(p.TopP, strconv.FormatFloat(st.TopP, 'g', -1, 64))
	setText(p.Seed, strconv.FormatUint(st.Seed, 10))
	p.Scope.SetSelected(scopeNames[st.Scope])
	setText(p.Pos, strconv.Itoa(st.Pos))
	p.syncEnabled()
}

// syncEnabled enables the fields that the settings use.
func (p *SteerPane) syncEnabled() {
	if p.Greedy.Checked {
		p.Temperature.Disable()
		p.TopP.Disable()
		p.Seed.Disable()
	} else {
		p.Temperature.Enable()
		p.TopP.Enable()
		p.Seed.Enable()
	}
	if p.Scope.Selected == scopeNames[ScopePosition] {
		p.Pos.Enable()
	} else {
		p.Pos.Disable()
	}
}

// readSettings reads the fields, saying which one is wrong.
func (p *SteerPane) readSettings() (SteerSettings, error) {
	st := p.set.Settings()
	st.Prompt = p.Prompt.Text
	n, err := strconv.Atoi(strings.TrimSpace(p.Tokens.Text))
	if err != nil || n < 0 || n > MaxSteerTokens {
		return st, fmt.Errorf("tokens to generate: %q is not a whole number from 0 to %d", p.Tokens.Text, MaxSteerTokens)
	}
	st.Tokens = n
	st.Temperature = 0
	if !p.Greedy.Checked {
		t, err := strconv.ParseFloat(strings.TrimSpace(p.Temperature.Text), 64)
		if err != nil || math.IsNaN(t) || math.IsInf(t, 0) || t <= 0 {
			return st, fmt.Errorf("temperature: %q is not a number above 0 (tick Greedy for the most likely token)", p.Temperature.Text)
		}
		st.Temperature = t
		tp, err := strconv.ParseFloat(strings.TrimSpace(p.TopP.Text), 64)
		if err != nil || !(tp > 0 && tp <= 1) {
			return st, fmt.Errorf("top-p: %q is not a number above 0, at most 1", p.TopP.Text)
		}
		st.TopP = tp
		seed, err := strconv.ParseUint(strings.TrimSpace(p.Seed.Text), 10, 64)
		if err != nil {
			return st, fmt.Errorf("seed: %q is not a whole number ≥ 0", p.Seed.Text)
		}
		st.Seed = seed
	}
	for s, name := range scopeNames {
		if name == p.Scope.Selected {
			st.Scope = s
		}
	}
	if st.Scope == ScopePosition {
		pos, err := strconv.Atoi(strings.TrimSpace(p.Pos.Text))
		if err != nil {
			return st, fmt.Errorf("position: %q is not a whole number (0 is BOS, -1 the prompt's last token)", p.Pos.Text)
		}
		st.Pos = pos
	}
	return st, st.Check()
}

// settingsChanged stores the fields in the list's settings and reruns.
func (p *SteerPane) settingsChanged() {
	if p.syncing {
		return
	}
	p.syncEnabled()
	st, err := p.readSettings()
	if err != nil {
		p.runner.Cancel()
		p.message(err.Error())
		return
	}
	p.syncing = true
	p.set.SetSettings(st)
	p.syncing = false
	p.request()
}

// message shows msg (an error in the input) above the results.
func (p *SteerPane) message(msg string) {
	showMessage(p.Msg, capitalise(msg))
	if msg != "" {
		p.Status.SetText("")
		p.busy(false)
	}
}

// capitalise makes a message a sentence.
func capitalise(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	if r[0] >= 'a' && r[0] <= 'z' {
		r[0] -= 'a' - 'A'
	}
	return string(r)
}

// request asks for a run with the list and settings as they are now.
func (p *SteerPane) request() {
	if !p.active {
		p.dirty = true
		return
	}
	p.dirty = false
	p.message("")
	p.Status.SetText("")
	p.busy(true)
	p.runner.Request(steerRequest{v: p.v, features: p.set.Features(), settings: p.set.Settings()})
}

// busy shows or hides the moving bar of a run under way.
func (p *SteerPane) busy(on bool) {
	if on {
		p.Status.Hide()
		p.Busy.Show()
		p.Busy.Start()
	} else {
		p.Busy.Stop()
		p.Busy.Hide()
		p.Status.Show()
	}
}

// show displays the newest run's result or error (UI thread).
func (p *SteerPane) show(id uint64, res *SteerResult, err error) {
	if id != p.runner.Newest() {
		return
	}
	if err != nil {
		p.Status.SetText("")
		p.message(err.Error())
		return
	}
	p.result = res
	p.message("")
	p.busy(false)
	how := "greedy"
	if t := res.Settings.Temperature; t > 0 {
		how = fmt.Sprintf("sampled at temperature %g, top-p %g, seed %d (the same for both)", t, res.Settings.TopP, res.Settings.Seed)
	}
	steering := "no feature steered: both runs are the plain model"
	if res.Steering > 0 {
		steering = fmt.Sprintf("%s steered at %s", nOf(res.Steering, "feature"), steerSpanText(res.Settings, res, p.v.Tok.InlineString))
	}
	p.Status.SetText(fmt.Sprintf("Prompt of %s, %d generated, %s; %s · %s", nOf(len(res.Prompt), "token"), res.Settings.Tokens, how, steering, res.Elapsed.Round(time.Millisecond)))
	p.setContinuation(p.PlainText, res.Settings.Prompt, res.Plain, res.PlainText)
	p.setContinuation(p.SteeredText, res.Settings.Prompt, res.Steered, res.SteeredText)
	tok := p.v.Tok.DisplayString
	p.TopPlain.Set(tok, res.Next.Plain, false)
	p.TopSteered.Set(tok, res.Next.Steered, false)
	p.Rises.Set(tok, res.Next.Increases, true)
	p.Falls.Set(tok, res.Next.Decreases, true)
	sum := fmt.Sprintf("Next token after the prompt: KL(plain ‖ steered) %s nats.", fnum(res.Next.KL))
	if res.HasLoss {
		sum += fmt.Sprintf(" Loss over the prompt: %s plain, %s steered (%+.4f).", fnum(res.LossPlain), fnum(res.LossSteered), res.LossSteered-res.LossPlain)
	} else {
		sum += " The prompt is one token: no loss over it."
	}
	p.Summary.SetText(sum)
}

// TokenList is a next-token list: the tokens, one a line, beside their
// probabilities (before → after for a change).
type TokenList struct {
	Tokens, Probs *widget.Label
	box           fyne.CanvasObject
}

func newTokenList() *TokenList {
	l := &TokenList{Tokens: widget.NewLabel(""), Probs: widget.NewLabel("")}
	l.Tokens.Truncation = fyne.TextTruncateEllipsis
	l.Probs.Alignment = fyne.TextAlignTrailing
	l.box = container.NewBorder(nil, nil, nil, l.Probs, l.Tokens)
	return l
}

// Set shows ts.
func (l *TokenList) Set(tok func(id int) string, ts []intervene.TokenProb, change bool) {
	toks, probs := make([]string, len(ts)), make([]string, len(ts))
	for i, t := range ts {
		toks[i] = tok(t.ID)
		probs[i] = fpercent(t.Prob)
		if change {
			probs[i] = strings.TrimSuffix(fpercent(t.Before), "%") + "→" + probs[i]
		}
	}
	l.Tokens.SetText(strings.Join(toks, "\n"))
	l.Probs.SetText(strings.Join(probs, "\n"))
}

// Lines is the list's lines, token and probability (tests).
func (l *TokenList) Lines() int {
	if l.Tokens.Text == "" {
		return 0
	}
	return strings.Count(l.Tokens.Text, "\n") + 1
}

// setContinuation shows the prompt, dimmed, then the generated text.
func (p *SteerPane) setContinuation(rt *widget.RichText, prompt string, ids []int32, text string) {
	gen := text
	if len(ids) == 0 {
		gen = " (nothing generated: set Tokens above 0)"
	}
	rt.Segments = []widget.RichTextSegment{
		&widget.TextSegment{Text: prompt, Style: widget.RichTextStyle{Inline: true, ColorName: theme.ColorNamePlaceHolder}},
		&widget.TextSegment{Text: gen, Style: widget.RichTextStyle{Inline: true, TextStyle: fyne.TextStyle{Bold: true}}},
	}
	rt.Refresh()
}

// continuationOf is the generated text a RichText of the pane shows.
func continuationOf(rt *widget.RichText) string {
	if len(rt.Segments) < 2 {
		return ""
	}
	return rt.Segments[1].Textual()
}

// steerSpanText says where the settings steer: at one position, the
// token there (tok shows a token id).
func steerSpanText(st SteerSettings, res *SteerResult, tok func(id int) string) string {
	n := len(res.Prompt)
	sp, err := st.Span(n, st.Tokens)
	switch {
	case err != nil:
		return "?"
	case st.Scope == ScopePrompt:
		return "the prompt's positions"
	case st.Scope == ScopePosition && sp.From < n:
		return fmt.Sprintf("%s, the prompt's %s", sp, quoteTok(tok(int(res.Prompt[sp.From]))))
	case st.Scope == ScopePosition && sp.From-n < len(res.Steered):
		return fmt.Sprintf("%s, the generated %s", sp, quoteTok(tok(int(res.Steered[sp.From-n]))))
	}
	return sp.String()
}
