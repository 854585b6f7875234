package ui

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/ui/plots"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/tokenizer"
)

// FlowExample is the Flow pane's example prompt.
const FlowExample = "When Mary and John went to the store, John gave a drink to"

// FlowExactTop is how many upstream features, the largest attributions
// first, get their exact zero-ablation effect beside the estimate.
const FlowExactTop = 10

// FlowRowsShown bounds the upstream features the Flow pane lists.
const FlowRowsShown = 200

// FlowPane shows where the selected feature's activation at one position
// of a typed prompt comes from: every feature of every SAE of the
// workspace at an earlier hook, ranked by its attribution f_up·∂f/∂f_up
// (summed over positions, one backward pass with all of them spliced
// in, errors held constant), the exact change when the top ones are
// zero-ablated at every position beside it, and for a feature of a
// blocks.L+1.hook_resid_pre SAE, its pre-activation split into what
// block L adds (resid_pre L features, mlp_out L features, attention,
// the SAEs' errors and biases). A click on an upstream feature shows it
// in every pane, its SAE's tab brought to the front.
type FlowPane struct {
	v       *View
	content fyne.CanvasObject

	Prompt *widget.Entry
	Pos    *widget.Entry
	// Target names the feature whose input is split (the selected one).
	Target *widget.Label

	// The run: Run, Cancel, Progress and Status.
	*paneRun
	Example *widget.Button
	Msg     *widget.Label
	Summary *widget.Label
	Table   *HeaderTable
	// Split plots the per-layer split; SplitNote says what it is, or why
	// there is none.
	Split     *PlotView
	SplitNote *widget.Label

	msg *paneMsg
	res *FlowResult
}

// FlowRow is one upstream feature of a flow.
type FlowRow struct {
	SAE *workspace.SAE
	// View is the SAE's tab (nil if it has none).
	View    *View
	Feature int
	// Attr is f_up·∂f/∂f_up summed over positions; Pos the position of
	// its largest term.
	Attr float64
	Pos  int
	// Effect is the target's exact change when the feature is
	// zero-ablated at every position, when Exact.
	Effect float64
	Exact  bool
}

// FlowResult is one run of the Flow pane.
type FlowResult struct {
	Tokens []int32
	// Feature and Pos (from the start) are the target's; Act its
	// activation there.
	Feature, Pos int
	Act          float64
	// Ups are the upstream SAEs, in the order they were spliced.
	Ups []*workspace.SAE
	// Rows are the upstream features with a non-zero attribution, the
	// largest |Attr| first (at most FlowRowsShown).
	Rows []FlowRow
	// Split is the per-layer split (nil when the target's SAE does not
	// read a hook_resid_pre after block 0: SplitErr says why).
	Split    *attribution.LayerFlow
	SplitErr string
	// ComputedOn says where the work ran.
	ComputedOn string
	Elapsed    time.Duration
}

// flowRequest is what a run computes, read on the UI thread.
type flowRequest struct {
	tokens  []int32
	feature int
	pos     int
	target  *workspace.SAE
	ups     []*workspace.SAE
	views   map[*workspace.SAE]*View
	// pick: the target is the feature most active at pos
	pick bool
}

