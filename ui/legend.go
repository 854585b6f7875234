package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// legendWidth is the colour bar's width: narrow enough that the panes'
// control rows fit a 1024-pixel window beside the ranking.
const legendWidth = 96

// Legend shows the colour scale: 0 (white) to its maximum (saturated red).
type Legend struct {
	widget.BaseWidget
	scale float32
	lo    *widget.Label
	hi    *widget.Label
	bar   *canvas.Raster
}

// NewLegend returns a legend with no scale (hidden until SetScale).
func NewLegend() *Legend {
	l := &Legend{lo: widget.NewLabel("0"), hi: widget.NewLabel("")}
	// one pixel column per step of ActivationColour, drawn at any width
	l.bar = canvas.NewRasterWithPixels(func(x, _, w, _ int) color.Color {
		return ActivationColour(float32(x), float32(max(w-1, 1)))
	})
	l.bar.SetMinSize(fyne.NewSize(legendWidth, 14))
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
