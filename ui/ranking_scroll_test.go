package ui

import (
	"strconv"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/ui/labels"
)

// tableView returns the scrolled part of the table (below its header).
func tableView(t *testing.T, tb *HeaderTable) *container.Scroll {
	t.Helper()
	for _, o := range test.WidgetRenderer(tb).Objects() {
		if s, ok := o.(*container.Scroll); ok {
			return s
		}
	}
	t.Fatal("the table has no scrolled content")
	return nil
}

// cellAt returns the cell drawn in column col whose label's text is
// text (its place and size are the cell's), and that label; nil when none
// is drawn.
func cellAt(t *testing.T, tb *HeaderTable, col int, text string) (fyne.CanvasObject, *widget.Label) {
	t.Helper()
	x := float32(0)
	for c := 0; c < col; c++ {
		x += colWidths[c] + tb.Theme().Size(theme.SizeNamePadding)
	}
	if col == colLabel { // any x past the numeric columns
		x = -1
	}
	cells := tableView(t, tb).Content.(fyne.Widget)
	for _, o := range test.WidgetRenderer(cells).Objects() {
		l, ok := o.(*widget.Label)
		if w, isOverride := o.(*container.ThemeOverride); isOverride {
			l, ok = w.Content.(*widget.Label)
		}
		if ok && o.Visible() && l.Text == text && (x < 0 || o.Position().X == x) {
			return o, l
		}
	}
	return nil, nil
}

// rowInView returns where the table draws row (by its rank cell): its top
// and bottom in the view below the header, and the view's height.
func rowInView(t *testing.T, p *RankingPane, row int) (top, bottom, view float32) {
	t.Helper()
	sc := tableView(t, p.Table)
	l, _ := cellAt(t, p.Table, colRank, strconv.Itoa(p.Ranks()[row]))
	if l == nil {
		t.Fatalf("row %d is not drawn (offset %v)", row, sc.Offset)
	}
	top = l.Position().Y - sc.Offset.Y
	return top, top + l.Size().Height, sc.Size().Height
}

// TestRankingRowsScrollWholeUnderHeader checks that the header is Fyne's
// sticky header row (not a data row) and that selecting a feature, from
// the table or elsewhere, shows its row whole below the header, with no
// half-clipped row under the header after a jump: Fyne's own ScrollTo
// overshoots by the header's height.
func TestRankingRowsScrollWholeUnderHeader(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	// 18 px taller than the first version of this test: the status line
	// wraps over two lines at this width since it says which rows show;
	// the table's view keeps its height (a half row at its bottom)
	w := show(t, p.Content(), 600, 718)
	p.Content().Refresh() // lay the wrapped status line out at its width
	if rows, _ := p.length(); !p.Table.ShowHeaderRow || rows != len(p.Rows()) {
		t.Fatalf("header row %v, %d table rows for %d features", p.Table.ShowHeaderRow, rows, len(p.Rows()))
	}
	_, height, pad := tableRowGeometry(&p.Table.Table)
	pitch := height + pad
	n := len(p.Rows())
	if n < 200 {
		t.Fatalf("%d rows: too few to scroll", n)
	}
	sc := tableView(t, p.Table)
	whole := func(what string, row int) {
		t.Helper()
		top, bottom, view := rowInView(t, p, row)
		if top < -0.5 || bottom > view+0.5 {
			t.Errorf("%s: row %d drawn at %.1f..%.1f of a %.1f view (offset %v)", what, row, top, bottom, view, sc.Offset)
		}
		if bottom-top != height {
			t.Errorf("%s: row %d is %.1f high, the template %.1f", what, row, bottom-top, height)
		}
	}
	aligned := func(what string) {
		t.Helper()
		end := sc.Content.MinSize().Height - sc.Size().Height // scrolled to the bottom
		k := sc.Offset.Y / pitch
		if k != float32(int(k)) && sc.Offset.Y < end-0.5 {
			t.Errorf("%s: offset %v is not on a row boundary (rows %.1f high): a clipped row under the header", what, sc.Offset, pitch)
		}
	}
	// jumps down, up (where Fyne hides the row under the header), and to
	// both ends
	for _, row := range []int{n / 2, n/2 - 60, n/2 - 61, n - 1, 0, n / 3} {
		if err := v.Select(p.Rows()[row].ID); err != nil {
			t.Fatal(err)
		}
		what := "select row " + strconv.Itoa(row)
		whole(what, row)
		aligned(what)
	}
	// a row in view does not move
	first := int(sc.Offset.Y/pitch) + 1
	before := sc.Offset
	for _, row := range []int{first, first + 10} {
		if err := v.Select(p.Rows()[row].ID); err != nil {
			t.Fatal(err)
		}
		if sc.Offset != before {
			t.Errorf("selecting row %d in view scrolled from %v to %v", row, before, sc.Offset)
		}
	}

	// taps: the wheel leaves a row half under the header
	header := p.Table.Size().Height - sc.Size().Height
	p.Table.ScrollToOffset(fyne.NewPos(0, 40*pitch+height/2))
	tap := func(y float32) {
		t.Helper()
		test.TapAt(p.Table, fyne.NewPos(colWidths[colRank]+colWidths[colID]/2, header+y))
	}
	tap(2) // on the visible half of row 40
	if v.Feature() != p.Rows()[40].ID {
		t.Fatalf("tap on the half-hidden row selected %d, not %d", v.Feature(), p.Rows()[40].ID)
	}
	whole("tap on the half-hidden row", 40)
	if f := w.Canvas().Focused(); f != p.Table {
		t.Errorf("after a tap the focus is on %T, not the table: the keys would not reach it", f)
	}
	aligned("tap on the half-hidden row")
	// a row in view, near the bottom (where Fyne scrolls by the header's
	// height): the table does not move
	before = sc.Offset
	last := 40 + int((sc.Size().Height-height)/pitch) // the last whole row
	tap(float32(last-40)*pitch + height/2)
	if v.Feature() != p.Rows()[last].ID || sc.Offset != before {
		t.Errorf("tap on row %d in view: feature %d, offset %v → %v", last, v.Feature(), before, sc.Offset)
	}
	// the row half shown at the bottom scrolls in whole
	tap(float32(last+1-40)*pitch + 2)
	if v.Feature() != p.Rows()[last+1].ID {
		t.Fatalf("tap on the bottom row selected %d", v.Feature())
	}
	whole("tap on the bottom row", last+1)
	aligned("tap on the bottom row")

	// the keyboard: once a row is selected, the arrows, Page Up/Down,
	// Home and End move the selection, each row shown whole
	if err := v.Select(p.Rows()[100].ID); err != nil {
		t.Fatal(err)
	}
	page := int((sc.Size().Height + pad) / pitch)
	for _, k := range []struct {
		key fyne.KeyName
		row int
	}{
		{fyne.KeyDown, 101}, {fyne.KeyDown, 102}, {fyne.KeyUp, 101}, {fyne.KeyPageDown, 101 + page},
		{fyne.KeyPageUp, 101}, {fyne.KeyEnd, n - 1}, {fyne.KeyDown, n - 1}, {fyne.KeyHome, 0}, {fyne.KeyUp, 0},
	} {
		p.Table.TypedKey(&fyne.KeyEvent{Name: k.key})
		if v.Feature() != p.Rows()[k.row].ID {
			t.Fatalf("%s: feature %d selected, want row %d's %d", k.key, v.Feature(), k.row, p.Rows()[k.row].ID)
		}
		whole(string(k.key), k.row)
		aligned(string(k.key))
	}
	p.Table.UnselectAll()
	p.Table.TypedKey(&fyne.KeyEvent{Name: fyne.KeyDown}) // Fyne's focus ring: no selection
	if v.Feature() != p.Rows()[0].ID {
		t.Errorf("Down without a selection changed the feature to %d", v.Feature())
	}

	// a table not yet laid out is left alone (no panic)
	w.Resize(fyne.NewSize(600, 1))
	if err := v.Select(p.Rows()[n/2].ID); err != nil {
		t.Fatal(err)
	}
}