// NewFlowPane builds the Flow pane of v.
func NewFlowPane(v *View) *FlowPane {
	p := &FlowPane{v: v}
	p.Prompt = widget.NewEntry()
	p.Prompt.SetPlaceHolder("Prompt, e.g. " + FlowExample)
	p.Pos = widget.NewEntry()
	p.Pos.SetText("-1")
	p.Target = widget.NewLabel("")
	p.Target.Truncation = fyne.TextTruncateEllipsis
	p.Msg = newMessageLine(widget.DangerImportance)
	p.msg = newPaneMsg(p.Msg)
	p.paneRun = newPaneRun(v.Jobs, p.msg, p.Start, "Cancelled: the table shows the previous run, if any.")
	p.alt = p.Target
	p.Summary = widget.NewLabel("Select a feature, type a prompt and press Run: the features of the earlier SAEs that drive it are listed here." + runsOn(v))
	p.Summary.Wrapping = fyne.TextWrapWord
	p.Example = widget.NewButton("Example", p.RunExample)

	cols := flowColumns()
	p.Table = NewHeaderTable(
		func() (int, int) {
			if p.res == nil {
				return 0, len(cols)
			}
			return len(p.res.Rows), len(cols)
		},
		func() fyne.CanvasObject {
			l := widget.NewLabel("000000")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		p.updateCell)
	p.Table.CreateHeader = func() fyne.CanvasObject { return widget.NewLabel("") }
	p.Table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Col >= 0 && id.Col < len(cols) {
			o.(*widget.Label).SetText(cols[id.Col].title)
		}
	}
	for c, col := range cols {
		p.Table.SetColumnWidth(c, col.width)
	}
	p.Table.OnSelected = func(id widget.TableCellID) {
		p.Table.UnselectAll()
		if err := p.SelectRow(id.Row); err != nil {
			p.msg.setResult(err.Error())
		}
	}
	p.Split = NewPlotView(v)
	p.Split.Name = fileStem("flow", v.Name())
	p.Split.SetMessage("The per-layer split of the feature's pre-activation is plotted here after a run.")
	p.SplitNote = widget.NewLabel("")
	p.SplitNote.Wrapping = fyne.TextWrapWord

	sized := func(o fyne.CanvasObject, w float32) fyne.CanvasObject {
		return container.NewGridWrap(fyne.NewSize(w, o.MinSize().Height), o)
	}
	promptRow := container.NewBorder(nil, nil, widget.NewLabel("Prompt"), p.Example, p.Prompt)
	runRow := container.NewBorder(nil, nil,
		container.NewHBox(widget.NewLabel("Target at position"), sized(p.Pos, 64), p.Run, p.Cancel), nil,
		container.NewStack(p.Progress, p.Target, p.Status))
	top := container.NewVBox(promptRow, runRow, p.Msg, p.Summary)
	right := container.NewBorder(nil, container.NewVBox(p.SplitNote,
		exportButtons("Export split", func(f string) { p.Split.Export(f, nil) }, plots.Formats...)), nil, nil, p.Split)
	split := container.NewHSplit(p.Table, right)
	split.Offset = 0.6
	p.content = container.NewBorder(top, nil, nil, nil, split)
	p.Prompt.OnChanged = func(string) { p.Status.SetText(""); p.syncRunRow() }
	v.OnFeature(func(int) { p.syncTarget(); p.Table.Refresh() })
	v.OnLabel(func(int) { p.Table.Refresh() })
	p.syncTarget()
	return p
}

// Content is the pane's widget tree.
func (p *FlowPane) Content() fyne.CanvasObject { return p.content }

// Settle waits for the run in flight and its plot (tests).
func (p *FlowPane) Settle() { p.settle(p.Split.Settle) }

// Result returns the last run's result (nil before one finished).
func (p *FlowPane) Result() *FlowResult { return p.res }

// RunExample types the example prompt, the last position, and runs it for
// the selected feature; with none selected, for the feature most active
// there (selected in every pane once found).
func (p *FlowPane) RunExample() {
	p.Prompt.SetText(FlowExample)
	p.Pos.SetText("-1")
	p.start(p.v.Feature() < 0)
}

// syncTarget names the target beside Run.
func (p *FlowPane) syncTarget() {
	if f := p.v.Feature(); f >= 0 {
		p.Target.SetText(fmt.Sprintf("feature %d of %s", f, p.v.Name()))
	} else {
		p.Target.SetText("select a feature: the flow shows where its input comes from")
	}
	p.syncRunRow()
}

// promptTokens returns a typed prompt as the model reads it (BOS first,
// dropped when every SAE was trained without it), or why it cannot run.
func promptTokens(v *View, text string, encs []*encoder.Encoder) ([]int32, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("type a prompt")
	}
	if !utf8.ValidString(text) {
		return nil, errors.New("the prompt is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(text); n > workspace.MaxTextRunes {
		return nil, fmt.Errorf("the prompt has %d characters, more than the %d a prompt may have", n, workspace.MaxTextRunes)
	}
	ids := v.Tok.ToTokens(text)
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	noBOS := len(encs) > 0
	for _, e := range encs {
		noBOS = noBOS && e.SAE.NoBOS
	}
	if noBOS && len(out) > 1 && out[0] == tokenizer.BOS {
		out = out[1:]
	}
	if w := v.SAE.W; w != nil && w.Model != nil && len(out) > w.Model.Config.NPositions {
		return nil, fmt.Errorf("the prompt has %d tokens, more than the model's context of %d", len(out), w.Model.Config.NPositions)
	}
	return out, nil
}

// runsOn says where attribution runs for v's model (" " first), or "".
func runsOn(v *View) string {
	if v.SAE == nil || v.SAE.W == nil || v.SAE.W.Model == nil {
		return ""
	}
	return " Attribution runs on " + attribution.ComputedOn(v.SAE.W.Model.Backend()) + "."
}

