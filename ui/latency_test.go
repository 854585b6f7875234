package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// A selection does not rebuild the contexts while another tab is shown
// (thirty contexts' chips were the dearest part of an arrow key in the
// ranking, issue 20, item 12); they catch up when their tab is shown.
func TestHiddenContextsWaitForTheirTab(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	e := NewExplorer(v)
	show(t, e.Content(), 1280, 800)
	if err := e.ShowPane(PaneContexts); err != nil {
		t.Fatal(err)
	}
	v.Select(3)
	e.Settle()
	c := e.Contexts()
	before := c.Title.Text
	if !strings.Contains(before, "Feature 3 ") {
		t.Fatalf("contexts of feature 3: title %q", before)
	}
	for _, pane := range []string{PaneStatistics, PaneNeuroscope, PaneDetail} {
		e.ShowPane(pane)
		for _, f := range []int{9, 10, 11} {
			v.Select(f)
		}
		e.Settle()
		if c.Title.Text != before {
			t.Errorf("with %s shown, the hidden contexts were redrawn: %q", pane, c.Title.Text)
		}
		v.Select(3)
	}
	v.Select(12)
	e.ShowPane(PaneContexts)
	e.Settle()
	if !strings.Contains(c.Title.Text, "Feature 12 ") {
		t.Errorf("contexts shown again: title %q, want feature 12", c.Title.Text)
	}
}
