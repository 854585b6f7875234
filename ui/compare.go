package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/ui/plots"
)

// What each pinned feature shows in the comparison.
const (
	compareContexts = 5
	comparePrefix   = 12
	compareSuffix   = 2
	compareLogits   = 5
)

// noPins is the compare pane's message when nothing is pinned.
const noPins = "Nothing pinned yet. Select a feature and press Pin in its header (features of any SAE tab can be pinned): " +
	"the pinned features show here side by side, with their densities overlaid, their top contexts and logits, " +
	"and their decoder cosine and co-activation."

// ComparePane shows the features pinned on the window's workbench side by
// side: each one's statistics, top contexts and top logits, their
// activation densities overlaid (exportable), and for each pair their
// decoder cosine (when the SAEs share d_in) and co-activation (same SAE
// only). Pins may come from different SAE tabs; every tab's compare pane
// shows the same pins.
type ComparePane struct {
	v       *View
	content fyne.CanvasObject

	PinBar *fyne.Container
	Clear  *widget.Button
	// PinSelected pins the feature selected in this tab.
	PinSelected *widget.Button
	Msg         *widget.Label
	Density     *PlotView
	Pairs       *widget.Label
	// Columns holds each pin's numbers and logits side by side; Contexts
	// their top contexts, below the plot.
	Columns  *fyne.Container
	Contexts *fyne.Container
	Hover    *widget.Label
	Cards    []*CompareCard

	body   *fyne.Container
	runner *latest[compareRequest]
	active bool
	dirty  bool
	shown  string // key of the pins shown
	data   *compareData
}

// CompareCard is one pinned feature's column.
type CompareCard struct {
	Pin   Pin
	Title *widget.Label
	Stats *widget.Label
	// Boosts and Suppresses list the top logits, a token a line; Logits
	// says why there are none.
	Boosts, Suppresses, Logits *widget.Label
	Contexts                   *contextList
	content                    fyne.CanvasObject
	contexts                   fyne.CanvasObject
}

type compareRequest struct {
	key    string
	pins   []Pin
	stores []*store.Store
}

// compareData is what the worker computes for the pins.
type compareData struct {
	req      compareRequest
	logits   []*features.LogitEffect
	logitErr []error
	contexts [][]contextRowData
	scales   []float32 // colour scale of each pin's contexts (its max)
	pairs    []string
}

// NewComparePane builds a compare pane of the pins of v's workbench.
func NewComparePane(v *View) *ComparePane { return newComparePane(v, true) }

// newComparePane builds the pane, on screen or not (active).
func newComparePane(v *View, active bool) *ComparePane {
	p := &ComparePane{v: v, active: active}
	p.Msg = widget.NewLabel("")
	p.Msg.Wrapping = fyne.TextWrapWord
	p.PinBar = container.New(&flowLayout{}) // the chips wrap: none hidden off the side
	p.Clear = widget.NewButtonWithIcon("Unpin all", theme.ContentClearIcon(), func() { v.Bench().ClearPins() })
	p.Clear.Importance = widget.LowImportance
	p.PinSelected = widget.NewButtonWithIcon("Pin", theme.ContentAddIcon(), p.pinSelected)
	p.Density = NewPlotView(v)
	p.Pairs = widget.NewLabel("")
	p.Pairs.Wrapping = fyne.TextWrapWord
	p.Columns = container.NewGridWithColumns(1)
	p.Contexts = container.NewGridWithColumns(1)
	p.Hover = widget.NewLabel("Hover a token to see its text, id and activation.")
	p.Hover.TextStyle = chipStyle
	p.Hover.Truncation = fyne.TextTruncateEllipsis
	p.runner = newLatest(v.Jobs, p.run)

	export := exportButtons("Densities", func(f string) {
		p.Density.Export(f, func(_ string, err error) {
			if err != nil {
				p.message(err.Error())
			}
		})
	}, "png", "svg", "pdf", "csv")
	densityBox := container.New(fixedHeight{300}, p.Density)
	pairsHead := widget.NewLabel("Pairs")
	pairsHead.TextStyle.Bold = true
	ctxHead := widget.NewLabel(fmt.Sprintf("Top %d contexts (%d tokens before, %d after)", compareContexts, comparePrefix, compareSuffix))
	ctxHead.TextStyle.Bold = true
	p.body = container.NewVBox(p.Columns, densityBox, export, pairsHead, p.Pairs, widget.NewSeparator(), ctxHead, p.Contexts)
	bar := container.NewBorder(nil, nil, nil, container.NewVBox(container.NewHBox(p.PinSelected, p.Clear)), p.PinBar)
	p.content = container.NewBorder(container.NewVBox(bar, p.Msg), p.Hover, nil, nil, container.NewVScroll(p.body))

	v.OnPins(p.Update)
	v.OnFeature(func(int) { p.syncPinButton() })
	v.OnStore(func(*store.Store) { p.shown = ""; p.Update() })
	v.OnLabel(func(int) { p.shown = ""; p.Update() })
	p.Update()
	return p
}

