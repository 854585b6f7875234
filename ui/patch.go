package ui

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/ui/plots"
)

// The Patch pane's metrics, as its metric choice shows them.
const (
	patchLogitDiff = "Logit difference"
	patchLoss      = "Loss over the prompt"
	patchFeature   = "A feature's activation"
)

// Where the Patch pane patches.
const (
	patchEverywhere = "every position"
	patchOnePos     = "one position"
)

// The Patch pane's example: indirect object identification (Wang et al.),
// where the name to predict flips between the two prompts.
const (
	PatchExampleClean   = "When Mary and John went to the store, John gave a drink to"
	PatchExampleCorrupt = "When Mary and John went to the store, Mary gave a drink to"
	PatchExampleA       = " Mary"
	PatchExampleB       = " John"
)

// PatchTopBars is the number of effects the Patch pane's plot shows.
const PatchTopBars = 20

// PatchPane measures, exactly, what each feature of the tab's SAE carries
// from a clean prompt to a corrupted one of the same length: the corrupted
// run with x + (f_clean_i − f_corrupt_i)·W_dec[i] at the SAE's hook, at
// every position or one, minus the corrupted run, on a metric (a logit
// difference of two one-token texts at the last position, the loss over
// the prompt, or a feature's activation of any SAE of the workspace at or
// after the hook). It runs off the UI thread with progress and Cancel,
// ranks the features by the size of their effect (a click selects one in
// every pane) and plots the largest, with PNG/SVG/PDF and CSV exports.
type PatchPane struct {
	v       *View
	content fyne.CanvasObject

	Clean, Corrupt *widget.Entry
	// Lengths shows each prompt's tokens, or why they cannot be patched.
	Lengths *widget.Label

	// The metric: Metric, TokenA and TokenB, MetricSAE, MetricFeature,
	// MetricPos and LossNote.
	*metricPicker
	// TokenIDs shows the logit difference's token ids, or which of its
	// tokens is not one token.
	TokenIDs *widget.Label

	Where *widget.Select
	Pos   *widget.Entry

	// The run: Run, Cancel, Progress and Status.
	*paneRun
	Example *widget.Button
	Msg     *widget.Label
	Summary *widget.Label
	Table   *HeaderTable
	Plot    *PlotView

	msg    *paneMsg
	res    *PatchResult
	ranked []int // the patched features, largest |effect| first
}

// PatchResult is one run of the Patch pane.
type PatchResult struct {
	*intervene.Patching
	// Metric describes the metric; Where the positions patched.
	Metric, Where string
	Tokens        int
	Elapsed       time.Duration
	// Estimate is the attribution-patching estimate of each feature's
	// effect, Σ over positions of ∂metric/∂f · (f_clean − f_corrupt)
	// (issue 18): nil until that backward pass fills it in. The table
	// shows an Estimate column, and the CSV an estimate field, only when
	// it is set.
	Estimate []float64
}

// patchRequest is what a run computes, read from the inputs on the UI
// thread.
type patchRequest struct {
	clean, corrupt []int32
	metric         intervene.Metric
	opt            intervene.PatchOptions
	where, desc    string
	// attr is the same metric for the attribution-patching estimate;
	// target the SAE a feature metric reads
	attr   attribution.Metric
	target *encoder.Encoder
}

