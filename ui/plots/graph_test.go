package plots

import (
	"bytes"
	"math"
	"testing"

	"gonum.org/v1/plot/vg"
)

// A graph's nodes land where their token and row say (token left to
// right, the first row at the bottom), inside the drawing, and the hit
// tests find each node at its centre and each edge at its middle.
func TestGraphHits(t *testing.T) {
	s := GraphSpec{Title: "test", Rows: []string{"0.mlp_out", "1.resid_pre"}, Tokens: []string{"a", "b", "c"},
		Nodes: []GraphNode{
			{Row: 0, Pos: 0, Attr: 1, Label: "5"},
			{Row: 1, Pos: 2, Attr: -2, Label: "7"},
			{Row: 0, Pos: 2, Error: true, Attr: 0.5},
		},
		Edges: []GraphEdge{{From: 0, To: 1, Weight: 0.3}, {From: 2, To: 1, Weight: -0.1}}}
	f, err := Graph(s)
	if err != nil {
		t.Fatal(err)
	}
	if f.Hits() != nil {
		t.Error("hits before a drawing")
	}
	const w, h = 600, 400
	ImageDPI(f.Plot, w, h, 72)
	hits := f.Hits()
	if hits == nil || len(hits.Nodes) != 3 || len(hits.Edges) != 2 {
		t.Fatalf("hits %+v", hits)
	}
	for i, p := range hits.Nodes {
		if p.X <= 0 || p.X >= w || p.Y <= 0 || p.Y >= h {
			t.Errorf("node %d at %v, outside %d×%d", i, p, w, h)
		}
		if got := hits.NodeAt(p.X, p.Y, 0); got != i {
			t.Errorf("node %d's centre finds %d", i, got)
		}
	}
	n := hits.Nodes
	if !(n[0].X < n[1].X && n[0].Y > n[1].Y && n[2].Y > n[1].Y) {
		t.Errorf("layout %v: token 0 left of token 2, row 0 below row 1 (y grows downwards)", n)
	}
	if hits.NodeAt(1, 1, 3) != -1 || hits.EdgeAt(1, 1, 3) != -1 {
		t.Error("something found in the corner")
	}
	for i, e := range s.Edges {
		a, b := n[e.From], n[e.To]
		if got := hits.EdgeAt((a.X+b.X)/2, (a.Y+b.Y)/2, 3); got != i {
			t.Errorf("edge %d's middle finds %d", i, got)
		}
	}
	// the same drawing in every export format
	for _, format := range Formats {
		data, err := Render(f.Plot, DefaultWidth, DefaultHeight, format)
		if err != nil || len(data) == 0 {
			t.Errorf("%s: %d bytes, %v", format, len(data), err)
		}
	}
	empty, err := Graph(GraphSpec{Title: "none"})
	if err != nil || empty.Note == "" {
		t.Fatalf("empty graph: %v, note %q", err, empty.Note)
	}
	if data, err := Render(empty.Plot, DefaultWidth, DefaultHeight, "svg"); err != nil || !bytes.Contains(data, []byte("<svg")) {
		t.Errorf("empty graph's svg: %v", err)
	}
}

// segmentDistance is the distance to the nearest point of the segment.
func TestSegmentDistance(t *testing.T) {
	a, b := vg.Point{X: 0, Y: 0}, vg.Point{X: 10, Y: 0}
	for _, c := range []struct {
		p    vg.Point
		want float64
	}{{vg.Point{X: 5, Y: 3}, 3}, {vg.Point{X: -4, Y: 3}, 5}, {vg.Point{X: 13, Y: -4}, 5}, {vg.Point{X: 10, Y: 0}, 0}} {
		if got := segmentDistance(a, b, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("distance of %v: %g, want %g", c.p, got, c.want)
		}
	}
	if got := segmentDistance(a, a, vg.Point{X: 3, Y: 4}); math.Abs(got-5) > 1e-12 {
		t.Errorf("to a point: %g", got)
	}
}
