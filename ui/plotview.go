package ui

import (
	"context"
	"fmt"
	"image"
	"io"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"gonum.org/v1/plot/vg"

	"github.com/saescope/saescope/ui/plots"
)

// PlotDrawn describes a plot just shown by a PlotView.
type PlotDrawn struct {
	Fig    *plots.Figure // nil when the source failed
	Err    error         // the source's error
	Built  bool          // the figure was built anew (not only redrawn at a new size)
	Build  time.Duration // building the figure (store query and binning)
	Render time.Duration // rasterising it
	Since  time.Duration // from the request (the change that caused it) to the image set
}

// PlotView shows a gonum plot drawn off the UI thread at its own size and
// the window's scale, in the theme's colours. Its figure comes from a
// source function (a store query and binning) given with SetSource; a new
// source, a resize or a theme change draws it again, the newest request
// winning. Exports build the figure anew in the light style, at the
// standard size.
type PlotView struct {
	widget.BaseWidget

	// OnDrawn runs on the UI thread each time a plot (or a source's error)
	// is shown.
	OnDrawn func(PlotDrawn)
	// Name is the stem of exported files' suggested names.
	Name string

	v      *View
	img    *canvas.Image
	note   *widget.Label
	runner *latest[plotRequest]

	source func() (*plots.Figure, error)
	gen    int
	fig    *plots.Figure // shown
	err    error
	last   plotRequest // the latest request's geometry and style

	// worker side (one run at a time)
	wgen   int
	wfig   *plots.Figure
	werr   error
	wstyle plots.Style
	wbuild time.Duration
}

type plotRequest struct {
	gen    int
	source func() (*plots.Figure, error)
	w, h   float32
	scale  float32
	style  plots.Style
	t0     time.Time
}

// minPlotSize is the smallest a plot is drawn.
var minPlotSize = fyne.NewSize(240, 140)

// A plot smaller than fullSize is drawn with its text shrunk, down to
// minZoom.
var fullSize = fyne.NewSize(640, 380)

const minZoom = 0.72

// NewPlotView returns an empty plot view of v's plots (v runs its jobs
// and exports).
func NewPlotView(v *View) *PlotView {
	pv := &PlotView{v: v, img: canvas.NewImageFromImage(nil), note: widget.NewLabel("")}
	pv.img.FillMode = canvas.ImageFillContain
	pv.img.ScaleMode = canvas.ImageScaleSmooth
	pv.note.Wrapping = fyne.TextWrapWord
	pv.note.Alignment = fyne.TextAlignCenter
	pv.note.Hide()
	pv.runner = newLatest(v.Jobs, pv.run)
	pv.ExtendBaseWidget(pv)
	return pv
}

// SetSource shows the figure source builds (off the UI thread; source
// must not touch widgets). t0 is when the change that calls for it
// happened (for the timing).
func (pv *PlotView) SetSource(source func() (*plots.Figure, error), t0 time.Time) {
	pv.gen++
	pv.source = source
	pv.request(t0, true)
}

// SetMessage clears the plot and shows text in its place.
func (pv *PlotView) SetMessage(text string) {
	pv.gen++
	pv.source = nil
	pv.runner.Drop()
	pv.fig, pv.err = nil, nil
	pv.img.Image = nil
	pv.img.Refresh()
	pv.note.SetText(text)
	pv.note.Show()
}

// Figure returns the figure shown (nil when none).
func (pv *PlotView) Figure() *plots.Figure { return pv.fig }

// Err returns the error of the source shown, if it failed.
func (pv *PlotView) Err() error { return pv.err }

// Image returns the image shown (nil when none).
func (pv *PlotView) Image() image.Image { return pv.img.Image }

// Message returns the text shown instead of a plot ("" when a plot is
// shown).
func (pv *PlotView) Message() string {
	if !pv.note.Visible() {
		return ""
	}
	return pv.note.Text
}

// Settle waits until the plot requested is drawn (tests, measurements).
func (pv *PlotView) Settle() { pv.runner.Settle() }

// themeStyle is the plot style of the current theme.
func themeStyle() plots.Style {
	return plots.Style{Background: theme.Color(theme.ColorNameBackground), Foreground: theme.Color(theme.ColorNameForeground)}
}

// request asks for the current source at the current size and style;
// always forces a request even when nothing changed.
func (pv *PlotView) request(t0 time.Time, always bool) {
	if pv.source == nil {
		return
	}
	size := pv.Size()
	scale := float32(1)
	if a := fyne.CurrentApp(); a != nil {
		if c := a.Driver().CanvasForObject(pv); c != nil && c.Scale() > 0 {
			scale = c.Scale()
		}
	}
	r := plotRequest{gen: pv.gen, source: pv.source, w: max(size.Width, minPlotSize.Width), h: max(size.Height, minPlotSize.Height),
		scale: scale, style: themeStyle(), t0: t0}
	if !always && r.gen == pv.last.gen && r.w == pv.last.w && r.h == pv.last.h && r.scale == pv.last.scale && r.style == pv.last.style {
		return
	}
	pv.last = r
	pv.runner.Request(r)
}

