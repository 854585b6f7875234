package ui

import (
	"context"
	"math"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/encoder"
)

// flowViews returns views of the fixture's two SAEs in one workbench:
// the resid_pre 1 one (down) and the mlp_out 0 one (up), and the feature
// of down most active at the last position of FlowExample.
func flowViews(t *testing.T) (down, up *View, target int) {
	t.Helper()
	down = newTestView(t)
	up = otherView(t, nil)
	down.Bench().Add(up)
	acts, err := down.SAE.Encode(context.Background(), FlowExample)
	if err != nil {
		t.Fatal(err)
	}
	n := down.DSae()
	last := acts.Acts[len(acts.Acts)-n:]
	target = 0
	for f, a := range last {
		if a > last[target] {
			target = f
		}
	}
	if last[target] <= 0 {
		t.Fatal("no feature fires at the example's last position")
	}
	return down, up, target
}

// The example runs in the background (for the feature most active at the
// last position, none being selected) and shows what the library computes
// for the same prompt: the upstream features' attributions summed over
// positions (largest first), the exact zero-ablation effects of the top
// ones, and the per-layer split; a click on a row selects that feature
// in the other SAE's view.
func TestFlowPaneExample(t *testing.T) {
	test.NewTempApp(t)
	down, up, target := flowViews(t)
	p := NewFlowPane(down)
	show(t, p.Content(), 1100, 760)
	p.RunExample() // no feature selected: the example picks the most active one
	if !p.Run.Disabled() || p.Cancel.Disabled() {
		t.Error("while running: Run enabled or Cancel disabled")
	}
	p.Settle()
	if p.Msg.Visible() {
		t.Fatalf("message %q", p.Msg.Text)
	}
	r := p.Result()
	if r == nil || len(r.Rows) == 0 {
		t.Fatal("no upstream rows")
	}
	if r.Feature != target || down.Feature() != target {
		t.Errorf("the example traced feature %d and selected %d; the most active at the last position is %d", r.Feature, down.Feature(), target)
	}
	if !strings.Contains(p.Status.Text, "Computed on cpu") {
		t.Errorf("status %q does not say where it ran", p.Status.Text)
	}
	// the library, called directly
	ctx := context.Background()
	m := down.SAE.W.Model
	tokens := patchTokens(down, FlowExample)
	T, n := len(tokens), up.DSae()
	metric := attribution.Metric{Kind: attribution.Feature, SAE: 1, Feature: target, Pos: T - 1}
	encs := []*encoder.Encoder{up.SAE.Enc, down.SAE.Enc}
	ar, err := attribution.Run(ctx, m, encs, tokens, metric)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Act-ar.Metric) > 1e-6 || r.Pos != T-1 {
		t.Errorf("target activation %g at %d, the library's %g at %d", r.Act, r.Pos, ar.Metric, T-1)
	}
	sum := make([]float64, n)
	for j, a := range ar.Attribution(0) {
		sum[j%n] += float64(a)
	}
	var exact []int
	for i, row := range r.Rows {
		if row.SAE != up.SAE || row.View != up {
			t.Fatalf("row %d: SAE %s, view %v", i, row.SAE.Name(), row.View)
		}
		if w := sum[row.Feature]; math.Abs(row.Attr-w) > 1e-5*math.Max(1, math.Abs(w)) {
			t.Errorf("row %d feature %d: attribution %g, the library's %g", i, row.Feature, row.Attr, w)
		}
		if i > 0 && math.Abs(row.Attr) > math.Abs(r.Rows[i-1].Attr) {
			t.Errorf("row %d larger than row %d", i, i-1)
		}
		if row.Exact != (i < FlowExactTop) {
			t.Errorf("row %d exact %v", i, row.Exact)
		}
		if row.Exact {
			exact = append(exact, row.Feature)
		}
	}
	nonzero := 0
	for _, s := range sum {
		if s != 0 {
			nonzero++
		}
	}
	if len(r.Rows) != min(nonzero, FlowRowsShown) {
		t.Errorf("%d rows, %d features with an attribution", len(r.Rows), nonzero)
	}
	ab, err := attribution.AblationEffectsOf(ctx, m, encs, tokens, metric, exact, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range r.Rows[:len(exact)] {
		if w := ab.Effect[row.Feature]; math.Abs(row.Effect-w) > 1e-5*math.Max(1, math.Abs(w)) {
			t.Errorf("feature %d: effect %g, the library's %g", row.Feature, row.Effect, w)
		}
	}
	fl, err := attribution.Flow(ctx, m, nil, up.SAE.Enc, down.SAE.Enc, tokens, target, -1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Split == nil || math.Abs(r.Split.MLP.Total-fl.MLP.Total) > 1e-6 || math.Abs(r.Split.Attention-fl.Attention) > 1e-6 ||
		r.Split.Resid.Features != nil || math.Abs(r.Split.Resid.Error-fl.Resid.Error) > 1e-6 {
		t.Fatalf("split %+v, the library's %+v", r.Split, fl)
	}
	if p.Split.Figure() == nil || len(flowSplitBars(r.Split)) != 5 {
		t.Error("the split is not plotted as resid_pre (no SAE), attention and mlp_out's features, error and bias")
	}
	// a click on a row selects its feature in the other SAE's view
	if up.Feature() == r.Rows[1].Feature {
		t.Fatal("the upstream view already shows the feature")
	}
	if err := p.SelectRow(1); err != nil {
		t.Fatal(err)
	}
	if up.Feature() != r.Rows[1].Feature || down.Feature() != target {
		t.Errorf("after the click: upstream feature %d (want %d), target %d", up.Feature(), r.Rows[1].Feature, down.Feature())
	}
}

// Bad inputs are said in the message line: no feature selected, no
// prompt, a position outside it, and a tab with no SAE upstream.
func TestFlowPaneBadInput(t *testing.T) {
	test.NewTempApp(t)
	down, up, target := flowViews(t)
	p := NewFlowPane(down)
	show(t, p.Content(), 1000, 700)
	p.Prompt.SetText("Hello there")
	p.Start()
	if !strings.Contains(p.Msg.Text, "select a feature") {
		t.Errorf("no feature: %q", p.Msg.Text)
	}
	down.Select(target)
	p.Prompt.SetText("  ")
	p.Start()
	if !strings.Contains(p.Msg.Text, "type a prompt") {
		t.Errorf("no prompt: %q", p.Msg.Text)
	}
	p.Prompt.SetText("Hello there")
	p.Pos.SetText("7")
	p.Start()
	if !strings.Contains(p.Msg.Text, "position 7 outside a prompt of 3 tokens") {
		t.Errorf("position: %q", p.Msg.Text)
	}
	p.Pos.SetText("x")
	p.Start()
	if !strings.Contains(p.Msg.Text, "position") {
		t.Errorf("position x: %q", p.Msg.Text)
	}
	q := NewFlowPane(up)
	up.Select(3)
	q.Prompt.SetText("Hello there")
	q.Start()
	if !strings.Contains(q.Msg.Text, "no SAE of the workspace writes a hook before") {
		t.Errorf("no upstream SAE: %q", q.Msg.Text)
	}
	if p.Result() != nil || q.Result() != nil || !p.Cancel.Disabled() {
		t.Error("a run started on bad input")
	}
}

// Cancel stops a run of either pane: the model is held while Run starts
// its job, Cancel is pressed, and the job, once it gets the model, stops
// and says so; before any run, each pane says where attribution runs.
func TestFlowAndGraphPanesCancel(t *testing.T) {
	test.NewTempApp(t)
	down, _, target := flowViews(t)
	down.Select(target)
	fp, gp := NewFlowPane(down), NewGraphPane(down)
	for _, s := range []string{fp.Summary.Text, gp.Summary.Text} {
		if !strings.Contains(s, "Attribution runs on cpu.") {
			t.Errorf("summary %q does not say where attribution runs", s)
		}
	}
	show(t, containerOf(fp.Content(), gp.Content()), 1100, 1400)
	m := down.SAE.W.Model
	m.Lock()
	fp.Prompt.SetText(FlowExample)
	fp.Start()
	fp.Stop()
	gp.Prompt.SetText(FlowExample)
	gp.TokenA.SetText(GraphExampleA)
	gp.TokenB.SetText(GraphExampleB)
	gp.Start()
	gp.Stop()
	m.Unlock()
	fp.Settle()
	gp.Settle()
	if fp.Result() != nil || !strings.HasPrefix(fp.Status.Text, "Cancelled") || fp.Run.Disabled() {
		t.Errorf("flow after Cancel: result %v, status %q, Run disabled %v", fp.Result() != nil, fp.Status.Text, fp.Run.Disabled())
	}
	if gp.Result() != nil || !strings.HasPrefix(gp.Status.Text, "Cancelled") || gp.Run.Disabled() {
		t.Errorf("graph after Cancel: result %v, status %q, Run disabled %v", gp.Result() != nil, gp.Status.Text, gp.Run.Disabled())
	}
}
