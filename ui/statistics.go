package ui

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/ui/plots"
	"github.com/saescope/saescope/weights/sae"
)

// Count modes of the statistics plots.
const (
	modeFraction = "Fraction"
	modeCounts   = "Counts"
)

// kindNames are the plot kinds as the statistics pane lists them.
var kindNames = map[store.PlotKind]string{
	store.PlotFeaturesPerToken: "Features above a threshold, per token",
	store.PlotFrequency:        "Activation frequency, per feature",
	store.PlotMean:             "Average activation, per feature",
	store.PlotUnembedEntropy:   "Unembedding entropy (bits), per direction",
	store.PlotUnembedMaxProb:   "Unembedding max probability, per direction",
}

// StatisticsPane shows an SAE's learnt-vs-random distributions (the
// notebook's argument: learnt features are sparse and strong where random
// directions are not), overlaid and translucent, with the analysis'
// summary numbers. The threshold, bins, x range, log scale and counts are
// editable; the plot is queried, binned and drawn off the UI thread, the
// newest settings winning, and exports to PNG, SVG, PDF and CSV.
type StatisticsPane struct {
	v       *View
	content fyne.CanvasObject

	Kind           *widget.Select
	ThresholdEntry *widget.Entry
	Quick          []*widget.Button // store.GridThresholds, the notebook's among them
	BinsEntry      *widget.Entry
	LoEntry        *widget.Entry
	HiEntry        *widget.Entry
	LogY           *widget.Check
	// LogX bins log10 of the samples: on by default for the activation
	// frequency (the "feature density" plot of SAE papers).
	LogX    *widget.Check
	Mode    *widget.RadioGroup
	Plot    *PlotView
	Summary *widget.Label
	Msg     *widget.Label

	kind   store.PlotKind
	opts   plots.Options
	series *seriesCache
	active bool
	dirty  bool
	// LastRedraw is how long the last change of the settings or the store
	// took to reach the screen: query, binning, drawing and the image set.
	LastRedraw time.Duration
}

// NewStatisticsPane builds the statistics pane of v.
func NewStatisticsPane(v *View) *StatisticsPane { return newStatisticsPane(v, true) }