// pinSelected pins the feature selected in this tab.
func (p *ComparePane) pinSelected() {
	if err := p.v.Bench().Pin(p.v, p.v.Feature()); err != nil {
		p.message(err.Error())
	}
}

// syncPinButton offers to pin the selected feature when it is not.
func (p *ComparePane) syncPinButton() {
	f := p.v.Feature()
	if f < 0 || p.v.Bench().Pinned(p.v, f) {
		p.PinSelected.SetText("Pin")
		p.PinSelected.Disable()
		return
	}
	p.PinSelected.SetText(fmt.Sprintf("Pin %d", f))
	p.PinSelected.Enable()
}

// Content is the pane's widget tree.
func (p *ComparePane) Content() fyne.CanvasObject { return p.content }

// SetActive says whether the pane is on screen; a hidden pane is drawn
// when it is shown.
func (p *ComparePane) SetActive(on bool) {
	p.active = on
	if on {
		p.Update() // nothing to do when the pins and their stores are the same
	}
}

// Settle waits for the computations and the plot (tests, measurements).
func (p *ComparePane) Settle() { settleEach(p.runner, p.Density) }

func (p *ComparePane) message(text string) { showMessage(p.Msg, text) }

// Update shows the pins (their numbers computed off the UI thread).
func (p *ComparePane) Update() {
	pins := p.v.Bench().Pins()
	p.updateBar(pins)
	p.syncPinButton()
	if !p.active {
		p.dirty = true
		return
	}
	p.dirty = false
	if len(pins) == 0 {
		p.shown, p.data = "", nil
		p.runner.Drop()
		p.message(noPins)
		p.body.Hide()
		p.Cards = nil
		p.Columns.Objects = nil
		p.Contexts.Objects = nil
		p.Density.SetMessage("")
		return
	}
	p.body.Show()
	req := compareRequest{pins: pins}
	var keys []string
	for _, pin := range pins {
		st := pin.View.Store()
		req.stores = append(req.stores, st)
		keys = append(keys, fmt.Sprintf("%p/%d/%p", pin.View, pin.Feature, st))
	}
	req.key = strings.Join(keys, ",")
	if req.key == p.shown {
		return
	}
	p.shown = req.key
	if len(pins) == 1 {
		p.message("One feature pinned: pin another to compare them.")
	} else {
		p.message("")
	}
	t0 := time.Now()
	p.Density.Name = fileStem("compare", fmt.Sprintf("%d-features", len(pins)))
	srcs, same, missing := densitySources(pins, req.stores)
	switch {
	case len(srcs) == 0:
		p.Density.SetMessage("None of the pinned features' SAEs has been analysed: the densities come from the corpus scan.")
	case same:
		st := srcs[0].Store
		ids := make([]int, len(srcs))
		for i, s := range srcs {
			ids[i] = s.Feature
		}
		p.Density.SetSource(func() (*plots.Figure, error) { return plots.Compare(st, ids, plots.Options{}) }, t0)
	default:
		p.Density.SetSource(func() (*plots.Figure, error) { return plots.CompareAcross(srcs, plots.Options{}) }, t0)
	}
	if missing != "" {
		p.message("Not analysed, so not in the plot: " + missing + ".")
	}
	p.runner.Request(req)
}

// densitySources are the pins with a store; same says they share one.
func densitySources(pins []Pin, stores []*store.Store) (srcs []plots.Source, same bool, missing string) {
	var skipped []string
	for i, pin := range pins {
		if stores[i] == nil {
			skipped = append(skipped, fmt.Sprintf("feature %d of %s", pin.Feature, pin.View.Name()))
			continue
		}
		srcs = append(srcs, plots.Source{Store: stores[i], Feature: pin.Feature, SAE: pin.View.Name()})
	}
	same = len(srcs) > 0
	for _, s := range srcs {
		same = same && s.Store == srcs[0].Store
	}
	return srcs, same, strings.Join(skipped, ", ")
}