// NewPatchPane builds the Patch pane of v.
func NewPatchPane(v *View) *PatchPane {
	p := &PatchPane{v: v}
	p.Clean = widget.NewEntry()
	p.Clean.SetPlaceHolder("Clean prompt, e.g. " + PatchExampleClean)
	p.Corrupt = widget.NewEntry()
	p.Corrupt.SetPlaceHolder("Corrupted prompt of the same token length")
	p.Lengths = widget.NewLabel("")
	p.Lengths.Truncation = fyne.TextTruncateEllipsis

	p.metricPicker = newMetricPicker(v, metricPickerOptions{MetricWidth: 175, SAEWidth: 300, PosLabel: "at position", PosWidth: 64,
		LossNote: "mean next-token cross-entropy of each run over its own prompt (positions 0 to T−2)",
		Prompts:  "prompts", OnChange: func() { p.checkTokens() }})
	p.TokenIDs = widget.NewLabel("")
	p.TokenIDs.Truncation = fyne.TextTruncateEllipsis

	p.Where = widget.NewSelect([]string{patchEverywhere, patchOnePos}, func(string) { p.syncWhere() })
	p.Pos = widget.NewEntry()
	p.Pos.SetText("-1")

	p.Msg = newMessageLine(widget.DangerImportance)
	p.msg = newPaneMsg(p.Msg)
	p.paneRun = newPaneRun(v.Jobs, p.msg, p.Start, "Cancelled: the table shows the previous run, if any.")
	p.alt = p.Lengths
	p.Summary = widget.NewLabel("Type two prompts of the same token length, choose a metric and press Run.")
	p.Summary.Wrapping = fyne.TextWrapWord

	p.Example = widget.NewButton("Example: Mary and John", p.RunExample)

	p.Table = NewHeaderTable(
		func() (int, int) { return len(p.ranked), len(p.columns()) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("000000")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		p.updateCell)
	p.Table.CreateHeader = func() fyne.CanvasObject { return widget.NewLabel("") }
	p.Table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		cols := p.columns()
		if id.Col >= 0 && id.Col < len(cols) {
			o.(*widget.Label).SetText(cols[id.Col].title)
		}
	}
	p.setColumnWidths()
	p.Table.OnSelected = func(id widget.TableCellID) {
		if id.Row < 0 || id.Row >= len(p.ranked) {
			return
		}
		f := p.ranked[id.Row]
		p.Table.UnselectAll()
		if err := v.Select(f); err != nil {
			p.msg.setResult(err.Error())
		}
	}
	p.Plot = NewPlotView(v)
	p.Plot.Name = fileStem("patch", v.Name())
	p.Plot.SetMessage("The largest effects are plotted here after a run.")

	p.Clean.OnChanged = func(string) { p.checkLengths() }
	p.Corrupt.OnChanged = func(string) { p.checkLengths() }

	label := func(s string) *widget.Label { return widget.NewLabel(s) }
	metricRow := p.metricPicker.row(p.Example)
	runRow := container.NewBorder(nil, nil,
		container.NewHBox(label("Patch at"), fixedWidth(p.Where, 150), fixedWidth(p.Pos, 64), p.Run, p.Cancel), nil,
		container.NewStack(p.Progress, p.Lengths, p.Status))
	form := container.NewBorder(nil, nil, container.NewVBox(label("Clean"), label("Corrupted")), nil,
		container.NewVBox(p.Clean, p.Corrupt))
	top := container.NewVBox(form, metricRow, p.TokenIDs, runRow, p.Msg, p.Summary)

	csvButton := widget.NewButtonWithIcon("CSV", theme.DownloadIcon(), p.ExportCSV)
	csvButton.Importance = widget.LowImportance
	left := container.NewBorder(nil, container.NewHBox(widget.NewLabel("Export effects"), csvButton), nil, nil, p.Table)
	right := container.NewBorder(nil, exportButtons("Export plot", func(f string) { p.Plot.Export(f, nil) }, plots.Formats...), nil, nil, p.Plot)
	split := container.NewHSplit(left, right)
	split.Offset = 0.5
	p.content = container.NewBorder(top, nil, nil, nil, split)

	p.Metric.SetSelected(patchLogitDiff)
	p.Where.SetSelected(patchEverywhere)
	p.refreshSAEs()
	p.checkTokens()
	p.checkLengths()
	v.OnFeature(func(int) { p.Table.Refresh() })
	v.OnLabel(func(int) { p.Table.Refresh() })
	return p
}

// Content is the pane's widget tree.
func (p *PatchPane) Content() fyne.CanvasObject { return p.content }

// Settle waits for the run in flight and its plot (tests).
func (p *PatchPane) Settle() { p.settle(p.Plot.Settle) }

// Result returns the last run's result (nil before one finished).
func (p *PatchPane) Result() *PatchResult { return p.res }

// Ranked returns the patched features, largest |effect| first.
func (p *PatchPane) Ranked() []int { return p.ranked }

// RunExample fills in the example (indirect object identification, the
// logit difference of " Mary" and " John") and runs it.
func (p *PatchPane) RunExample() {
	p.Clean.SetText(PatchExampleClean)
	p.Corrupt.SetText(PatchExampleCorrupt)
	p.Metric.SetSelected(patchLogitDiff)
	p.TokenA.SetText(PatchExampleA)
	p.TokenB.SetText(PatchExampleB)
	p.Where.SetSelected(patchEverywhere)
	p.Start()
}

