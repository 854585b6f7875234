package ui

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/ui/plots"
)

func shownStatisticsPane(t *testing.T, v *View) *StatisticsPane {
	t.Helper()
	p := NewStatisticsPane(v)
	show(t, p.Content(), 760, 620)
	p.Settle()
	return p
}

// checkDistribution checks that the pane's plot is the store's
// distribution: same counts per bin as plots.Distribution with the pane's
// options, summing to the number of tokens or features.
func checkDistribution(t *testing.T, p *StatisticsPane, st *store.Store) {
	t.Helper()
	fig := p.Figure()
	if fig == nil {
		t.Fatalf("%s: no plot (%v, %q)", p.PlotKind(), p.Plot.Err(), p.Plot.Message())
	}
	want, err := plots.Distribution(st, p.PlotKind(), p.Options())
	if err != nil {
		t.Fatal(err)
	}
	n := [2]int{st.DSae(), st.DSae()}
	if p.PlotKind() == store.PlotFeaturesPerToken {
		n = [2]int{st.Meta.Summary.Tokens, st.Meta.Summary.RandomTokens}
	}
	if p.Options().LogX { // features that never fire have no log10
		ser, err := st.Distribution(p.PlotKind(), p.Options().Threshold)
		if err != nil {
			t.Fatal(err)
		}
		n = [2]int{}
		for i, vals := range [][]float64{ser.Learnt, ser.Random} {
			for _, v := range vals {
				if v > 0 {
					n[i]++
				}
			}
		}
	}
	if len(fig.Bars) != 2 {
		t.Fatalf("%d series", len(fig.Bars))
	}
	for i, b := range fig.Bars {
		sum := 0
		for _, c := range b.Counts {
			sum += c
		}
		if sum != n[i] || b.N != n[i] {
			t.Errorf("%s %s: counts sum to %d (N %d), want %d", p.PlotKind(), b.Key, sum, b.N, n[i])
		}
		if !slices.Equal(b.Counts, want.Bars[i].Counts) || !slices.Equal(b.Edges, want.Bars[i].Edges) || !slices.Equal(b.Heights, want.Bars[i].Heights) {
			t.Errorf("%s %s: the pane's bins differ from the store's distribution", p.PlotKind(), b.Key)
		}
	}
	if p.Plot.Image() == nil {
		t.Error("no image shown")
	}
}

// Every kind's plot shows the store's distribution, and the summary its
// numbers.
func TestStatisticsPaneShowsTheStore(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	st := v.Store()
	p := shownStatisticsPane(t, v)
	for _, kind := range store.PlotKinds {
		if err := p.SetKind(kind); err != nil {
			t.Fatal(err)
		}
		p.Settle()
		checkDistribution(t, p, st)
		if kind == store.PlotFeaturesPerToken && p.ThresholdEntry.Disabled() || kind != store.PlotFeaturesPerToken && !p.ThresholdEntry.Disabled() {
			t.Errorf("%s: threshold entry disabled %v", kind, p.ThresholdEntry.Disabled())
		}
	}
	sum := st.Meta.Summary
	for _, want := range []string{fmt.Sprintf("L0 %.1f", sum.L0), "dead features " + itoa(sum.Dead), "reconstruction score " + fmtReconScore(sum), "Loss clean"} {
		if !strings.Contains(p.Summary.Text, want) {
			t.Errorf("summary %q lacks %q", p.Summary.Text, want)
		}
	}
	if err := p.SetKindName("nope"); err == nil {
		t.Error("unknown kind accepted")
	}
	if err := p.SetKindName("FREQUENCY"); err != nil || p.PlotKind() != store.PlotFrequency {
		t.Errorf("by name: %v %s", err, p.PlotKind())
	}
}

// The activation frequency is drawn on a log10 x axis by default (the
// feature density plot); "Log x" switches it off and on, and other kinds
// start linear.
func TestStatisticsFeatureDensity(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	st := v.Store()
	p := shownStatisticsPane(t, v)
	if err := p.SetKind(store.PlotFrequency); err != nil {
		t.Fatal(err)
	}
	p.Settle()
	fig := p.Figure()
	if !p.LogX.Checked || fig == nil || !fig.LogX || !strings.Contains(fig.Plot.Title.Text, "Feature density") {
		t.Fatalf("frequency: log x %v, figure %+v", p.LogX.Checked, fig)
	}
	checkDistribution(t, p, st)
	// every live feature's log10 frequency is in the bins
	live := 0
	for _, s := range st.AllStats() {
		if !s.Dead {
			live++
		}
	}
	if fig.Bars[0].N != live {
		t.Errorf("%d learnt features drawn, %d live", fig.Bars[0].N, live)
	}
	test.Tap(p.LogX)
	p.Settle()
	if fig := p.Figure(); fig.LogX || fig.Bars[0].N != st.DSae() {
		t.Errorf("log x off: %v, %d samples", fig.LogX, fig.Bars[0].N)
	}
	checkDistribution(t, p, st)
	p.SetKind(store.PlotMean)
	p.Settle()
	if p.LogX.Checked || p.Figure().LogX {
		t.Error("the mean starts on a log x axis")
	}
	p.SetKind(store.PlotFrequency)
	p.Settle()
	if !p.LogX.Checked || !p.Figure().LogX {
		t.Error("back to the frequency: not on a log x axis")
	}
}

