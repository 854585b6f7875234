// Package plots draws the statistics of an analysis store with
// gonum.org/v1/plot: the learnt-vs-random distributions of the notebook
// (features above a threshold per token, activation frequency, mean
// activation, entropy and max probability of the unembedded directions),
// one feature's activation density, and several features' densities
// overlaid. It renders plots to PNG, SVG and PDF, to an image.Image for the
// window, and writes the plotted data and the feature table as CSV.
//
// It imports no GUI toolkit: the headless `saescope plot` command and the
// statistics panes share it.
package plots

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
)

// KindDensity names the activation-density plot of one or more features
// (the other kinds are store.PlotKinds).
const KindDensity = "density"

// Kinds lists every plot kind by name, as the command line takes them.
func Kinds() []string {
	out := make([]string, 0, len(store.PlotKinds)+1)
	for _, k := range store.PlotKinds {
		out = append(out, string(k))
	}
	return append(out, KindDensity)
}

// NotebookThresholds are the thresholds of the notebook's
// features-per-token histograms.
var NotebookThresholds = []float32{0.1, 0.2, 0.5, 2.0}

// Defaults.
const (
	DefaultBins        = 50             // bins of a learnt-vs-random distribution
	DefaultDensityBins = store.HistBins // bins of a feature's density (the store's own histogram)
	DefaultWidth       = vg.Length(900) // points; pixels in PNG (rendered at 72 dpi)
	DefaultHeight      = vg.Length(500) // points
	DefaultThreshold   = float32(0.1)   // features_per_token
	fillAlpha          = 128            // of 255: both overlaid series stay visible
	legendHeadroom     = 1.22           // y-axis room above the highest bar for the legend
	outsideNote        = "%s outside [%s, %s] counted in the end bins"
	zeroNote           = "%s of the learnt SAE and %s of the random directions never fire: not drawn (log10 0 is −∞)"
	deadNote           = "feature %d never fires on the %s counted tokens: no activations to plot"
	emptyNote          = "no samples to plot"
	fontTitle, fontLab = vg.Length(16), vg.Length(14)
	fontTick, fontLeg  = vg.Length(12), vg.Length(13)
	margin             = vg.Length(10) // blank border around the plot
)

// Options control a plot. The zero value is usable; DefaultOptions gives
// the notebook's settings.
type Options struct {
	// Bins is the number of equal bins; 0 uses DefaultBins (distributions)
	// or DefaultDensityBins (densities).
	Bins int
	// Lo and Hi are the x range of the bins; Lo == Hi uses the data's range
	// (for features per token, whole-number bins covering it). Values
	// outside an explicit range are counted in the end bins, so that the
	// counts always sum to the number of samples.
	Lo, Hi float64
	// LogY draws the y axis on a log scale (empty bins are left out of its
	// range).
	LogY bool
	// LogX bins and draws log10 of each sample (learnt-vs-random
	// distributions): the "feature density" histogram of SAE papers when
	// the kind is the activation frequency. Samples ≤ 0 (features that
	// never fire) have no logarithm: they are left out and counted in the
	// figure's note. Lo and Hi are then log10 values.
	LogX bool
	// Counts draws raw counts; by default each series is drawn as the
	// fraction of its own samples, since the learnt SAE and the random
	// baseline (or two features) have different sample counts.
	Counts bool
	// Threshold is the activation threshold of features per token.
	Threshold float32
}

// DefaultOptions returns the defaults: auto bins and range, fractions,
// linear y, threshold 0.1.
func DefaultOptions() Options { return Options{Threshold: DefaultThreshold} }

// maxRange bounds the ends of an x range given by hand.
const maxRange = 1e15

