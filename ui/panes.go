package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// Adding a pane to the explorer
//
//  1. Write the pane in its own file: a type with a constructor taking the
//     *View, and a Content method (the Pane interface). A pane that computes
//     in the background adds SetActive (it is told when its tab is shown or
//     hidden, and computes only while shown) and Settle (tests and
//     measurements wait on it).
//  2. Add one entry to paneTable below: its name (the --pane flag, ShowPane),
//     its View-menu entry, its tab and its constructor.
//
// The tabs, ShowPane, the View menu and the --pane names are all made from
// the table; nothing else needs to change. A pane is built the first time
// its tab is shown or the code asks for it (Explorer.pane).

// Pane is one view of an SAE in the explorer.
type Pane interface {
	// Content is the pane's widget tree.
	Content() fyne.CanvasObject
}

// activePane is a pane that computes only while it is on screen.
type activePane interface {
	SetActive(bool)
}

// settlingPane is a pane with background work that Settle waits for.
type settlingPane interface {
	Settle()
}

// Pane names, as the --pane flag and the View menu take them.
const (
	PaneRanking     = "ranking"
	PaneContexts    = "contexts"
	PaneIntervals   = "intervals"
	PaneNeuroscope  = "neuroscope"
	PaneElicitation = "elicitation"
	PaneDetail      = "detail"
	PaneStatistics  = "statistics"
	PaneCompare     = "compare"
	PaneSteer       = "steer"
	PanePatch       = "patch"
	PaneFlow        = "flow"
	PaneGraph       = "graph"
)

// paneEntry is one row of the pane table.
type paneEntry struct {
	name string // the --pane flag's name
	menu string // the View menu's entry
	// tab is the explorer tab that holds the pane; "" for the ranking,
	// which is always on screen beside the tabs.
	tab string
	// wholeSAE panes show more than one feature: the selected feature's
	// header is hidden above them, to give them the room.
	wholeSAE bool
	// build makes the pane; nil for an entry that shows a part of
	// another entry's pane (the contexts' interval samples).
	build func(v *View) Pane
	// show, if set, brings the entry's part of its pane to the front
	// once its tab is selected.
	show func(p Pane)
}

// paneTable lists the explorer's panes in menu and tab order.
var paneTable = [...]paneEntry{
	{name: PaneRanking, menu: "Ranking", build: func(v *View) Pane { return NewRankingPane(v) }},
	{name: PaneContexts, menu: "Contexts", tab: "Contexts", build: func(v *View) Pane { return NewContextsPane(v) },
		show: func(p Pane) { p.(*ContextsPane).Tabs.SelectIndex(0) }},
	{name: PaneIntervals, menu: "Interval samples", tab: "Contexts",
		show: func(p Pane) { p.(*ContextsPane).Tabs.SelectIndex(1) }},
	{name: PaneNeuroscope, menu: "Neuroscope", tab: "Neuroscope", build: func(v *View) Pane { return NewNeuroscopePane(v) }},
	{name: PaneElicitation, menu: "Elicitation", tab: "Elicitation", build: func(v *View) Pane { return NewElicitPane(v) }},
	{name: PaneDetail, menu: "Feature detail", tab: "Detail", build: func(v *View) Pane { return newDetailPane(v, false) }},
	{name: PaneStatistics, menu: "Statistics", tab: "Statistics", wholeSAE: true, build: func(v *View) Pane { return newStatisticsPane(v, false) }},
	{name: PaneCompare, menu: "Compare pinned features", tab: "Compare", wholeSAE: true, build: func(v *View) Pane { return newComparePane(v, false) }},
	{name: PaneSteer, menu: "Steer", tab: "Steer", wholeSAE: true, build: func(v *View) Pane { return NewSteerPane(v) }},
	{name: PanePatch, menu: "Patch", tab: "Patch", wholeSAE: true, build: func(v *View) Pane { return NewPatchPane(v) }},
	{name: PaneFlow, menu: "Feature flow", tab: "Flow", build: func(v *View) Pane { return NewFlowPane(v) }},
	{name: PaneGraph, menu: "Attribution graph", tab: "Graph", wholeSAE: true, build: func(v *View) Pane { return NewGraphPane(v) }},
}

// PaneNames lists the pane names in the table's order.
func PaneNames() []string {
	out := make([]string, len(paneTable))
	for i, p := range paneTable {
		out[i] = p.name
	}
	return out
}

// paneByName returns the table entry of name.
func paneByName(name string) (paneEntry, bool) {
	for _, p := range paneTable {
		if p.name == name {
			return p, true
		}
	}
	return paneEntry{}, false
}

// owner returns the entry whose pane holds entry p: p itself, or the
// entry that builds the pane of p's tab.
func (p paneEntry) owner() paneEntry {
	if p.build != nil {
		return p
	}
	for _, q := range paneTable {
		if q.tab == p.tab && q.build != nil {
			return q
		}
	}
	return p
}

// paneMenu is the View menu's pane entries, each calling show with its
// pane's name.
func paneMenu(show func(name string)) []*fyne.MenuItem {
	items := make([]*fyne.MenuItem, len(paneTable))
	for i, p := range paneTable {
		name := p.name
		items[i] = fyne.NewMenuItem(p.menu, func() { show(name) })
	}
	return items
}

// newMessageLine makes a pane's message line: wrapped, of the given
// importance (a warning, an error), hidden until there is a message.
func newMessageLine(importance widget.Importance) *widget.Label {
	l := widget.NewLabel("")
	l.Wrapping = fyne.TextWrapWord
	l.Importance = importance
	l.Hide()
	return l
}

// settleEach waits for the background work of each of ss, again until
// nothing more was queued on the UI thread meanwhile (tests,
// measurements).
func settleEach(ss ...settlingPane) {
	for {
		for _, s := range ss {
			s.Settle()
		}
		if !settled() {
			return
		}
	}
}

// showMessage sets a pane's message line, hiding it when empty.
func showMessage(l *widget.Label, text string) {
	l.SetText(text)
	if text == "" {
		l.Hide()
	} else {
		l.Show()
	}
}
