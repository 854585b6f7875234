package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

const legendSteps = 24

// Legend shows the colour scale: 0 (white) to its maximum (saturated red).
type Legend struct {
	widget.BaseWidget
	scale float32
	lo    *widget.Label
	hi    *widget.Label
	bar   *fyne.Container
}

// NewLegend returns a legend with no scale (hidden until SetScale).
func NewLegend() *Legend {
	l := &Legend{lo: widget.NewLabel("0"), hi: widget.NewLabel("")}
	var cells []fyne.CanvasObject
	for i := 0; i < legendSteps; i++ {
		r := canvas.NewRectangle(ActivationColour(float32(i), legendSteps-1))
		r.SetMinSize(fyne.NewSize(5, 14))
		cells = append(cells, r)
	}
	l.bar = container.NewGridWithColumns(legendSteps, cells...)
	l.ExtendBaseWidget(l)
	l.Hide()
	return l
}

// SetScale shows the scale 0…max (hidden when max is not positive).
func (l *Legend) SetScale(max float32) {
	l.scale = max
	if !(max > 0) {
		l.Hide()
		return
	}
	l.hi.SetText(fnum(float64(max)))
	l.Show()
}

// Scale returns the maximum shown.
func (l *Legend) Scale() float32 { return l.scale }

// CreateRenderer implements fyne.Widget.
func (l *Legend) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewHBox(l.lo, container.NewCenter(l.bar), l.hi))
}