// benchViews maps each SAE of v's workbench to its tab.
func benchViews(v *View) map[*workspace.SAE]*View {
	out := map[*workspace.SAE]*View{}
	for _, o := range v.Bench().Views() {
		out[o.SAE] = o
	}
	return out
}

// upstreamSAEs returns the SAEs of target's workspace that write a hook
// before target reads its own, in the workspace's order.
func upstreamSAEs(target *workspace.SAE) []*workspace.SAE {
	var ups []*workspace.SAE
	if target.W == nil {
		return nil
	}
	in := target.Weights.Hook.Order()
	for _, s := range target.W.SAEs() {
		if s != target && s.Weights.Output().Order() < in {
			ups = append(ups, s)
		}
	}
	return ups
}

// request reads the inputs.
func (p *FlowPane) request(pick bool) (*flowRequest, error) {
	s := p.v.SAE
	if s == nil || s.W == nil || s.W.Model == nil {
		return nil, errors.New("no model loaded: open a model and SAEs at two hooks to see how features flow")
	}
	f := p.v.Feature()
	if f < 0 && !pick {
		return nil, errors.New("select a feature first (in the ranking): the flow shows where its input comes from")
	}
	ups := upstreamSAEs(s)
	if len(ups) == 0 {
		return nil, fmt.Errorf("no SAE of the workspace writes a hook before %s reads %s: add one at an earlier hook (for a blocks.L+1.hook_resid_pre SAE, at blocks.L.hook_resid_pre or blocks.L.hook_mlp_out) to see where its features come from",
			s.Name(), s.Weights.Hook)
	}
	encs := []*encoder.Encoder{s.Enc}
	for _, u := range ups {
		encs = append(encs, u.Enc)
	}
	tokens, err := promptTokens(p.v, p.Prompt.Text, encs)
	if err != nil {
		return nil, err
	}
	pos, err := parseInt(p.Pos.Text)
	if err != nil {
		return nil, fmt.Errorf("position: %w", err)
	}
	T := len(tokens)
	if pos < -T || pos >= T {
		return nil, fmt.Errorf("position %d outside a prompt of %d tokens (0 to %d, or -1 to -%d from the end)", pos, T, T-1, T)
	}
	if pos < 0 {
		pos += T
	}
	return &flowRequest{tokens: tokens, feature: f, pos: pos, target: s, ups: ups, views: benchViews(p.v), pick: pick}, nil
}

// Start runs the flow of the inputs in the background; Cancel stops it.
// A bad input is said in the message line instead.
func (p *FlowPane) Start() { p.start(false) }

// start is Start; with pick, the target is the feature most active at
// the position, selected in every pane when the run ends.
func (p *FlowPane) start(pick bool) {
	if p.running() {
		return
	}
	req, err := p.request(pick)
	if err != nil {
		p.msg.setResult(err.Error())
		return
	}
	t0 := time.Now()
	p.begin(func(ctx context.Context, progress func(done, total int)) (func(), error) {
		if req.pick {
			f, err := mostActive(ctx, req.target, req.tokens, req.pos)
			if err != nil {
				return nil, err
			}
			req.feature = f
		}
		res, err := ComputeFlow(ctx, req.target, req.ups, req.tokens, req.feature, req.pos, progress)
		if err != nil {
			return nil, err
		}
		res.Elapsed = time.Since(t0)
		for i := range res.Rows {
			res.Rows[i].View = req.views[res.Rows[i].SAE]
		}
		return func() { p.finish(res) }, nil
	})
}

