package ui

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/ui/plots"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/tokenizer"
)

// nearK is how many features the nearest and co-activation lists show.
const nearK = 10

// noOther is the other-SAE selector's choice when there is none.
const noOther = "(no other SAE of this model)"

// DetailPane shows what a researcher needs to judge the selected feature:
// its activation density (exportable), the tokens its decoder direction
// boosts and suppresses through ln_final and the unembedding, the entropy
// and max probability of that unembedding, and its nearest features by
// decoder cosine (in this SAE and in another open SAE of the same model)
// and by co-activation. Clicking a feature in a list selects it (in its
// own SAE's tab for the other SAE). The model-side numbers are computed
// off the UI thread, the newest selection winning.
type DetailPane struct {
	v       *View
	content fyne.CanvasObject

	Info    *widget.Label
	Msg     *widget.Label
	Density *PlotView
	// LogitHist is the histogram of the feature's logit weights over the
	// vocabulary, beside the boosted and suppressed lists (as sae_vis).
	LogitHist *PlotView
	// LogitExport offers the logit-weight histogram as PNG, SVG, PDF or
	// CSV.
	LogitExport *widget.Button
	// ListTabs holds the boosted and suppressed tokens on one tab, the
	// nearest and co-activating features on the second, the nearest in
	// another SAE (and its picker) on the third.
	ListTabs   *container.AppTabs
	Boosted    *pickList
	Suppressed *pickList
	Nearest    *pickList
	Other      *pickList
	OtherSAE   *widget.Select
	CoAct      *pickList

	runner *latest[detailRequest]
	others []*View // the views behind OtherSAE's options
	other  *View   // chosen
	active bool
	dirty  bool
	shown  detailRequest
	data   *detailData
}

type detailRequest struct {
	f     int
	st    *store.Store
	other *View
}

// detailData is what the worker computes for a feature.
type detailData struct {
	req                   detailRequest
	logits                *features.LogitEffect
	logitsErr             error
	nearest, otherNearest []features.Similar
	nearestErr, otherErr  error
	coact                 []store.Correlated
	coactErr              error
	took                  time.Duration
}

// NewDetailPane builds the detail pane of v's selected feature.
func NewDetailPane(v *View) *DetailPane { return newDetailPane(v, true) }

// newDetailPane builds the pane, on screen or not (active).
func newDetailPane(v *View, active bool) *DetailPane {
	p := &DetailPane{v: v, active: active}
	p.Info = widget.NewLabel("")
	p.Info.Wrapping = fyne.TextWrapWord
	p.Msg = newMessageLine(widget.WarningImportance)
	p.Density = NewPlotView(v)
	p.LogitHist = NewPlotView(v)

	p.Boosted = newPickList("Boosts", "tokens, logit weight", nil)
	p.Suppressed = newPickList("Suppresses", "tokens, logit weight", nil)
	p.Nearest = newPickList("Nearest here", "cosine", nil)
	p.OtherSAE = widget.NewSelect(nil, func(string) { p.chooseOther() })
	p.OtherSAE.PlaceHolder = noOther
	p.Other = newPickList("Nearest in", "", p.OtherSAE)
	p.CoAct = newPickList("Fires with", "correlation", nil)
	p.Nearest.OnPick = func(i int) { p.pick(v, p.Nearest.rows[i].ID) }
	p.CoAct.OnPick = func(i int) { p.pick(v, p.CoAct.rows[i].ID) }
	p.Other.OnPick = func(i int) {
		if p.data != nil && p.data.req.other != nil {
			p.pick(p.data.req.other, p.Other.rows[i].ID)
		}
	}
	p.runner = newLatest(v.Jobs, p.run)

	// Each export is one button and a menu of formats, all three on one
	// row below the plots: a row of buttons per plot would set the width
	// of the plots' column.
	densityExport := menuButton("Density", []string{"png", "svg", "pdf", "csv"}, p.exportDensity)
	p.LogitExport = menuButton("Logit weights", []string{"png", "svg", "pdf", "csv"}, p.exportLogitHist)
	lists := widget.NewButtonWithIcon("Lists", theme.DownloadIcon(), p.exportLists)
	lists.Importance = widget.LowImportance
	exports := container.NewHBox(densityExport, p.LogitExport, lists)
	// The plots one above the other on the left, as sae_vis's middle
	// column; the lists on the right, full height, so that each shows
	// its rows (eight or more at 1280×800) with room for their text: the
	// tokens the feature boosts and suppresses, its neighbours here, its
	// neighbours in another SAE.
	plotsCol := container.NewVSplit(p.Density, p.LogitHist)
	plotsCol.Offset = 0.5
	p.ListTabs = container.NewAppTabs(
		container.NewTabItem("Logits", container.New(weighted{1, 1}, p.Boosted.Content(), p.Suppressed.Content())),
		container.NewTabItem("Neighbours", container.New(weighted{1, 1}, p.Nearest.Content(), p.CoAct.Content())),
		container.NewTabItem("Other SAE", p.Other.Content()))
	split := container.NewHSplit(container.NewBorder(nil, exports, nil, nil, plotsCol), p.ListTabs)
	split.Offset = 0.5
	p.content = container.NewBorder(container.NewVBox(p.Info, p.Msg), nil, nil, nil, split)

	v.OnFeature(func(int) { p.Update() })
	v.OnStore(func(*store.Store) { p.Update() })
	v.OnLabel(func(f int) {
		if f == v.Feature() && p.active {
			p.Info.SetText(p.infoText(f, v.Store()))
		}
	})
	p.Update()
	return p
}