// syncWhere enables the position of one-position patching.
func (p *PatchPane) syncWhere() {
	if p.Where.Selected == patchOnePos {
		p.Pos.Enable()
	} else {
		p.Pos.Disable()
	}
}

// tokens returns text as the model reads it (BOS first).
func (p *PatchPane) tokens(text, which string) ([]int32, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("type the %s prompt", which)
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("the %s prompt is not valid UTF-8", which)
	}
	if n := utf8.RuneCountInString(text); n > workspace.MaxTextRunes {
		return nil, fmt.Errorf("the %s prompt has %d characters, more than the %d a prompt may have", which, n, workspace.MaxTextRunes)
	}
	ids := p.v.Tok.ToTokens(text)
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out, nil
}

// prompts returns both prompts' tokens, or why they cannot be patched.
func (p *PatchPane) prompts() (clean, corrupt []int32, err error) {
	if clean, err = p.tokens(p.Clean.Text, "clean"); err != nil {
		return nil, nil, err
	}
	if corrupt, err = p.tokens(p.Corrupt.Text, "corrupted"); err != nil {
		return nil, nil, err
	}
	if len(clean) != len(corrupt) {
		return nil, nil, fmt.Errorf("the clean prompt has %s and the corrupted one %s (BOS included): patching needs the same length",
			nOf(len(clean), "token"), nOf(len(corrupt), "token"))
	}
	if w := p.v.SAE.W; w != nil && w.Model != nil && len(clean) > w.Model.Config.NPositions {
		return nil, nil, fmt.Errorf("the prompts have %d tokens, more than the model's context of %d", len(clean), w.Model.Config.NPositions)
	}
	return clean, corrupt, nil
}

// setNote sets a note line, hiding it when empty.
func setNote(l *widget.Label, text string) {
	l.SetText(text)
	l.Hidden = text == ""
	l.Refresh()
}

// setLengths sets the prompts' token counts, shown beside Run while no
// run or status is.
func (p *PatchPane) setLengths(text string) {
	p.Lengths.SetText(text)
	p.syncRunRow()
}

// checkLengths shows the prompts' token counts as they are typed.
func (p *PatchPane) checkLengths() {
	p.Status.SetText("") // the inputs changed: a cancelled run's status is old
	if p.Clean.Text == "" || p.Corrupt.Text == "" {
		// one prompt typed so far: its length, no complaint yet
		p.msg.field("prompts", "")
		p.setLengths("")
		for _, c := range []struct{ text, which string }{{p.Clean.Text, "clean"}, {p.Corrupt.Text, "corrupted"}} {
			if c.text != "" {
				if ids, err := p.tokens(c.text, c.which); err == nil {
					p.setLengths(fmt.Sprintf("%s prompt: %s", c.which, nOf(len(ids), "token")))
				}
			}
		}
		return
	}
	clean, _, err := p.prompts()
	if err != nil {
		p.setLengths("")
		p.msg.field("prompts", err.Error())
		return
	}
	p.msg.field("prompts", "")
	p.setLengths(fmt.Sprintf("%s each, BOS first", nOf(len(clean), "token")))
}

// checkTokens shows the metric tokens' ids as they are typed (only with
// the logit difference chosen).
func (p *PatchPane) checkTokens() {
	if p.Metric.Selected != patchLogitDiff {
		p.msg.field("tokens", "")
		p.TokenIDs.Hide()
		return
	}
	if p.TokenA.Text == "" && p.TokenB.Text == "" {
		setNote(p.TokenIDs, "a leading space is part of a token")
		p.msg.field("tokens", "")
		return
	}
	a, b, err := p.metricTokens()
	if err != nil {
		setNote(p.TokenIDs, "")
		p.msg.field("tokens", err.Error())
		return
	}
	p.msg.field("tokens", "")
	setNote(p.TokenIDs, fmt.Sprintf("logits[-1, %d] − logits[-1, %d]: %q is %d, %q is %d", a, b, p.TokenA.Text, a, p.TokenB.Text, b))
}

