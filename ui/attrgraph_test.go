package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"gonum.org/v1/plot/vg"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/encoder"
)

// The example builds in the background the graph attribution.BuildGraph
// builds for the same prompt, metric and bounds, over every SAE of the
// workspace; every node and edge is drawn; a click on a feature node
// selects it in its SAE's view; the pointer on a node or an edge shows
// its numbers; the slider prunes; the exports are written.
func TestGraphPaneExample(t *testing.T) {
	test.NewTempApp(t)
	down, up, _ := flowViews(t)
	p := NewGraphPane(down)
	show(t, p.Content(), 1100, 760)
	p.RunExample()
	if !p.Run.Disabled() || p.Cancel.Disabled() {
		t.Error("while running: Run enabled or Cancel disabled")
	}
	p.Settle()
	if p.Msg.Visible() {
		t.Fatalf("message %q", p.Msg.Text)
	}
	r := p.Result()
	if r == nil {
		t.Fatal("no graph")
	}
	if !strings.Contains(p.Summary.Text, "Computed on cpu") {
		t.Errorf("summary %q does not say where it ran", p.Summary.Text)
	}
	// the library, called directly
	saes := down.SAE.W.SAEs()
	if len(r.SAEs) != len(saes) {
		t.Fatalf("%d SAEs in the graph, %d in the workspace", len(r.SAEs), len(saes))
	}
	encs := make([]*encoder.Encoder, len(saes))
	for i, s := range saes {
		encs[i] = s.Enc
		if r.SAEs[i] != s {
			t.Fatalf("SAE %d is %s, not %s", i, r.SAEs[i].Name(), s.Name())
		}
	}
	a, b := down.Tok.Encode(GraphExampleA), down.Tok.Encode(GraphExampleB)
	tokens := patchTokens(down, FlowExample)
	want, err := attribution.BuildGraph(context.Background(), down.SAE.W.Model, encs, tokens,
		attribution.Metric{Kind: attribution.LogitDiff, A: a[0], B: b[0]}, attribution.GraphOptions{MaxNodes: GraphMaxNodes})
	if err != nil {
		t.Fatal(err)
	}
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-5*math.Max(1, math.Abs(y)) }
	if len(r.Nodes) != len(want.Nodes) || len(r.Edges) != len(want.Edges) || !near(r.Graph.Metric, want.Metric) {
		t.Fatalf("%d nodes, %d edges, metric %g; the library: %d, %d, %g", len(r.Nodes), len(r.Edges), r.Graph.Metric,
			len(want.Nodes), len(want.Edges), want.Metric)
	}
	for i, n := range want.Nodes {
		g := r.Nodes[i]
		if g.SAE != n.SAE || g.Pos != n.Pos || g.Feature != n.Feature || !near(g.Attr, n.Attr) {
			t.Fatalf("node %d: %+v, the library's %+v", i, g, n)
		}
	}
	for i, e := range want.Edges {
		g := r.Edges[i]
		if g.From != e.From || g.To != e.To || !near(g.Weight, e.Weight) {
			t.Fatalf("edge %d: %+v, the library's %+v", i, g, e)
		}
	}
	if len(want.Edges) == 0 {
		t.Fatal("the example's graph has no edges")
	}
	// all of it drawn, and found where it was drawn
	shown, hits := p.Shown(), p.Graph.Hits()
	if len(shown.Nodes) != len(r.Nodes) || len(shown.Edges) != len(r.Edges) || hits == nil || len(hits.Nodes) != len(r.Nodes) {
		t.Fatalf("drawn: %d nodes, %d edges, hits %v", len(shown.Nodes), len(shown.Edges), hits)
	}
	at := func(pt vg.Point) fyne.Position { return fyne.NewPos(float32(pt.X), float32(pt.Y)) }
	upIdx := -1
	for i, s := range r.SAEs {
		if s == up.SAE {
			upIdx = i
		}
	}
	node := -1
	for i, n := range r.Nodes {
		if n.SAE == upIdx && !n.IsError() && n.Feature != up.Feature() && hits.NodeAt(hits.Nodes[i].X, hits.Nodes[i].Y, hitSlack) == i {
			node = i
			break
		}
	}
	if node < 0 {
		t.Fatal("no feature node of the upstream SAE to click")
	}
	sz := p.Graph.Size()
	for _, pt := range hits.Nodes {
		if pt.X < 0 || pt.Y < 0 || float32(pt.X) > sz.Width || float32(pt.Y) > sz.Height {
			t.Fatalf("node drawn at %v, outside the view's %v", pt, sz)
		}
	}
	p.Graph.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: at(hits.Nodes[node])}})
	if want := "Feature " + strconv.Itoa(r.Nodes[node].Feature) + " of 0.mlp_out at " + strconv.Itoa(r.Nodes[node].Pos); !strings.HasPrefix(p.Info.Text, want) {
		t.Errorf("hover on node %d: %q, want %q…", node, p.Info.Text, want)
	}
	test.TapAt(p.Graph, at(hits.Nodes[node]))
	if up.Feature() != r.Nodes[node].Feature {
		t.Errorf("after the click: the upstream view shows feature %d, not %d", up.Feature(), r.Nodes[node].Feature)
	}
	// an edge's middle, away from the nodes
	found := false
	for i, e := range shown.Edges {
		a, b := hits.Nodes[e.From], hits.Nodes[e.To]
		mid := vg.Point{X: (a.X + b.X) / 2, Y: (a.Y + b.Y) / 2}
		if hits.NodeAt(mid.X, mid.Y, hitSlack) >= 0 || hits.EdgeAt(mid.X, mid.Y, hitSlack) != i {
			continue
		}
		p.Graph.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: at(mid)}})
		if !strings.HasPrefix(p.Info.Text, "Edge ") || !strings.HasSuffix(p.Info.Text, "weight "+fnum(e.Weight)) {
			t.Errorf("hover on edge %d: %q", i, p.Info.Text)
		}
		found = true
		break
	}
	if !found {
		t.Error("no edge to point at")
	}
	// pruning
	var maxW, maxA float64
	for _, e := range r.Edges {
		maxW = math.Max(maxW, math.Abs(e.Weight))
	}
	for _, n := range r.Nodes {
		if !n.IsError() {
			maxA = math.Max(maxA, math.Abs(n.Attr))
		}
	}
	p.Prune.SetValue(0.5)
	p.Settle()
	shown = p.Shown()
	wantEdges, wantNodes := 0, 0
	for _, e := range r.Edges {
		if math.Abs(e.Weight) >= 0.5*maxW && (r.Nodes[e.From].IsError() || math.Abs(r.Nodes[e.From].Attr) >= 0.5*maxA) &&
			(r.Nodes[e.To].IsError() || math.Abs(r.Nodes[e.To].Attr) >= 0.5*maxA) {
			wantEdges++
		}
	}
	for _, n := range r.Nodes {
		if n.IsError() || math.Abs(n.Attr) >= 0.5*maxA {
			wantNodes++
		}
	}
	if len(shown.Edges) != wantEdges || len(shown.Nodes) != wantNodes || wantEdges >= len(r.Edges) {
		t.Errorf("pruned at 0.5: %d edges, %d nodes; want %d of %d, %d of %d", len(shown.Edges), len(shown.Nodes),
			wantEdges, len(r.Edges), wantNodes, len(r.Nodes))
	}
	if want := "Showing " + strconv.Itoa(wantNodes) + " of " + strconv.Itoa(len(r.Nodes)) + " nodes and " + strconv.Itoa(wantEdges) + " of "; !strings.HasPrefix(p.Info.Text, want) {
		t.Errorf("after pruning: %q, want %q…", p.Info.Text, want)
	}
	if h := p.Graph.Hits(); h == nil || len(h.Nodes) != len(shown.Nodes) {
		t.Error("the pruned graph is not the one drawn")
	}
	// exports
	dir := t.TempDir()
	paths := saveTo(t, dir, nil)
	for _, f := range []string{"png", "svg", "pdf", "json"} {
		p.Export(f)
		data := exported(t, down, paths)
		switch f {
		case "png":
			if _, err := png.Decode(bytes.NewReader(data)); err != nil {
				t.Errorf("png: %v", err)
			}
		case "svg":
			if !bytes.Contains(data, []byte("<svg")) {
				t.Error("svg: no <svg")
			}
		case "pdf":
			if !bytes.HasPrefix(data, []byte("%PDF")) {
				t.Error("pdf: no %PDF")
			}
		case "json":
			var out struct {
				Graph       attribution.Graph `json:"graph"`
				Tokens      []int32           `json:"tokens"`
				SAEs        []string          `json:"saes"`
				MetricValue float64           `json:"metric_value"`
				ComputedOn  string            `json:"computed_on"`
				Metric      string            `json:"metric"`
			}
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatalf("json: %v", err)
			}
			if len(out.Graph.Nodes) != len(want.Nodes) || len(out.Graph.Edges) != len(want.Edges) || len(out.Tokens) != len(tokens) ||
				len(out.SAEs) != len(saes) || out.MetricValue != r.Graph.Metric || out.ComputedOn != "cpu" ||
				out.Metric != "logits[-1, 5335] - logits[-1, 1757]" {
				t.Errorf("json: %d nodes, %d edges, %d tokens, SAEs %v, metric %q = %g, on %q", len(out.Graph.Nodes), len(out.Graph.Edges),
					len(out.Tokens), out.SAEs, out.Metric, out.MetricValue, out.ComputedOn)
			}
		}
	}
	if len(*paths) != 4 {
		t.Fatalf("%d files written", len(*paths))
	}
	for _, path := range *paths {
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// Bad inputs are said in the message line: a metric text of two tokens,
// no prompt, a prompt longer than the context, a feature out of range,
// a bad threshold.
func TestGraphPaneBadInput(t *testing.T) {
	test.NewTempApp(t)
	down, _, _ := flowViews(t)
	p := NewGraphPane(down)
	show(t, p.Content(), 1000, 700)
	p.Start()
	if !strings.Contains(p.Msg.Text, "type a prompt") {
		t.Errorf("no prompt: %q", p.Msg.Text)
	}
	p.Prompt.SetText(FlowExample)
	p.TokenA.SetText(" Mary Ann")
	p.TokenB.SetText(" John")
	p.Start()
	if !strings.Contains(p.Msg.Text, "first token") {
		t.Errorf("two-token text: %q", p.Msg.Text)
	}
	p.TokenA.SetText(" Mary")
	n := down.SAE.W.Model.Config.NPositions
	p.Prompt.SetText(strings.Repeat(" the", n+1))
	p.Start()
	if !strings.Contains(p.Msg.Text, "more than the model's context") {
		t.Errorf("long prompt: %q", p.Msg.Text)
	}
	p.Prompt.SetText(FlowExample)
	p.Metric.SetSelected(patchFeature)
	p.MetricFeature.SetText("100000")
	p.Start()
	if !strings.Contains(p.Msg.Text, "out of range") {
		t.Errorf("feature out of range: %q", p.Msg.Text)
	}
	p.MetricFeature.SetText("3")
	p.Threshold.SetText("-1")
	p.Start()
	if !strings.Contains(p.Msg.Text, "node threshold") {
		t.Errorf("threshold: %q", p.Msg.Text)
	}
	if p.Result() != nil || !p.Cancel.Disabled() {
		t.Error("a run started on bad input")
	}
}

// In the window: a click on an upstream feature in the Flow pane, or on a
// feature node of the other SAE in the Attribution graph pane, brings
// that SAE's tab to the front with the feature selected.
func TestShellFlowAndGraphSwitchTabs(t *testing.T) {
	a := test.NewTempApp(t)
	s, _ := openFixture(t, a, 1280, 800, false, fixSAE, fixSAELens)
	e0, e1 := s.Session().Explorers[0], s.Session().Explorers[1]
	if e0.View.SAE.Weights.Hook.Layer != 1 || e1.View.SAE.Weights.Hook.Layer != 0 {
		t.Fatalf("tabs %s, %s", e0.View.Name(), e1.View.Name())
	}
	s.Tabs.SelectIndex(0)
	if err := e0.ShowPane(PaneFlow); err != nil {
		t.Fatal(err)
	}
	f := e0.Flow()
	f.RunExample()
	settleAll(s)
	r := f.Result()
	if r == nil || len(r.Rows) == 0 || f.Msg.Visible() {
		t.Fatalf("flow: %v, message %q", r, f.Msg.Text)
	}
	if err := f.SelectRow(0); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	if s.Tabs.SelectedIndex() != 1 || e1.View.Feature() != r.Rows[0].Feature {
		t.Errorf("after a click on the flow's first row: tab %d, feature %d (want tab 1, feature %d)",
			s.Tabs.SelectedIndex(), e1.View.Feature(), r.Rows[0].Feature)
	}
	s.Tabs.SelectIndex(0)
	e0.ShowPane(PaneGraph)
	g := e0.AttrGraph()
	g.RunExample()
	settleAll(s)
	gr := g.Result()
	if gr == nil || g.Msg.Visible() {
		t.Fatalf("graph: %v, message %q", gr, g.Msg.Text)
	}
	node := -1
	for i, n := range gr.Nodes { // every node is shown before any pruning
		if gr.SAEs[n.SAE] == e1.View.SAE && !n.IsError() && n.Feature != e1.View.Feature() {
			node = i
			break
		}
	}
	if node < 0 {
		t.Fatal("no feature node of the second SAE")
	}
	if err := g.SelectNode(node); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	if s.Tabs.SelectedIndex() != 1 || e1.View.Feature() != gr.Nodes[node].Feature {
		t.Errorf("after a click on node %d: tab %d, feature %d (want tab 1, feature %d)", node,
			s.Tabs.SelectedIndex(), e1.View.Feature(), gr.Nodes[node].Feature)
	}
	// an error node names itself instead
	for i, n := range gr.Nodes {
		if n.IsError() {
			if err := g.SelectNode(i); err == nil || !strings.Contains(err.Error(), "error") {
				t.Errorf("error node: %v", err)
			}
			break
		}
	}
}
