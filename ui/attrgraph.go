package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/ui/plots"
)

// The Attribution graph pane's example: the logit difference of the
// indirect object (" Mary") and the subject (" John").
const (
	GraphExampleA = " Mary"
	GraphExampleB = " John"
)

// GraphMaxNodes is the default bound on the feature nodes per SAE (the
// attribute command's is 30: fewer keep the drawing readable).
const GraphMaxNodes = 20

// GraphPane builds the attribution graph of a prompt and a metric (a
// logit difference of two one-token texts at the last position, the
// loss, or a feature's activation) over every SAE of the workspace: the
// features whose attribution f·∂m/∂f is at least a threshold (at most
// a number per SAE) and each SAE's error at each position as nodes
// (token on x, hook on y), edges f_up·∂f_down/∂f_up between the nodes of
// SAEs consecutive in hook order (attribution.BuildGraph). It runs off
// the UI thread with progress and Cancel; the drawing is pruned live by
// a slider; a click on a node shows its feature in every pane (its SAE's
// tab brought to the front), the pointer on a node or edge shows its
// numbers; the graph exports as PNG/SVG/PDF and as JSON (the graph of
// the attribute command's --graph).
type GraphPane struct {
	v       *View
	content fyne.CanvasObject

	Prompt *widget.Entry
	// The metric: Metric, TokenA and TokenB, MetricSAE, MetricFeature,
	// MetricPos and LossNote.
	*metricPicker
	// Threshold and MaxNodes choose the feature nodes.
	Threshold, MaxNodes *widget.Entry

	// The run: Run, Cancel, Progress and Status.
	*paneRun
	Example *widget.Button
	Msg     *widget.Label
	Summary *widget.Label
	// Prune hides the edges and feature nodes below its fraction of the
	// largest |weight| and |attribution|.
	Prune *widget.Slider
	// Info shows the node or edge under the pointer; else what is shown
	// and how it is drawn.
	Info  *widget.Label
	Graph *GraphView

	msg        *paneMsg
	res        *GraphResult
	shown      plots.GraphSpec
	pruneDesc  string // the thresholds of the pruning shown
	shownNodes []int  // the result's node of each node shown
}

// GraphResult is one run of the Attribution graph pane.
type GraphResult struct {
	*attribution.Graph
	Tokens []int32
	// SAEs are the SAEs spliced in (Node.SAE indexes them); Views their
	// tabs (nil for none).
	SAEs  []*workspace.SAE
	Views []*View
	// Metric describes the metric; MetricJSON is the attribute command's
	// description of it; IsFeature says it is a feature's activation.
	Metric     string
	MetricJSON string
	IsFeature  bool
	ComputedOn string
	Backend    string
	Elapsed    time.Duration
}

// graphRunRequest is what a run computes, read on the UI thread.
type graphRunRequest struct {
	tokens []int32
	saes   []*workspace.SAE
	views  []*View
	metric attribution.Metric
	desc   string
	opt    attribution.GraphOptions
}

