package ui

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/ui/plots"
)

// Ranking table columns.
const (
	colRank = iota
	colID
	colMean
	colCV
	colFreq
	colMax
	colLabel
	numCols
)

var colTitles = [numCols]string{"Rank", "Feature", "Mean", "σ/μ", "Freq.", "Max", "Label"}

// colWidths fit the whole table, its Label column included, in the
// ranking's share of a 1280-pixel window (about 550 pixels beside the
// widest pane).
var colWidths = [numCols]float32{54, 66, 70, 64, 70, 62, 130}

// maxLabelWidth caps the label column, which otherwise widens to the
// longest label shown (fitLabelColumn). A longer label is clipped in the
// table; the selected feature's label shows whole in its header above the
// panes, where it is edited.
const maxLabelWidth = 560

// labelsMeasured is how many of the longest labels (in bytes)
// fitLabelColumn measures: measuring text is slow (about 60 µs a label),
// and a book may label every feature.
const labelsMeasured = 32

// byLabel sorts the table by label (not a store metric).
const byLabel store.Metric = "label"

// colMetric is the ordering of a column's header.
var colMetric = [numCols]store.Metric{"", store.ByID, store.ByMean, store.ByCV, store.ByFrequency, store.ByMax, byLabel}

// RankingPane is the table of features: sortable by any column, cut to a
// rank range, filtered by a label search (within the range when both are
// given); dead features are listed apart. The range and search fields,
// the table and the status line (Info) always describe the same rows: a
// range includes its start and excludes its end (10-20 is ranks 10 to 19,
// as a Python slice), and the status line says so.
type RankingPane struct {
	v       *View
	content fyne.CanvasObject

	// Table lists the rows, under a sticky header of sort buttons.
	Table      *HeaderTable
	Dead       *widget.List
	Tabs       *container.AppTabs
	RangeEntry *widget.Entry
	FindEntry  *widget.Entry
	Info       *widget.Label
	Msg        *widget.Label
	empty      *widget.Label
	emptyBox   *fyne.Container
	body       *fyne.Container
	// AnalyzeButton starts the analysis when there is none.
	AnalyzeButton *widget.Button
	// ExportCSV saves the rows shown (the rank range or label search in
	// force) as CSV.
	ExportCSV *widget.Button

	metric     store.Metric
	descending bool
	ranking    store.Ranking
	rows       []store.FeatureStats // shown
	ranks      []int                // their rank in the full ordering
	filter     string               // the label search in force, "" for none
	rangeLo    int                  // the rank range in force, -1 for none
	rangeHi    int                  // its end, excluded
	summary    string               // the store's numbers, after the rows' description in Info
	syncing    bool
	shownRow   int     // the row shown bold, -1 for none
	labelWidth float32 // the label column's width
	analyzing  bool
}

// SetAnalyzing says whether the SAE's analysis is running.
func (p *RankingPane) SetAnalyzing(on bool) {
	p.analyzing = on
	if p.v.Store() == nil {
		p.Reload()
	}
}

