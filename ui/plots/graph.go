package plots

import (
	"image/color"
	"math"
	"sync"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// KindGraph is the Kind of an attribution graph figure.
const KindGraph = "graph"

// GraphNode is one node of an attribution graph figure: a feature of the
// SAE drawn on row Row (0 at the bottom: the earliest hook) at token
// column Pos, or that SAE's error there.
type GraphNode struct {
	Row, Pos int
	Error    bool
	// Attr is the node's attribution to the metric (its colour's sign);
	// Label is drawn beside it ("" for none).
	Attr  float64
	Label string
}

// GraphEdge joins node From to node To (indices into GraphSpec.Nodes)
// with a weight: its colour is the sign, its width the size.
type GraphEdge struct {
	From, To int
	Weight   float64
}

// GraphSpec is what a graph figure draws.
type GraphSpec struct {
	Title string
	// Rows names each row (a hook), bottom first; Tokens each column.
	Rows, Tokens []string
	Nodes        []GraphNode
	Edges        []GraphEdge
}

// GraphFigure is an attribution graph drawn on a Figure. After each
// drawing it knows where its nodes and edges landed (Hits), so that a
// window can find what the pointer is on.
type GraphFigure struct {
	*Figure
	g *graphPlotter
}

// Graph draws s: tokens along x, rows (hooks) along y, each node a disc
// (a feature: blue for a positive attribution, red for a negative one)
// or a grey square (an SAE's error), the nodes of one cell side by side
// (labelled when there is room);
// each edge a line from its upstream node to its downstream one, blue
// for a positive weight and red for a negative one, its width and
// opacity growing with |weight| (the largest drawn 4 points wide).
func Graph(s GraphSpec) (*GraphFigure, error) {
	p := plot.New()
	p.Title.Text = s.Title
	p.Title.TextStyle.Font.Size = fontTitle
	p.Title.Padding = vg.Points(8)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = fontLab
		a.Tick.Label.Font.Size = fontTick
		a.Padding = vg.Points(2)
	}
	for _, fnt := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font} {
		fnt.Variant = "Sans"
	}
	tokens := make([]string, len(s.Tokens))
	for i, t := range s.Tokens {
		tokens[i] = truncateRunes(t, 8)
	}
	if len(tokens) > 0 {
		p.NominalX(tokens...)
	}
	if len(s.Rows) > 0 {
		p.NominalY(s.Rows...)
	}
	p.X.Label.Text = "token"
	f := &Figure{Kind: KindGraph, Unit: "node"}
	g := &graphPlotter{spec: s, label: p.X.Tick.Label}
	g.label.Font.Size = 9
	g.xy, g.room, g.gap = graphLayout(s)
	p.Add(g)
	p.X.Min, p.X.Max = -0.5, math.Max(0.5, float64(len(s.Tokens))-0.5)
	p.Y.Min, p.Y.Max = -0.6, math.Max(0.5, float64(len(s.Rows))-0.4)
	if len(s.Nodes) == 0 {
		f.Note = "no nodes to show"
		f.note = &noteText{text: f.Note, color: LightStyle.muted()}
		p.Add(f.note)
	}
	f.Plot = p
	return &GraphFigure{Figure: f, g: g}, nil
}

// graphLayout places each node in data coordinates: the feature nodes of
// a cell in a small grid across its column, above the row's line and
// centred on it (up to 4 side by side), its error below the line. It
// also says which nodes have room for their label (a cell of at most two
// feature nodes), and the smallest spacing of a cell's nodes (x, y).
func graphLayout(s GraphSpec) ([][2]float64, []bool, [2]float64) {
	type cell struct{ row, pos int }
	count := map[cell]int{}
	for _, n := range s.Nodes {
		if !n.Error {
			count[cell{n.Row, n.Pos}]++
		}
	}
	seen := map[cell]int{}
	xy := make([][2]float64, len(s.Nodes))
	room := make([]bool, len(s.Nodes))
	gap := [2]float64{1, 1} // the smallest spacing of a cell's nodes, x and y
	for i, n := range s.Nodes {
		c := cell{n.Row, n.Pos}
		if n.Error {
			xy[i] = [2]float64{float64(n.Pos) + 0.25, float64(n.Row) - 0.3}
			continue
		}
		k, m := seen[c], count[c]
		seen[c]++
		cols := min(4, int(math.Ceil(math.Sqrt(float64(m)))))
		rows := (m + cols - 1) / cols
		col, r := k%cols, k/cols
		dx := 0.8 / float64(cols)
		dy := math.Min(0.14, 0.5/float64(rows))
		xy[i] = [2]float64{float64(n.Pos) + (float64(col)-float64(cols-1)/2)*dx, float64(n.Row) + (float64(r)-float64(rows-1)/2)*dy}
		room[i] = m <= 2
		if cols > 1 {
			gap[0] = math.Min(gap[0], dx)
		}
		if rows > 1 {
			gap[1] = math.Min(gap[1], dy)
		}
	}
	return xy, room, gap
}

// GraphHits is where a drawing put a graph's nodes and edges, in points
// from the top-left corner of the drawing (a window showing it at one
// point per unit finds them at the same coordinates).
type GraphHits struct {
	// Nodes[i] is node i's centre; Radius the nodes' size.
	Nodes  []vg.Point
	Radius vg.Length
	// Edges are the edges drawn, as in the spec.
	Edges []GraphEdge
}

