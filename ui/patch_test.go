package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/ui/plots"
)

// patchTokens is text as the pane reads it.
func patchTokens(v *View, text string) []int32 {
	ids := v.Tok.ToTokens(text)
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

// sameEffects compares a pane's result with the library's (the same
// batches; 1e-5 leaves room for the BLAS's threads).
func sameEffects(t *testing.T, got *PatchResult, want *intervene.Patching) {
	t.Helper()
	if got == nil {
		t.Fatal("no result")
	}
	if len(got.Patched) != len(want.Patched) || got.MetricClean != want.MetricClean || got.MetricCorrupt != want.MetricCorrupt {
		t.Fatalf("%d patched, metrics %g, %g; the library: %d, %g, %g", len(got.Patched), got.MetricClean, got.MetricCorrupt,
			len(want.Patched), want.MetricClean, want.MetricCorrupt)
	}
	for i, w := range want.Effect {
		if math.Abs(got.Effect[i]-w) > 1e-5*math.Max(1, math.Abs(w)) {
			t.Fatalf("effect of feature %d: %g, the library's %g", i, got.Effect[i], w)
		}
	}
}

// The example runs in the background and shows what intervene.PatchWith
// computes for the same prompts and tokens: both metric values, the
// features ranked by |effect| in the table, the largest plotted; a click
// on a row selects that feature in every pane; the CSV holds every
// patched feature in rank order.
func TestPatchPaneExample(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewPatchPane(v)
	show(t, p.Content(), 1100, 760)

	p.RunExample()
	if !p.Run.Disabled() || p.Cancel.Disabled() || !p.Progress.Visible() {
		t.Error("while running: Run enabled, Cancel disabled or no progress bar")
	}
	p.Settle()
	if p.Run.Disabled() || !p.Cancel.Disabled() || p.Progress.Visible() {
		t.Error("after the run: Run disabled, Cancel enabled or the progress bar shown")
	}
	if p.Msg.Visible() {
		t.Fatalf("message %q", p.Msg.Text)
	}
	a, b := v.Tok.Encode(PatchExampleA), v.Tok.Encode(PatchExampleB)
	if !strings.Contains(p.TokenIDs.Text, "5335") || len(a) != 1 || a[0] != 5335 || len(b) != 1 {
		t.Errorf("token ids %q (%v, %v)", p.TokenIDs.Text, a, b)
	}
	clean, corrupt := patchTokens(v, PatchExampleClean), patchTokens(v, PatchExampleCorrupt)
	want, err := intervene.PatchWith(context.Background(), v.SAE.W.Model, v.SAE.Enc, clean, corrupt, intervene.LogitDiff(a[0], b[0]), intervene.PatchOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Result()
	sameEffects(t, r, want)
	if len(r.Patched) < 3 {
		t.Fatalf("only %d features patched: the ranking checks little", len(r.Patched))
	}
	for _, s := range []string{fnum(want.MetricClean), fnum(want.MetricCorrupt), "every position", nOf(len(clean), "token")} {
		if !strings.Contains(p.Summary.Text, s) {
			t.Errorf("summary %q lacks %q", p.Summary.Text, s)
		}
	}
	ranked := p.Ranked()
	for i := 1; i < len(ranked); i++ {
		if math.Abs(r.Effect[ranked[i]]) > math.Abs(r.Effect[ranked[i-1]]) {
			t.Fatalf("rank %d (feature %d, %g) above rank %d (%g)", i, ranked[i], r.Effect[ranked[i]], i-1, r.Effect[ranked[i-1]])
		}
	}
	fig := p.Plot.Figure()
	if fig == nil || fig.Kind != plots.KindEffects || p.Plot.Image() == nil {
		t.Fatalf("plot %v", fig)
	}
	ticks := fig.Plot.Y.Tick.Marker.Ticks(fig.Plot.Y.Min, fig.Plot.Y.Max)
	top := min(PatchTopBars, len(ranked))
	if len(ticks) != top || !strings.HasPrefix(ticks[top-1].Label, "#"+strconv.Itoa(ranked[0])) {
		t.Errorf("plot: %d bars, the top one %q; want %d, feature %d", len(ticks), ticks[len(ticks)-1].Label, top, ranked[0])
	}

	// the table's second row, feature column, then a click on it
	cell := p.Table.CreateCell()
	p.updateCell(widget.TableCellID{Row: 1, Col: 1}, cell)
	if got := cell.(*widget.Label).Text; got != strconv.Itoa(ranked[1]) {
		t.Errorf("row 1 shows feature %q, want %d", got, ranked[1])
	}
	p.Table.Select(widget.TableCellID{Row: 1, Col: 2})
	if v.Feature() != ranked[1] {
		t.Errorf("a click on row 1 selected %d, want %d", v.Feature(), ranked[1])
	}

	var buf bytes.Buffer
	if err := writePatchCSV(&buf, r, ranked, make([]string, len(ranked))); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(ranked)+1 || rows[0][2] != "effect" || rows[1][1] != strconv.Itoa(ranked[0]) {
		t.Errorf("CSV: %d rows, header %v, first %v", len(rows), rows[0], rows[1])
	}
}

// The loss and a feature's activation as metrics, and patching one
// position, give what the library gives.
func TestPatchPaneMetrics(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewPatchPane(v)
	show(t, p.Content(), 1100, 760)
	p.Clean.SetText(PatchExampleClean)
	p.Corrupt.SetText(PatchExampleCorrupt)
	clean, corrupt := patchTokens(v, PatchExampleClean), patchTokens(v, PatchExampleCorrupt)
	if !strings.Contains(p.Lengths.Text, nOf(len(clean), "token")) {
		t.Errorf("lengths %q", p.Lengths.Text)
	}

	p.Metric.SetSelected(patchLoss)
	p.Where.SetSelected(patchOnePos)
	p.Pos.SetText("-2")
	p.Start()
	p.Settle()
	want, err := intervene.PatchWith(context.Background(), v.SAE.W.Model, v.SAE.Enc, clean, corrupt, intervene.LossMetric(),
		intervene.PatchOptions{OnePosition: true, Pos: -2, Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	sameEffects(t, p.Result(), want)
	if p.Result().Pos != len(clean)-2 || !strings.Contains(p.Summary.Text, fmt.Sprintf("position %d", len(clean)-2)) {
		t.Errorf("position %d, summary %q", p.Result().Pos, p.Summary.Text)
	}

	p.Metric.SetSelected(patchFeature)
	if !p.featureBox.Visible() || p.logitBox.Visible() {
		t.Error("feature metric: its inputs are not the ones shown")
	}
	if p.MetricSAE.SelectedIndex() != 0 {
		t.Errorf("metric SAE %d, want the tab's own (0)", p.MetricSAE.SelectedIndex())
	}
	p.MetricFeature.SetText("17")
	p.MetricPos.SetText("-1")
	p.Where.SetSelected(patchEverywhere)
	p.Start()
	p.Settle()
	want, err = intervene.PatchWith(context.Background(), v.SAE.W.Model, v.SAE.Enc, clean, corrupt, intervene.FeatureMetric(v.SAE.Enc, 17, -1), intervene.PatchOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	sameEffects(t, p.Result(), want)
}

// Bad input is said in the message line and runs nothing: prompts of
// different lengths, a metric text of two tokens (naming both, with their
// ids), a feature or position out of range.
func TestPatchPaneBadInput(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewPatchPane(v)
	show(t, p.Content(), 1100, 760)
	p.Clean.SetText("The cat sat")
	if p.Msg.Visible() || !strings.Contains(p.Lengths.Text, "4 tokens") {
		t.Errorf("one prompt typed: message %q, lengths %q", p.Msg.Text, p.Lengths.Text)
	}
	p.Corrupt.SetText("The big cat sat")
	if !p.Msg.Visible() || !strings.Contains(p.Msg.Text, "the clean prompt has 4 tokens and the corrupted one 5") {
		t.Errorf("lengths: message %q", p.Msg.Text)
	}
	p.Corrupt.SetText("The dog sat")
	if p.Msg.Visible() {
		t.Errorf("same lengths: message %q", p.Msg.Text)
	}
	p.TokenA.SetText("hello world")
	p.TokenB.SetText(" John")
	if !strings.Contains(p.Msg.Text, `"hello world" is 2 tokens, not one: "hello" (31373) + " world" (995)`) {
		t.Errorf("two-token text: message %q", p.Msg.Text)
	}
	p.Start()
	p.Settle()
	if p.Result() != nil {
		t.Error("a run with a two-token metric text")
	}
	p.TokenA.SetText(" Mary")
	p.Metric.SetSelected(patchFeature)
	p.MetricFeature.SetText("256")
	p.Start()
	if !strings.Contains(p.Msg.Text, "metric feature 256 out of range") {
		t.Errorf("feature 256: message %q", p.Msg.Text)
	}
	p.MetricFeature.SetText("3")
	p.Where.SetSelected(patchOnePos)
	p.Pos.SetText("4")
	p.Start()
	if !strings.Contains(p.Msg.Text, "position 4 outside prompts of 4 tokens") {
		t.Errorf("position 4: message %q", p.Msg.Text)
	}
	p.Clean.SetText(strings.Repeat(" cat", 200))
	p.Corrupt.SetText(strings.Repeat(" dog", 200))
	if !strings.Contains(p.Msg.Text, "the prompts have 201 tokens, more than the model's context of 128") {
		t.Errorf("long prompts: message %q", p.Msg.Text)
	}
	p.Settle()
	if p.Result() != nil {
		t.Error("a bad input ran")
	}
}

// Cancel stops a run: the model is held while Run starts its job, Cancel
// is pressed, and the job, once it gets the model, stops at its first
// block and says so.
func TestPatchPaneCancel(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewPatchPane(v)
	show(t, p.Content(), 1100, 760)
	m := v.SAE.W.Model
	m.Lock()
	p.Clean.SetText(PatchExampleClean)
	p.Corrupt.SetText(PatchExampleCorrupt)
	p.TokenA.SetText(PatchExampleA)
	p.TokenB.SetText(PatchExampleB)
	p.Start()
	p.Stop()
	m.Unlock()
	p.Settle()
	if p.Result() != nil || !strings.HasPrefix(p.Status.Text, "Cancelled") || p.Run.Disabled() {
		t.Errorf("after Cancel: result %v, status %q, Run disabled %v", p.Result() != nil, p.Status.Text, p.Run.Disabled())
	}
}

// The table has an Estimate column only when a result carries attribution
// estimates, and the CSV an estimate field.
func TestPatchPaneEstimateColumn(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewPatchPane(v)
	r := &PatchResult{Patching: &intervene.Patching{Effect: make([]float64, 256), Delta: make([]float64, 256), Patched: []int{4, 9}}, Metric: "loss over the prompt"}
	r.Effect[4], r.Effect[9] = 0.5, -2
	p.show(r)
	plain := len(p.columns())
	if p.Ranked()[0] != 9 {
		t.Errorf("ranked %v, want 9 first (|−2| > 0.5)", p.Ranked())
	}
	r2 := *r
	r2.Estimate = make([]float64, 256)
	r2.Estimate[9] = -1.75
	p.show(&r2)
	cols := p.columns()
	if len(cols) != plain+1 || cols[3].title != "Estimate" {
		t.Fatalf("columns with estimates: %d (the fourth %v), without: %d", len(cols), cols[3].title, plain)
	}
	cell := p.Table.CreateCell()
	p.updateCell(widget.TableCellID{Row: 0, Col: 3}, cell)
	if cell.(*widget.Label).Text != fnum(-1.75) {
		t.Errorf("estimate cell %q", cell.(*widget.Label).Text)
	}
	var buf bytes.Buffer
	if err := writePatchCSV(&buf, &r2, p.Ranked(), []string{"", ""}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "rank,feature,effect,delta_f,estimate,metric") || !strings.Contains(buf.String(), "1,9,-2,0,-1.75,") {
		t.Errorf("CSV:\n%s", buf.String())
	}
}

// In the explorer: the Patch tab by name, without the feature header
// (it shows the whole SAE), and a click on a ranked feature shows that
// feature in the other panes (here the detail pane).
func TestPatchPaneInExplorer(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	e := NewExplorer(v)
	show(t, e.Content(), 1280, 800)
	if err := e.ShowPane(PanePatch); err != nil {
		t.Fatal(err)
	}
	e.Settle()
	if e.header.Visible() {
		t.Error("the feature header is shown over the Patch pane")
	}
	p := e.Patch()
	p.RunExample()
	e.Settle()
	if len(p.Ranked()) == 0 {
		t.Fatalf("no features ranked: %q", p.Msg.Text)
	}
	f := p.Ranked()[0]
	p.Table.Select(widget.TableCellID{Row: 0, Col: 1})
	e.ShowPane(PaneDetail)
	e.Settle()
	if v.Feature() != f || e.Detail().shown.f != f {
		t.Errorf("clicked feature %d: selected %d, detail shows %d", f, v.Feature(), e.Detail().shown.f)
	}
}