// exportDensity saves the density plot in format (png, svg, pdf, csv).
func (p *DetailPane) exportDensity(format string) {
	p.Density.Export(format, func(_ string, err error) {
		if err != nil {
			p.message(err.Error())
		}
	})
}

// Content is the pane's widget tree.
func (p *DetailPane) Content() fyne.CanvasObject { return p.content }

// SetActive says whether the pane is on screen; a hidden pane computes
// when it is shown.
func (p *DetailPane) SetActive(on bool) {
	p.active = on
	if on && p.dirty {
		p.Update()
	}
}

// Settle waits for the computations and the plot (tests, measurements).
func (p *DetailPane) Settle() { settleEach(p.runner, p.Density, p.LogitHist) }

func (p *DetailPane) message(text string) { showMessage(p.Msg, text) }

func (p *DetailPane) pick(v *View, f int) {
	var err error
	if v == p.v {
		err = v.Select(f)
	} else {
		err = p.v.Bench().Show(v, f, PaneDetail)
	}
	if err != nil {
		p.message(err.Error())
	}
}

// SetOther picks the other SAE whose nearest features are listed.
func (p *DetailPane) SetOther(v *View) error {
	p.syncOthers()
	for i, o := range p.others {
		if o == v {
			p.OtherSAE.SetSelectedIndex(i)
			return nil
		}
	}
	return fmt.Errorf("%s is not another open SAE of this model", v.Name())
}

func (p *DetailPane) chooseOther() {
	i := p.OtherSAE.SelectedIndex()
	var o *View
	if i >= 0 && i < len(p.others) {
		o = p.others[i]
	}
	if o != p.other {
		p.other = o
		p.Update()
	}
}

// syncOthers lists the other open SAEs of the same model: their features'
// residual-stream directions compare with this SAE's, whatever their hooks
// and families.
func (p *DetailPane) syncOthers() {
	var others []*View
	var names []string
	for _, o := range p.v.Bench().Views() {
		if o != p.v && o.SAE.W.Model == p.v.SAE.W.Model {
			others = append(others, o)
			names = append(names, shortName(o))
		}
	}
	same := len(others) == len(p.others)
	for i := range others {
		same = same && others[i] == p.others[i]
	}
	if same {
		return
	}
	p.others = others
	p.OtherSAE.Options = names
	keep := -1
	for i, o := range others {
		if o == p.other {
			keep = i
		}
	}
	if keep < 0 && len(others) > 0 {
		keep = 0
	}
	if keep >= 0 {
		p.other = others[keep]
		p.OtherSAE.SetSelectedIndex(keep)
	} else {
		p.other = nil
		p.OtherSAE.ClearSelected()
	}
	p.OtherSAE.Refresh()
}

// Update shows the selected feature (its lists computed off the UI
// thread).
func (p *DetailPane) Update() {
	if !p.active {
		p.dirty = true
		return
	}
	p.dirty = false
	p.syncOthers()
	if len(p.others) == 0 {
		p.OtherSAE.Disable()
	} else {
		p.OtherSAE.Enable()
	}
	f, st := p.v.Feature(), p.v.Store()
	if f < 0 {
		p.Info.SetText("Select a feature in the ranking, in elicitation, or type its id: its density, direct logit effect and nearest features show here.")
		p.clear()
		p.Density.SetMessage("No feature selected.")
		p.LogitHist.SetMessage("No feature selected.")
		return
	}
	t0 := time.Now()
	req := detailRequest{f: f, st: st, other: p.other}
	if req == p.shown && p.data != nil {
		return
	}
	p.shown = req
	p.Info.SetText(p.infoText(f, st))
	if st == nil {
		p.Density.SetMessage("No analysis yet: the density comes from the corpus scan (Analyze).")
	} else {
		p.Density.Name = fileStem("density", p.v.Name(), fmt.Sprintf("feature-%d", f))
		p.Density.SetSource(func() (*plots.Figure, error) { return plots.Density(st, f, plots.Options{}) }, t0)
	}
	p.runner.Request(req)
}