// Check reports options that cannot make a plot.
func (o Options) Check() error {
	if o.Bins < 0 || o.Bins > 100000 {
		return fmt.Errorf("bins must be between 1 and 100000 (0: default), not %d", o.Bins)
	}
	if math.IsNaN(o.Lo) || math.IsNaN(o.Hi) || math.IsInf(o.Lo, 0) || math.IsInf(o.Hi, 0) {
		return errors.New("the x range must be finite numbers")
	}
	if o.Lo > o.Hi {
		return fmt.Errorf("x range start %g is after its end %g", o.Lo, o.Hi)
	}
	// lo = hi means the data's range; otherwise the range must be one a
	// plot can draw: ends within ±1e15 (activations and statistics are far
	// smaller) and a width not lost in the ends' rounding.
	if o.Lo != o.Hi {
		if math.Abs(o.Lo) > maxRange || math.Abs(o.Hi) > maxRange {
			return fmt.Errorf("x range %g to %g: the ends must be within ±%g", o.Lo, o.Hi, maxRange)
		}
		if o.Hi-o.Lo < 1e-9*max(math.Abs(o.Lo), math.Abs(o.Hi)) {
			return fmt.Errorf("x range %g to %g is too narrow to draw", o.Lo, o.Hi)
		}
	}
	if math.IsNaN(float64(o.Threshold)) {
		return errors.New("the threshold is not a number")
	}
	return nil
}

// Bars is one histogram of a figure: the counts per bin and what is drawn.
type Bars struct {
	Key     string    // short name, for CSV headers: "learnt", "random", "feature_12"
	Name    string    // legend text
	Edges   []float64 // len(Counts)+1
	Counts  []int     // samples per bin; they sum to N
	N       int       // samples in the series
	Heights []float64 // drawn bar heights: Counts, or Counts/N
	Color   color.NRGBA
	Hist    *plotter.Histogram // the plotter drawing it
}

// Figure is a built plot and the data it shows.
type Figure struct {
	Plot   *plot.Plot
	Kind   string
	Unit   string // what one sample is: "token", "feature" (distributions) or "token" (densities)
	Bars   []Bars
	Binned *store.Binned // learnt-vs-random distributions only
	Note   string        // shown on the plot when not empty (dead feature, values outside the range)
	YLabel string
	// LogX says the bins are of log10 of the samples (Options.LogX).
	LogX bool

	backdrop *legendBackdrop
	note     *noteText
	dark     bool // styled for a dark background
}

// Colours: learnt blue, random orange; more for compared features.
var palette = []color.NRGBA{
	{31, 119, 180, 255},  // blue
	{255, 127, 14, 255},  // orange
	{44, 160, 44, 255},   // green
	{214, 39, 40, 255},   // red
	{148, 103, 189, 255}, // purple
	{140, 86, 75, 255},   // brown
	{227, 119, 194, 255}, // pink
	{127, 127, 127, 255}, // grey
	{188, 189, 34, 255},  // olive
	{23, 190, 207, 255},  // cyan
}

// SeriesColour is the colour of the i-th series of a figure (learnt,
// random; or the i-th feature compared).
func SeriesColour(i int) color.NRGBA { return palette[((i%len(palette))+len(palette))%len(palette)] }

// Titles and x-axis labels of the distributions.
var kindText = map[store.PlotKind][2]string{
	store.PlotFeaturesPerToken: {"Features above %s per token", "features with activation > %s, per token"},
	store.PlotFrequency:        {"Activation frequency per feature", "activation frequency (fraction of tokens where the feature fires)"},
	store.PlotMean:             {"Average activation per feature", "mean activation over all tokens (zeros included)"},
	store.PlotUnembedEntropy:   {"Entropy of each direction's direct unembedding", "entropy of softmax(W_U ln_final(s d + b_dec)) (bits)"},
	store.PlotUnembedMaxProb:   {"Max probability of each direction's direct unembedding", "max probability of softmax(W_U ln_final(s d + b_dec))"},
}

// KindTitle returns a short human title of a plot kind (for menus).
func KindTitle(kind string) string {
	if kind == KindDensity {
		return "Activation density"
	}
	t, ok := kindText[store.PlotKind(kind)]
	if !ok {
		return kind
	}
	return strings.Replace(t[0], "%s", "a threshold", 1)
}