// ComputeFlow is the Flow pane's computation: the upstream features of
// feature of target at pos (from the start) of tokens, ranked by their
// attribution summed over positions (one backward pass with target and
// every SAE of ups spliced in), the exact zero-ablation effect of the
// FlowExactTop largest (each with only its SAE and the target spliced,
// attribution.AblationEffectsOf), and the per-layer split
// (attribution.Flow) when target reads a hook_resid_pre after block 0.
// progress sees the ablations done.
func ComputeFlow(ctx context.Context, target *workspace.SAE, ups []*workspace.SAE, tokens []int32, feature, pos int, progress func(done, total int)) (*FlowResult, error) {
	m := target.W.Model
	encs := make([]*encoder.Encoder, 0, len(ups)+1)
	for _, u := range ups {
		encs = append(encs, u.Enc)
	}
	encs = append(encs, target.Enc)
	metric := attribution.Metric{Kind: attribution.Feature, SAE: len(ups), Feature: feature, Pos: pos}
	ar, err := attribution.Run(ctx, m, encs, tokens, metric)
	if err != nil {
		return nil, fmt.Errorf("attribution of feature %d of %s: %w", feature, target.Name(), err)
	}
	res := &FlowResult{Tokens: tokens, Feature: feature, Pos: pos, Act: ar.Metric, Ups: ups, ComputedOn: attribution.ComputedOn(m.Backend())}
	var rows []FlowRow
	for i, u := range ups {
		n := u.Weights.DSae
		attr := ar.Attribution(i)
		sum, best := make([]float64, n), make([]int, n)
		bestAbs := make([]float64, n)
		for j, a := range attr {
			f := j % n
			sum[f] += float64(a)
			if abs := math.Abs(float64(a)); abs > bestAbs[f] {
				bestAbs[f], best[f] = abs, j/n
			}
		}
		for f, s := range sum {
			if s != 0 {
				rows = append(rows, FlowRow{SAE: u, Feature: f, Attr: s, Pos: best[f]})
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b FlowRow) int {
		switch x, y := math.Abs(a.Attr), math.Abs(b.Attr); {
		case x > y:
			return -1
		case x < y:
			return 1
		}
		return 0
	})
	if len(rows) > FlowRowsShown {
		rows = rows[:FlowRowsShown]
	}
	res.Rows = rows
	// the exact effects of the top ones, per SAE
	top := rows[:min(FlowExactTop, len(rows))]
	done := 0
	for _, u := range ups {
		var feats []int
		for _, r := range top {
			if r.SAE == u {
				feats = append(feats, r.Feature)
			}
		}
		if len(feats) == 0 {
			continue
		}
		base := done
		ab, err := attribution.AblationEffectsOf(ctx, m, []*encoder.Encoder{u.Enc, target.Enc}, tokens,
			attribution.Metric{Kind: attribution.Feature, SAE: 1, Feature: feature, Pos: pos}, feats, 16,
			func(d, _ int) {
				if progress != nil {
					progress(base+d, len(top))
				}
			})
		if err != nil {
			return nil, fmt.Errorf("zero-ablating features of %s: %w", u.Name(), err)
		}
		done += len(feats)
		for i := range top {
			if top[i].SAE == u {
				top[i].Effect, top[i].Exact = ab.Effect[top[i].Feature], true
			}
		}
	}
	// the per-layer split
	h := target.Weights.Hook
	if h.Point != hookname.ResidPre || h.Layer < 1 || target.Weights.Transcoder {
		res.SplitErr = fmt.Sprintf("The per-layer split is for a feature of a hook_resid_pre SAE after block 0; %s reads %s.", target.Name(), h)
		return res, nil
	}
	L := h.Layer - 1
	var resid, mlp *encoder.Encoder
	for _, u := range ups {
		if u.Weights.Transcoder {
			continue
		}
		switch u.Weights.Hook {
		case hookname.Hook{Layer: L, Point: hookname.ResidPre}:
			resid = u.Enc
		case hookname.Hook{Layer: L, Point: hookname.MLPOut}:
			mlp = u.Enc
		}
	}
	fl, err := attribution.Flow(ctx, m, resid, mlp, target.Enc, tokens, feature, pos)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		res.SplitErr = "No per-layer split: " + err.Error()
		return res, nil
	}
	res.Split = fl
	return res, nil
}

// finish shows a run's result, selecting the example's pick (UI
// thread).
func (p *FlowPane) finish(res *FlowResult) {
	p.Status.SetText(computedOn(res.ComputedOn, res.Elapsed) + ".")
	if res.Feature != p.v.Feature() {
		p.v.Select(res.Feature) // the example's pick
	}
	p.show(res)
}

// mostActive returns target's feature most active at pos of tokens.
func mostActive(ctx context.Context, target *workspace.SAE, tokens []int32, pos int) (int, error) {
	ar, err := attribution.Run(ctx, target.W.Model, []*encoder.Encoder{target.Enc}, tokens,
		attribution.Metric{Kind: attribution.Feature, Feature: 0, Pos: pos})
	if err != nil {
		return 0, fmt.Errorf("encoding the prompt with %s: %w", target.Name(), err)
	}
	n := target.Weights.DSae
	row := ar.Acts[0][pos*n : (pos+1)*n]
	best := 0
	for f, a := range row {
		if a > row[best] {
			best = f
		}
	}
	if row[best] <= 0 {
		return 0, fmt.Errorf("no feature of %s fires at position %d of the prompt: select one to trace", target.Name(), pos)
	}
	return best, nil
}