// A new threshold (typed or one of the notebook's) redraws the features
// per token; bins, range, log scale and counts apply.
func TestStatisticsThresholdAndBins(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	st := v.Store()
	p := shownStatisticsPane(t, v)
	// An analysis keeps the features per token on store.GridThresholds
	// only: a threshold off it says so.
	if !st.Bounded() {
		t.Fatal("the fixture's analysis is not a bounded store")
	}
	p.ThresholdEntry.SetText("0.25")
	p.Settle()
	if p.Figure() != nil || p.Plot.Err() == nil || !strings.Contains(p.Plot.Err().Error(), "0.05 0.1 0.2 0.5 1 2 5 10") {
		t.Errorf("threshold 0.25 off the grid: %v", p.Plot.Err())
	}
	for _, th := range []string{"0.5", "2", "0.05"} {
		p.ThresholdEntry.SetText(th)
		p.Settle()
		if got := fmtThreshold(p.Options().Threshold); got != th {
			t.Fatalf("threshold %s, typed %s", got, th)
		}
		checkDistribution(t, p, st)
		if !strings.Contains(p.Figure().Plot.Title.Text, "above "+th+" per token") {
			t.Errorf("title %q", p.Figure().Plot.Title.Text)
		}
		if p.LastRedraw <= 0 {
			t.Error("redraw time not recorded")
		}
	}
	if len(p.Quick) != len(store.GridThresholds()) {
		t.Fatalf("%d quick thresholds, want the grid's %d", len(p.Quick), len(store.GridThresholds()))
	}
	for _, th := range plots.NotebookThresholds {
		i := slices.Index(store.GridThresholds(), th)
		if i < 0 {
			t.Fatalf("the notebook's threshold %g is not on the grid", th)
		}
		test.Tap(p.Quick[i])
		p.Settle()
		if p.Options().Threshold != th || p.ThresholdEntry.Text != fmtThreshold(th) {
			t.Errorf("quick button %d: threshold %g, entry %q", i, p.Options().Threshold, p.ThresholdEntry.Text)
		}
		checkDistribution(t, p, st)
	}
	p.BinsEntry.SetText("7")
	p.Settle()
	if len(p.Figure().Bars[0].Counts) > 7 {
		t.Errorf("%d bins, asked for 7", len(p.Figure().Bars[0].Counts))
	}
	checkDistribution(t, p, st)
	p.SetKind(store.PlotFrequency)
	p.LoEntry.SetText("0.2")
	p.HiEntry.SetText("0.9")
	p.Settle()
	e := p.Figure().Bars[0].Edges
	if len(e) != 8 || math.Abs(e[0]-0.2) > 1e-12 || math.Abs(e[7]-0.9) > 1e-12 {
		t.Errorf("edges %v, want 7 bins over [0.2, 0.9]", e)
	}
	checkDistribution(t, p, st)
	test.Tap(p.LogY)
	p.Mode.SetSelected(modeCounts)
	p.Settle()
	if o := p.Options(); !o.LogY || !o.Counts {
		t.Errorf("options %+v", o)
	}
	checkDistribution(t, p, st)
	for i, h := range p.Figure().Bars[0].Heights {
		if h != float64(p.Figure().Bars[0].Counts[i]) {
			t.Fatal("counts mode draws fractions")
		}
	}
}

// Settings that make no plot give a message and leave the plot alone.
func TestStatisticsBadInput(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := shownStatisticsPane(t, v)
	before := p.Figure()
	good := p.Options()
	set := func(e *widget.Entry, text string) func() { return func() { e.SetText(text) } }
	both := func(lo, hi string) func() { return func() { p.LoEntry.SetText(lo); p.HiEntry.SetText(hi) } }
	for _, c := range []struct {
		text string
		do   func()
		want string
	}{
		{"abc", set(p.ThresholdEntry, "abc"), "threshold must be a number"},
		{"-1", set(p.ThresholdEntry, "-1"), "0 or more"},
		{"inf", set(p.ThresholdEntry, "inf"), "must be a number"},
		{"bins -3", set(p.BinsEntry, "-3"), "bins must be a whole number"},
		{"bins 0", set(p.BinsEntry, "0"), "bins must be a whole number"},
		{"bins 2.5", set(p.BinsEntry, "2.5"), "bins must be a whole number"},
		{"lo only", set(p.LoEntry, "1"), "both ends"},
		{"lo > hi", both("1", "0.5"), "must be below its end"},
		{"lo = hi", both("1", "1"), "must be below its end"},
		{"hi x", both("0", "x"), "range end must be a number"},
	} {
		c.do()
		p.Settle()
		if !p.Msg.Visible() || !strings.Contains(p.Msg.Text, c.want) {
			t.Errorf("%q: message %q (visible %v), want %q", c.text, p.Msg.Text, p.Msg.Visible(), c.want)
		}
		if p.Figure() != before || p.Options() != good {
			t.Errorf("%q: the plot changed", c.text)
		}
		// put back what was valid
		p.ThresholdEntry.SetText("0.1")
		p.BinsEntry.SetText("")
		p.LoEntry.SetText("")
		p.HiEntry.SetText("")
		p.Settle()
		if p.Msg.Visible() {
			t.Errorf("after %q: message %q stays", c.text, p.Msg.Text)
		}
	}
	p.ThresholdEntry.SetText("0,2") // a decimal comma
	p.Settle()
	if p.Options().Threshold != 0.2 || p.Msg.Visible() {
		t.Errorf("0,2: threshold %g, message %q", p.Options().Threshold, p.Msg.Text)
	}
}

