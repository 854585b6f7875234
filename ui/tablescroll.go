package ui

import (
	"math"
	"reflect"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// HeaderTable is a widget.Table with a sticky header row (ShowHeaderRow)
// whose scrolls to a selected row show that row whole below the header.
//
// Fyne's Table.ScrollTo (through which Table.Select and a tap on a cell
// scroll) adds the header's height to the row's position although the
// scrolled content already starts below the header (still so in Fyne
// 2.8.1; fyne-io/fyne pull request 6505). Every such scroll overshoots by
// a header's height: a row above the view ends up hidden just above it,
// under the header, a row below the view stops a header's height short of
// the bottom, and a tap on a row near the bottom makes the table jump.
// HeaderTable notes the offset before Fyne scrolls and scrolls again from
// there (scrollRowFrom), in the content's own coordinates.
//
// Once a row is selected, the Up and Down arrows, Page Up, Page Down,
// Home and End move the selection (Fyne's arrows move only a focus ring,
// Space then selecting), so a researcher steps through a ranking feature
// by feature from the keyboard; they scroll as Select does.
type HeaderTable struct {
	widget.Table
	sel *widget.TableCellID // the selected cell, as seen through HeaderTable
	// OnSecondaryRow, when set, is called with the row under a secondary
	// tap, a right click (TappedSecondary, steer_entry.go).
	OnSecondaryRow func(row int, e *fyne.PointEvent)
}

// NewHeaderTable returns a table with a header row; set CreateHeader and
// UpdateHeader as for a widget.Table.
func NewHeaderTable(length func() (int, int), create func() fyne.CanvasObject, update func(widget.TableCellID, fyne.CanvasObject)) *HeaderTable {
	t := &HeaderTable{}
	t.Length, t.CreateCell, t.UpdateCell = length, create, update
	t.ShowHeaderRow = true
	t.ExtendBaseWidget(t)
	return t
}

// Select selects the cell id and scrolls the least that shows its row
// whole below the header (not at all when it is in view).
func (t *HeaderTable) Select(id widget.TableCellID) {
	before, ok := tableOffset(&t.Table)
	t.Table.Select(id)
	if t.Length != nil {
		if rows, cols := t.Length(); id.Row >= 0 && id.Row < rows && id.Col >= 0 && id.Col < cols {
			t.sel = &id
		}
	}
	if ok {
		t.scrollRowFrom(before, id.Row)
	}
}

// UnselectAll clears the selection, as widget.Table does.
func (t *HeaderTable) UnselectAll() {
	t.Table.UnselectAll()
	t.sel = nil
}

// Unselect clears the selection of id, as widget.Table does.
func (t *HeaderTable) Unselect(id widget.TableCellID) {
	t.Table.Unselect(id)
	if t.sel != nil && *t.sel == id {
		t.sel = nil
	}
}

// TypedKey moves the selection by a row (Up, Down), a view's worth of rows
// (Page Up, Page Down) or to either end (Home, End) when a row is
// selected; other keys, and every key before a selection, go to
// widget.Table.
func (t *HeaderTable) TypedKey(e *fyne.KeyEvent) {
	if t.sel == nil || t.Length == nil {
		t.Table.TypedKey(e)
		return
	}
	rows, _ := t.Length()
	row := t.sel.Row
	switch e.Name {
	case fyne.KeyUp:
		row--
	case fyne.KeyDown:
		row++
	case fyne.KeyPageUp:
		row -= t.rowsPerView()
	case fyne.KeyPageDown:
		row += t.rowsPerView()
	case fyne.KeyHome:
		row = 0
	case fyne.KeyEnd:
		row = rows - 1
	default:
		t.Table.TypedKey(e)
		return
	}
	row = max(0, min(row, rows-1))
	if row != t.sel.Row {
		t.Select(widget.TableCellID{Row: row, Col: t.sel.Col})
	}
}

// rowsPerView is how many whole rows the view below the header shows, at
// least 1.
func (t *HeaderTable) rowsPerView() int {
	header, height, pad := tableRowGeometry(&t.Table)
	if height <= 0 {
		return 1
	}
	return max(1, int((t.Size().Height-header+pad)/(height+pad)))
}

// ScrollTo scrolls the least that shows the cell id, its row whole below
// the header.
func (t *HeaderTable) ScrollTo(id widget.TableCellID) {
	before, ok := tableOffset(&t.Table)
	t.Table.ScrollTo(id)
	if ok {
		t.scrollRowFrom(before, id.Row)
	}
}

// Tapped selects the cell tapped, as widget.Table does, and scrolls as
// Select does: a tap on a row in view never moves the table, a tap on
// the row half hidden under the header shows it whole.
func (t *HeaderTable) Tapped(e *fyne.PointEvent) {
	before, ok := tableOffset(&t.Table)
	row := -1
	onSelected := t.OnSelected
	t.OnSelected = func(id widget.TableCellID) {
		row = id.Row
		t.sel = &id
		t.OnSelected = onSelected // the handler may select again
		if onSelected != nil {
			onSelected(id)
		}
	}
	t.Table.Tapped(e)
	t.OnSelected = onSelected
	// widget.Table focuses itself on a tap by looking up its canvas with
	// the embedded Table, which the canvas does not know (it knows
	// HeaderTable): focus the HeaderTable, or the keys never arrive. A tap
	// on the row already selected selects nothing new but focuses the
	// table all the same: the arrows go on from that row.
	inside := e.Position.X >= 0 && e.Position.Y >= 0 && e.Position.X < t.Size().Width && e.Position.Y < t.Size().Height
	if (row >= 0 || inside && t.sel != nil) && !fyne.CurrentDevice().IsMobile() {
		if c := fyne.CurrentApp().Driver().CanvasForObject(t); c != nil {
			c.Focus(t)
		}
	}
	if ok && row >= 0 {
		t.scrollRowFrom(before, row)
	}
}

// tableOffset returns t's scroll offset. widget.Table has no getter for
// it, so it is read (never written) by reflection; ok is false where a
// Fyne version no longer has the field, and the caller then leaves the
// table as Fyne scrolled it.
func tableOffset(t *widget.Table) (off fyne.Position, ok bool) {
	f := reflect.ValueOf(t).Elem().FieldByName("offset")
	if !f.IsValid() || f.Type() != reflect.TypeFor[fyne.Position]() {
		return fyne.Position{}, false
	}
	return fyne.NewPos(float32(f.Field(0).Float()), float32(f.Field(1).Float())), true
}

// tableRowGeometry returns the height of t's header row and the height of
// its rows, as widget.Table sizes them: each row as tall as the larger of
// the cell template and the header (HeaderTable leaves SetRowHeight
// alone), with the theme's padding between rows.
func tableRowGeometry(t *widget.Table) (header, row, pad float32) {
	if t.ShowHeaderRow {
		if t.CreateHeader != nil {
			header = t.CreateHeader().MinSize().Height
		} else { // Fyne's default header
			l := widget.NewLabel("00")
			l.TextStyle.Bold = true
			header = l.MinSize().Height
		}
	}
	if t.CreateCell != nil {
		row = t.CreateCell().MinSize().Height
	}
	return header, max(row, header), t.Theme().Size(theme.SizeNamePadding)
}

// scrollRowFrom scrolls t vertically, from the offset before (the one
// before Fyne's own scroll), the least that shows row whole below the
// header: a row in view stays where it was; a row scrolled to from below
// is shown at the bottom with the top of the view on a row boundary, so
// no half-clipped row sits under the header. The horizontal offset is
// Fyne's. It does nothing before t is laid out.
func (t *HeaderTable) scrollRowFrom(before fyne.Position, row int) {
	if t.Length == nil || row < 0 {
		return
	}
	if rows, _ := t.Length(); row >= rows {
		return
	}
	now, ok := tableOffset(&t.Table)
	if !ok {
		return
	}
	header, height, pad := tableRowGeometry(&t.Table)
	pitch := height + pad
	view := t.Size().Height - header
	if height <= 0 || view <= 0 {
		return
	}
	const eps = 0.5 // px: float sums of row heights
	top := float32(row) * pitch
	y := before.Y
	switch {
	case top < before.Y-eps:
		y = top
	case top+height > before.Y+view+eps:
		y = float32(math.Ceil(float64((top+height-view)/pitch)-1e-4)) * pitch
		y = min(y, top)
	}
	if y != now.Y {
		t.ScrollToOffset(fyne.NewPos(now.X, y))
	}
}