// NewGraphPane builds the Attribution graph pane of v.
func NewGraphPane(v *View) *GraphPane {
	p := &GraphPane{v: v}
	p.Prompt = widget.NewEntry()
	p.Prompt.SetPlaceHolder("Prompt, e.g. " + FlowExample)
	p.metricPicker = newMetricPicker(v, metricPickerOptions{MetricWidth: 210, SAEWidth: 260, PosLabel: "at", PosWidth: 56,
		LossNote: "mean next-token cross-entropy over the prompt", Prompts: "a prompt"})
	p.Threshold = widget.NewEntry()
	p.Threshold.SetText("0")
	p.MaxNodes = widget.NewEntry()
	p.MaxNodes.SetText(strconv.Itoa(GraphMaxNodes))
	p.Msg = newMessageLine(widget.DangerImportance)
	p.msg = newPaneMsg(p.Msg)
	p.paneRun = newPaneRun(v.Jobs, p.msg, p.Start, "Cancelled: the graph shown is the previous run's, if any.")
	p.Summary = widget.NewLabel("Type a prompt, choose a metric and press Run: the features of every SAE that drive it, and how they drive each other, are drawn here." + runsOn(v))
	p.Summary.Wrapping = fyne.TextWrapWord
	p.Example = widget.NewButton("Example: Mary and John", p.RunExample)
	p.Prune = widget.NewSlider(0, 1)
	p.Prune.Step = 0.01
	p.Prune.OnChanged = func(float64) { p.redraw() }
	p.Info = widget.NewLabel(graphLegend)
	p.Info.Wrapping = fyne.TextWrapWord
	p.Graph = NewGraphView(v.Jobs)
	p.Graph.SetMessage("The attribution graph is drawn here after a run.")
	p.Graph.OnTapNode = func(i int) {
		if err := p.SelectNode(i); err != nil {
			p.msg.setResult(err.Error())
		}
	}
	p.Graph.OnHover = func(node, edge int) { p.Info.SetText(p.describe(node, edge)) }

	label := func(s string) *widget.Label { return widget.NewLabel(s) }
	promptRow := container.NewBorder(nil, nil, label("Prompt"), p.Example, p.Prompt)
	metricRow := p.metricPicker.row(nil)
	runRow := container.NewBorder(nil, nil,
		container.NewHBox(label("Nodes: |attribution| ≥"), fixedWidth(p.Threshold, 70), label("at most"), fixedWidth(p.MaxNodes, 56),
			label("per SAE"), p.Run, p.Cancel), nil,
		container.NewStack(p.Progress, p.Status))
	top := container.NewVBox(promptRow, metricRow, runRow, p.Msg, p.Summary)
	exports := exportButtons("", p.Export, append(append([]string(nil), plots.Formats...), "json")...)
	pruneRow := container.NewBorder(nil, nil, label("Prune"), exports, p.Prune)
	bottom := container.NewVBox(pruneRow, p.Info)
	p.content = container.NewBorder(top, bottom, nil, nil, p.Graph)

	p.Metric.SetSelected(patchLogitDiff)
	p.refreshSAEs()
	return p
}

// Content is the pane's widget tree.
func (p *GraphPane) Content() fyne.CanvasObject { return p.content }

// Settle waits for the run in flight and its drawing (tests).
func (p *GraphPane) Settle() { p.settle(p.Graph.Settle) }

// Result returns the last run's result (nil before one finished).
func (p *GraphPane) Result() *GraphResult { return p.res }

// Shown returns the graph drawn: the result pruned.
func (p *GraphPane) Shown() plots.GraphSpec { return p.shown }

// RunExample types the example (the logit difference of " Mary" and
// " John" after the indirect-object prompt) and runs it.
func (p *GraphPane) RunExample() {
	p.Prompt.SetText(FlowExample)
	p.Metric.SetSelected(patchLogitDiff)
	p.TokenA.SetText(GraphExampleA)
	p.TokenB.SetText(GraphExampleB)
	p.Start()
}

// request reads the inputs.
func (p *GraphPane) request() (*graphRunRequest, error) {
	s := p.v.SAE
	if s == nil || s.W == nil || s.W.Model == nil {
		return nil, errors.New("no model loaded: open a model and its SAEs to draw their attribution graph")
	}
	p.refreshSAEs()
	saes := append([]*workspace.SAE(nil), p.saes...)
	if len(saes) == 0 {
		return nil, errors.New("the workspace has no SAE: the graph's nodes are SAE features")
	}
	encs := make([]*encoder.Encoder, len(saes))
	for i, x := range saes {
		encs[i] = x.Enc
	}
	tokens, err := promptTokens(p.v, p.Prompt.Text, encs)
	if err != nil {
		return nil, err
	}
	r := &graphRunRequest{tokens: tokens, saes: saes}
	views := benchViews(p.v)
	for _, x := range saes {
		r.views = append(r.views, views[x])
	}
	mt, err := p.readMetric(len(tokens))
	if err != nil {
		return nil, err
	}
	r.metric, r.desc = mt.Attr, mt.Desc
	th, err := parseFloat(p.Threshold.Text)
	if err != nil || th < 0 || math.IsInf(th, 0) {
		return nil, fmt.Errorf("node threshold %q: a number, at least 0", p.Threshold.Text)
	}
	mx, err := parseInt(p.MaxNodes.Text)
	if err != nil || mx < 1 {
		return nil, fmt.Errorf("nodes per SAE %q: a whole number, at least 1", p.MaxNodes.Text)
	}
	r.opt = attribution.GraphOptions{Threshold: th, MaxNodes: mx}
	return r, nil
}

