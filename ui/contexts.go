package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/store"
)

// Context window defaults: the notebook's 30 contexts, 30 tokens before
// and 2 after.
const (
	DefaultContexts = 30
	DefaultPrefix   = 30
	DefaultSuffix   = 2
	maxWindow       = 127
)

// ContextsPane shows the selected feature's top activating contexts and,
// in a second tab, examples sampled from each activation interval. Every
// token is a chip coloured by the feature's activation (scale saturated at
// the feature's maximum over the corpus), the activating token outlined.
type ContextsPane struct {
	v       *View
	content fyne.CanvasObject
	// hidden: the pane's tab is not shown (SetActive); a selection then
	// only marks it stale (stale), and it redraws when shown again:
	// building thirty contexts' chips is the dearest part of a click.
	hidden, stale bool

	K, Prefix, Suffix int
	// AllWindows shows every stored window, several of one corpus row
	// among them; by default each row gives one context, its strongest.
	AllWindows bool

	KEntry, PrefixEntry, SuffixEntry *widget.Entry
	Title                            *widget.Label
	Hover                            *widget.Label
	// AllWindowsCheck switches between one context per corpus row and
	// every window.
	AllWindowsCheck *widget.Check
	Msg             *widget.Label
	Tabs            *container.AppTabs
	Legend          *Legend
	// ExportHTML saves the top contexts as a self-contained HTML file.
	ExportHTML *widget.Button

	top       *contextList
	intervals *contextList
	ablation  *hoverAblation

	topFor, intervalsFor windowKey
	// LastDuration is how long the last update of the shown tab took.
	LastDuration time.Duration
}

// windowKey is what a drawn list shows.
type windowKey struct {
	st                   *store.Store
	f, k, prefix, suffix int
	all                  bool
}

// NewContextsPane builds the contexts pane of v.
func NewContextsPane(v *View) *ContextsPane {
	p := &ContextsPane{v: v, K: DefaultContexts, Prefix: DefaultPrefix, Suffix: DefaultSuffix}
	p.Title = widget.NewLabel("")
	p.Title.TextStyle.Bold = true
	p.Title.Truncation = fyne.TextTruncateEllipsis
	p.Hover = widget.NewLabel("Hover a token to see its text, id and activation.")
	p.Hover.Truncation = fyne.TextTruncateEllipsis
	p.Hover.TextStyle = chipStyle // the token text has the chips' glyphs
	p.Msg = newMessageLine(widget.DangerImportance)
	p.Legend = NewLegend()

	num := func(val int, apply func(n int) error) *widget.Entry {
		e := widget.NewEntry()
		e.SetText(fmt.Sprint(val))
		submit := func(s string) {
			n, err := parseInt(s)
			if err == nil {
				err = apply(n)
			}
			if err != nil {
				p.message(err.Error())
				return
			}
			p.message("")
			p.Update()
		}
		e.OnSubmitted = submit
		e.OnChanged = func(s string) {
			if _, err := parseInt(s); err == nil {
				submit(s)
			}
		}
		return e
	}
	p.KEntry = num(p.K, func(n int) error {
		if n < 1 || n > store.TopK {
			return fmt.Errorf("the number of contexts must be between 1 and %d (the store keeps %d per feature)", store.TopK, store.TopK)
		}
		p.K = n
		return nil
	})
	p.PrefixEntry = num(p.Prefix, func(n int) error {
		if n < 0 || n > maxWindow {
			return fmt.Errorf("the prefix must be between 0 and %d tokens", maxWindow)
		}
		p.Prefix = n
		return nil
	})
	p.SuffixEntry = num(p.Suffix, func(n int) error {
		if n < 0 || n > maxWindow {
			return fmt.Errorf("the suffix must be between 0 and %d tokens", maxWindow)
		}
		p.Suffix = n
		return nil
	})

	p.ablation = newHoverAblation(v)
	p.top = newContextList(p.hover)
	p.intervals = newContextList(p.hover)
	p.top.onChip, p.intervals.onChip = p.hoverChip, p.hoverChip
	p.AllWindowsCheck = widget.NewCheck("Every window", func(on bool) {
		p.AllWindows = on
		p.Update()
	})
	p.Tabs = container.NewAppTabs(
		container.NewTabItem("Top activations", p.top.scroll),
		container.NewTabItem("Interval samples", p.intervals.scroll),
	)
	p.Tabs.OnSelected = func(*container.TabItem) { p.Update() }

	field := func(name string, e *widget.Entry) fyne.CanvasObject {
		return container.NewHBox(widget.NewLabel(name), container.NewGridWrap(fyne.NewSize(56, e.MinSize().Height), e))
	}
	// the controls wrap where the pane is narrower than they are (the
	// colour scale goes to a second line) rather than widening the pane
	// past its place, which cut the contexts off at the right
	controls := container.New(&flowLayout{},
		field("Contexts", p.KEntry), field("Prefix", p.PrefixEntry), field("Suffix", p.SuffixEntry),
		p.AllWindowsCheck, p.Legend)
	p.ExportHTML = widget.NewButtonWithIcon("HTML", theme.DownloadIcon(), p.exportHTML)
	p.ExportHTML.Importance = widget.LowImportance
	top := container.NewVBox(controls, container.NewBorder(nil, nil, nil, p.ExportHTML, p.Title), p.Msg)
	p.content = container.NewBorder(top, container.NewVBox(p.Hover, p.ablation.Line), nil, nil, p.Tabs)

	v.OnFeature(func(int) {
		p.ablation.Clear() // it was the previous feature's
		p.updateShown()
	})
	v.OnStore(func(*store.Store) {
		p.ablation.Clear()
		p.updateShown()
	})
	v.OnLabel(func(f int) {
		if f == v.Feature() {
			p.updateShown() // the title shows the label; the contexts are not redrawn
		}
	})
	p.Update()
	return p
}

