package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// flowLayout places objects left to right at their minimum size and
// starts a new row where the next one would not fit: a row of chips that
// wraps instead of scrolling out of sight. Its minimum width is the
// widest object's; its minimum height is that of the rows at the width it
// was last laid out at (one row before that).
type flowLayout struct {
	width float32 // the width of the last layout
}

// rows lays objects out in rows of at most width, calling place (when not
// nil) with each object's position and size; it returns the height used.
func (l *flowLayout) rows(objects []fyne.CanvasObject, width float32, place func(o fyne.CanvasObject, pos fyne.Position, size fyne.Size)) float32 {
	pad := theme.Padding()
	var x, y, rowH float32
	for _, o := range objects {
		if !o.Visible() {
			continue
		}
		m := o.MinSize()
		if x > 0 && x+m.Width > width {
			x, y, rowH = 0, y+rowH+pad, 0
		}
		if place != nil {
			place(o, fyne.NewPos(x, y), m)
		}
		x += m.Width + pad
		rowH = max(rowH, m.Height)
	}
	return y + rowH
}

// Layout implements fyne.Layout.
func (l *flowLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	l.width = size.Width
	l.rows(objects, size.Width, func(o fyne.CanvasObject, pos fyne.Position, s fyne.Size) {
		o.Move(pos)
		o.Resize(s)
	})
}

// MinSize implements fyne.Layout.
func (l *flowLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	var w float32
	for _, o := range objects {
		if o.Visible() {
			w = max(w, o.MinSize().Width)
		}
	}
	width := l.width
	if width <= 0 {
		width = float32(1 << 20) // not laid out yet: one row
	}
	return fyne.NewSize(w, l.rows(objects, max(width, w), nil))
}