// newStatisticsPane builds the pane, on screen or not (active).
func newStatisticsPane(v *View, active bool) *StatisticsPane {
	p := &StatisticsPane{v: v, kind: store.PlotFeaturesPerToken, opts: plots.DefaultOptions(), series: &seriesCache{}, active: active}
	p.Msg = newMessageLine(widget.DangerImportance)
	p.Summary = widget.NewLabel("")
	p.Summary.Wrapping = fyne.TextWrapWord

	var names []string
	for _, k := range store.PlotKinds {
		names = append(names, kindNames[k])
	}
	p.Kind = widget.NewSelect(names, func(name string) {
		for k, n := range kindNames {
			if n == name && k != p.kind {
				p.kind = k
				p.syncThreshold()
				if p.LogX != nil {
					p.LogX.SetChecked(defaultLogX(k)) // redraws through Apply
				}
				p.redraw(time.Now())
			}
		}
	})
	p.Kind.SetSelected(kindNames[p.kind])

	p.ThresholdEntry = widget.NewEntry()
	p.ThresholdEntry.SetText(fmtThreshold(p.opts.Threshold))
	p.BinsEntry = widget.NewEntry()
	p.BinsEntry.SetPlaceHolder("auto")
	p.LoEntry = widget.NewEntry()
	p.LoEntry.SetPlaceHolder("auto")
	p.HiEntry = widget.NewEntry()
	p.HiEntry.SetPlaceHolder("auto")
	for _, e := range []*widget.Entry{p.ThresholdEntry, p.BinsEntry, p.LoEntry, p.HiEntry} {
		e.OnChanged = func(string) { p.Apply() }
		e.OnSubmitted = func(string) { p.Apply() }
	}
	// A bounded store keeps the per-token counts on this grid only.
	for _, th := range store.GridThresholds() {
		text := fmtThreshold(th)
		b := widget.NewButton(text, func() { p.ThresholdEntry.SetText(text) })
		b.Importance = widget.LowImportance
		p.Quick = append(p.Quick, b)
	}
	p.LogY = widget.NewCheck("Log y", func(bool) { p.Apply() })
	p.LogX = widget.NewCheck("Log x", func(bool) { p.Apply() })
	p.LogX.SetChecked(defaultLogX(p.kind))
	p.opts.LogX = p.LogX.Checked
	p.Mode = widget.NewRadioGroup([]string{modeFraction, modeCounts}, func(string) { p.Apply() })
	p.Mode.Horizontal = true
	p.Mode.Required = true
	p.Mode.SetSelected(modeFraction)
	reset := widget.NewButton("Auto range", func() {
		p.LoEntry.SetText("")
		p.HiEntry.SetText("")
		p.BinsEntry.SetText("")
	})
	reset.Importance = widget.LowImportance

	p.Plot = NewPlotView(v)
	p.Plot.OnDrawn = p.drawn

	small := func(e *widget.Entry, w float32) fyne.CanvasObject {
		return container.NewGridWrap(fyne.NewSize(w, e.MinSize().Height), e)
	}
	quick := container.NewHBox()
	for _, b := range p.Quick {
		quick.Add(b)
	}
	kind := container.NewGridWrap(fyne.NewSize(310, p.Kind.MinSize().Height), p.Kind)
	row1 := container.NewHBox(kind, layout.NewSpacer(), p.LogX, p.LogY, p.Mode)
	row2 := container.NewHBox(widget.NewLabel("Threshold"), small(p.ThresholdEntry, 72), quick)
	row3 := container.NewHBox(widget.NewLabel("Bins"), small(p.BinsEntry, 64),
		widget.NewLabel("x from"), small(p.LoEntry, 72), widget.NewLabel("to"), small(p.HiEntry, 72), reset)
	export := exportButtons("Export", p.export, "png", "svg", "pdf", "csv")
	sumCSV := widget.NewButtonWithIcon("Summary CSV", nil, p.exportSummary)
	sumCSV.Importance = widget.LowImportance
	export.Add(sumCSV)
	top := container.NewVBox(row1, row2, row3, p.Msg)
	bottom := container.NewVBox(p.Summary, export)
	p.content = container.NewBorder(top, bottom, nil, nil, p.Plot)

	v.OnStore(func(*store.Store) { p.redraw(time.Now()) })
	p.syncThreshold()
	p.redraw(time.Now())
	return p
}

// Content is the pane's widget tree.
func (p *StatisticsPane) Content() fyne.CanvasObject { return p.content }

// PlotKind returns the distribution shown.
func (p *StatisticsPane) PlotKind() store.PlotKind { return p.kind }

// Options returns the plot settings in force.
func (p *StatisticsPane) Options() plots.Options { return p.opts }

// SetKind shows the distribution kind.
func (p *StatisticsPane) SetKind(kind store.PlotKind) error {
	name, ok := kindNames[kind]
	if !ok {
		return fmt.Errorf("unknown plot %q", kind)
	}
	p.Kind.SetSelected(name)
	return nil
}

// SetKindName shows the distribution named as the command line names it
// ("frequency", "features_per_token", …).
func (p *StatisticsPane) SetKindName(name string) error {
	k := store.PlotKind(strings.ToLower(strings.TrimSpace(name)))
	if _, ok := kindNames[k]; !ok {
		var names []string
		for _, k := range store.PlotKinds {
			names = append(names, string(k))
		}
		return fmt.Errorf("unknown plot %q (%s)", name, strings.Join(names, ", "))
	}
	return p.SetKind(k)
}

// SetActive says whether the pane is on screen; a hidden pane draws
// when it is shown.
func (p *StatisticsPane) SetActive(on bool) {
	p.active = on
	if on && p.dirty {
		p.redraw(time.Now())
	}
}

// Settle waits for the plot being drawn (tests, measurements).
func (p *StatisticsPane) Settle() { p.Plot.Settle() }

func (p *StatisticsPane) message(text string) { showMessage(p.Msg, text) }

