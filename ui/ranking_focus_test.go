package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// A click on the ranking row already selected leaves the keyboard on the
// table (issue 20): the focus moved elsewhere in between (a field of
// another pane) comes back to the table, and the arrows go on from that
// row. Fyne's test driver gives every object the window's canvas, so
// widget.Table's own focusing works here; in the real window it looks up
// the embedded Table, which no canvas knows, and HeaderTable.Tapped must
// focus (checked under Xvfb: click a selected row, press Down).
func TestRankingClickOnSelectedRowKeepsKeys(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	w := show(t, p.Content(), 600, 718)
	header := p.Table.Size().Height - tableView(t, p.Table).Size().Height
	_, height, pad := tableRowGeometry(&p.Table.Table)
	tapRow := func(row int) {
		t.Helper()
		test.TapAt(p.Table, fyne.NewPos(colWidths[colRank]+colWidths[colID]/2, header+float32(row)*(height+pad)+height/2))
	}
	tapRow(3)
	if v.Feature() != p.Rows()[3].ID {
		t.Fatalf("tap on row 3 selected %d, not %d", v.Feature(), p.Rows()[3].ID)
	}
	w.Canvas().Focus(p.FindEntry) // the keyboard elsewhere, as after typing in a field
	tapRow(3)                     // the same row again: nothing new to select
	if f := w.Canvas().Focused(); f != p.Table {
		t.Fatalf("after a tap on the selected row the focus is on %T, not the table: the arrows do nothing", f)
	}
	p.Table.TypedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
	if v.Feature() != p.Rows()[4].ID {
		t.Errorf("Down after the tap selected %d, not row 4's %d", v.Feature(), p.Rows()[4].ID)
	}
}