// NewRankingPane builds the ranking pane of v.
func NewRankingPane(v *View) *RankingPane {
	p := &RankingPane{v: v, metric: store.ByMean, descending: true, rangeLo: -1, shownRow: -1, labelWidth: colWidths[colLabel]}
	p.Info = widget.NewLabel("")
	p.Info.Wrapping = fyne.TextWrapWord // never cut off
	p.Msg = newMessageLine(widget.DangerImportance)

	p.Table = NewHeaderTable(p.length, p.createCell, p.updateCell)
	p.Table.CreateHeader = func() fyne.CanvasObject {
		b := widget.NewButton("", nil)
		b.Importance = widget.LowImportance
		b.Alignment = widget.ButtonAlignLeading
		b.IconPlacement = widget.ButtonIconTrailingText
		return b
	}
	p.Table.UpdateHeader = p.updateHeader
	p.Table.OnSecondaryRow = p.rowMenuAt // a right click: select, pin, steer (steer_entry.go)
	for c, w := range colWidths {
		p.Table.SetColumnWidth(c, w)
	}
	p.Table.OnSelected = func(id widget.TableCellID) {
		if p.syncing || id.Row < 0 || id.Row >= len(p.rows) {
			return
		}
		p.selectFeature(p.rows[id.Row].ID)
	}

	p.Dead = widget.NewList(func() int { return len(p.ranking.Dead) },
		func() fyne.CanvasObject { return widget.NewLabel("feature 00000") },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			f := p.ranking.Dead[i]
			text := fmt.Sprintf("feature %d", f)
			if l := p.v.Label(f); l != "" {
				text += " · " + l
			}
			o.(*widget.Label).SetText(text)
		})
	p.Dead.OnSelected = func(i widget.ListItemID) {
		if p.syncing || i < 0 || i >= len(p.ranking.Dead) {
			return
		}
		p.selectFeature(p.ranking.Dead[i])
	}

	p.Tabs = container.NewAppTabs(
		container.NewTabItem("Live features", p.Table),
		container.NewTabItem("Dead features", p.Dead),
	)

	p.RangeEntry = widget.NewEntry()
	p.RangeEntry.SetPlaceHolder("ranks, e.g. 2000-2050")
	p.RangeEntry.OnSubmitted = func(string) { p.ApplyRange() }
	p.FindEntry = widget.NewEntry()
	p.FindEntry.SetPlaceHolder("feature id or label")
	p.FindEntry.OnSubmitted = func(string) { p.Find() }
	goRange := widget.NewButtonWithIcon("", theme.NavigateNextIcon(), p.ApplyRange)
	find := widget.NewButtonWithIcon("", theme.SearchIcon(), p.Find)
	all := widget.NewButton("Show all", p.ShowAll)
	p.ExportCSV = widget.NewButtonWithIcon("CSV", theme.DownloadIcon(), p.exportCSV)
	p.ExportCSV.Importance = widget.LowImportance
	controls := container.NewGridWithColumns(2,
		container.NewBorder(nil, nil, nil, goRange, p.RangeEntry),
		container.NewBorder(nil, nil, nil, find, p.FindEntry))
	top := container.NewVBox(container.NewBorder(nil, nil, nil, all, controls), container.NewBorder(nil, nil, nil, p.ExportCSV, p.Info), p.Msg)

	p.empty = widget.NewLabel("")
	p.empty.Wrapping = fyne.TextWrapWord
	p.AnalyzeButton = widget.NewButtonWithIcon("Analyze", theme.MediaPlayIcon(), func() {
		if v.RequestAnalyze != nil {
			v.RequestAnalyze()
		}
	})
	p.AnalyzeButton.Importance = widget.HighImportance
	p.emptyBox = container.NewPadded(container.NewVBox(p.empty, container.NewHBox(p.AnalyzeButton)))
	p.body = container.NewStack(p.Tabs, p.emptyBox)
	p.content = container.NewBorder(top, nil, nil, nil, p.body)

	v.OnStore(func(*store.Store) { p.Reload() })
	v.OnFeature(p.showSelection)
	v.OnSuggestions(p.Table.Refresh) // more suggested labels computed: the rows without a label show them
	v.OnLabel(func(f int) {
		if p.metric == byLabel {
			p.resort()
		} else if l := p.v.Label(f); l != "" && p.inRows(f) {
			// grows as a label is typed; narrows at the next sort or filter
			p.setLabelWidth(max(p.labelWidth, p.labelCellWidth(l)))
		}
		p.Table.Refresh()
		p.Dead.Refresh()
	})
	p.Reload()
	return p
}

// Content is the pane's widget tree.
func (p *RankingPane) Content() fyne.CanvasObject { return p.content }

// Rows returns the features shown in the table, in order.
func (p *RankingPane) Rows() []store.FeatureStats { return p.rows }

// Ranks returns the rank of each row in the full ordering.
func (p *RankingPane) Ranks() []int { return p.ranks }

// Ranking returns the full ordering.
func (p *RankingPane) Ranking() store.Ranking { return p.ranking }

// SortedBy returns the sort metric and direction.
func (p *RankingPane) SortedBy() (store.Metric, bool) { return p.metric, p.descending }

// message shows an error in the pane's message line ("" hides it).
func (p *RankingPane) message(text string) {
	p.Msg.Importance = widget.DangerImportance
	showMessage(p.Msg, text)
}