// updateBar shows a chip per pin (click: show it; ✕: unpin).
func (p *ComparePane) updateBar(pins []Pin) {
	var objs []fyne.CanvasObject
	for i, pin := range pins {
		pin := pin
		name := fmt.Sprintf("%d · %s", pin.Feature, shortName(pin.View))
		if !severalSAEs(pins) {
			name = fmt.Sprintf("Feature %d", pin.Feature)
		}
		show := widget.NewButton(name, func() {
			if err := p.v.Bench().Show(pin.View, pin.Feature, ""); err != nil {
				p.message(err.Error())
			}
		})
		unpin := widget.NewButtonWithIcon("", theme.CancelIcon(), func() { p.v.Bench().Unpin(pin.View, pin.Feature) })
		unpin.Importance = widget.LowImportance
		objs = append(objs, container.NewHBox(container.NewCenter(swatch(i, 12)), show, unpin))
	}
	p.PinBar.Objects = objs
	p.PinBar.Refresh()
	if len(pins) == 0 {
		p.Clear.Disable()
	} else {
		p.Clear.Enable()
	}
}

// run computes the pins' logits, contexts and pairs off the UI thread.
func (p *ComparePane) run(_ context.Context, r compareRequest) func() {
	n := len(r.pins)
	d := &compareData{req: r, logits: make([]*features.LogitEffect, n), logitErr: make([]error, n),
		contexts: make([][]contextRowData, n), scales: make([]float32, n)}
	for i, pin := range r.pins {
		d.logits[i], d.logitErr[i] = pin.View.Logits(pin.Feature)
		st := r.stores[i]
		if st == nil {
			continue
		}
		if s, err := st.Stats(pin.Feature); err == nil {
			d.scales[i] = float32(s.Max)
		}
		ctxs, err := st.TopContexts(pin.Feature, compareContexts, comparePrefix, compareSuffix)
		if err != nil {
			continue
		}
		for _, c := range ctxs {
			d.contexts[i] = append(d.contexts[i], copyContext(pin.View, c, fmt.Sprintf("%.3f", c.Value)))
		}
	}
	d.pairs = pairLines(r)
	return func() {
		if r.key != p.shown {
			return // newer pins are on their way
		}
		p.show(d)
	}
}

// pairLines describes every pair of pins: decoder cosine and co-activation.
func pairLines(r compareRequest) []string {
	n := len(r.pins)
	// each pin's cosine with every feature of each other SAE of its width,
	// and its correlation with every feature of its store
	cos := make([]map[*View][]features.Similar, n)
	coact := make([][]store.Correlated, n)
	for i, a := range r.pins {
		cos[i] = map[*View][]features.Similar{}
		for j, b := range r.pins {
			if j <= i {
				continue
			}
			sa, sb := a.View.SAE, b.View.SAE
			if _, done := cos[i][b.View]; !done && sa.W.Model == sb.W.Model {
				cos[i][b.View], _ = features.NearestByDirection(sa.W.Model, sa.Enc, a.Feature, sb.Enc, sb.Weights.DSae)
			}
			if b.View == a.View && coact[i] == nil && r.stores[i] != nil {
				coact[i], _ = r.stores[i].CoActivation(a.Feature, r.stores[i].DSae())
			}
		}
	}
	var lines []string
	for i, a := range r.pins {
		for j := i + 1; j < n; j++ {
			b := r.pins[j]
			line := fmt.Sprintf("%s and %s: ", pinName(a, r.pins), pinName(b, r.pins))
			if a.View.SAE.W.Model != b.View.SAE.W.Model {
				line += "decoder cosine: SAEs of different models"
			} else {
				c, ok := similarTo(cos[i][b.View], b.Feature)
				if ok {
					line += fmt.Sprintf("decoder cosine %.3f", c)
				} else {
					line += "decoder cosine –"
				}
			}
			line += " · "
			switch {
			case a.View != b.View:
				line += "co-activation: different SAEs"
			case r.stores[i] == nil:
				line += "co-activation: not analysed"
			default:
				sa, _ := r.stores[i].Stats(a.Feature)
				sb, _ := r.stores[i].Stats(b.Feature)
				if c, ok := correlatedWith(coact[i], b.Feature); ok {
					line += fmt.Sprintf("co-activation r %.3f", c)
				} else if sa.Dead || sb.Dead {
					line += "co-activation: a dead feature"
				} else if r.stores[i].Bounded() {
					// A bounded analysis keeps each feature's strongest only.
					line += fmt.Sprintf("co-activation: not among the %d strongest of %s", store.CoK, pinName(a, r.pins))
				} else {
					line += "co-activation: never fire on the same token"
				}
			}
			lines = append(lines, line)
		}
	}
	return lines
}