// defaultLogX says whether a kind is drawn on a log10 x axis by default:
// the activation frequency is (SAE features' frequencies span orders of
// magnitude, so a linear axis puts most of them in its first bin).
func defaultLogX(k store.PlotKind) bool { return k == store.PlotFrequency }

// syncThreshold enables the threshold for the one kind that uses it.
func (p *StatisticsPane) syncThreshold() {
	on := p.kind == store.PlotFeaturesPerToken
	for _, w := range append([]*widget.Button{}, p.Quick...) {
		if on {
			w.Enable()
		} else {
			w.Disable()
		}
	}
	if on {
		p.ThresholdEntry.Enable()
	} else {
		p.ThresholdEntry.Disable()
	}
}

// Apply reads the settings typed and redraws when they are valid; a
// setting that is not gives a message and leaves the plot as it is.
func (p *StatisticsPane) Apply() {
	if p.Mode == nil || p.Plot == nil {
		return // still being built
	}
	t0 := time.Now()
	o, err := p.readOptions()
	if err != nil {
		p.message(err.Error())
		return
	}
	p.message("")
	if o == p.opts && p.Plot.source != nil {
		return
	}
	p.opts = o
	p.redraw(t0)
}

// readOptions parses the settings.
func (p *StatisticsPane) readOptions() (plots.Options, error) {
	o := plots.Options{LogY: p.LogY.Checked, LogX: p.LogX.Checked, Counts: p.Mode.Selected == modeCounts}
	th, err := parseFloat(p.ThresholdEntry.Text)
	switch {
	case err != nil || math.IsInf(th, 0):
		return o, fmt.Errorf("the threshold must be a number, such as 0.1 (not %q)", p.ThresholdEntry.Text)
	case th < 0:
		return o, fmt.Errorf("the threshold must be 0 or more, not %s", p.ThresholdEntry.Text)
	}
	o.Threshold = float32(th)
	if s := strings.TrimSpace(p.BinsEntry.Text); s != "" && !strings.EqualFold(s, "auto") {
		n, err := parseInt(s)
		if err != nil || n < 1 || n > 100000 {
			return o, fmt.Errorf("bins must be a whole number from 1 to 100000 (empty for automatic), not %q", s)
		}
		o.Bins = n
	}
	lo, loSet, err := optionalFloat(p.LoEntry.Text)
	if err != nil {
		return o, fmt.Errorf("the x range start must be a number (empty for automatic), not %q", p.LoEntry.Text)
	}
	hi, hiSet, err := optionalFloat(p.HiEntry.Text)
	if err != nil {
		return o, fmt.Errorf("the x range end must be a number (empty for automatic), not %q", p.HiEntry.Text)
	}
	switch {
	case loSet != hiSet:
		return o, fmt.Errorf("give both ends of the x range, or leave both empty for the data's range")
	case loSet && lo >= hi:
		return o, fmt.Errorf("the x range start %s must be below its end %s", fmtFloat(lo), fmtFloat(hi))
	case loSet:
		o.Lo, o.Hi = lo, hi
	}
	return o, o.Check()
}

// redraw draws the distribution with the current settings (off the UI
// thread); t0 is when the change was made.
func (p *StatisticsPane) redraw(t0 time.Time) {
	st := p.v.Store()
	if st == nil {
		p.Summary.SetText("")
		p.Plot.SetMessage(p.v.noStoreMessage("the learnt-vs-random statistics"))
		p.dirty = false
		return
	}
	text := summaryText(st)
	if w := p.v.SAE.Weights; w.Arch != "" && w.Arch != sae.Standard {
		// what "random" is for this family
		text += "\n" + strings.ToUpper(analysis.RandomMeaning(w)[:1]) + analysis.RandomMeaning(w)[1:] + "."
	}
	p.Summary.SetText(text)
	if !p.active {
		p.dirty = true
		return
	}
	p.dirty = false
	kind, o, cache := p.kind, p.opts, p.series
	p.Plot.Name = fileStem("statistics", string(kind), p.v.Name())
	p.Plot.SetSource(func() (*plots.Figure, error) {
		ser, err := cache.get(st, kind, o.Threshold)
		if err != nil {
			return nil, err
		}
		return plots.FromSeries(ser, o)
	}, t0)
}