// Content is the pane's widget tree.
func (p *ContextsPane) Content() fyne.CanvasObject { return p.content }

// TopList returns the strips of the top-activations tab, one per context.
func (p *ContextsPane) TopList() []*TokenStrip { return p.top.strips() }

// IntervalList returns the strips of the interval-samples tab.
func (p *ContextsPane) IntervalList() []*TokenStrip { return p.intervals.strips() }

func (p *ContextsPane) message(text string) { showMessage(p.Msg, text) }

// exportHTML saves the selected feature's top contexts (with the pane's
// number of contexts, prefix and suffix) as HTML.
func (p *ContextsPane) exportHTML() {
	f := p.v.Feature()
	if f < 0 {
		p.message("Select a feature first: its contexts are what is exported.")
		return
	}
	p.v.ExportContexts(f, p.K, p.Prefix, p.Suffix, p.AllWindows, func(_ string, err error) {
		if err != nil {
			p.message(err.Error())
		}
	})
}

func (p *ContextsPane) hover(t *Token) {
	if t == nil {
		p.Hover.SetText("Hover a token to see its text, id and activation.")
		return
	}
	p.Hover.SetText(t.Describe())
}

// hoverChip shows what ablating the feature at the hovered chip of d
// does to the next token (chip -1: the pointer left).
func (p *ContextsPane) hoverChip(d *contextRowData, chip int) {
	st, f := p.v.Store(), p.v.Feature()
	if chip < 0 || d == nil || st == nil || f < 0 || chip >= len(d.pos) {
		p.ablation.Clear()
		return
	}
	pos, row := d.pos[chip], d.row
	tokens := func() ([]int32, error) { return rowTokens(st, f, row) }
	p.ablation.Hover(ablationKey{st: st, f: f, row: row, pos: pos, position: pos}, tokens, d.tokens[chip].Value)
}

// Ablation is the hover line of the ablation effect.
func (p *ContextsPane) Ablation() *widget.Label { return p.ablation.Line }

// SettleAblation waits for the hover ablations requested (tests).
func (p *ContextsPane) SettleAblation() { p.ablation.Settle() }

// SetActive says whether the pane's tab is shown: hidden, it does not
// redraw on every selection, and catches up when shown.
func (p *ContextsPane) SetActive(on bool) {
	p.hidden = !on
	if on && p.stale {
		p.Update()
	}
}

// updateShown redraws the pane when it is shown, else marks it stale.
func (p *ContextsPane) updateShown() {
	if p.hidden {
		p.stale = true
		return
	}
	p.Update()
}