// note shows a remark that is not an error in the message line.
func (p *RankingPane) note(text string) {
	p.Msg.Importance = widget.MediumImportance
	showMessage(p.Msg, text)
}

// exportCSV saves the rows shown as CSV: the rank range or the label
// search in force, or every live feature.
func (p *RankingPane) exportCSV() {
	if p.v.Store() == nil || len(p.rows) == 0 {
		p.message("Nothing to export: the table is empty.")
		return
	}
	rows := append([]store.FeatureStats(nil), p.rows...)
	name := fileStem("features", p.v.Name(), string(p.metric))
	if p.rangeLo >= 0 {
		name += fmt.Sprintf("-ranks-%d-%d", p.rangeLo, min(p.rangeHi, len(p.ranking.Live)))
	}
	if p.filter != "" {
		name += "-search"
	}
	p.v.Export("the table", name+".csv", func(_ string, w io.Writer) error {
		return plots.WriteFeatureCSV(w, rows)
	}, func(_ string, err error) {
		if err != nil {
			p.message(err.Error())
		}
	})
}

func (p *RankingPane) selectFeature(f int) {
	if err := p.v.Select(f); err != nil {
		p.message(err.Error())
		return
	}
	p.message("")
}

// Reload rebuilds the table from the view's store.
func (p *RankingPane) Reload() {
	st := p.v.Store()
	if st == nil {
		p.ExportCSV.Disable() // no table to export
	} else {
		p.ExportCSV.Enable()
	}
	if st == nil {
		p.ranking = store.Ranking{}
		p.rows, p.ranks = nil, nil
		if p.analyzing {
			p.empty.SetText(fmt.Sprintf("Analysing %s: the progress is in the status bar below, with Cancel.\n\n"+
				"The neuroscope and elicitation panes work meanwhile.", p.v.Name()))
			p.AnalyzeButton.Disable()
		} else {
			p.empty.SetText(fmt.Sprintf("%s has not been analysed on this corpus yet.\n\n"+
				"Press Analyze to scan the corpus: the ranking, the contexts and the statistics come from that scan. "+
				"The neuroscope and elicitation panes work already.", p.v.Name()))
			p.AnalyzeButton.Enable()
		}
		p.emptyBox.Show()
		p.Tabs.Hide()
		p.summary = ""
		p.Info.SetText(fmt.Sprintf("%s · %d features", p.v.Name(), p.v.DSae()))
		p.Table.Refresh()
		p.Dead.Refresh()
		return
	}
	p.emptyBox.Hide()
	p.Tabs.Show()
	sum := st.Meta.Summary
	p.summary = fmt.Sprintf("L0 %.1f · reconstruction score %s · %s tokens",
		sum.L0, shortReconScore(sum), numfmt.Thousands(sum.Tokens))
	p.resort()
	p.Tabs.Items[1].Text = fmt.Sprintf("Dead features (%d)", len(p.ranking.Dead))
	p.Tabs.Refresh()
	p.Dead.Refresh()
}

// SortBy orders the table by m (a store metric or "label").
func (p *RankingPane) SortBy(m store.Metric, descending bool) {
	p.metric, p.descending = m, descending
	p.resort()
}

func (p *RankingPane) resort() {
	st := p.v.Store()
	if st == nil {
		return
	}
	m := p.metric
	if m == byLabel {
		m = store.ByID
	}
	p.ranking = st.Rank(m, p.descending)
	if p.metric == byLabel {
		p.sortLabels()
	}
	p.applyFilter()
}

// sortLabels orders the live features by label, labelled ones first.
func (p *RankingPane) sortLabels() {
	live := p.ranking.Live
	labels := make(map[int]string, len(live))
	for _, st := range live {
		labels[st.ID] = strings.ToLower(p.v.Label(st.ID))
	}
	sort.SliceStable(live, func(i, j int) bool {
		a, b := labels[live[i].ID], labels[live[j].ID]
		if (a == "") != (b == "") {
			return a != ""
		}
		if a != b {
			if p.descending {
				return a > b
			}
			return a < b
		}
		return live[i].ID < live[j].ID
	})
}