// request reads the inputs.
func (p *PatchPane) request() (*patchRequest, error) {
	if p.v.SAE == nil || p.v.SAE.W == nil || p.v.SAE.W.Model == nil {
		return nil, errors.New("no model loaded: open a model and an SAE to patch its features")
	}
	clean, corrupt, err := p.prompts()
	if err != nil {
		return nil, err
	}
	mt, err := p.readMetric(len(clean))
	if err != nil {
		return nil, err
	}
	r := &patchRequest{clean: clean, corrupt: corrupt, where: "every position", opt: intervene.PatchOptions{Batch: 16},
		metric: mt.Patch, attr: mt.Attr, target: mt.Target, desc: mt.Desc}
	if p.Where.Selected == patchOnePos {
		pos, err := parseInt(p.Pos.Text)
		if err != nil {
			return nil, fmt.Errorf("position to patch: %w", err)
		}
		T := len(clean)
		if pos < -T || pos >= T {
			return nil, fmt.Errorf("position %d outside prompts of %d tokens (0 to %d, or -1 to -%d from the end)", pos, T, T-1, T)
		}
		r.opt.OnePosition, r.opt.Pos = true, pos
		at := pos
		if at < 0 {
			at += T
		}
		r.where = fmt.Sprintf("position %d (%s)", at, quoteTok(p.v.Tok.InlineString(int(clean[at]))))
	}
	return r, nil
}

// Start runs the patching of the inputs in the background; Cancel stops
// it. A bad input is said in the message line instead.
func (p *PatchPane) Start() {
	if p.running() {
		return // one run at a time: Cancel first
	}
	req, err := p.request()
	if err != nil {
		p.msg.setResult(err.Error())
		return
	}
	sae, m := p.v.SAE, p.v.SAE.W.Model
	t0 := time.Now()
	p.begin(func(ctx context.Context, progress func(done, total int)) (func(), error) {
		req.opt.Progress = progress
		res, err := intervene.PatchWith(ctx, m, sae.Enc, req.clean, req.corrupt, req.metric, req.opt)
		if err != nil {
			return nil, err
		}
		// attribution patching's estimate of the same effects: one
		// backward pass on each prompt
		var onePos *int
		if req.opt.OnePosition {
			onePos = &req.opt.Pos
		}
		est, estErr := attribution.PatchEstimate(ctx, m, sae.Enc, req.target, req.clean, req.corrupt, req.attr, onePos)
		elapsed := time.Since(t0)
		return func() { p.finish(req, res, elapsed, est, estErr) }, nil
	})
}

// finish shows a run's result and its estimate's agreement, or why there
// is no estimate (UI thread).
func (p *PatchPane) finish(req *patchRequest, res *intervene.Patching, elapsed time.Duration, est []float64, estErr error) {
	if estErr != nil && !errors.Is(estErr, context.Canceled) {
		p.Status.SetText("No attribution estimate: " + estErr.Error())
	}
	p.show(&PatchResult{Patching: res, Metric: req.desc, Where: req.where, Tokens: len(req.clean), Elapsed: elapsed, Estimate: est})
	if est != nil {
		p.Status.SetText(estimateAgreement(res.Effect, est))
	}
}

// show ranks and plots a result.
func (p *PatchPane) show(r *PatchResult) {
	p.res = r
	p.ranked = slices.Clone(r.Patched)
	slices.SortStableFunc(p.ranked, func(a, b int) int {
		ea, eb := math.Abs(r.Effect[a]), math.Abs(r.Effect[b])
		switch {
		case ea > eb:
			return -1
		case ea < eb:
			return 1
		}
		return a - b
	})
	p.Summary.SetText(fmt.Sprintf("%s: clean %s, corrupted %s. %s patched at %s of %s in %s. Effect = metric with the feature's clean value patched in − corrupted metric; click a row to select the feature.",
		upperFirst(r.Metric), fnum(r.MetricClean), fnum(r.MetricCorrupt), nOf(len(r.Patched), "feature"), r.Where, nOf(r.Tokens, "token"), fduration2(r.Elapsed)))

	p.setColumnWidths()
	p.Table.Refresh()
	p.Table.ScrollToTop()
	top := p.ranked[:min(PatchTopBars, len(p.ranked))]
	effs := make([]plots.Effect, len(top))
	for i, f := range top {
		name := "#" + strconv.Itoa(f)
		if l := p.v.Label(f); l != "" {
			name += " " + l
		}
		effs[i] = plots.Effect{Label: name, Value: r.Effect[f]}
	}
	title := fmt.Sprintf("Top %d of %d patching effects", len(top), len(p.ranked))
	xlabel := "effect on " + r.Metric
	p.Plot.SetSource(func() (*plots.Figure, error) { return plots.Effects(effs, title, xlabel) }, time.Now())
}

// upperFirst capitalises s's first letter.
func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return strings.ToUpper(string(r)) + s[n:]
}