// show lists and plots a result.
func (p *FlowPane) show(r *FlowResult) {
	p.res = r
	tok := quoteTok(p.v.Tok.InlineString(int(r.Tokens[r.Pos])))
	p.Summary.SetText(fmt.Sprintf("Feature %d at position %d (%s) of %s: activation %s. Attribution: Σ over positions of f_up·∂f/∂f_up (errors held constant); Effect: the exact change when the feature is zero-ablated at every position (the top %d; attribution estimates it as −attribution). Click a row to show that feature.",
		r.Feature, r.Pos, tok, nOf(len(r.Tokens), "token"), fnum(r.Act), FlowExactTop))
	p.Table.Refresh()
	p.Table.ScrollToTop()
	if r.Split == nil {
		p.SplitNote.SetText(r.SplitErr)
		p.Split.SetMessage(r.SplitErr)
		return
	}
	fl := r.Split
	effs := flowSplitBars(fl)
	p.SplitNote.SetText(fmt.Sprintf("Pre-activation %s (activation %s) = the bars + the target's bias %s; unexplained: %s.",
		fnum(fl.PreAct), fnum(fl.Act), fnum(fl.Bias), fnum(fl.Unexplained)))
	title := fmt.Sprintf("What block %d adds to feature %d's pre-activation", fl.Layer, fl.Feature)
	p.Split.SetSource(func() (*plots.Figure, error) { return plots.Effects(effs, title, "contribution to the pre-activation") }, time.Now())
}

// flowSplitBars are a LayerFlow's shares as bars: each hook's features,
// error and decoder bias (or the whole hook, without an SAE), attention.
func flowSplitBars(fl *attribution.LayerFlow) []plots.Effect {
	var out []plots.Effect
	hook := func(name string, s attribution.FlowShares) {
		if s.Features == nil {
			out = append(out, plots.Effect{Label: name + " (no SAE)", Value: s.Error})
			return
		}
		out = append(out, plots.Effect{Label: name + " features", Value: s.Total},
			plots.Effect{Label: name + " SAE error", Value: s.Error},
			plots.Effect{Label: name + " decoder bias", Value: s.Bias})
	}
	L := strconv.Itoa(fl.Layer)
	hook("resid_pre "+L, fl.Resid)
	out = append(out, plots.Effect{Label: "attention " + L, Value: fl.Attention})
	hook("mlp_out "+L, fl.MLP)
	return out
}

// flowColumn is one column of the Flow pane's table.
type flowColumn struct {
	title string
	width float32
	cell  func(r FlowRow) string
}

func flowColumns() []flowColumn {
	return []flowColumn{
		{"Hook", 96, func(r FlowRow) string { return hookLabel(r.SAE) }},
		{"Feature", 64, func(r FlowRow) string { return strconv.Itoa(r.Feature) }},
		{"Attribution", 92, func(r FlowRow) string { return fnum(r.Attr) }},
		{"Effect", 84, func(r FlowRow) string {
			if !r.Exact {
				return ""
			}
			return fnum(r.Effect)
		}},
		{"Top pos.", 70, func(r FlowRow) string { return strconv.Itoa(r.Pos) }},
		{"Label", 200, func(r FlowRow) string {
			if r.View == nil {
				return ""
			}
			return r.View.Label(r.Feature)
		}},
	}
}

func (p *FlowPane) updateCell(id widget.TableCellID, o fyne.CanvasObject) {
	l := o.(*widget.Label)
	cols := flowColumns()
	if p.res == nil || id.Row < 0 || id.Row >= len(p.res.Rows) || id.Col < 0 || id.Col >= len(cols) {
		l.SetText("")
		return
	}
	r := p.res.Rows[id.Row]
	text := cols[id.Col].cell(r)
	bold := r.View != nil && r.View.Feature() == r.Feature
	if l.Text != text || l.TextStyle.Bold != bold {
		l.Text, l.TextStyle.Bold = text, bold
		l.Refresh()
	}
}

// SelectRow shows row i's upstream feature in every pane of its SAE's
// tab, brought to the front.
func (p *FlowPane) SelectRow(i int) error {
	if p.res == nil || i < 0 || i >= len(p.res.Rows) {
		return nil
	}
	r := p.res.Rows[i]
	if r.View == nil {
		return fmt.Errorf("%s has no tab in this window", r.SAE.Name())
	}
	return p.v.Bench().Show(r.View, r.Feature, "")
}

// Flow returns the Flow pane.
func (e *Explorer) Flow() *FlowPane { return e.pane(PaneFlow).(*FlowPane) }