// infoText is the line on the unembedding of f's decoder direction.
func (p *DetailPane) infoText(f int, st *store.Store) string {
	head := fmt.Sprintf("Feature %d", f)
	if l := p.v.Label(f); l != "" {
		head += " (" + l + ")"
	}
	if st == nil {
		return head + ": not analysed yet; the density, co-activation and unembedding statistics come from the corpus scan."
	}
	if len(st.UnembedEntropy) <= f {
		return head + ": no unembedding statistics (the SAE's hook is not in the residual stream's width)."
	}
	maxBits := math.Log2(float64(tokenizer.VocabSize))
	text := fmt.Sprintf("Decoder direction × %.3g, unembedded: entropy %.2f of %.2f bits · max probability %s",
		st.Meta.Summary.UnembedScale, st.UnembedEntropy[f], maxBits, fprob(float64(st.UnembedMaxProb[f])))
	return text + p.headsText(f)
}

// headsText says, for a feature of an attn.hook_z SAE, how much of its
// decoder direction lies in each attention head ("" for other SAEs).
func (p *DetailPane) headsText(f int) string {
	w := p.v.SAE.Weights
	if w.Hook.Point != hookname.AttnZ {
		return ""
	}
	norms, err := features.HeadNorms(w, f, p.v.SAE.W.Model.Config.NHead)
	if err != nil {
		return " · heads: " + err.Error()
	}
	var total float64
	for _, n := range norms {
		total += n * n
	}
	type hn struct {
		h int
		n float64
	}
	var top []hn
	for h, n := range norms {
		top = append(top, hn{h, n})
	}
	sort.Slice(top, func(i, j int) bool { return top[i].n > top[j].n })
	var parts []string
	for _, x := range top[:min(3, len(top))] {
		share := 0.0
		if total > 0 {
			share = 100 * x.n * x.n / total
		}
		parts = append(parts, fmt.Sprintf("L%dH%d %.0f%%", w.Hook.Layer, x.h, share))
	}
	return " · decoder norm by head (share of ‖W_dec[f]‖²): " + strings.Join(parts, ", ")
}

func fprob(v float64) string {
	if v < 0.001 {
		return fmt.Sprintf("%.2e", v)
	}
	return fmt.Sprintf("%.4f", v)
}

func (p *DetailPane) clear() {
	p.runner.Drop()
	p.shown, p.data = detailRequest{f: -1}, nil
	for _, l := range []*pickList{p.Boosted, p.Suppressed, p.Nearest, p.Other, p.CoAct} {
		l.SetRows(nil)
	}
	p.message("")
}

// run computes a feature's lists off the UI thread.
func (p *DetailPane) run(_ context.Context, r detailRequest) func() {
	t0 := time.Now()
	d := &detailData{req: r}
	m, enc := p.v.SAE.W.Model, p.v.SAE.Enc
	d.logits, d.logitsErr = p.v.Logits(r.f)
	d.nearest, d.nearestErr = features.NearestByDirection(m, enc, r.f, enc, nearK)
	if r.other != nil {
		d.otherNearest, d.otherErr = features.NearestByDirection(m, enc, r.f, r.other.SAE.Enc, nearK)
	}
	if r.st != nil {
		d.coact, d.coactErr = r.st.CoActivation(r.f, nearK)
	}
	d.took = time.Since(t0)
	return func() {
		if r != p.shown {
			return // a newer feature is on its way
		}
		p.show(d)
	}
}