// applyFilter recomputes the rows shown from the ranking, the rank range
// and the label search, and says which they are in the status line.
func (p *RankingPane) applyFilter() {
	live := p.ranking.Live
	p.rows, p.ranks = p.rows[:0], p.ranks[:0]
	lo, hi := 0, len(live)
	if p.rangeLo >= 0 {
		lo, hi = min(p.rangeLo, len(live)), min(p.rangeHi, len(live))
	}
	var want map[int]bool
	if p.filter != "" {
		want = map[int]bool{}
		for _, f := range p.v.FindLabel(p.filter) {
			want[f] = true
		}
	}
	for i := lo; i < hi; i++ {
		if want == nil || want[live[i].ID] {
			p.rows = append(p.rows, live[i])
			p.ranks = append(p.ranks, i)
		}
	}
	p.shownRow = -1
	p.fitLabelColumn()
	p.Table.Refresh()
	p.showSelection(p.v.Feature())
	if p.v.Store() != nil {
		p.Info.SetText(fmt.Sprintf("%s · %s dead · %s", p.describeRows(), numfmt.Thousands(len(p.ranking.Dead)), p.summary))
	}
}

// describeRows says which rows the table shows: every live feature, a
// rank range (its end excluded), the features a search found, or both.
func (p *RankingPane) describeRows() string {
	live := len(p.ranking.Live)
	var ranks string
	if p.rangeLo >= 0 {
		ranks = fmt.Sprintf("ranks %d–%d (%d-%d, end excluded) of %s live",
			p.rangeLo, min(p.rangeHi, live)-1, p.rangeLo, p.rangeHi, numfmt.Thousands(live))
	}
	switch {
	case p.filter == "" && ranks == "":
		return fmt.Sprintf("All %s live features", numfmt.Thousands(live))
	case p.filter == "":
		return "R" + ranks[1:]
	case ranks == "":
		return fmt.Sprintf("%s of %s live with %q in the label, notes or suggested label", numfmt.Thousands(len(p.rows)), numfmt.Thousands(live), p.filter)
	default:
		return fmt.Sprintf("%s with %q in the label, notes or suggested label, in %s", numfmt.Thousands(len(p.rows)), p.filter, ranks)
	}
}

// fitLabelColumn sizes the label column to the widest of the longest
// labels among the rows shown: no narrower than its default width, no
// wider than maxLabelWidth. The table scrolls sideways to it.
func (p *RankingPane) fitLabelColumn() {
	var shown []string
	for _, st := range p.rows {
		if l := p.v.Label(st.ID); l != "" {
			shown = append(shown, l)
		}
	}
	sort.Slice(shown, func(i, j int) bool { return len(shown[i]) > len(shown[j]) })
	w := colWidths[colLabel]
	for _, l := range shown[:min(len(shown), labelsMeasured)] {
		w = max(w, p.labelCellWidth(l))
	}
	p.setLabelWidth(w)
}

// labelCellWidth is the width a table cell needs to show label whole, in
// bold (the selected row's style), capped at maxLabelWidth.
func (p *RankingPane) labelCellWidth(label string) float32 {
	th := p.Table.Theme()
	text := fyne.MeasureText(label, th.Size(theme.SizeNameText), fyne.TextStyle{Bold: true})
	return min(text.Width+2*th.Size(theme.SizeNameInnerPadding), maxLabelWidth)
}

// setLabelWidth sets the label column's width when it changes.
func (p *RankingPane) setLabelWidth(w float32) {
	if w == p.labelWidth {
		return
	}
	p.labelWidth = w
	p.Table.SetColumnWidth(colLabel, w)
}

// ApplyRange cuts the table to the ranks typed in RangeEntry (start
// included, end excluded), keeping the label search in force; an empty
// field removes the range.
func (p *RankingPane) ApplyRange() {
	if p.v.Store() == nil {
		p.message("Analyze the SAE first: ranks come from the scan.")
		return
	}
	if strings.TrimSpace(p.RangeEntry.Text) == "" {
		p.rangeLo = -1
		p.message("")
		p.applyFilter()
		return
	}
	lo, hi, err := parseRange(p.RangeEntry.Text)
	if err == nil {
		_, err = p.ranking.Slice(lo, hi)
	}
	if err != nil {
		p.message(err.Error())
		return
	}
	p.message("")
	p.rangeLo, p.rangeHi = lo, hi
	p.RangeEntry.SetText(fmt.Sprintf("%d-%d", lo, hi)) // "2000" reads as 2000-2050
	p.applyFilter()
	if p.filter != "" && len(p.rows) == 0 {
		p.note(fmt.Sprintf("No feature in these ranks has %q in its label or notes.", p.filter))
	}
	p.Table.ScrollToTop()
}

