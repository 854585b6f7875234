package ui

import (
	"context"
	"image"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"gonum.org/v1/plot/vg"

	"github.com/saescope/saescope/ui/plots"
)

// hitSlack is how far (in units of the window) the pointer may be from a
// node's disc or an edge's line and still be on it.
const hitSlack = 3

// GraphView shows an attribution graph drawn by plots.Graph (the same
// drawing code as its PNG/SVG/PDF exports) off the UI thread, at its own
// size, in the theme's colours, the newest request winning; it reports
// taps on nodes and the node or edge under the pointer.
type GraphView struct {
	widget.BaseWidget

	// OnTapNode runs with the index (into the spec's Nodes) of a node
	// tapped.
	OnTapNode func(node int)
	// OnHover runs as the pointer moves: the node under it, else the edge
	// (an index into the spec's Edges), −1 for none.
	OnHover func(node, edge int)

	img    *canvas.Image
	note   *widget.Label
	runner *latest[graphRequest]

	spec *plots.GraphSpec
	gen  int
	last graphRequest
	hits *plots.GraphHits // of the drawing shown
}

type graphRequest struct {
	gen   int
	spec  *plots.GraphSpec
	w, h  float32
	scale float32
	style plots.Style
}

// NewGraphView returns an empty graph view whose drawings run on jobs.
func NewGraphView(jobs *Jobs) *GraphView {
	g := &GraphView{img: canvas.NewImageFromImage(nil), note: widget.NewLabel("")}
	g.img.FillMode = canvas.ImageFillStretch
	g.note.Wrapping = fyne.TextWrapWord
	g.note.Alignment = fyne.TextAlignCenter
	g.note.Hide()
	g.runner = newLatest(jobs, g.draw)
	g.ExtendBaseWidget(g)
	return g
}

// SetSpec draws s (UI thread).
func (g *GraphView) SetSpec(s plots.GraphSpec) {
	g.gen++
	g.spec = &s
	g.note.Hide()
	g.request(true)
}

// SetMessage clears the graph and shows text in its place.
func (g *GraphView) SetMessage(text string) {
	g.gen++
	g.spec = nil
	g.runner.Drop()
	g.hits = nil
	g.img.Image = nil
	g.img.Refresh()
	g.note.SetText(text)
	g.note.Show()
}

// Message returns the text shown instead of a graph ("" for none).
func (g *GraphView) Message() string {
	if !g.note.Visible() {
		return ""
	}
	return g.note.Text
}

// Hits returns where the graph shown put its nodes and edges (nil when
// none is shown).
func (g *GraphView) Hits() *plots.GraphHits { return g.hits }

// Image returns the drawing shown (nil when none).
func (g *GraphView) Image() image.Image { return g.img.Image }

// Settle waits until the graph requested is drawn (tests).
func (g *GraphView) Settle() { g.runner.Settle() }

func (g *GraphView) request(always bool) {
	if g.spec == nil {
		return
	}
	size := g.Size()
	scale := float32(1)
	if a := fyne.CurrentApp(); a != nil {
		if c := a.Driver().CanvasForObject(g); c != nil && c.Scale() > 0 {
			scale = c.Scale()
		}
	}
	r := graphRequest{gen: g.gen, spec: g.spec, w: max(size.Width, minPlotSize.Width), h: max(size.Height, minPlotSize.Height),
		scale: scale, style: themeStyle()}
	if !always && r.gen == g.last.gen && r.w == g.last.w && r.h == g.last.h && r.scale == g.last.scale && r.style == g.last.style {
		return
	}
	g.last = r
	g.runner.Request(r)
}

// draw renders a request off the UI thread.
func (g *GraphView) draw(_ context.Context, r graphRequest) func() {
	fig, err := plots.Graph(*r.spec)
	var img image.Image
	var hits *plots.GraphHits
	if err == nil {
		fig.SetStyle(r.style)
		img = plots.ImageDPI(fig.Plot, vg.Length(r.w), vg.Length(r.h), int(72*r.scale+0.5))
		hits = fig.Hits()
	}
	return func() {
		if r.gen != g.gen {
			return
		}
		if err != nil {
			g.SetMessage(err.Error())
			return
		}
		g.img.Image, g.hits = img, hits
		g.img.Refresh()
	}
}

// Resize draws the graph again at the new size.
func (g *GraphView) Resize(size fyne.Size) {
	if size == g.Size() {
		return
	}
	g.BaseWidget.Resize(size)
	g.request(false)
}

// MinSize implements fyne.Widget.
func (g *GraphView) MinSize() fyne.Size { return minPlotSize }

// Tapped implements fyne.Tappable: a tap on a node calls OnTapNode.
func (g *GraphView) Tapped(ev *fyne.PointEvent) {
	if g.hits == nil || g.OnTapNode == nil {
		return
	}
	if n := g.hits.NodeAt(vg.Length(ev.Position.X), vg.Length(ev.Position.Y), hitSlack); n >= 0 {
		g.OnTapNode(n)
	}
}

// MouseIn implements desktop.Hoverable.
func (g *GraphView) MouseIn(ev *desktop.MouseEvent) { g.MouseMoved(ev) }

// MouseMoved implements desktop.Hoverable: OnHover learns what is under
// the pointer.
func (g *GraphView) MouseMoved(ev *desktop.MouseEvent) {
	if g.OnHover == nil {
		return
	}
	node, edge := -1, -1
	if g.hits != nil {
		x, y := vg.Length(ev.Position.X), vg.Length(ev.Position.Y)
		if node = g.hits.NodeAt(x, y, hitSlack); node < 0 {
			edge = g.hits.EdgeAt(x, y, hitSlack)
		}
	}
	g.OnHover(node, edge)
}

// MouseOut implements desktop.Hoverable.
func (g *GraphView) MouseOut() {
	if g.OnHover != nil {
		g.OnHover(-1, -1)
	}
}

// CreateRenderer implements fyne.Widget.
func (g *GraphView) CreateRenderer() fyne.WidgetRenderer {
	return &graphRenderer{g: g, objs: []fyne.CanvasObject{g.img, g.note}}
}

type graphRenderer struct {
	g    *GraphView
	objs []fyne.CanvasObject
}

func (r *graphRenderer) Layout(size fyne.Size) {
	r.g.img.Resize(size)
	r.g.img.Move(fyne.NewPos(0, 0))
	n := r.g.note
	w := min(size.Width-2*theme.Padding(), 560)
	n.Resize(fyne.NewSize(w, n.MinSize().Height))
	h := n.MinSize().Height
	n.Resize(fyne.NewSize(w, h))
	n.Move(fyne.NewPos((size.Width-w)/2, (size.Height-h)/2))
}

func (r *graphRenderer) MinSize() fyne.Size { return minPlotSize }

func (r *graphRenderer) Objects() []fyne.CanvasObject { return r.objs }

func (r *graphRenderer) Destroy() {}

// Refresh draws the graph again when the theme changed.
func (r *graphRenderer) Refresh() {
	r.g.request(false)
	for _, o := range r.objs {
		o.Refresh()
	}
}