// Distribution builds the learnt-vs-random histogram of kind from the
// store (o.Threshold applies to features per token).
func Distribution(s *store.Store, kind store.PlotKind, o Options) (*Figure, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	ser, err := s.Distribution(kind, o.Threshold)
	if err != nil {
		return nil, err
	}
	return FromSeries(ser, o)
}

// FromSeries builds the histogram of an already queried series (the panes
// keep the per-feature series and only rebin them when the bins change).
func FromSeries(ser *store.Series, o Options) (*Figure, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	text, ok := kindText[ser.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown plot kind %q (%s)", ser.Kind, strings.Join(Kinds(), ", "))
	}
	title, xlabel := text[0], text[1]
	if ser.Kind == store.PlotFeaturesPerToken {
		th := fmtNum(float64(ser.Threshold))
		title, xlabel = fmt.Sprintf(title, th), fmt.Sprintf(xlabel, th)
	}
	var notes []string
	meanName := "mean"
	if o.LogX {
		var dropped [2]int
		logSer := *ser
		logSer.Learnt, dropped[0] = log10Positive(ser.Learnt)
		logSer.Random, dropped[1] = log10Positive(ser.Random)
		ser = &logSer
		if ser.Kind == store.PlotFrequency {
			title = "Feature density (log10 activation frequency)"
		} else {
			title += " (log10)"
		}
		xlabel = "log10 of " + xlabel
		meanName = "mean log10"
		if dropped[0]+dropped[1] > 0 {
			notes = append(notes, fmt.Sprintf(zeroNote, plural(dropped[0], ser.Unit), plural(dropped[1], ser.Unit)))
		}
	}
	b := binSeries(ser, o)
	title += ": learnt SAE vs random directions"
	f := &Figure{Kind: string(ser.Kind), Unit: ser.Unit, Binned: &b, LogX: o.LogX}
	units := ser.Unit + "s"
	f.Bars = []Bars{
		newBars("learnt", fmt.Sprintf("learnt SAE (%s %s, %s %s)", numfmt.Thousands(len(ser.Learnt)), units, meanName, fmtNum(mean(ser.Learnt))),
			b.Edges, b.Learnt, palette[0], o),
		newBars("random", fmt.Sprintf("random directions (%s %s, %s %s)", numfmt.Thousands(len(ser.Random)), units, meanName, fmtNum(mean(ser.Random))),
			b.Edges, b.Random, palette[1], o),
	}
	if o.Lo != o.Hi {
		if n := outside(ser.Learnt, o.Lo, o.Hi) + outside(ser.Random, o.Lo, o.Hi); n > 0 {
			notes = append(notes, fmt.Sprintf(outsideNote, plural(n, "value"), fmtNum(o.Lo), fmtNum(o.Hi)))
		}
	}
	f.Note = strings.Join(notes, "; ")
	f.YLabel = yLabel(o, units)
	f.build(title, xlabel, o)
	return f, nil
}

// Density builds feature f's activation density: the histogram of its
// non-zero activations, with the fraction of tokens it fires on in the
// title. With the default bins and range it is the store's own histogram
// (32 bins over (0, max]). A dead feature gives an empty plot with a note.
func Density(s *store.Store, f int, o Options) (*Figure, error) {
	return Compare(s, []int{f}, o)
}

// Compare overlays the activation densities of several features of one
// store over shared bins (by default DefaultDensityBins over (0, the
// largest max]): CompareAcross with every source in s.
func Compare(s *store.Store, features []int, o Options) (*Figure, error) {
	srcs := make([]Source, len(features))
	for i, f := range features {
		srcs[i] = Source{Store: s, Feature: f}
	}
	return CompareAcross(srcs, o)
}

// densityRange returns the bins and x range of overlaid densities: o's, or
// DefaultDensityBins over (0, hi], hi being the largest maximum of the
// features (1 when every one is dead).
func densityRange(hi float64, o Options) (bins int, lo, hiOut float64, explicit bool) {
	bins = o.Bins
	if bins == 0 {
		bins = DefaultDensityBins
	}
	explicit = o.Lo != o.Hi
	switch {
	case explicit:
		return bins, o.Lo, o.Hi, true
	case hi == 0:
		hi = 1 // every feature dead
	}
	return bins, 0, hi, false
}

