package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// addToSteer puts feature f of v in the Steer list (the feature header's
// Steer button, the ranking's menu) and says so in the status line.
func addToSteer(v *View, f int) {
	set := v.Bench().Steer()
	if err := set.Add(v, f); err != nil {
		v.Message(err.Error())
		return
	}
	fs := set.Features()
	coeff := fmt.Sprintf("its maximum activation, %s,", fmtCoeff(fs[len(fs)-1].Coeff))
	if v.Store() == nil {
		coeff = "1 (no analysis yet to take its maximum activation from)"
	}
	v.Message(fmt.Sprintf("Feature %d of %s added to the Steer list (%s now), with %s as coefficient: see the Steer tab.",
		f, v.Name(), nOf(len(fs), "feature"), coeff))
}

// TappedSecondary calls OnSecondaryRow with the row under the pointer
// (none for the header row).
func (t *HeaderTable) TappedSecondary(e *fyne.PointEvent) {
	if row, ok := t.RowAt(e.Position); ok && t.OnSecondaryRow != nil {
		t.OnSecondaryRow(row, e)
	}
}

// RowAt is the row drawn at pos (in the table's coordinates); false for
// the header row, below the last row, or before the table is laid out.
func (t *HeaderTable) RowAt(pos fyne.Position) (int, bool) {
	if t.Length == nil {
		return 0, false
	}
	off, ok := tableOffset(&t.Table)
	if !ok {
		return 0, false
	}
	header, height, pad := tableRowGeometry(&t.Table)
	y := pos.Y - header
	if y < 0 || height <= 0 {
		return 0, false
	}
	row := int((y + off.Y) / (height + pad))
	if rows, _ := t.Length(); row >= rows {
		return 0, false
	}
	return row, true
}

// rowMenuAt opens the menu of the ranking's row at a right click.
func (p *RankingPane) rowMenuAt(row int, e *fyne.PointEvent) {
	if row < 0 || row >= len(p.rows) {
		return
	}
	cv := fyne.CurrentApp().Driver().CanvasForObject(p.Table)
	if cv == nil {
		return
	}
	widget.ShowPopUpMenuAtPosition(p.RowMenu(p.rows[row].ID), cv, e.AbsolutePosition)
}

// RowMenu is the menu of feature f's row in the ranking.
func (p *RankingPane) RowMenu(f int) *fyne.Menu {
	v := p.v
	pin := fyne.NewMenuItem("Pin for comparison", func() {
		if err := v.Bench().Pin(v, f); err != nil {
			v.Message(err.Error())
			return
		}
		v.Message(fmt.Sprintf("Feature %d of %s pinned: %d pinned, side by side in the Compare tab.", f, v.Name(), len(v.Bench().Pins())))
	})
	if v.Bench().Pinned(v, f) {
		pin = fyne.NewMenuItem("Unpin", func() { v.Bench().Unpin(v, f) })
	}
	steer := fyne.NewMenuItem("Steer", func() { addToSteer(v, f) })
	if v.Bench().Steer().Has(v, f) {
		steer.Disabled = true
		steer.Label = "Steer (in the list)"
	}
	return fyne.NewMenu(fmt.Sprintf("Feature %d", f),
		fyne.NewMenuItem(fmt.Sprintf("Select feature %d", f), func() { p.selectFeature(f) }),
		pin, steer)
}