// Without an analysis the pane says so; a store without unembedding
// statistics gives a message for those kinds, not a panic.
func TestStatisticsWithoutData(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	v.SetStore(nil, false)
	p := shownStatisticsPane(t, v)
	if !strings.Contains(p.Plot.Message(), "not been analysed") || p.Figure() != nil {
		t.Errorf("no store: %q", p.Plot.Message())
	}
	syn := synthStore(40)
	defer syn.Close()
	v.SetStore(syn, false)
	p.Settle()
	checkDistribution(t, p, syn)
	p.SetKind(store.PlotUnembedEntropy)
	p.Settle()
	if p.Plot.Err() == nil || !strings.Contains(p.Plot.Message(), "no unembedding statistics") {
		t.Errorf("no unembedding: err %v, message %q", p.Plot.Err(), p.Plot.Message())
	}
	test.Tap(findButton(t, p.Content(), "PNG"))
	if !strings.Contains(p.Msg.Text, "nothing to export") {
		t.Errorf("export without a plot: %q", p.Msg.Text)
	}
}

// The plot and its data export to PNG, SVG, PDF and CSV (decoded), and
// the summary to CSV.
func TestStatisticsExports(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	st := v.Store()
	p := shownStatisticsPane(t, v)
	paths := saveTo(t, t.TempDir(), nil)
	for _, format := range plots.Formats {
		test.Tap(findButton(t, p.Content(), strings.ToUpper(format)))
		data := exported(t, v, paths)
		checkFormat(t, format, data)
		if !strings.HasSuffix((*paths)[len(*paths)-1], "statistics-features_per_token-blocks.1.hook_resid_pre-256."+format) {
			t.Errorf("file name %s", (*paths)[len(*paths)-1])
		}
	}
	test.Tap(findButton(t, p.Content(), "CSV"))
	sums := csvCounts(t, readCSV(t, exported(t, v, paths)))
	if sums["learnt"] != st.Meta.Summary.Tokens || sums["random"] != st.Meta.Summary.RandomTokens {
		t.Errorf("CSV counts %v, want %d and %d tokens", sums, st.Meta.Summary.Tokens, st.Meta.Summary.RandomTokens)
	}
	test.Tap(findButton(t, p.Content(), "Summary CSV"))
	rows := readCSV(t, exported(t, v, paths))
	if rows[0][0] != "key" || len(rows) != len(plots.Summary(st))+1 {
		t.Errorf("summary CSV %v", rows)
	}
	// a PNG chosen for the SVG button is still written as PNG
	paths = saveTo(t, t.TempDir(), func(name string) string { return strings.TrimSuffix(name, ".svg") + ".png" })
	test.Tap(findButton(t, p.Content(), "SVG"))
	checkFormat(t, "png", exported(t, v, paths))
}

// The plot takes the theme's colours, and follows a change of theme.
func TestStatisticsFollowsTheTheme(t *testing.T) {
	a := test.NewTempApp(t)
	a.Settings().SetTheme(ThemeFor(ThemeLight))
	v := newTestView(t)
	p := shownStatisticsPane(t, v)
	bg := func() color.Color { return p.Figure().Plot.BackgroundColor }
	if bg() != theme.Color(theme.ColorNameBackground) {
		t.Errorf("light: background %v", bg())
	}
	a.Settings().SetTheme(ThemeFor(ThemeDark))
	test.WidgetRenderer(p.Plot).Refresh()
	p.Settle()
	dark := ThemeFor(ThemeDark).Color(theme.ColorNameBackground, theme.VariantDark)
	if bg() != dark {
		t.Errorf("dark: background %v, want %v", bg(), dark)
	}
	img := p.Plot.Image()
	if r, g, b, _ := img.At(2, 2).RGBA(); r>>8 > 80 || g>>8 > 80 || b>>8 > 80 {
		t.Errorf("dark theme: the plot's corner is (%d, %d, %d)", r>>8, g>>8, b>>8)
	}
}