// Update draws the selected feature's contexts in the visible tab (the
// other tab is drawn when it is opened).
func (p *ContextsPane) Update() {
	p.stale = false
	t0 := time.Now()
	st, f := p.v.Store(), p.v.Feature()
	if st == nil || f < 0 {
		p.ExportHTML.Disable() // nothing to export
	} else {
		p.ExportHTML.Enable()
	}
	switch {
	case st == nil:
		p.Title.SetText(p.v.noStoreMessage("the contexts where features fire"))
		p.clear()
		return
	case f < 0:
		p.Title.SetText("Select a feature in the ranking, or type its id.")
		p.clear()
		return
	}
	stats, err := st.Stats(f)
	if err != nil {
		p.message(err.Error())
		p.clear()
		return
	}
	scale := float32(stats.Max)
	p.Legend.SetScale(scale)
	title := fmt.Sprintf("Feature %d · max %s · fires on %s of tokens", f, fnum(stats.Max), fpercent(stats.Frequency))
	if l := p.v.Label(f); l != "" {
		title += " · " + l
	}
	p.Title.SetText(title)
	if stats.Dead {
		p.message(fmt.Sprintf("Feature %d never fired on the corpus: it is dead, so it has no contexts.", f))
		p.clear()
		return
	}
	if p.Msg.Text != "" && strings.Contains(p.Msg.Text, "dead") {
		p.message("")
	}
	key := windowKey{st, f, p.K, p.Prefix, p.Suffix, p.AllWindows}
	if p.Tabs.SelectedIndex() == 0 {
		if p.topFor != key {
			ctxs, err := p.topContexts(st, f)
			if err != nil {
				p.message(err.Error())
				return
			}
			rows := make([]contextRowData, len(ctxs))
			for i, c := range ctxs {
				rows[i] = p.rowData(c, fmt.Sprintf("%.3f", c.Value))
			}
			p.top.show(rows, scale)
			p.top.scroll.ScrollToTop()
			p.topFor = key
		}
	} else if p.intervalsFor != key {
		groups, err := st.IntervalSamples(f, p.Prefix, p.Suffix)
		if err != nil {
			p.message(err.Error())
			return
		}
		var rows []contextRowData
		for _, g := range groups {
			head := fmt.Sprintf("Interval (%s, %s]: %s", fnum(float64(g.Lo)), fnum(float64(g.Hi)), nOf(len(g.Contexts), "sample"))
			if len(g.Contexts) == 0 {
				head = fmt.Sprintf("Interval (%s, %s]: no activation in this interval", fnum(float64(g.Lo)), fnum(float64(g.Hi)))
			}
			rows = append(rows, contextRowData{heading: head})
			for _, c := range g.Contexts {
				rows = append(rows, p.rowData(c, fmt.Sprintf("%.3f", c.Value)))
			}
		}
		p.intervals.show(rows, scale)
		p.intervals.scroll.ScrollToTop()
		p.intervalsFor = key
	}
	p.LastDuration = time.Since(t0)
	logTiming("contexts of feature %d drawn in the widget tree: %v", f, p.LastDuration)
}

// topContexts returns the feature's top contexts: the K strongest
// windows, or (by default) the strongest window of each of the K corpus
// rows where the feature is strongest, among the windows the store keeps.
func (p *ContextsPane) topContexts(st *store.Store, f int) ([]store.Context, error) {
	if p.AllWindows {
		return st.TopContexts(f, p.K, p.Prefix, p.Suffix)
	}
	all, err := st.TopContexts(f, store.TopK, p.Prefix, p.Suffix)
	if err != nil {
		return nil, err
	}
	return onePerRow(all, p.K), nil
}

// onePerRow keeps the first context of each row, up to k.
func onePerRow(ctxs []store.Context, k int) []store.Context {
	seen := map[int]bool{}
	out := make([]store.Context, 0, min(k, len(ctxs)))
	for _, c := range ctxs {
		if len(out) == k {
			break
		}
		if !seen[c.Row] {
			seen[c.Row] = true
			out = append(out, c)
		}
	}
	return out
}

func (p *ContextsPane) clear() {
	p.top.show(nil, 1)
	p.intervals.show(nil, 1)
	p.topFor, p.intervalsFor = windowKey{}, windowKey{}
	p.Legend.SetScale(0)
}

// rowData copies a context out of the store (whose memory goes away
// when the store is closed).
func (p *ContextsPane) rowData(c store.Context, value string) contextRowData {
	return copyContext(p.v, c, value)
}

// contextRowData is one line of a context list: a context or a heading.
type contextRowData struct {
	heading string
	value   string
	where   string
	tokens  []Token
	marked  int
	row     int   // the corpus row
	pos     []int // per chip, the row position whose activation it shows
}