// densityBars is series i of n overlaid densities: beyond two, fills are
// lighter and outlines thicker so that every series stays visible.
func densityBars(key, name string, edges []float64, counts []int, i, n int, o Options) Bars {
	b := newBars(key, name, edges, counts, palette[i%len(palette)], o)
	if n > 2 {
		b.Hist.FillColor = color.NRGBA{b.Color.R, b.Color.G, b.Color.B, fillAlpha * 2 / 3}
		b.Hist.LineStyle.Width = vg.Points(1.2)
	}
	return b
}

// densityYLabel is the y label of density plots.
func densityYLabel(o Options) string {
	if o.Counts {
		return yLabel(o, "tokens")
	}
	return yLabel(o, "firing tokens")
}

func yLabel(o Options, units string) string {
	y := "fraction of " + units
	if o.Counts {
		y = units
	}
	if o.LogY {
		y += " (log scale)"
	}
	return y
}

// binSeries bins both series: whole-number bins for counts per token.
func binSeries(ser *store.Series, o Options) store.Binned {
	bins, lo, hi := o.Bins, o.Lo, o.Hi
	if bins == 0 {
		bins = DefaultBins
	}
	if lo == hi && ser.Kind == store.PlotFeaturesPerToken {
		mn, mx := math.Inf(1), math.Inf(-1)
		for _, vals := range [][]float64{ser.Learnt, ser.Random} {
			for _, v := range vals {
				mn, mx = math.Min(mn, v), math.Max(mx, v)
			}
		}
		if !math.IsInf(mn, 1) {
			// Bins of w whole numbers each, centred on the integers, so that
			// no bin holds one more integer than its neighbour.
			span := mx - mn + 1
			w := math.Ceil(span / float64(bins))
			bins = int(math.Ceil(span / w))
			lo = mn - 0.5
			hi = lo + float64(bins)*w
		}
	}
	return ser.Bin(bins, lo, hi)
}

// binValues counts vals in bins equal bins of [lo, hi], the values outside
// in the end bins (as store.Series.Bin).
func binValues(vals []float32, bins int, lo, hi float64) ([]float64, []int) {
	edges := make([]float64, bins+1)
	for i := range edges {
		edges[i] = lo + (hi-lo)*float64(i)/float64(bins)
	}
	counts := make([]int, bins)
	for _, v := range vals {
		i := int((float64(v) - lo) / (hi - lo) * float64(bins))
		counts[max(0, min(bins-1, i))]++
	}
	return edges, counts
}

func outside(vals []float64, lo, hi float64) int {
	n := 0
	for _, v := range vals {
		if v < lo || v > hi {
			n++
		}
	}
	return n
}

func outside32(vals []float32, lo, hi float64) int {
	n := 0
	for _, v := range vals {
		if float64(v) < lo || float64(v) > hi {
			n++
		}
	}
	return n
}

// log10Positive returns log10 of the positive values and how many were
// not (0 and below: no logarithm; NaN).
func log10Positive(vals []float64) ([]float64, int) {
	out := make([]float64, 0, len(vals))
	for _, v := range vals {
		if v > 0 {
			out = append(out, math.Log10(v))
		}
	}
	return out, len(vals) - len(out)
}

func mean(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := 0.0
	for _, v := range vals {
		s += v
	}
	return s / float64(len(vals))
}

func newBars(key, name string, edges []float64, counts []int, c color.NRGBA, o Options) Bars {
	b := Bars{Key: key, Name: name, Edges: edges, Counts: counts, Color: c, Heights: make([]float64, len(counts))}
	for _, n := range counts {
		b.N += n
	}
	for i, n := range counts {
		b.Heights[i] = float64(n)
		if !o.Counts && b.N > 0 {
			b.Heights[i] /= float64(b.N)
		}
	}
	fill := c
	fill.A = fillAlpha
	h := &plotter.Histogram{FillColor: fill, LogY: o.LogY,
		LineStyle: draw.LineStyle{Color: c, Width: vg.Points(0.7)}}
	for i, y := range b.Heights {
		h.Bins = append(h.Bins, plotter.HistogramBin{Min: edges[i], Max: edges[i+1], Weight: y})
	}
	if len(counts) > 0 {
		h.Width = edges[1] - edges[0]
	}
	b.Hist = h
	return b
}