// Start builds the graph of the inputs in the background; Cancel stops
// it. A bad input is said in the message line instead.
func (p *GraphPane) Start() {
	if p.running() {
		return
	}
	req, err := p.request()
	if err != nil {
		p.msg.setResult(err.Error())
		return
	}
	m := p.v.SAE.W.Model
	t0 := time.Now()
	p.begin(func(ctx context.Context, progress func(done, total int)) (func(), error) {
		req.opt.Progress = progress
		encs := make([]*encoder.Encoder, len(req.saes))
		for i, s := range req.saes {
			encs[i] = s.Enc
		}
		g, err := attribution.BuildGraph(ctx, m, encs, req.tokens, req.metric, req.opt)
		if err != nil {
			return nil, err
		}
		mj := req.metric.String()
		if req.metric.Kind == attribution.Feature {
			mj = req.desc // as attribute words it, with the SAE's name
		}
		res := &GraphResult{Graph: g, Tokens: req.tokens, SAEs: req.saes, Views: req.views, Metric: req.desc, MetricJSON: mj,
			IsFeature: req.metric.Kind == attribution.Feature, ComputedOn: attribution.ComputedOn(m.Backend()),
			Backend: m.Backend().Name(), Elapsed: time.Since(t0)}
		return func() { p.finish(res) }, nil
	})
}

// finish shows a run's result (UI thread).
func (p *GraphPane) finish(res *GraphResult) {
	p.res = res
	feats, errs := 0, 0
	for _, n := range res.Nodes {
		if n.IsError() {
			errs++
		} else {
			feats++
		}
	}
	p.Summary.SetText(fmt.Sprintf("%s. %s = %s on %s: %s, %s, %s.",
		computedOn(res.ComputedOn, res.Elapsed), upperFirst(res.Metric), fnum(res.Graph.Metric), nOf(len(res.Tokens), "token"),
		nOf(feats, "feature node"), nOf(errs, "error node"), nOf(len(res.Edges), "edge")))
	p.redraw()
}

// hookLabel is an SAE's row name: its hook without "blocks." and "hook_".
func hookLabel(s *workspace.SAE) string {
	n := strings.TrimPrefix(s.Weights.Hook.String(), "blocks.")
	return strings.Replace(n, "hook_", "", 1)
}

// pruned returns the graph of r with the edges below frac of the largest
// |weight| and the feature nodes below frac of the largest |attribution|
// left out (errors stay), and the result's node of each node kept.
func pruned(r *GraphResult, frac float64, tok func(int32) string) (plots.GraphSpec, []int, float64, float64) {
	var maxA, maxW float64
	for _, n := range r.Nodes {
		if !n.IsError() {
			maxA = math.Max(maxA, math.Abs(n.Attr))
		}
	}
	for _, e := range r.Edges {
		maxW = math.Max(maxW, math.Abs(e.Weight))
	}
	aMin, wMin := frac*maxA, frac*maxW
	row := map[int]int{}
	s := plots.GraphSpec{}
	for i, k := range r.Order {
		row[k] = i
		s.Rows = append(s.Rows, hookLabel(r.SAEs[k]))
	}
	for _, t := range r.Tokens {
		s.Tokens = append(s.Tokens, tok(t))
	}
	idx := make([]int, len(r.Nodes))
	var kept []int
	for i, n := range r.Nodes {
		idx[i] = -1
		if !n.IsError() && math.Abs(n.Attr) < aMin {
			continue
		}
		idx[i] = len(s.Nodes)
		kept = append(kept, i)
		label := ""
		if !n.IsError() {
			label = strconv.Itoa(n.Feature)
		}
		s.Nodes = append(s.Nodes, plots.GraphNode{Row: row[n.SAE], Pos: n.Pos, Error: n.IsError(), Attr: n.Attr, Label: label})
	}
	for _, e := range r.Edges {
		if math.Abs(e.Weight) < wMin || idx[e.From] < 0 || idx[e.To] < 0 {
			continue
		}
		s.Edges = append(s.Edges, plots.GraphEdge{From: idx[e.From], To: idx[e.To], Weight: e.Weight})
	}
	return s, kept, aMin, wMin
}

// redraw draws the result pruned at the slider's value.
func (p *GraphPane) redraw() {
	r := p.res
	if r == nil {
		return
	}
	s, kept, aMin, wMin := pruned(r, p.Prune.Value, func(t int32) string { return p.v.Tok.InlineString(int(t)) })
	s.Title = "Attribution graph: " + r.Metric
	p.shown, p.shownNodes = s, kept
	p.pruneDesc = fmt.Sprintf("Showing %d of %d nodes and %d of %d edges", len(s.Nodes), len(r.Nodes), len(s.Edges), len(r.Edges))
	if p.Prune.Value > 0 {
		p.pruneDesc += fmt.Sprintf(" (feature nodes with |attribution| ≥ %s, edges with |weight| ≥ %s)", fnum(aMin), fnum(wMin))
	}
	p.Info.SetText(p.describe(-1, -1))
	p.Graph.SetSpec(s)
}