// contextList is a scrolling list of contexts whose widgets are reused
// from one feature to the next.
type contextList struct {
	onHover func(*Token)
	// onChip, when set, is also told the row and chip hovered (-1: none).
	onChip func(d *contextRowData, chip int)
	box    *fyne.Container
	scroll *container.Scroll
	rows   []*contextRow
	heads  []*widget.Label
	// stacked puts each context's value above its tokens rather than
	// beside them (Compare's narrow columns)
	stacked bool
}

type contextRow struct {
	data  contextRowData
	value *widget.Label
	strip *TokenStrip
	line  *fyne.Container
}

func newContextList(onHover func(*Token)) *contextList {
	l := &contextList{onHover: onHover}
	// the box culls after each layout, and the scroll after each move: the
	// strips out of view draw nothing (see cull)
	l.box = container.New(&cullingVBox{vbox: layout.NewVBoxLayout(), after: l.cull})
	l.scroll = container.NewVScroll(l.box)
	l.scroll.OnScrolled = func(fyne.Position) { l.cull() }
	return l
}

// cullMargin is how far beyond the view, in view heights, strips still
// draw: a scroll by the wheel shows drawn rows before cull catches up.
const cullMargin = 1

// cull tells each strip whether it lies in (or near) the view of the
// list's scroll. A list shown without its scroll (Compare puts the box in
// its own scrolling page) draws everything: its scroll has no size.
func (l *contextList) cull() {
	view := l.scroll.Size().Height
	if view <= 0 || l.box.Size().Height <= 0 {
		for _, r := range l.rows {
			r.strip.setOffscreen(false)
		}
		return
	}
	top := l.scroll.Offset.Y - cullMargin*view
	bottom := l.scroll.Offset.Y + (1+cullMargin)*view
	for _, r := range l.rows {
		y, h := r.line.Position().Y, r.line.Size().Height
		r.strip.setOffscreen(!r.line.Visible() || y+h < top || y > bottom)
	}
}

// cullingVBox is a VBox layout that calls after once it has laid out
// (the rows' places are then known).
type cullingVBox struct {
	vbox  fyne.Layout
	after func()
}

func (c *cullingVBox) MinSize(objs []fyne.CanvasObject) fyne.Size { return c.vbox.MinSize(objs) }

func (c *cullingVBox) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	c.vbox.Layout(objs, size)
	c.after()
}

func (l *contextList) row(i int) *contextRow {
	for len(l.rows) <= i {
		r := &contextRow{value: widget.NewLabel("00.000"), strip: NewTokenStrip()}
		r.value.TextStyle = fyne.TextStyle{Monospace: true}
		s := r.strip
		s.OnHover = func(j int) {
			if l.onChip != nil {
				l.onChip(&r.data, j)
			}
			if j < 0 {
				l.onHover(nil)
				return
			}
			t := s.Tokens()[j]
			l.onHover(&t)
		}
		if l.stacked {
			r.line = container.NewVBox(r.value, container.NewPadded(s))
		} else {
			r.line = container.NewBorder(nil, nil, container.NewVBox(r.value), nil, container.NewPadded(s))
		}
		l.rows = append(l.rows, r)
	}
	return l.rows[i]
}

func (l *contextList) head(i int) *widget.Label {
	for len(l.heads) <= i {
		h := widget.NewLabel("")
		h.TextStyle.Bold = true
		l.heads = append(l.heads, h)
	}
	return l.heads[i]
}

func (l *contextList) show(rows []contextRowData, scale float32) {
	objs := make([]fyne.CanvasObject, 0, len(rows))
	nr, nh := 0, 0
	for _, d := range rows {
		if d.heading != "" {
			h := l.head(nh)
			nh++
			h.SetText(d.heading)
			objs = append(objs, h)
			continue
		}
		r := l.row(nr)
		nr++
		r.data = d
		r.value.SetText(d.value)
		r.strip.SetTokens(d.tokens, scale, d.marked)
		objs = append(objs, r.line)
	}
	l.box.Objects = objs
	l.box.Refresh()
}

func (l *contextList) strips() []*TokenStrip {
	var out []*TokenStrip
	for _, o := range l.box.Objects {
		for _, r := range l.rows {
			if r.line == o {
				out = append(out, r.strip)
			}
		}
	}
	return out
}
