package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// View › Theme ticks the theme in use, and follows a change.
func TestThemeMenuTicksTheCurrentTheme(t *testing.T) {
	a := test.NewTempApp(t)
	ApplyTheme(a, ThemeDark)
	s := NewShell(a, "test", testBackend)
	ticked := func() []string {
		var out []string
		for _, it := range s.themeMenu.Items {
			if it.Checked {
				out = append(out, it.Label)
			}
		}
		return out
	}
	if got := ticked(); len(got) != 1 || got[0] != "Dark" {
		t.Errorf("dark theme applied: ticked %v", got)
	}
	s.SetTheme(ThemeLight)
	if got := ticked(); len(got) != 1 || got[0] != "Light" {
		t.Errorf("after choosing light: ticked %v", got)
	}
}

// At 1280×800 the ranking's columns, Label included, fit its share of the
// window beside every pane (issue 20, item 10): no column ends behind the
// split by default.
func TestRankingColumnsFitAt1280(t *testing.T) {
	a := test.NewTempApp(t)
	_, e := openFixture(t, a, 1280, 800, false)
	var total float32
	for _, w := range colWidths {
		total += w
	}
	for _, pane := range PaneNames() {
		if err := e.ShowPane(pane); err != nil {
			t.Fatal(err)
		}
		e.Settle()
		e.Split.Refresh() // as the window does when a pane's minimum size changes
		if w := e.Ranking.Table.Size().Width; total > w {
			t.Errorf("%s shown: the columns take %.0f px, the table has %.0f", pane, total, w)
		}
	}
}

// The window's width does not follow a long workspace title (the
// workspace bar's header, an accordion title, cannot wrap); with a
// workspace open it fits 1024 pixels beside every pane (issue 20, item
// 10: --size 1024x700 gave a window 1133 wide with the demo).
func TestWindowWidthFits1024(t *testing.T) {
	a := test.NewTempApp(t)
	s, e := openFixture(t, a, 1024, 700, false)
	e.View.Select(3)
	s.spec.Corpus = "/corpora/" + strings.Repeat("a-long-corpus-name-", 10) + ".txt"
	s.updateTitle()
	if r := []rune(s.BarItem.Title); len(r) > barTitleRunes+len("Workspace: ") {
		t.Errorf("the workspace bar's title has %d characters", len(r))
	}
	for _, pane := range PaneNames() {
		if err := e.ShowPane(pane); err != nil {
			t.Fatal(err)
		}
		e.Settle()
		if w := s.Window.Content().MinSize().Width; w > 1024 {
			t.Errorf("%s shown: the window needs %.0f px of width", pane, w)
		}
	}
}

func TestShorten(t *testing.T) {
	if got := shorten("abcdef", 4); got != "abc…" {
		t.Errorf("shorten: %q", got)
	}
	if got := shorten("abc", 4); got != "abc" {
		t.Errorf("shorten of a short string: %q", got)
	}
}

// The divider between the ranking and the panes stays where it is when
// another pane is shown (issue 20, item 10: Patch and Detail, wider than
// their share of 1280 pixels, pushed it left), and the window fits
// 1024×700 beside every pane: a pane larger than its share scrolls.
func TestSplitStaysAndWindowFits1024x700(t *testing.T) {
	if testing.Short() {
		t.Skip("layout with an analysed workspace: the plain test pass runs it (the race pass is -short)")
	}
	a := test.NewTempApp(t)
	ApplyTheme(a, ThemeDark) // the window's sizes, not the test theme's
	s, e := openFixture(t, a, 1280, 800, true)
	// with a feature selected: its header, colour scale and contexts shown
	if len(e.Ranking.Rows()) == 0 {
		t.Fatal("no analysis: no feature to select")
	}
	if err := e.View.Select(e.Ranking.Rows()[0].ID); err != nil {
		t.Fatal(err)
	}
	var first float32
	for i, pane := range PaneNames() {
		if err := e.ShowPane(pane); err != nil {
			t.Fatal(err)
		}
		e.Settle()
		e.Split.Refresh() // as the window does when a pane's minimum size changes
		w := e.Ranking.Content().Size().Width
		if i == 0 {
			first = w
		} else if w != first {
			t.Errorf("%s shown: the ranking is %.0f px wide, %.0f beside the ranking pane", pane, w, first)
		}
		// at 1280×800 the pane fits its place: nothing scrolls
		if m, got := e.scroll.Content.MinSize(), e.scroll.Size(); m.Width > got.Width || m.Height > got.Height {
			t.Errorf("%s shown: the pane needs %.0f×%.0f, it has %.0f×%.0f at 1280×800", pane, m.Width, m.Height, got.Width, got.Height)
		}
		if m := s.Window.Content().MinSize(); m.Width > 1024 || m.Height > 700 {
			t.Errorf("%s shown: the window needs %.0f×%.0f", pane, m.Width, m.Height)
		}
	}
}

// visibleRows is how many whole rows of l its height shows.
func visibleRows(l *widget.List) int {
	row := l.CreateItem().MinSize().Height
	return int((l.Size().Height + theme.Padding()) / (row + theme.Padding()))
}