// build makes the plot: overlaid bars, axes, legend in the emptier top
// corner over a light backdrop, and the note.
func (f *Figure) build(title, xlabel string, o Options) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = fontTitle
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text, p.Y.Label.Text = xlabel, f.YLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = fontLab
		a.Tick.Label.Font.Size = fontTick
		a.Padding = vg.Points(2)
	}
	p.Legend.TextStyle.Font.Size = fontLeg
	for _, fnt := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font} {
		fnt.Variant = "Sans"
	}
	p.Legend.Top = true
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), -vg.Points(6)
	p.Legend.Padding = vg.Points(3)

	maxH, minPos := 0.0, math.Inf(1)
	for _, b := range f.Bars {
		for _, y := range b.Heights {
			maxH = math.Max(maxH, y)
			if y > 0 {
				minPos = math.Min(minPos, y)
			}
		}
	}
	var names []string
	for i := range f.Bars {
		p.Add(f.Bars[i].Hist)
	}
	if len(f.Bars) > 0 && len(f.Bars[0].Edges) > 1 {
		e := f.Bars[0].Edges
		p.X.Min, p.X.Max = e[0], e[len(e)-1]
	}
	empty := maxH == 0
	if empty && f.Note == "" {
		f.Note = emptyNote
	}
	switch {
	case o.LogY && empty:
		p.Y.Min, p.Y.Max = 0.1, 1
	case o.LogY:
		p.Y.Min = minPos / 2
		p.Y.Max = maxH * math.Pow(maxH/p.Y.Min, legendHeadroom-1)
	case empty:
		p.Y.Min, p.Y.Max = 0, 1
	default:
		p.Y.Min, p.Y.Max = 0, maxH*legendHeadroom
	}
	if o.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	} else {
		p.Y.Tick.Marker = niceTicks{n: 6, integer: o.Counts}
	}
	p.X.Tick.Marker = niceTicks{n: 10, integer: f.Kind == string(store.PlotFeaturesPerToken)}
	if p.Legend.Left = f.leftIsEmptier(); p.Legend.Left {
		p.Legend.XOffs = -p.Legend.XOffs
	}
	for _, b := range f.Bars {
		names = append(names, b.Name)
	}
	f.backdrop = &legendBackdrop{names: names, legend: &p.Legend, color: LightStyle.backdrop()}
	p.Add(f.backdrop)
	for _, b := range f.Bars {
		p.Legend.Add(b.Name, b.Hist)
	}
	switch {
	case f.Note != "" && empty:
		f.note = &noteText{text: f.Note, color: LightStyle.muted()}
		p.Add(f.note)
	case f.Note != "":
		p.Title.Text += "\n(" + f.Note + ")"
	}
	f.Plot = p
}

// leftIsEmptier says whether the bars are lower in the left third of the
// x range than in the right third (where the legend would go).
func (f *Figure) leftIsEmptier() bool {
	if len(f.Bars) == 0 || len(f.Bars[0].Heights) == 0 {
		return false
	}
	n := len(f.Bars[0].Heights)
	third := max(1, n*2/5)
	left, right := 0.0, 0.0
	for _, b := range f.Bars {
		for i := 0; i < third; i++ {
			left = math.Max(left, b.Heights[i])
			right = math.Max(right, b.Heights[n-1-i])
		}
	}
	return left < right
}

// legendBackdrop lightens the area behind the legend, which is drawn after
// every plotter, so that bars under it do not hide its text.
type legendBackdrop struct {
	names  []string
	legend *plot.Legend
	color  color.Color
}