// run builds (when the source is new) and draws a figure, off the UI
// thread.
func (pv *PlotView) run(_ context.Context, r plotRequest) func() {
	built := false
	if r.gen != pv.wgen {
		t := time.Now()
		pv.wfig, pv.werr = r.source()
		pv.wbuild = time.Since(t)
		pv.wgen, pv.wstyle, built = r.gen, plots.LightStyle, true
	}
	fig, err := pv.wfig, pv.werr
	var img image.Image
	var render time.Duration
	if err == nil && fig != nil {
		if pv.wstyle != r.style {
			fig.SetStyle(r.style)
			pv.wstyle = r.style
		}
		// A small plot is drawn as a larger one shrunk (its text too), so
		// that the labels leave room for the bars.
		zoom := min(1, max(minZoom, min(r.w/fullSize.Width, r.h/fullSize.Height)))
		t := time.Now()
		img = plots.ImageDPI(fig.Plot, vg.Length(r.w/zoom), vg.Length(r.h/zoom), int(72*r.scale*zoom+0.5))
		render = time.Since(t)
	}
	build := pv.wbuild
	return func() {
		if r.gen != pv.gen {
			return // a newer source is on its way
		}
		pv.fig, pv.err = fig, err
		pv.img.Image = img
		pv.img.Refresh()
		if err != nil {
			pv.note.SetText(err.Error())
			pv.note.Show()
		} else {
			pv.note.Hide()
		}
		if pv.OnDrawn != nil {
			pv.OnDrawn(PlotDrawn{Fig: fig, Err: err, Built: built, Build: build, Render: render, Since: time.Since(r.t0)})
		}
	}
}

// Resize draws the plot again at the new size.
func (pv *PlotView) Resize(size fyne.Size) {
	if size == pv.Size() {
		return
	}
	pv.BaseWidget.Resize(size)
	pv.request(time.Now(), false)
}

// MinSize implements fyne.Widget.
func (pv *PlotView) MinSize() fyne.Size { return minPlotSize }

// Export writes the plot to a file in format (png, svg, pdf, or csv for
// the binned data), drawn anew in the light style at the standard size,
// after asking where. done (may be nil) gets the outcome.
func (pv *PlotView) Export(format string, done func(path string, err error)) {
	source := pv.source
	if source == nil || pv.fig == nil {
		if done != nil {
			done("", fmt.Errorf("nothing to export: no plot is shown"))
		}
		return
	}
	name := pv.Name
	if name == "" {
		name = "plot"
	}
	what := "the plot"
	if format == "csv" {
		what = "the plot's data"
	}
	pv.v.Export(what, name+"."+format, func(path string, w io.Writer) error {
		fig, err := source()
		if err != nil {
			return err
		}
		if format == "csv" {
			return plots.WriteCSV(w, fig)
		}
		data, err := plots.Render(fig.Plot, plots.DefaultWidth, plots.DefaultHeight, extOr(path, format, plots.Formats...))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}, done)
}

// CreateRenderer implements fyne.Widget.
func (pv *PlotView) CreateRenderer() fyne.WidgetRenderer {
	return &plotRenderer{pv: pv, objs: []fyne.CanvasObject{pv.img, pv.note}}
}

type plotRenderer struct {
	pv   *PlotView
	objs []fyne.CanvasObject
}

func (r *plotRenderer) Layout(size fyne.Size) {
	r.pv.img.Resize(size)
	r.pv.img.Move(fyne.NewPos(0, 0))
	n := r.pv.note
	w := min(size.Width-2*theme.Padding(), 560)
	n.Resize(fyne.NewSize(w, n.MinSize().Height))
	h := n.MinSize().Height // wrapped to w
	n.Resize(fyne.NewSize(w, h))
	n.Move(fyne.NewPos((size.Width-w)/2, (size.Height-h)/2))
}

func (r *plotRenderer) MinSize() fyne.Size { return minPlotSize }

func (r *plotRenderer) Objects() []fyne.CanvasObject { return r.objs }

func (r *plotRenderer) Destroy() {}

// Refresh draws the plot again when the theme changed.
func (r *plotRenderer) Refresh() {
	r.pv.request(time.Now(), false)
	for _, o := range r.objs {
		o.Refresh()
	}
}