// drawn records how long a change took to be drawn.
func (p *StatisticsPane) drawn(d PlotDrawn) {
	if !d.Built {
		return
	}
	p.LastRedraw = d.Since
	if timingOn {
		what := string(p.kind)
		if p.kind == store.PlotFeaturesPerToken {
			what += " > " + fmtThreshold(p.opts.Threshold)
		}
		logTiming("statistics %s: redrawn in %v (query and binning %v, drawing %v)", what, d.Since, d.Build, d.Render)
		t0 := time.Now().Add(-d.Since)
		go fyne.Do(func() { logTiming("statistics %s: on screen after %v", what, time.Since(t0)) })
	}
}

// Figure returns the figure shown (nil when none).
func (p *StatisticsPane) Figure() *plots.Figure { return p.Plot.Figure() }

func (p *StatisticsPane) export(format string) {
	p.Plot.Export(format, func(_ string, err error) {
		if err != nil {
			p.message(err.Error())
		}
	})
}

func (p *StatisticsPane) exportSummary() {
	st := p.v.Store()
	if st == nil {
		p.message("Nothing to export: the SAE has not been analysed yet.")
		return
	}
	rows := plots.Summary(st)
	p.v.Export("the summary", fileStem("summary", p.v.Name())+".csv", func(_ string, w io.Writer) error {
		return plots.WriteSummaryCSV(w, rows)
	}, func(_ string, err error) {
		if err != nil {
			p.message(err.Error())
		}
	})
}

// summaryText is a store's summary numbers in two lines.
func summaryText(st *store.Store) string {
	m := st.Meta.Summary
	d := st.DSae()
	dead := 0.0
	if d > 0 {
		dead = float64(m.Dead) / float64(d)
	}
	line1 := fmt.Sprintf("L0 %.1f (random directions %.1f) · dead features %s of %s (%s) · %s tokens",
		m.L0, m.RandomL0, numfmt.Thousands(m.Dead), numfmt.Thousands(d), fpercent(dead), numfmt.Thousands(m.Tokens))
	if !reconMeasured(m) {
		return line1 + "\nReconstruction loss not measured."
	}
	return line1 + fmt.Sprintf("\nLoss clean %.4f · SAE spliced in %.4f · zero-ablated %.4f · mean-ablated %.4f · reconstruction score %s",
		m.LossClean, m.LossRecons, m.LossZero, m.LossMean, fmtReconScore(m))
}

// seriesCache keeps the per-token and per-feature samples of the
// distributions drawn last, so that new bins or a new range only rebin
// them (the features-per-token counts of a big store take a while).
type seriesCache struct {
	mu    sync.Mutex
	st    *store.Store
	m     map[seriesKey]*store.Series
	order []seriesKey
}

type seriesKey struct {
	kind      store.PlotKind
	threshold float32
}

const maxSeries = 8

func (c *seriesCache) get(st *store.Store, kind store.PlotKind, threshold float32) (*store.Series, error) {
	if kind != store.PlotFeaturesPerToken {
		threshold = 0
	}
	k := seriesKey{kind, threshold}
	c.mu.Lock()
	if c.st != st {
		c.st, c.m, c.order = st, map[seriesKey]*store.Series{}, nil
	}
	if s, ok := c.m[k]; ok {
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	s, err := st.Distribution(kind, threshold)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == st {
		if len(c.order) >= maxSeries {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.m[k] = s
		c.order = append(c.order, k)
	}
	return s, nil
}

// parseFloat reads a number typed by the user (a comma as the decimal
// point and a typographic minus are accepted).
func parseFloat(s string) (float64, error) {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "−", "-")
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

// optionalFloat reads a number that may be left empty (or "auto").
func optionalFloat(s string) (v float64, set bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "auto") {
		return 0, false, nil
	}
	v, err = parseFloat(s)
	if err == nil && math.IsInf(v, 0) {
		err = fmt.Errorf("%q is not finite", s)
	}
	return v, err == nil, err
}

// fmtThreshold writes a threshold as the user would type it.
func fmtThreshold(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) }

// fmtFloat writes a setting back as the user would type it.
func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