func (lb *legendBackdrop) Plot(c draw.Canvas, _ *plot.Plot) {
	l := lb.legend
	sty := l.TextStyle
	var w, h vg.Length
	for i, n := range lb.names {
		w = max(w, l.ThumbnailWidth+sty.Rectangle(" "+n).Max.X)
		h += sty.Rectangle(n).Max.Y
		if i > 0 {
			h += l.Padding
		}
	}
	pad := vg.Points(4)
	r := vg.Rectangle{Min: vg.Point{X: c.Max.X - w, Y: c.Max.Y - h}, Max: c.Max}
	if l.Left {
		r = vg.Rectangle{Min: vg.Point{X: c.Min.X, Y: c.Max.Y - h}, Max: vg.Point{X: c.Min.X + w, Y: c.Max.Y}}
	}
	r.Min.X += l.XOffs - pad
	r.Max.X += l.XOffs + pad
	r.Min.Y += l.YOffs - pad - sty.FontExtents().Descent
	r.Max.Y += l.YOffs + pad
	c.SetColor(lb.color)
	c.Fill(r.Path())
}

// noteText writes a note in the middle of an empty plot.
type noteText struct {
	text  string
	color color.Color
}

func (n *noteText) Plot(c draw.Canvas, p *plot.Plot) {
	sty := p.Legend.TextStyle
	sty.Color = n.color
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
	c.FillText(sty, c.Center(), n.text)
}

// logTicks labels the powers of ten between min and max (gonum's LogTicks
// starts above min when min < 1).
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		v := math.Pow(10, e)
		for i := 1; i < 10; i++ {
			t := plot.Tick{Value: v * float64(i)}
			if i == 1 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			if t.Value >= lo && t.Value <= hi {
				ticks = append(ticks, t)
			}
		}
	}
	return ticks
}

// niceTicks labels about n round values (1, 2, 2.5 or 5 times a power of
// ten) with minor ticks between; integer keeps the step at 1 or more.
type niceTicks struct {
	n       int
	integer bool
}

func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	// The loop below counts steps in a float64: past 2^53 steps from 0, or
	// with a range its ends' rounding swallows, it would never end.
	if !(hi > lo) || math.IsInf(hi-lo, 0) || math.Max(math.Abs(lo), math.Abs(hi)) > 1e6*(hi-lo) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / float64(max(1, t.n))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step, minor, decimals := 10*mag, 5, 0
	for _, m := range []struct {
		mult  float64
		minor int
		extra int
	}{{1, 5, 0}, {2, 4, 0}, {2.5, 5, 1}, {5, 5, 0}} {
		if m.mult*mag >= raw {
			step, minor, decimals = m.mult*mag, m.minor, m.extra
			break
		}
	}
	if t.integer && step < 1 {
		step, minor, decimals, mag = 1, 1, 0, 1
	}
	decimals += max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	format := func(v float64) string {
		if v == 0 {
			return "0"
		}
		return strconv.FormatFloat(v, 'f', decimals, 64)
	}
	var ticks []plot.Tick
	first := math.Ceil(lo/step-1e-9) - 1
	// About n steps fit; the bound only guards against a float that stops
	// counting.
	for i := first; i < first+float64(4*max(1, t.n)+10); i++ {
		v := i * step
		if v > hi+step*1e-9 {
			break
		}
		if v >= lo-step*1e-9 {
			ticks = append(ticks, plot.Tick{Value: v, Label: format(v)})
		}
		for k := 1; k < minor; k++ {
			m := v + float64(k)*step/float64(minor)
			if m >= lo && m <= hi {
				ticks = append(ticks, plot.Tick{Value: m})
			}
		}
	}
	return ticks
}

// fmtNum writes a number with 4 significant digits.
func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func fmtPercent(frac float64) string {
	p := frac * 100
	switch {
	case p == 0:
		return "0%"
	case p < 0.01:
		return strconv.FormatFloat(p, 'g', 2, 64) + "%"
	case p < 10:
		return strconv.FormatFloat(p, 'f', 2, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return numfmt.Thousands(n) + " " + what + "s"
}