// pinName names a pin in the pairs: its feature, and its SAE when the
// pins come from several.
func pinName(p Pin, pins []Pin) string {
	for _, q := range pins {
		if q.View != p.View {
			return fmt.Sprintf("%d (%s)", p.Feature, hookName(p.View))
		}
	}
	return fmt.Sprint(p.Feature)
}

func similarTo(ss []features.Similar, f int) (float64, bool) {
	for _, s := range ss {
		if s.ID == f {
			return s.Cosine, true
		}
	}
	return 0, false
}

func correlatedWith(cs []store.Correlated, f int) (float64, bool) {
	for _, c := range cs {
		if c.ID == f {
			return c.Correlation, true
		}
	}
	return 0, false
}

// show builds the columns (UI thread).
func (p *ComparePane) show(d *compareData) {
	p.data = d
	if len(d.pairs) == 0 {
		p.Pairs.SetText("Pin a second feature to see the pair's decoder cosine and co-activation.")
	} else {
		p.Pairs.SetText(strings.Join(d.pairs, "\n"))
	}
	p.Cards = p.Cards[:0]
	var heads, ctxs []fyne.CanvasObject
	for i, pin := range d.req.pins {
		c := p.card(i, pin, d)
		p.Cards = append(p.Cards, c)
		heads = append(heads, c.content)
		ctxs = append(ctxs, c.contexts)
	}
	p.Columns.Layout = layout.NewGridLayoutWithColumns(max(1, len(heads)))
	p.Columns.Objects = heads
	p.Columns.Refresh()
	p.Contexts.Layout = layout.NewGridLayoutWithColumns(max(1, len(ctxs)))
	p.Contexts.Objects = ctxs
	p.Contexts.Refresh()
}

// card builds pin i's column.
func (p *ComparePane) card(i int, pin Pin, d *compareData) *CompareCard {
	v, f := pin.View, pin.Feature
	c := &CompareCard{Pin: pin}
	title := fmt.Sprintf("Feature %d", f)
	if l := v.Label(f); l != "" {
		title += " · " + l
	}
	c.Title = widget.NewLabel(title)
	c.Title.TextStyle.Bold = true
	c.Title.Wrapping = fyne.TextWrapWord
	head := []fyne.CanvasObject{c.Title}
	if severalSAEs(d.req.pins) {
		sae := widget.NewLabel(v.Name())
		sae.Truncation = fyne.TextTruncateEllipsis
		head = append(head, sae)
	}
	c.Stats = widget.NewLabel(pinStats(v, f, d.req.stores[i]))
	c.Stats.Wrapping = fyne.TextWrapWord
	var logits fyne.CanvasObject
	if err := d.logitErr[i]; err != nil {
		c.Logits = widget.NewLabel("No direct logit effect: " + err.Error())
		c.Logits.Wrapping = fyne.TextWrapWord
		logits = c.Logits
	} else {
		c.Boosts = tokenValues(v, d.logits[i].Boosted)
		c.Suppresses = tokenValues(v, d.logits[i].Suppressed)
		// Side by side for one or two pins; from three on, stacked, so
		// that the columns fit the pane at 1280×800 (the pane scrolls
		// down, not sideways).
		cols := 2
		if len(d.req.pins) > 2 {
			cols = 1
		}
		logits = container.NewGridWithColumns(cols, container.NewVBox(caption("Boosts (logit)"), c.Boosts), container.NewVBox(caption("Suppresses"), c.Suppresses))
	}
	c.Contexts = newContextList(p.hover)
	c.Contexts.stacked = len(d.req.pins) > 2 // the columns are narrow: each value above its tokens
	c.Contexts.show(d.contexts[i], d.scales[i])
	ctxHead := widget.NewLabel(fmt.Sprintf("Feature %d", f))
	ctxHead.TextStyle.Bold = true
	ctxHead.Wrapping = fyne.TextWrapWord // "Feature 17: no contexts (dead)" in a narrow column
	switch {
	case d.req.stores[i] == nil:
		ctxHead.SetText(fmt.Sprintf("Feature %d: not analysed, no contexts", f))
	case len(d.contexts[i]) == 0:
		ctxHead.SetText(fmt.Sprintf("Feature %d: no contexts (dead)", f))
	}
	c.content = container.NewBorder(swatch(i, 4), nil, nil, nil,
		container.NewVBox(append(head, c.Stats, logits)...))
	c.contexts = container.NewBorder(swatch(i, 4), nil, nil, nil, container.NewVBox(ctxHead, c.Contexts.box))
	return c
}