// show fills the lists (UI thread).
func (p *DetailPane) show(d *detailData) {
	p.data = d
	var notes []string
	tokRows := func(rs []features.Ranked) []listRow {
		rows := make([]listRow, len(rs))
		for i, r := range rs {
			rows[i] = listRow{Text: p.v.Tok.DisplayString(r.ID), Value: fmt.Sprintf("%+.2f", r.Value), ID: -1}
		}
		return rows
	}
	if d.logitsErr != nil {
		notes = append(notes, "Direct logit effect: "+d.logitsErr.Error())
		p.Boosted.SetRows(nil)
		p.Suppressed.SetRows(nil)
		p.LogitHist.SetMessage("No logit weights: " + d.logitsErr.Error())
	} else {
		p.Boosted.SetRows(tokRows(d.logits.Boosted))
		p.Suppressed.SetRows(tokRows(d.logits.Suppressed))
		f, h := d.req.f, d.logits.Hist
		p.LogitHist.Name = fileStem("logit-weights", p.v.Name(), fmt.Sprintf("feature-%d", f))
		p.LogitHist.SetSource(func() (*plots.Figure, error) { return plots.LogitWeights(f, h.Edges, h.Counts) }, time.Now())
	}
	featRows := func(v *View, ss []features.Similar) []listRow {
		rows := make([]listRow, len(ss))
		for i, s := range ss {
			rows[i] = listRow{Text: featureText(v, s.ID), Value: fmt.Sprintf("%.3f", s.Cosine), ID: s.ID}
		}
		return rows
	}
	if d.nearestErr != nil {
		notes = append(notes, "Nearest by decoder: "+d.nearestErr.Error())
	}
	p.Nearest.SetRows(featRows(p.v, d.nearest))
	if d.otherErr != nil {
		notes = append(notes, "Nearest in the other SAE: "+d.otherErr.Error())
	}
	p.Other.SetRows(featRows(d.req.other, d.otherNearest))
	var rows []listRow
	for _, c := range d.coact {
		rows = append(rows, listRow{Text: featureText(p.v, c.ID), Value: fmt.Sprintf("%.3f", c.Correlation), ID: c.ID})
	}
	p.CoAct.SetRows(rows)
	switch {
	case d.coactErr != nil:
		notes = append(notes, "Co-activation: "+d.coactErr.Error())
	case d.req.st == nil:
		p.CoAct.Subtitle.SetText("needs the analysis")
	case len(rows) == 0:
		p.CoAct.Subtitle.SetText("fires with no other")
	default:
		p.CoAct.Subtitle.SetText("correlation")
		if note := d.req.st.CoActivationNote(); note != "" {
			notes = append(notes, "Co-activation: "+note)
		}
	}
	p.message(strings.Join(notes, "\n"))
	logTiming("detail of feature %d: logit effect, nearest features and co-activation in %v", d.req.f, d.took)
}

// exportLists saves the five lists (with their full-precision values) as
// one CSV table.
func (p *DetailPane) exportLists() {
	d := p.data
	if d == nil {
		p.message("Nothing to export: select a feature first.")
		return
	}
	v, tok := p.v, p.v.Tok
	label := func(v *View, f int) string {
		if v == nil {
			return ""
		}
		return v.Label(f)
	}
	var rows [][]string
	add := func(list string, rank, id int, text string, value float64) {
		rows = append(rows, []string{list, strconv.Itoa(rank), strconv.Itoa(id), text, strconv.FormatFloat(value, 'g', -1, 64)})
	}
	if d.logits != nil {
		for i, r := range d.logits.Boosted {
			add("boosted_token", i, r.ID, tok.DisplayString(r.ID), float64(r.Value))
		}
		for i, r := range d.logits.Suppressed {
			add("suppressed_token", i, r.ID, tok.DisplayString(r.ID), float64(r.Value))
		}
	}
	for i, s := range d.nearest {
		add("decoder_cosine", i, s.ID, label(v, s.ID), s.Cosine)
	}
	if o := d.req.other; o != nil {
		for i, s := range d.otherNearest {
			add("decoder_cosine "+o.Name(), i, s.ID, label(o, s.ID), s.Cosine)
		}
	}
	for i, c := range d.coact {
		add("coactivation", i, c.ID, label(v, c.ID), c.Correlation)
	}
	f := d.req.f
	v.Export("the lists", fileStem("detail", v.Name(), fmt.Sprintf("feature-%d", f))+".csv", func(_ string, w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"list", "rank", "id", "text", "value"})
		cw.WriteAll(rows)
		return cw.Error()
	}, func(_ string, err error) {
		if err != nil {
			p.message(err.Error())
		}
	})
}

// featureText is a feature's id and label for a list.
func featureText(v *View, f int) string {
	if v == nil {
		return fmt.Sprint(f)
	}
	if l := v.Label(f); l != "" {
		return fmt.Sprintf("%d · %s", f, l)
	}
	return fmt.Sprint(f)
}

// exportLogitHist saves the logit-weight histogram in format.
func (p *DetailPane) exportLogitHist(format string) {
	p.LogitHist.Export(format, func(_ string, err error) {
		if err != nil {
			p.message(err.Error())
		}
	})
}

// menuButton is a low-importance download button named label whose tap
// offers formats in a menu; export gets the one chosen.
func menuButton(label string, formats []string, export func(format string)) *widget.Button {
	b := widget.NewButtonWithIcon(label, theme.DownloadIcon(), nil)
	b.Importance = widget.LowImportance
	b.OnTapped = func() {
		var items []*fyne.MenuItem
		for _, f := range formats {
			items = append(items, fyne.NewMenuItem(strings.ToUpper(f), func() { export(f) }))
		}
		c := fyne.CurrentApp().Driver().CanvasForObject(b)
		if c == nil {
			return
		}
		widget.ShowPopUpMenuAtRelativePosition(fyne.NewMenu("", items...), c, fyne.NewPos(0, b.Size().Height), b)
	}
	return b
}
