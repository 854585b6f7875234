package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
)

// Explorer is one SAE's panes (the table in panes.go): the ranking on the
// left; on the right a strip of tabs for the selected feature's contexts,
// the neuroscope, elicitation, its detail (density, logits, nearest
// features), the SAE's statistics and the comparison of the pinned
// features, and under it the feature's header above the tab's pane. They
// share the View's selected feature; the comparison shows the window's
// pins. A tab's pane is built the first time it is shown or asked for.
//
// The tab strip stays in one place whichever pane is shown (a click lands
// on the tab it aims at), and each pane's place depends only on that pane:
// the header is hidden above the views of the whole SAE, never a gap left
// by the pane shown before.
type Explorer struct {
	View    *View
	Ranking *RankingPane
	Header  *FeatureHeader
	// Tabs is the strip of pane tabs: its items hold no content; the
	// selected tab's pane shows under the strip and the header.
	Tabs    *container.AppTabs
	Split   *container.Split
	content fyne.CanvasObject

	header fyne.CanvasObject
	body   *fyne.Container               // the header above the panes' stack
	scroll *container.Scroll             // the panes' stack, scrolled where the window is too small
	panes  map[string]Pane               // built panes, by their entry's name
	tabs   map[string]*container.TabItem // by tab title
	holder map[string]*fyne.Container    // each tab's content, filled when built
}

// NewExplorer builds the explorer of v, with its first tab's pane.
func NewExplorer(v *View) *Explorer {
	e := &Explorer{View: v, panes: map[string]Pane{}, tabs: map[string]*container.TabItem{}, holder: map[string]*fyne.Container{}}
	e.Ranking = e.pane(PaneRanking).(*RankingPane)
	e.Header = NewFeatureHeader(v)
	var items []*container.TabItem
	stack := container.NewStack()
	for _, p := range paneTable {
		if p.tab == "" || e.tabs[p.tab] != nil {
			continue
		}
		e.holder[p.tab] = container.NewStack()
		e.holder[p.tab].Hide()
		stack.Add(e.holder[p.tab])
		e.tabs[p.tab] = container.NewTabItem(p.tab, layout.NewSpacer())
		items = append(items, e.tabs[p.tab])
	}
	e.Tabs = container.NewAppTabs(items...)
	e.Tabs.OnSelected = func(*container.TabItem) { e.tabShown() }
	e.header = container.NewPadded(e.Header.Content())
	// The panes scroll where the window gives them less than their
	// minimum size, rather than growing the window or moving the divider
	// between the ranking and the panes when another pane is shown.
	e.scroll = container.NewScroll(stack)
	e.body = container.NewBorder(e.header, nil, nil, nil, e.scroll)
	// The tabs' inner padding is 5 px, not the theme's 8, so that all
	// ten pane tabs show at 1280×800 rather than the last ones hiding in
	// the strip's "…" menu.
	strip := container.NewThemeOverride(e.Tabs, overrideTheme{innerPadding: 5})
	right := container.NewBorder(strip, nil, nil, nil, e.body)
	e.Split = container.NewHSplit(e.Ranking.Content(), right)
	e.Split.Offset = 0.45
	e.content = e.Split
	e.tabShown()
	return e
}

// pane returns the pane of the table entry name (or the pane that holds
// it), building it and filling its tab on first use.
func (e *Explorer) pane(name string) Pane {
	entry, ok := paneByName(name)
	if !ok {
		return nil
	}
	entry = entry.owner()
	if p := e.panes[entry.name]; p != nil {
		return p
	}
	p := entry.build(e.View)
	e.panes[entry.name] = p
	if h := e.holder[entry.tab]; h != nil {
		h.Objects = []fyne.CanvasObject{p.Content()}
		h.Refresh()
	}
	return p
}

// Contexts returns the contexts pane (top activations, interval samples).
func (e *Explorer) Contexts() *ContextsPane { return e.pane(PaneContexts).(*ContextsPane) }

// Neuroscope returns the neuroscope pane.
func (e *Explorer) Neuroscope() *NeuroscopePane { return e.pane(PaneNeuroscope).(*NeuroscopePane) }

// Elicit returns the elicitation pane.
func (e *Explorer) Elicit() *ElicitPane { return e.pane(PaneElicitation).(*ElicitPane) }

// Detail returns the feature detail pane.
func (e *Explorer) Detail() *DetailPane { return e.pane(PaneDetail).(*DetailPane) }

// Statistics returns the statistics pane.
func (e *Explorer) Statistics() *StatisticsPane { return e.pane(PaneStatistics).(*StatisticsPane) }

// Compare returns the pane comparing the pinned features.
func (e *Explorer) Compare() *ComparePane { return e.pane(PaneCompare).(*ComparePane) }

// tabShown builds the selected tab's pane, tells the panes that compute in
// the background whether they are on screen, and hides the feature header
// above the views of the whole SAE.
func (e *Explorer) tabShown() {
	sel := e.Tabs.Selected()
	wholeSAE := false
	for _, p := range paneTable {
		if p.tab != "" && e.tabs[p.tab] == sel {
			e.pane(p.name)
			wholeSAE = wholeSAE || p.wholeSAE
		}
	}
	for tab, h := range e.holder {
		if e.tabs[tab] == sel {
			h.Show()
		} else {
			h.Hide()
		}
	}
	for _, p := range paneTable {
		if a, ok := e.panes[p.name].(activePane); ok {
			a.SetActive(e.tabs[p.tab] == sel)
		}
	}
	if wholeSAE {
		e.header.Hide()
	} else {
		e.header.Show()
	}
	// lay the header and the pane out again now: hiding the header alone
	// leaves its band empty until something else relays the container
	e.body.Refresh()
}

// Content is the explorer's widget tree.
func (e *Explorer) Content() fyne.CanvasObject { return e.content }

// ShowPane brings a pane to the front.
func (e *Explorer) ShowPane(name string) error {
	name = strings.ToLower(name)
	if name == "" {
		name = PaneRanking
	}
	entry, ok := paneByName(name)
	if !ok {
		return fmt.Errorf("unknown pane %q (%s)", name, strings.Join(PaneNames(), ", "))
	}
	if entry.tab == "" {
		return nil // always visible
	}
	e.Tabs.Select(e.tabs[entry.tab])
	if entry.show != nil {
		entry.show(e.pane(name))
	}
	return nil
}

// Settle waits for the built panes' background work: live runs, plots and
// lists (tests, measurements).
func (e *Explorer) Settle() {
	var ss []settlingPane
	for _, p := range paneTable {
		if s, ok := e.panes[p.name].(settlingPane); ok {
			ss = append(ss, s)
		}
	}
	settleEach(ss...)
}

// PinFeatures pins the features listed in s ("3,17" or "3 17") for the
// compare pane.
func (e *Explorer) PinFeatures(s string) error {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
	if len(fields) == 0 {
		return fmt.Errorf("no feature to pin in %q: give ids such as 3,17", s)
	}
	for _, f := range fields {
		id, err := parseInt(f)
		if err != nil {
			return fmt.Errorf("pin: %w", err)
		}
		if err := e.View.Bench().Pin(e.View, id); err != nil {
			return err
		}
	}
	return nil
}