// Find selects the feature whose id is typed in FindEntry, or shows the
// features whose label or notes contain the text typed (within the rank
// range, when one is in force). An id is a jump, not a search: the field
// is emptied, and when the feature is not among the rows shown, the range
// and search are removed (their fields emptied) so that it is.
func (p *RankingPane) Find() {
	q := strings.TrimSpace(p.FindEntry.Text)
	if q == "" {
		p.filter = ""
		p.message("")
		p.applyFilter()
		return
	}
	if f, err := parseInt(q); err == nil {
		if err := p.v.Select(f); err != nil {
			p.message(err.Error())
			return
		}
		p.FindEntry.SetText("")
		switch {
		case p.v.Store() == nil:
			p.message("")
		case p.isDead(f):
			p.note(fmt.Sprintf("Feature %d is dead (it never fired in the scan): it is in the dead features tab.", f))
		case p.inRows(f):
			p.message("")
		default:
			p.filter, p.rangeLo = "", -1
			p.RangeEntry.SetText("")
			p.applyFilter()
			p.note(fmt.Sprintf("Feature %d is rank %d, outside the rows shown: showing every live feature.", f, p.ranks[p.rowOf(f)]))
		}
		return
	}
	if p.v.Store() == nil {
		p.message("Analyze the SAE first to list features by label; a feature id works already.")
		return
	}
	p.filter = q
	p.applyFilter()
	switch {
	case len(p.rows) > 0:
		p.message("")
	case p.rangeLo >= 0 && len(p.v.FindLabel(q)) > 0:
		p.note(fmt.Sprintf("No feature in these ranks has %q in its label or notes; some outside them do (Show all).", q))
	case len(p.v.FindLabel(q)) > 0:
		p.note(fmt.Sprintf("Only dead features have %q in their label or notes: see the dead features tab.", q))
	default:
		p.note(fmt.Sprintf("No feature has %q in its label or notes.", q))
	}
	p.Table.ScrollToTop()
}

// ShowAll removes the rank range and the label search, and empties their
// fields.
func (p *RankingPane) ShowAll() {
	p.filter, p.rangeLo = "", -1
	p.RangeEntry.SetText("")
	p.FindEntry.SetText("")
	p.message("")
	p.applyFilter()
}

func (p *RankingPane) isDead(f int) bool {
	for _, d := range p.ranking.Dead {
		if d == f {
			return true
		}
	}
	return false
}

func (p *RankingPane) inRows(f int) bool { return p.rowOf(f) >= 0 }

func (p *RankingPane) rowOf(f int) int {
	for i, st := range p.rows {
		if st.ID == f {
			return i
		}
	}
	return -1
}

// showSelection highlights f's row (scrolling to it) without selecting again.
func (p *RankingPane) showSelection(f int) {
	p.syncing = true
	defer func() { p.syncing = false }()
	if p.shownRow >= 0 && p.shownRow < len(p.rows) {
		p.refreshRow(p.shownRow) // no longer bold
	}
	p.shownRow = p.rowOf(f)
	if r := p.shownRow; r >= 0 {
		p.Table.Select(widget.TableCellID{Row: r, Col: colID})
	} else {
		p.Table.UnselectAll()
	}
	p.Dead.UnselectAll()
	for i, d := range p.ranking.Dead {
		if d == f {
			p.Dead.Select(i)
			if p.Tabs.Visible() {
				p.Tabs.SelectIndex(1)
			}
			break
		}
	}
	if f >= 0 && !p.isDead(f) && p.Tabs.SelectedIndex() == 1 {
		p.Tabs.SelectIndex(0)
	}
	if p.shownRow >= 0 {
		p.refreshRow(p.shownRow)
	}
}