// TestRankingLabelColumnFitsLabels checks that the label column widens to
// the longest label shown, up to maxLabelWidth, and narrows back.
func TestRankingLabelColumnFitsLabels(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	show(t, p.Content(), 600, 700)
	defer v.FlushLabels() // the label book writes on a goroutine
	if p.labelWidth != colWidths[colLabel] {
		t.Fatalf("label column %.0f wide without labels", p.labelWidth)
	}
	f := p.Rows()[2].ID
	long := "references to legal proceedings and court documents"
	v.SetEntry(f, labels.Entry{Label: long})
	if err := v.Select(f); err != nil {
		t.Fatal(err)
	}
	c, l := cellAt(t, p.Table, colLabel, long)
	if l == nil {
		t.Fatal("the label is not drawn")
	}
	if !l.TextStyle.Bold || c.Size().Width < l.MinSize().Width || c.Size().Width > maxLabelWidth {
		t.Errorf("label cell %.1f wide (bold %v), the label needs %.1f", c.Size().Width, l.TextStyle.Bold, l.MinSize().Width)
	}
	// a very long label: the column stops at maxLabelWidth
	other := p.Rows()[5].ID
	v.SetEntry(other, labels.Entry{Label: strings.Repeat("very long label ", 40)})
	if p.labelWidth != maxLabelWidth {
		t.Errorf("label column %.0f wide for a very long label, want %d", p.labelWidth, maxLabelWidth)
	}
	// only the rows shown count
	p.FindEntry.SetText("legal")
	p.Find()
	if len(p.Rows()) != 1 || p.labelWidth != p.labelCellWidth(long) {
		t.Errorf("%d rows found, label column %.1f, want %.1f", len(p.Rows()), p.labelWidth, p.labelCellWidth(long))
	}
	v.SetEntry(f, labels.Entry{})
	v.SetEntry(other, labels.Entry{})
	p.ShowAll()
	if p.labelWidth != colWidths[colLabel] {
		t.Errorf("label column %.0f wide once the labels are gone", p.labelWidth)
	}
}
