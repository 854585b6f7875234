package ui

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// The detail, statistics and compare tabs: by name, computed only when
// shown, the feature header hidden over the whole-SAE views; pins from
// the command line's list.
func TestExplorerNewPanes(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	e := NewExplorer(v)
	show(t, e.Content(), 1280, 800)
	e.Settle()
	if e.Detail().active || e.Statistics().active || e.Compare().active {
		t.Error("hidden panes marked active")
	}
	if e.Statistics().Figure() != nil {
		t.Error("the hidden statistics pane drew its plot")
	}
	for _, c := range []struct {
		pane   string
		header bool
	}{{PaneDetail, true}, {PaneStatistics, false}, {PaneCompare, false}, {PaneContexts, true}} {
		if err := e.ShowPane(c.pane); err != nil {
			t.Fatal(err)
		}
		e.Settle()
		if e.header.Visible() != c.header {
			t.Errorf("%s: header visible %v", c.pane, e.header.Visible())
		}
	}
	if e.Statistics().Figure() == nil {
		t.Error("the statistics plot was not drawn when shown")
	}
	// the detail pane catches up with a selection made while hidden
	v.Select(9)
	e.ShowPane(PaneDetail)
	e.Settle()
	if e.Detail().shown.f != 9 || len(e.Detail().Nearest.Rows()) == 0 {
		t.Errorf("detail after a hidden selection: %q", e.Detail().Info.Text)
	}
	if err := e.PinFeatures("3, 17;40"); err != nil {
		t.Fatal(err)
	}
	if err := e.PinFeatures("17"); err == nil || !strings.Contains(err.Error(), "already pinned") {
		t.Errorf("pinning twice: %v", err)
	}
	for _, bad := range []string{"", "x", "-2", "300"} {
		if err := e.PinFeatures(bad); err == nil {
			t.Errorf("pins %q accepted", bad)
		}
	}
	e.ShowPane(PaneCompare)
	e.Settle()
	if len(e.Compare().Cards) != 3 || e.Compare().Cards[1].Pin.Feature != 17 {
		t.Errorf("compare: %d cards", len(e.Compare().Cards))
	}
}

// In the window: pins from two SAE tabs meet in every tab's compare pane,
// and a nearest feature of the other SAE opens in its tab.
func TestShellCompareAcrossTabs(t *testing.T) {
	a := test.NewTempApp(t)
	s, _ := openFixture(t, a, 1280, 800, false, fixSAE, fixSAELens)
	e0, e1 := s.Session().Explorers[0], s.Session().Explorers[1]
	if e0.View.Bench() != e1.View.Bench() || e0.View.Bench().Window != s.Window {
		t.Fatal("the tabs do not share the window's workbench")
	}
	s.Tabs.SelectIndex(0)
	if err := s.PinFeatures("4, 1:4"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"2:1", "x:1", "1:x", "1:4"} {
		if err := s.PinFeatures(bad); err == nil {
			t.Errorf("pins %q accepted", bad)
		}
	}
	s.Tabs.SelectIndex(1)
	s.ShowPane(PaneCompare)
	settleAll(s)
	if len(e1.Compare().Cards) != 2 || e1.Compare().Cards[0].Pin.View != e0.View {
		t.Errorf("compare in the second tab: %d cards", len(e1.Compare().Cards))
	}
	if !strings.Contains(e1.Compare().Pairs.Text, "different SAEs") {
		t.Errorf("pairs %q", e1.Compare().Pairs.Text)
	}
	// the first tab's detail: a feature of the second SAE opens there
	s.Tabs.SelectIndex(0)
	s.ShowPane(PaneDetail)
	e0.View.Select(11)
	settleAll(s)
	d := e0.Detail()
	if d.OtherSAE.Selected != shortName(e1.View) || len(d.Other.Rows()) == 0 {
		t.Fatalf("other SAE %q, %d rows", d.OtherSAE.Selected, len(d.Other.Rows()))
	}
	target := d.Other.Rows()[0].ID
	d.Other.Pick(0)
	settleAll(s)
	if s.Explorer() != e1 || e1.View.Feature() != target || e1.Tabs.Selected() != e1.tabs["Detail"] {
		t.Errorf("picked %d of the other SAE: tab %v, selected there %d", target, s.Explorer() == e1, e1.View.Feature())
	}
}

// The View menu, the --pane names and ShowPane come from one table: every
// entry has a menu item that shows its pane, and every tab is in the
// explorer once.
func TestPaneTableMakesMenuAndTabs(t *testing.T) {
	test.NewTempApp(t)
	var shown []string
	items := paneMenu(func(name string) { shown = append(shown, name) })
	if len(items) != len(PaneNames()) {
		t.Fatalf("%d menu items for %d panes", len(items), len(PaneNames()))
	}
	for _, it := range items {
		it.Action()
	}
	if strings.Join(shown, ",") != strings.Join(PaneNames(), ",") {
		t.Errorf("menu shows %v, want %v", shown, PaneNames())
	}
	e := NewExplorer(newTestView(t))
	var titles []string
	for _, it := range e.Tabs.Items {
		titles = append(titles, it.Text)
	}
	// each entry's tab once, in the table's order; every built pane once
	var tabs []string
	builds := 0
	for _, p := range paneTable {
		if p.tab != "" && !slices.Contains(tabs, p.tab) {
			tabs = append(tabs, p.tab)
		}
		if p.build != nil {
			builds++
		}
	}
	if got := strings.Join(titles, ","); got != strings.Join(tabs, ",") || !strings.HasPrefix(got, "Contexts,Neuroscope,Elicitation,Detail,Statistics,Compare,") {
		t.Errorf("tabs %s, want %s", got, strings.Join(tabs, ","))
	}
	// only the first tab's pane (and the ranking) is built at start
	if len(e.panes) != 2 || e.panes[PaneContexts] == nil || e.panes[PaneRanking] == nil {
		t.Errorf("built at start: %v", e.panes)
	}
	for _, name := range PaneNames() {
		if err := e.ShowPane(name); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.panes) != builds { // intervals shares the contexts pane
		t.Errorf("%d panes built after showing each, want %d", len(e.panes), builds)
	}
	if err := e.ShowPane("nope"); err == nil || !strings.Contains(err.Error(), "unknown pane") {
		t.Errorf("unknown pane: %v", err)
	}
}