func (p *RankingPane) refreshRow(r int) {
	for c := 0; c < numCols; c++ {
		p.Table.RefreshItem(widget.TableCellID{Row: r, Col: c})
	}
}

func (p *RankingPane) length() (int, int) { return len(p.rows), numCols }

func (p *RankingPane) createCell() fyne.CanvasObject {
	// no truncation: an ellipsis is re-measured glyph by glyph on every
	// refresh, the dearest part of scrolling; a long label is clipped by
	// the table instead
	// Suggested labels are Labels of LowImportance, drawn in the theme's
	// placeholder grey rather than its disabled one (near white in the
	// light theme). Each cell has its own override: the table makes cells
	// as it needs them, after an override of the whole table was applied.
	return container.NewThemeOverride(widget.NewLabel("0000000000"), overrideTheme{placeholderForDisabled: true})
}

// cellLabel is the Label of a ranking cell (createCell's, or a bare one).
func cellLabel(o fyne.CanvasObject) *widget.Label {
	if t, ok := o.(*container.ThemeOverride); ok {
		o = t.Content
	}
	return o.(*widget.Label)
}

func (p *RankingPane) updateCell(id widget.TableCellID, o fyne.CanvasObject) {
	l := cellLabel(o)
	if id.Row < 0 || id.Row >= len(p.rows) {
		l.SetText("")
		return
	}
	st := p.rows[id.Row]
	var text string
	imp := widget.MediumImportance
	switch id.Col {
	case colRank:
		text = fmt.Sprint(p.ranks[id.Row])
	case colID:
		text = fmt.Sprint(st.ID)
	case colMean:
		text = fnum(st.Mean)
	case colCV:
		text = fnum(st.CV)
	case colFreq:
		text = fpercent(st.Frequency)
	case colMax:
		text = fnum(st.Max)
	case colLabel:
		text = p.v.Label(st.ID)
		if text == "" {
			// the suggested label (suggestions.go), greyed, until one is typed
			text, imp = p.v.SuggestedShort(st.ID), widget.LowImportance
		}
	}
	bold := st.ID == p.v.Feature()
	if l.Text != text || l.TextStyle.Bold != bold || l.Importance != imp {
		l.Text = text
		l.TextStyle.Bold = bold
		l.Importance = imp
		l.Refresh()
	}
}

func (p *RankingPane) updateHeader(id widget.TableCellID, o fyne.CanvasObject) {
	b := o.(*widget.Button)
	c := id.Col
	if c < 0 || c >= numCols {
		b.SetText("")
		return
	}
	// the sort direction as an icon: the bundled font has no ▼ ▲
	var icon fyne.Resource
	if colMetric[c] == p.metric {
		icon = theme.MenuDropDownIcon()
		if !p.descending {
			icon = theme.MenuDropUpIcon()
		}
	}
	if b.Text != colTitles[c] || b.Icon != icon {
		b.Text, b.Icon = colTitles[c], icon
		b.Refresh()
	}
	b.OnTapped = func() { p.headerTapped(c) }
}

// headerTapped sorts by column c; tapping the sorted column reverses it.
func (p *RankingPane) headerTapped(c int) {
	m := colMetric[c]
	if m == "" { // the rank column reverses the current order
		m = p.metric
	}
	desc := m != store.ByID && m != byLabel
	if m == p.metric {
		desc = !p.descending
	}
	p.SortBy(m, desc)
}

// SortByName sorts by a metric name (mean, cv, frequency, max, id, label),
// descending unless it ends in ":asc" (id and label: ascending unless
// ":desc").
func (p *RankingPane) SortByName(s string) error {
	name, dir, _ := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	var m store.Metric
	if name == string(byLabel) {
		m = byLabel
	} else {
		var err error
		if m, err = store.ParseMetric(name); err != nil {
			return err
		}
	}
	desc := m != store.ByID && m != byLabel
	switch dir {
	case "asc":
		desc = false
	case "desc":
		desc = true
	case "":
	default:
		return fmt.Errorf("sort direction %q: use asc or desc", dir)
	}
	p.SortBy(m, desc)
	return nil
}