// NodeAt returns the node at (x, y), within slack points of its disc,
// the nearest if several; −1 for none.
func (h *GraphHits) NodeAt(x, y, slack vg.Length) int {
	best, bd := -1, h.Radius+slack
	for i, c := range h.Nodes {
		if d := vg.Length(math.Hypot(float64(c.X-x), float64(c.Y-y))); d <= bd {
			best, bd = i, d
		}
	}
	return best
}

// EdgeAt returns the index (into Edges) of the edge within slack points
// of (x, y), the nearest if several; −1 for none.
func (h *GraphHits) EdgeAt(x, y, slack vg.Length) int {
	best, bd := -1, float64(slack)
	for i, e := range h.Edges {
		if e.From < 0 || e.From >= len(h.Nodes) || e.To < 0 || e.To >= len(h.Nodes) {
			continue
		}
		if d := segmentDistance(h.Nodes[e.From], h.Nodes[e.To], vg.Point{X: x, Y: y}); d <= bd {
			best, bd = i, d
		}
	}
	return best
}

// segmentDistance is the distance from p to the segment ab.
func segmentDistance(a, b, p vg.Point) float64 {
	dx, dy := float64(b.X-a.X), float64(b.Y-a.Y)
	px, py := float64(p.X-a.X), float64(p.Y-a.Y)
	l2 := dx*dx + dy*dy
	t := 0.0
	if l2 > 0 {
		t = math.Max(0, math.Min(1, (px*dx+py*dy)/l2))
	}
	return math.Hypot(px-t*dx, py-t*dy)
}

// Hits returns where the last drawing put the nodes (nil before one).
func (f *GraphFigure) Hits() *GraphHits {
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	return f.g.hits
}

// graphPlotter draws the edges and nodes and records where.
type graphPlotter struct {
	spec  GraphSpec
	xy    [][2]float64
	room  []bool     // whether a node's label is drawn
	gap   [2]float64 // the nodes' smallest spacing, in data units
	label draw.TextStyle

	mu   sync.Mutex
	hits *GraphHits
}

// Edge and node colours.
var (
	errorColour = color.NRGBA{128, 128, 128, 255}
)

// graphRadius is a node's largest radius, in points.
const graphRadius = vg.Length(5)

func (g *graphPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	top := c.Max.Y
	if c.Canvas != nil {
		// the whole drawing's top: the canvas was cropped to the data area
		if s, ok := c.Canvas.(interface{ Size() (vg.Length, vg.Length) }); ok {
			_, top = s.Size()
		}
	}
	// nodes as large as their spacing allows, within [2.5, 5] points
	radius := graphRadius
	for k, tr := range []func(float64) vg.Length{trX, trY} {
		if sp := tr(g.gap[k]) - tr(0); sp > 0 {
			radius = min(radius, max(graphRadius/2, sp/2.2))
		}
	}
	pts := make([]vg.Point, len(g.xy))
	for i, v := range g.xy {
		pts[i] = vg.Point{X: trX(v[0]), Y: trY(v[1])}
	}
	maxW := 0.0
	for _, e := range g.spec.Edges {
		maxW = math.Max(maxW, math.Abs(e.Weight))
	}
	for _, e := range g.spec.Edges {
		if e.From < 0 || e.From >= len(pts) || e.To < 0 || e.To >= len(pts) || maxW == 0 {
			continue
		}
		r := math.Abs(e.Weight) / maxW
		col := positiveColour
		if e.Weight < 0 {
			col = negativeColour
		}
		col.A = uint8(70 + 150*r)
		ls := draw.LineStyle{Color: col, Width: vg.Points(0.5 + 3.5*r)}
		c.StrokeLine2(ls, pts[e.From].X, pts[e.From].Y, pts[e.To].X, pts[e.To].Y)
	}
	fg := p.X.Tick.Label.Color
	outline := draw.LineStyle{Color: fg, Width: vg.Points(0.6)}
	lab := g.label
	lab.Color = fg
	lab.XAlign, lab.YAlign = draw.XLeft, draw.YBottom
	for i, n := range g.spec.Nodes {
		pt := pts[i]
		if n.Error {
			sq := vg.Rectangle{Min: vg.Point{X: pt.X - radius*0.8, Y: pt.Y - radius*0.8}, Max: vg.Point{X: pt.X + radius*0.8, Y: pt.Y + radius*0.8}}
			c.SetColor(errorColour)
			c.Fill(sq.Path())
			c.StrokeLines(outline, []vg.Point{sq.Min, {X: sq.Max.X, Y: sq.Min.Y}, sq.Max, {X: sq.Min.X, Y: sq.Max.Y}, sq.Min})
			continue
		}
		col := positiveColour
		if n.Attr < 0 {
			col = negativeColour
		}
		var disc vg.Path
		disc.Move(vg.Point{X: pt.X + radius, Y: pt.Y})
		disc.Arc(pt, radius, 0, 2*math.Pi)
		disc.Close()
		c.SetColor(col)
		c.Fill(disc)
		c.SetLineStyle(outline)
		c.Stroke(disc)
		if n.Label != "" && g.room[i] {
			c.FillText(lab, vg.Point{X: pt.X + radius*0.7, Y: pt.Y + radius*0.7}, n.Label)
		}
	}
	hits := &GraphHits{Radius: radius, Edges: g.spec.Edges, Nodes: make([]vg.Point, len(pts))}
	for i, pt := range pts {
		hits.Nodes[i] = vg.Point{X: pt.X, Y: top - pt.Y}
	}
	g.mu.Lock()
	g.hits = hits
	g.mu.Unlock()
}
