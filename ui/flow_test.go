package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
)

// flowLayout wraps its objects into rows of the width given.
func TestFlowLayoutWraps(t *testing.T) {
	test.NewTempApp(t)
	pad := theme.Padding()
	box := func(w, h float32) fyne.CanvasObject {
		r := canvas.NewRectangle(nil)
		r.SetMinSize(fyne.NewSize(w, h))
		return r
	}
	objs := []fyne.CanvasObject{box(100, 20), box(100, 30), box(100, 20), box(180, 20)}
	l := &flowLayout{}
	if m := l.MinSize(objs); m.Width != 180 || m.Height != 30 {
		t.Errorf("before a layout: min %v, want the widest object and one row", m)
	}
	width := 2*100 + pad + 10 // two of 100 fit, not three
	l.Layout(objs, fyne.NewSize(width, 200))
	want := []fyne.Position{{X: 0, Y: 0}, {X: 100 + pad, Y: 0}, {X: 0, Y: 30 + pad}, {X: 0, Y: 30 + pad + 20 + pad}}
	for i, o := range objs {
		if o.Position() != want[i] || o.Size() != o.MinSize() {
			t.Errorf("object %d at %v size %v, want %v at its minimum size", i, o.Position(), o.Size(), want[i])
		}
	}
	if m := l.MinSize(objs); m.Height != 30+pad+20+pad+20 {
		t.Errorf("after a layout %v wide: min height %v, want three rows", width, m.Height)
	}
}

// The compare pane's pin chips wrap onto more rows rather than running
// off its side (issue 20, item 10).
func TestComparePinChipsAllShow(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := newComparePane(v, false)
	show(t, container.NewStack(p.Content()), 640, 700)
	for _, f := range []int{3, 17, 40, 41, 42, 120} {
		if err := v.Bench().Pin(v, f); err != nil {
			t.Fatal(err)
		}
	}
	p.Settle()
	p.Content().Refresh()
	bar := p.PinBar
	if len(bar.Objects) != 6 {
		t.Fatalf("%d chips for 6 pins", len(bar.Objects))
	}
	abs := fyne.CurrentApp().Driver().AbsolutePositionForObject
	// the chips' room: from the pane's left edge to the Pin button
	room := abs(p.PinSelected).X
	for i, o := range bar.Objects {
		if end := abs(o).X + o.Size().Width; end > room+0.5 || o.Size().Width < o.MinSize().Width {
			t.Errorf("chip %d ends at x %.0f, past the Pin button at %.0f (size %v, min %v)", i, end, room, o.Size(), o.MinSize())
		}
	}
	if last := bar.Objects[5]; last.Position().Y+last.Size().Height > bar.Size().Height+0.5 {
		t.Errorf("the last chip's row (y %.0f) is below the bar (height %.0f)", last.Position().Y, bar.Size().Height)
	}
}
