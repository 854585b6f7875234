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
// widget.Table's own focusing would work here; in the real window it looks
// up the embedded Table, which no canvas knows, and HeaderTable.Tapped
// must focus (checked under Xvfb: click a selected row, press Down). The
// test runs with a driver that, as the real one, finds a canvas only for
// the objects drawn in it.
func TestRankingClickOnSelectedRowKeepsKeys(t *testing.T) {
	a := test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	w := show(t, p.Content(), 600, 718)
	fyne.SetCurrentApp(treeOnlyApp{App: a, drv: newTreeOnlyDriver(a.Driver(), w)})
	t.Cleanup(func() { fyne.SetCurrentApp(a) })
	if fyne.CurrentApp().Driver().CanvasForObject(&p.Table.Table) != nil {
		t.Fatal("the driver finds a canvas for the embedded table: the test cannot tell the real window's behaviour")
	}
	if fyne.CurrentApp().Driver().CanvasForObject(p.Table) == nil {
		t.Fatal("the driver finds no canvas for the ranking table")
	}
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

// treeOnlyApp is a test app whose driver finds a canvas only for the
// objects in its window's tree, as the desktop driver does (the test
// driver answers the last window's canvas for any object).
type treeOnlyApp struct {
	fyne.App
	drv fyne.Driver
}

func (a treeOnlyApp) Driver() fyne.Driver { return a.drv }

type treeOnlyDriver struct {
	fyne.Driver
	win   fyne.Window
	known map[fyne.CanvasObject]bool // the objects drawn in win
}

// newTreeOnlyDriver records the objects of win's tree, as drawn now.
func newTreeOnlyDriver(d fyne.Driver, win fyne.Window) treeOnlyDriver {
	known := map[fyne.CanvasObject]bool{}
	var walk func(c fyne.CanvasObject)
	walk = func(c fyne.CanvasObject) {
		if c == nil || known[c] || !c.Visible() {
			return
		}
		known[c] = true
		switch x := c.(type) {
		case *fyne.Container:
			for _, k := range x.Objects {
				walk(k)
			}
		case fyne.Widget:
			for _, k := range test.WidgetRenderer(x).Objects() {
				walk(k)
			}
		}
	}
	walk(win.Canvas().Content())
	return treeOnlyDriver{Driver: d, win: win, known: known}
}

func (d treeOnlyDriver) CanvasForObject(o fyne.CanvasObject) fyne.Canvas {
	if !d.known[o] {
		return nil
	}
	return d.win.Canvas()
}