// describe says what node (an index into the nodes shown) or edge is
// under the pointer.
func (p *GraphPane) describe(node, edge int) string {
	r := p.res
	if r == nil {
		return ""
	}
	at := func(n attribution.Node) string {
		what := fmt.Sprintf("feature %d", n.Feature)
		if n.IsError() {
			what = "SAE error"
		}
		return fmt.Sprintf("%s of %s at %d (%s)", what, hookLabel(r.SAEs[n.SAE]), n.Pos, quoteTok(p.v.Tok.InlineString(int(r.Tokens[n.Pos]))))
	}
	switch {
	case node >= 0 && node < len(p.shownNodes):
		n := r.Nodes[p.shownNodes[node]]
		if n.IsError() {
			return fmt.Sprintf("%s: attribution e·∂m/∂e %s", upperFirst(at(n)), fnum(n.Attr))
		}
		return fmt.Sprintf("%s: activation %s, attribution %s", upperFirst(at(n)), fnum(n.Act), fnum(n.Attr))
	case edge >= 0 && edge < len(p.shown.Edges):
		e := p.shown.Edges[edge]
		from, to := r.Nodes[p.shownNodes[e.From]], r.Nodes[p.shownNodes[e.To]]
		return fmt.Sprintf("Edge %s → %s: weight %s", at(from), at(to), fnum(e.Weight))
	}
	return p.pruneDesc + ". " + graphLegend
}

// graphLegend says how the graph is drawn and used.
const graphLegend = "Discs: features (blue: positive attribution f·∂m/∂f, red: negative); grey squares: SAE errors; edges f_up·∂f_down/∂f_up, blue positive, red negative, wider = larger. Point at a node or an edge for its numbers; click a node to show its feature."

// SelectNode shows the feature of node i (of the nodes shown) in every
// pane of its SAE's tab, brought to the front.
func (p *GraphPane) SelectNode(i int) error {
	r := p.res
	if r == nil || i < 0 || i >= len(p.shownNodes) {
		return nil
	}
	n := r.Nodes[p.shownNodes[i]]
	if n.IsError() {
		return fmt.Errorf("that node is %s's error at position %d: no feature to show", r.SAEs[n.SAE].Name(), n.Pos)
	}
	v := r.Views[n.SAE]
	if v == nil {
		return fmt.Errorf("%s has no tab in this window", r.SAEs[n.SAE].Name())
	}
	return p.v.Bench().Show(v, n.Feature, "")
}

// Export saves the graph shown as png, svg or pdf (drawn anew in the
// light style, by the same code as on screen), or the whole graph as json.
func (p *GraphPane) Export(format string) {
	r := p.res
	if r == nil {
		p.msg.setResult("nothing to export: build a graph first")
		return
	}
	name := fileStem("graph", p.v.Name()) + "." + format
	if format == "json" {
		p.v.Export("the graph", name, func(_ string, w io.Writer) error { return writeGraphJSON(w, r) }, nil)
		return
	}
	spec := p.shown
	p.v.Export("the graph", name, func(path string, w io.Writer) error {
		fig, err := plots.Graph(spec)
		if err != nil {
			return err
		}
		data, err := plots.Render(fig.Plot, plots.DefaultWidth, plots.DefaultHeight, extOr(path, format, plots.Formats...))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}, nil)
}

// writeGraphJSON writes r as the attribute command writes --graph's
// output: the metric, the prompt's tokens, the SAEs, where it ran, the
// metric's value and the graph (every node and edge, not pruned).
func writeGraphJSON(w io.Writer, r *GraphResult) error {
	names := make([]string, len(r.SAEs))
	for i, s := range r.SAEs {
		names[i] = s.Name()
	}
	out := map[string]any{"metric": r.MetricJSON, "tokens": r.Tokens, "saes": names, "backend": r.Backend,
		"computed_on": r.ComputedOn, "graph": r.Graph}
	if r.IsFeature {
		out["target_act"] = r.Graph.Metric
	} else {
		out["metric_value"] = r.Graph.Metric
	}
	return json.NewEncoder(w).Encode(out)
}

// AttrGraph returns the Attribution graph pane.
func (e *Explorer) AttrGraph() *GraphPane { return e.pane(PaneGraph).(*GraphPane) }