func (p *ComparePane) hover(t *Token) {
	if t == nil {
		p.Hover.SetText("Hover a token to see its text, id and activation.")
		return
	}
	p.Hover.SetText(t.Describe())
}

// pinStats is a pinned feature's numbers.
func pinStats(v *View, f int, st *store.Store) string {
	if st == nil {
		return "Not analysed yet: no statistics."
	}
	s, err := st.Stats(f)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	if s.Dead {
		fmt.Fprintf(&b, "dead: never fires on the %s tokens", numfmt.Thousands(st.Meta.Summary.Tokens))
	} else {
		fmt.Fprintf(&b, "mean %s · σ/μ %s\nmax %s\nfires on %s (%s)", fnum(s.Mean), fnum(s.CV), fnum(s.Max), fpercent(s.Frequency), nOf(s.Count, "token"))
	}
	if len(st.UnembedEntropy) > f {
		fmt.Fprintf(&b, "\nunembedding entropy %.2f bits\nmax probability %s", st.UnembedEntropy[f], fprob(float64(st.UnembedMaxProb[f])))
	}
	return b.String()
}

// tokenValues lists the first compareLogits tokens with their values, a
// line each, in small monospace.
func tokenValues(v *View, rs []features.Ranked) *widget.Label {
	var lines []string
	for i, r := range rs {
		if i == compareLogits {
			break
		}
		t := []rune(v.Tok.DisplayString(r.ID))
		if len(t) > 9 {
			t = append(t[:8], '…')
		}
		lines = append(lines, fmt.Sprintf("%-9s %+.2f", string(t), r.Value))
	}
	l := widget.NewLabel(strings.Join(lines, "\n"))
	l.TextStyle = chipStyle
	l.SizeName = theme.SizeNameCaptionText
	return l
}

// caption is a bold heading.
func caption(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.TextStyle.Bold = true
	return l
}

// copyContext copies a context out of v's store for a context list.
func copyContext(v *View, c store.Context, value string) contextRowData {
	toks := make([]Token, len(c.Tokens))
	for i, id := range c.Tokens {
		toks[i] = Token{Text: v.Tok.DisplayString(int(id)), ID: int(id), Value: c.Acts[i]}
	}
	m := mergeByteTokens(v.Tok, toks) // “, not <0xE2><0x80><0x9C>
	pos := make([]int, len(m.at))
	for i, j := range m.at {
		pos[i] = c.Start + j
	}
	return contextRowData{value: value, tokens: m.chips, marked: m.marked(c.Target()),
		where: fmt.Sprintf("row %d, position %d", c.Row, c.Pos), row: c.Row, pos: pos}
}

// swatch is a square (or, in a card's border, a bar) of pin i's colour
// in the density plot.
func swatch(i int, size float32) fyne.CanvasObject {
	r := canvas.NewRectangle(plots.SeriesColour(i))
	r.SetMinSize(fyne.NewSize(size, size))
	r.CornerRadius = 2
	return r
}

// fixedHeight lays its objects over each other, full width, at a fixed
// height.
type fixedHeight struct{ h float32 }

func (l fixedHeight) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w float32
	for _, o := range objs {
		w = max(w, o.MinSize().Width)
	}
	return fyne.NewSize(w, l.h)
}

func (l fixedHeight) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

// shortName is an SAE's hook without the boilerplate, for the narrow
// places: "blocks.1.hook_resid_pre (256)" gives "1.resid_pre (256)".
func shortName(v *View) string {
	n := strings.TrimPrefix(v.Name(), "blocks.")
	return strings.Replace(n, "hook_", "", 1)
}

// severalSAEs says whether the pins come from more than one SAE.
func severalSAEs(pins []Pin) bool {
	for _, p := range pins {
		if p.View != pins[0].View {
			return true
		}
	}
	return false
}

// hookName is the short name without the width: "1.resid_pre".
func hookName(v *View) string {
	n := shortName(v)
	if i := strings.LastIndex(n, " ("); i > 0 {
		n = n[:i]
	}
	return n
}