// Detail's boosted and suppressed lists show at least 8 rows each at
// 1280×800 beside the logit-weight histogram (issue 20, item 10: none
// after the histogram was added), the neighbours 8 (7 in another SAE,
// under its picker), and the "Nearest in" picker is on screen whole.
func TestDetailListsReadableAt1280(t *testing.T) {
	a := test.NewTempApp(t)
	s, e := openFixture(t, a, 1280, 800, false)
	if err := e.ShowPane(PaneDetail); err != nil {
		t.Fatal(err)
	}
	e.Settle()
	p := e.Detail()
	for _, l := range []*pickList{p.Boosted, p.Suppressed} {
		if n := visibleRows(l.List); n < 8 {
			t.Errorf("%s shows %d rows (%.0f px high)", l.Title.Text, n, l.List.Size().Height)
		}
	}
	p.ListTabs.SelectIndex(1)
	for _, l := range []*pickList{p.Nearest, p.CoAct} {
		if n := visibleRows(l.List); n < 8 {
			t.Errorf("%s shows %d rows (%.0f px high)", l.Title.Text, n, l.List.Size().Height)
		}
	}
	// the other SAE's list gives a line to its picker
	p.ListTabs.SelectIndex(2)
	if n := visibleRows(p.Other.List); n < 7 {
		t.Errorf("%s shows %d rows (%.0f px high)", p.Other.Title.Text, n, p.Other.List.Size().Height)
	}
	win := s.Window.Canvas().Size()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(p.OtherSAE)
	if sz := p.OtherSAE.Size(); pos.X < 0 || pos.Y < 0 || pos.X+sz.Width > win.Width || pos.Y+sz.Height > win.Height || sz.Height < p.OtherSAE.MinSize().Height {
		t.Errorf("the Nearest in picker is at %v, %v in a %v window", pos, sz, win)
	}
}

// Elicitation's ten results all show at 1280×800, the table's own scroll
// unused (issue 20, item 10: 4 or 5 of 10 showed).
func TestElicitResultsAllShownAt1280(t *testing.T) {
	a := test.NewTempApp(t)
	_, e := openFixture(t, a, 1280, 800, false)
	if err := e.ShowPane(PaneElicitation); err != nil {
		t.Fatal(err)
	}
	p := e.Elicit()
	n := ExampleAskNotPos
	p.Example(ExampleAskNot, &n)
	e.Settle()
	if len(p.Top()) != 10 {
		t.Fatalf("%d results, want the default 10", len(p.Top()))
	}
	header, height, pad := tableRowGeometry(&p.Results.Table)
	if shown := int((p.Results.Size().Height - header + pad) / (height + pad)); shown < len(p.Top()) {
		t.Errorf("%d of %d results show (the table is %.0f px high)", shown, len(p.Top()), p.Results.Size().Height)
	}
}

// At 1280×800 every pane's tab shows in the strip: none is left in the
// strip's "…" menu (Flow and Graph were, with the theme's tab padding).
func TestPaneTabsAllShownAt1280(t *testing.T) {
	a := test.NewTempApp(t)
	ApplyTheme(a, ThemeDark) // the window's sizes, not the test theme's
	s, e := openFixture(t, a, 1280, 800, false)
	if len(e.Tabs.Items) < 10 {
		t.Fatalf("%d pane tabs, want the ten of the pane table", len(e.Tabs.Items))
	}
	more := theme.MoreHorizontalIcon().Name()
	var overflow []*widget.Button
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Icon != nil && b.Icon.Name() == more {
			overflow = append(overflow, b)
		}
		if c, ok := o.(*fyne.Container); ok {
			for _, o := range c.Objects {
				walk(o)
			}
		}
	}
	for _, o := range test.WidgetRenderer(e.Tabs).Objects() {
		walk(o)
	}
	if len(overflow) == 0 {
		t.Fatal("the tab strip's overflow button was not found: the test no longer sees the strip")
	}
	for _, b := range overflow {
		if b.Visible() {
			t.Errorf("the tab strip's overflow button shows at 1280×800: some pane tabs are hidden (strip %.0f px wide)", e.Tabs.Size().Width)
		}
	}
	// and it shows when the strip is too narrow: the check above can fail
	s.Window.Resize(fyne.NewSize(900, 800))
	e.Split.Refresh()
	e.Tabs.Refresh()
	shown := false
	for _, b := range overflow {
		shown = shown || b.Visible()
	}
	if !shown {
		t.Errorf("at 900×800 (strip %.0f px) the overflow button is hidden too", e.Tabs.Size().Width)
	}
}

// Compare with three and four pins fits the pane's width at 1280×800:
// the columns stack each feature's boosted and suppressed tokens rather
// than pushing the last column, "Unpin all" and the plot off the side.
func TestComparePinsFitAt1280(t *testing.T) {
	if testing.Short() {
		t.Skip("layout with an analysed workspace: the plain test pass runs it (the race pass is -short)")
	}
	a := test.NewTempApp(t)
	ApplyTheme(a, ThemeDark)
	_, e := openFixture(t, a, 1280, 800, true)
	if err := e.ShowPane(PaneCompare); err != nil {
		t.Fatal(err)
	}
	live := e.Ranking.Rows()
	if len(live) < 4 {
		t.Fatalf("%d live features: too few to pin four", len(live))
	}
	for n, st := range live[:4] {
		f := st.ID
		if err := e.View.Bench().Pin(e.View, f); err != nil {
			t.Fatal(err)
		}
		e.Settle()
		e.Split.Refresh()
		cp := e.Compare()
		if len(cp.Cards) != n+1 {
			t.Fatalf("%d pins, %d columns", n+1, len(cp.Cards))
		}
		if m, got := e.scroll.Content.MinSize(), e.scroll.Size(); m.Width > got.Width {
			t.Errorf("%d pins: Compare needs %.0f px (its columns %.0f, its pins' bar %.0f), it has %.0f at 1280×800",
				n+1, m.Width, cp.Columns.MinSize().Width, cp.PinBar.MinSize().Width, got.Width)
		}
	}
}