// fduration2 formats a run's time: milliseconds below a second, else
// seconds with one decimal.
func fduration2(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// patchColumn is one column of the Patch pane's table.
type patchColumn struct {
	title string
	width float32
	cell  func(r *PatchResult, f int) string
}

// columns are the table's columns: the Estimate column, after the
// effect, only when the result has attribution estimates.
func (p *PatchPane) columns() []patchColumn {
	cols := []patchColumn{
		{"#", 40, nil},
		{"Feature", 68, func(_ *PatchResult, f int) string { return strconv.Itoa(f) }},
		{"Effect", 84, func(r *PatchResult, f int) string { return fnum(r.Effect[f]) }},
	}
	if p.res != nil && p.res.Estimate != nil { // beside the effect it estimates
		cols = append(cols, patchColumn{"Estimate", 84, func(r *PatchResult, f int) string { return fnum(r.Estimate[f]) }})
	}
	return append(cols,
		patchColumn{"Δf clean − corr.", 116, func(r *PatchResult, f int) string { return fnum(r.Delta[f]) }},
		patchColumn{"Label", 220, func(_ *PatchResult, f int) string { return p.v.Label(f) }})
}

func (p *PatchPane) setColumnWidths() {
	for c, col := range p.columns() {
		p.Table.SetColumnWidth(c, col.width)
	}
}

func (p *PatchPane) updateCell(id widget.TableCellID, o fyne.CanvasObject) {
	l := o.(*widget.Label)
	cols := p.columns()
	if p.res == nil || id.Row < 0 || id.Row >= len(p.ranked) || id.Col < 0 || id.Col >= len(cols) {
		l.SetText("")
		return
	}
	f := p.ranked[id.Row]
	text := strconv.Itoa(id.Row + 1)
	if c := cols[id.Col]; c.cell != nil {
		text = c.cell(p.res, f)
	}
	bold := f == p.v.Feature()
	if l.Text != text || l.TextStyle.Bold != bold {
		l.Text, l.TextStyle.Bold = text, bold
		l.Refresh()
	}
}

// ExportCSV saves every patched feature's effect, ranked, as CSV.
func (p *PatchPane) ExportCSV() {
	r := p.res
	if r == nil {
		p.msg.setResult("nothing to export: run the patching first")
		return
	}
	ranked := slices.Clone(p.ranked)
	labels := make([]string, len(ranked))
	for i, f := range ranked {
		labels[i] = p.v.Label(f)
	}
	p.v.Export("the patching effects", fileStem("patch", p.v.Name())+".csv", func(_ string, w io.Writer) error {
		return writePatchCSV(w, r, ranked, labels)
	}, nil)
}

// writePatchCSV writes one row per patched feature, in rank order: its
// effect, the summed feature change patched in, the estimate when there
// is one, the metric's clean and corrupted values and its label.
func writePatchCSV(w io.Writer, r *PatchResult, ranked []int, labels []string) error {
	cw := csv.NewWriter(w)
	head := []string{"rank", "feature", "effect", "delta_f"}
	if r.Estimate != nil {
		head = append(head, "estimate")
	}
	cw.Write(append(head, "metric", "metric_clean", "metric_corrupt", "label"))
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for i, f := range ranked {
		row := []string{strconv.Itoa(i + 1), strconv.Itoa(f), g(r.Effect[f]), g(r.Delta[f])}
		if r.Estimate != nil {
			row = append(row, g(r.Estimate[f]))
		}
		cw.Write(append(row, r.Metric, g(r.MetricClean), g(r.MetricCorrupt), labels[i]))
	}
	cw.Flush()
	return cw.Error()
}

// Patch returns the Patch pane.
func (e *Explorer) Patch() *PatchPane { return e.pane(PanePatch).(*PatchPane) }

// estimateAgreement says in one line how well attribution patching's
// estimate (Σ ∂metric/∂f·(f_clean − f_corrupt), one backward pass per
// prompt) agrees with the exact effects.
func estimateAgreement(effect, est []float64) string {
	corr, worst := attribution.Agreement(effect, est)
	s := "Estimate (attribution patching)"
	if !math.IsNaN(corr) {
		s += fmt.Sprintf(": correlation %.3f with the effects", corr)
	}
	if worst >= 0 {
		s += fmt.Sprintf("; largest gap at feature %d: effect %s, estimate %s", worst, fnum(effect[worst]), fnum(est[worst]))
	}
	return s
}
