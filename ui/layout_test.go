package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// The explorer's layout does not depend on the pane shown before: the
// tab strip stays at the top of the right half for every pane, and a
// whole-SAE pane (statistics, compare) fills everything under it, with
// no band left where the feature header was, whether it is shown first
// or reached through Contexts, Detail or the neuroscope (issue 20,
// item 1).
func TestExplorerLayoutIndependentOfPreviousPane(t *testing.T) {
	test.NewTempApp(t)
	type box struct{ x, y, w, h float32 }
	where := func(o fyne.CanvasObject) box {
		p := fyne.CurrentApp().Driver().AbsolutePositionForObject(o)
		return box{p.X, p.Y, o.Size().Width, o.Size().Height}
	}
	// maxStrip is the most a tab strip and its padding take above a pane.
	const maxStrip = 60
	for _, pane := range []string{PaneStatistics, PaneCompare, PaneContexts, PaneDetail} {
		for _, via := range []string{"", PaneContexts, PaneDetail, PaneNeuroscope, PaneStatistics} {
			e := NewExplorer(newTestView(t))
			show(t, e.Content(), 1280, 800)
			for _, p := range []string{via, pane} {
				if p == "" {
					continue
				}
				if err := e.ShowPane(p); err != nil {
					t.Fatal(err)
				}
				e.Settle()
			}
			right, strip, got := where(e.Split.Trailing), where(e.Tabs), where(e.pane(pane).Content())
			name := pane + " through " + via
			if via == "" {
				name = pane + " shown first"
			}
			if strip.y != right.y {
				t.Errorf("%s: tab strip at y %v, %v below the top of the right half", name, strip.y, strip.y-right.y)
			}
			if bottom := got.y + got.h; bottom < right.y+right.h-10 {
				t.Errorf("%s: the pane ends at y %v, the right half at %v", name, bottom, right.y+right.h)
			}
			whole := pane == PaneStatistics || pane == PaneCompare
			if whole && got.y-right.y > maxStrip {
				t.Errorf("%s: the pane starts %v px under the top of the right half (a band above it)", name, got.y-right.y)
			}
			if !whole && got.y-right.y < maxStrip+50 {
				t.Errorf("%s: the pane starts %v px under the top, no room for the feature header", name, got.y-right.y)
			}
		}
	}
}
