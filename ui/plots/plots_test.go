package plots

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
)

var testStore = small.build()

// checkBars checks that a figure's bars are what its plotters draw: the
// plotter's bins have the edges and the heights, the heights are the
// counts (or their fraction) and the counts sum to N.
func checkBars(t *testing.T, f *Figure, o Options) {
	t.Helper()
	for _, b := range f.Bars {
		sum := 0
		for _, c := range b.Counts {
			sum += c
		}
		if sum != b.N {
			t.Errorf("%s: counts sum to %d, N is %d", b.Key, sum, b.N)
		}
		if len(b.Edges) != len(b.Counts)+1 || len(b.Hist.Bins) != len(b.Counts) {
			t.Fatalf("%s: %d edges, %d counts, %d plotter bins", b.Key, len(b.Edges), len(b.Counts), len(b.Hist.Bins))
		}
		total := 0.0
		for i, hb := range b.Hist.Bins {
			want := float64(b.Counts[i])
			if !o.Counts && b.N > 0 {
				want /= float64(b.N)
			}
			if hb.Weight != want || b.Heights[i] != want || hb.Min != b.Edges[i] || hb.Max != b.Edges[i+1] {
				t.Fatalf("%s bin %d: plotter [%g, %g] %g, want [%g, %g] %g", b.Key, i, hb.Min, hb.Max, hb.Weight, b.Edges[i], b.Edges[i+1], want)
			}
			total += hb.Weight
		}
		if !o.Counts && b.N > 0 && math.Abs(total-1) > 1e-9 {
			t.Errorf("%s: fractions sum to %g", b.Key, total)
		}
	}
}

// histOf counts vals over the edges the way store.Series.Bin does.
func histOf(vals []float64, edges []float64) []int {
	n := len(edges) - 1
	lo, hi := edges[0], edges[n]
	out := make([]int, n)
	for _, v := range vals {
		out[max(0, min(n-1, int((v-lo)/(hi-lo)*float64(n))))]++
	}
	return out
}

// Each distribution's drawn data equals the store's: counts per bin
// summed are the number of tokens or features, and the histogram is that
// of the store's own per-token counts / per-feature statistics.
func TestDistributionMatchesStore(t *testing.T) {
	s := testStore
	sum := s.Meta.Summary
	if sum.Tokens != small.rows*(small.seq-1) || sum.RandomTokens == 0 || sum.Dead != len(small.dead) {
		t.Fatalf("synthetic store: %+v", sum)
	}
	for _, counts := range []bool{false, true} {
		for _, kind := range store.PlotKinds {
			for _, th := range NotebookThresholds {
				o := Options{Threshold: th, Counts: counts}
				f, err := Distribution(s, kind, o)
				if err != nil {
					t.Fatal(kind, err)
				}
				checkBars(t, f, o)
				wantL, wantR := s.DSae(), s.DSae()
				var learnt, random []float64
				switch kind {
				case store.PlotFeaturesPerToken:
					wantL, wantR = sum.Tokens, sum.RandomTokens
					for _, c := range s.TokenCounts(th) {
						learnt = append(learnt, float64(c))
					}
					for _, c := range s.RandomTokenCounts(th) {
						random = append(random, float64(c))
					}
				case store.PlotFrequency, store.PlotMean:
					for id := 0; id < s.DSae(); id++ {
						a, _ := s.Stats(id)
						r, _ := s.RandomStats(id)
						if kind == store.PlotFrequency {
							learnt, random = append(learnt, a.Frequency), append(random, r.Frequency)
						} else {
							learnt, random = append(learnt, a.Mean), append(random, r.Mean)
						}
					}
				case store.PlotUnembedEntropy:
					for i := range s.UnembedEntropy {
						learnt = append(learnt, float64(s.UnembedEntropy[i]))
						random = append(random, float64(s.RandomUnembedEntropy[i]))
					}
				case store.PlotUnembedMaxProb:
					for i := range s.UnembedMaxProb {
						learnt = append(learnt, float64(s.UnembedMaxProb[i]))
						random = append(random, float64(s.RandomUnembedMaxProb[i]))
					}
				}
				l, r := f.Bars[0], f.Bars[1]
				if l.N != wantL || r.N != wantR {
					t.Errorf("%s: learnt %d random %d samples, want %d and %d", kind, l.N, r.N, wantL, wantR)
				}
				if !slices.Equal(l.Counts, f.Binned.Learnt) || !slices.Equal(r.Counts, f.Binned.Random) {
					t.Errorf("%s: bars differ from the binned series", kind)
				}
				if !slices.Equal(l.Counts, histOf(learnt, l.Edges)) || !slices.Equal(r.Counts, histOf(random, r.Edges)) {
					t.Errorf("%s threshold %g: histogram differs from the store's values", kind, th)
				}
				if kind != store.PlotFeaturesPerToken {
					break // the threshold plays no part
				}
			}
		}
	}
}

// Features per token are binned in whole numbers: each bin holds the same
// number of integers, and every count of the store lands in the bin of
// its value.
func TestFeaturesPerTokenWholeBins(t *testing.T) {
	f, err := Distribution(testStore, store.PlotFeaturesPerToken, Options{Threshold: 0.1, Bins: 7})
	if err != nil {
		t.Fatal(err)
	}
	e := f.Bars[0].Edges
	w := e[1] - e[0]
	if w != math.Trunc(w) || e[0] != math.Trunc(e[0])-0.5 && e[0] != math.Trunc(e[0])+0.5 {
		t.Errorf("edges %v are not whole-number bins", e)
	}
	if len(f.Bars[0].Counts) > 7 {
		t.Errorf("%d bins, asked for 7", len(f.Bars[0].Counts))
	}
}

// An explicit range keeps every sample (the end bins take the values
// outside) and says so on the plot.
func TestExplicitRange(t *testing.T) {
	o := Options{Bins: 10, Lo: 0.1, Hi: 0.2}
	f, err := Distribution(testStore, store.PlotMean, o)
	if err != nil {
		t.Fatal(err)
	}
	checkBars(t, f, o)
	if f.Bars[0].N != testStore.DSae() || f.Bars[0].Edges[0] != 0.1 || f.Bars[0].Edges[10] != 0.2 {
		t.Errorf("N %d edges %v", f.Bars[0].N, f.Bars[0].Edges)
	}
	if !strings.Contains(f.Note, "outside [0.1, 0.2]") || !strings.Contains(f.Plot.Title.Text, f.Note) {
		t.Errorf("note %q, title %q", f.Note, f.Plot.Title.Text)
	}
	if f.Plot.X.Min != 0.1 || f.Plot.X.Max != 0.2 {
		t.Errorf("x axis [%g, %g]", f.Plot.X.Min, f.Plot.X.Max)
	}
	// ranges a plot cannot draw (the last four used to hang the tick
	// loop or the rasteriser for good)
	for _, bad := range []Options{{Lo: 2, Hi: 1}, {Bins: -1}, {Lo: math.NaN()}, {Hi: math.Inf(1)},
		{Lo: 0, Hi: 1e308}, {Lo: -1e308, Hi: 1e308}, {Lo: 1, Hi: 1.0000000000000002}, {Lo: 5, Hi: 5.000000000000001}} {
		if _, err := Distribution(testStore, store.PlotMean, bad); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
	// the tick maker itself ends on such ranges
	for _, r := range [][2]float64{{1, 1.0000000000000002}, {5, 5.000000000000001}, {1e17, 1e17 + 64}} {
		if ticks := (niceTicks{n: 5}).Ticks(r[0], r[1]); len(ticks) > 100 {
			t.Errorf("range %v: %d ticks", r, len(ticks))
		}
	}
	if _, err := Distribution(testStore, "nope", Options{}); err == nil {
		t.Error("unknown kind accepted")
	}
}

// drawnText draws p on a recording canvas and returns every string drawn.
func drawnText(t *testing.T, f *Figure) []string {
	t.Helper()
	var rec recorder.Canvas
	f.Plot.Draw(draw.NewCanvas(&rec, DefaultWidth, DefaultHeight))
	var out []string
	for _, a := range rec.Actions {
		if fs, ok := a.(*recorder.FillString); ok {
			out = append(out, fs.String)
		}
	}
	return out
}

func containsText(texts []string, s string) bool {
	return slices.ContainsFunc(texts, func(x string) bool { return strings.Contains(x, s) })
}

// The legend names both series, and the axes are labelled.
func TestLegendAndLabels(t *testing.T) {
	for _, kind := range store.PlotKinds {
		f, err := Distribution(testStore, kind, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		texts := drawnText(t, f)
		for _, want := range []string{"learnt SAE (", "random directions (", f.Plot.X.Label.Text, f.Plot.Y.Label.Text, "learnt SAE vs random directions"} {
			if !containsText(texts, want) {
				t.Errorf("%s: %q not drawn (drawn: %q)", kind, want, texts)
			}
		}
		unit := map[string]string{"token": "tokens", "feature": "features"}[f.Unit]
		if f.Plot.Y.Label.Text != "fraction of "+unit || !strings.Contains(f.Bars[0].Name, unit) {
			t.Errorf("%s: y label %q, legend %q", kind, f.Plot.Y.Label.Text, f.Bars[0].Name)
		}
		// Room above the bars for the legend.
		maxH := 0.0
		for _, b := range f.Bars {
			maxH = max(maxH, slices.Max(b.Heights))
		}
		if f.Plot.Y.Max < maxH*1.2 {
			t.Errorf("%s: y axis ends at %g, bars reach %g: no room for the legend", kind, f.Plot.Y.Max, maxH)
		}
	}
	f, err := Distribution(testStore, store.PlotFeaturesPerToken, Options{Threshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Plot.Title.Text, "above 0.5") || !strings.Contains(f.Plot.X.Label.Text, "> 0.5") {
		t.Errorf("threshold missing: %q / %q", f.Plot.Title.Text, f.Plot.X.Label.Text)
	}
}

// A log y axis draws plots with empty bins, and even with no sample at
// all, in every format.
func TestLogScaleWithZeroBins(t *testing.T) {
	figs := map[string]*Figure{}
	var err error
	o := Options{LogY: true, Bins: 200, Lo: -1, Hi: 400} // most bins empty
	if figs["wide"], err = Distribution(testStore, store.PlotFeaturesPerToken, o); err != nil {
		t.Fatal(err)
	}
	zeros := 0
	for _, c := range figs["wide"].Bars[0].Counts {
		if c == 0 {
			zeros++
		}
	}
	if zeros == 0 {
		t.Fatal("the test needs empty bins")
	}
	if figs["counts"], err = Distribution(testStore, store.PlotFrequency, Options{LogY: true, Counts: true}); err != nil {
		t.Fatal(err)
	}
	if figs["dead"], err = Density(testStore, 5, Options{LogY: true}); err != nil {
		t.Fatal(err)
	}
	for name, f := range figs {
		if f.Plot.Y.Min <= 0 || f.Plot.Y.Max <= f.Plot.Y.Min {
			t.Errorf("%s: log axis [%g, %g]", name, f.Plot.Y.Min, f.Plot.Y.Max)
		}
		for _, format := range Formats {
			if _, err := Render(f.Plot, 600, 400, format); err != nil {
				t.Errorf("%s %s: %v", name, format, err)
			}
		}
		if !strings.HasSuffix(f.Plot.Y.Label.Text, "(log scale)") {
			t.Errorf("%s: y label %q", name, f.Plot.Y.Label.Text)
		}
	}
}

// A feature's density is the store's histogram of its non-zero
// activations; its counts sum to the tokens it fires on, and the title
// gives the fraction of tokens.
func TestDensityMatchesStore(t *testing.T) {
	s := testStore
	for _, id := range []int{0, 1, 42, 95} {
		st, _ := s.Stats(id)
		o := DefaultOptions()
		f, err := Density(s, id, o)
		if err != nil {
			t.Fatal(err)
		}
		checkBars(t, f, o)
		edges, counts, _ := s.Histogram(id)
		b := f.Bars[0]
		if !slices.Equal(b.Edges, edges) || !slices.Equal(b.Counts, counts) || b.N != st.Count || st.Count == 0 {
			t.Errorf("feature %d: bars %v (N %d), store %v (count %d)", id, b.Counts, b.N, counts, st.Count)
		}
		if want := fmtPercent(st.Frequency) + " of tokens"; !strings.Contains(f.Plot.Title.Text, want) {
			t.Errorf("title %q lacks %q", f.Plot.Title.Text, want)
		}
		// Other bins and ranges: recounted from the activations, all kept.
		for _, o := range []Options{{Bins: 7}, {Bins: 20, Lo: 0.2, Hi: 0.5, Counts: true}} {
			f, err := Density(s, id, o)
			if err != nil {
				t.Fatal(err)
			}
			checkBars(t, f, o)
			if f.Bars[0].N != st.Count || len(f.Bars[0].Counts) != o.Bins {
				t.Errorf("feature %d %+v: N %d bins %d", id, o, f.Bars[0].N, len(f.Bars[0].Counts))
			}
		}
	}
	if _, err := Density(s, s.DSae(), Options{}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("feature out of range: %v", err)
	}
}

// A dead feature gives a valid, empty plot with a note.
func TestDeadFeatureDensity(t *testing.T) {
	for _, o := range []Options{{}, {Counts: true}, {LogY: true}, {Bins: 5, Lo: 1, Hi: 2}} {
		f, err := Density(testStore, 17, o)
		if err != nil {
			t.Fatal(err)
		}
		checkBars(t, f, o)
		if f.Bars[0].N != 0 || !strings.Contains(f.Note, "never fires") || !strings.Contains(f.Bars[0].Name, "dead") {
			t.Errorf("%+v: N %d note %q legend %q", o, f.Bars[0].N, f.Note, f.Bars[0].Name)
		}
		if !containsText(drawnText(t, f), "never fires") {
			t.Error("the note is not drawn")
		}
		if !strings.Contains(f.Plot.Title.Text, "0% of tokens") {
			t.Errorf("title %q", f.Plot.Title.Text)
		}
		for _, format := range Formats {
			if _, err := Render(f.Plot, 400, 300, format); err != nil {
				t.Error(format, err)
			}
		}
	}
}

// Compared features share bins; each one's counts sum to its tokens.
func TestCompare(t *testing.T) {
	ids := []int{3, 5, 40, 77}
	o := DefaultOptions()
	f, err := Compare(testStore, ids, o)
	if err != nil {
		t.Fatal(err)
	}
	checkBars(t, f, o)
	if len(f.Bars) != len(ids) {
		t.Fatalf("%d bars", len(f.Bars))
	}
	hi := 0.0
	for i, id := range ids {
		st, _ := testStore.Stats(id)
		hi = max(hi, st.Max)
		b := f.Bars[i]
		if b.N != st.Count || !slices.Equal(b.Edges, f.Bars[0].Edges) || b.Key != "feature_"+itoa(id) {
			t.Errorf("feature %d: N %d (count %d), key %s", id, b.N, st.Count, b.Key)
		}
	}
	if e := f.Bars[0].Edges; e[0] != 0 || e[len(e)-1] != hi {
		t.Errorf("edges [%g, %g], want [0, %g]", e[0], e[len(e)-1], hi)
	}
	texts := drawnText(t, f)
	for _, id := range ids {
		if !containsText(texts, "feature "+itoa(id)+" (") {
			t.Errorf("legend lacks feature %d: %q", id, texts)
		}
	}
	if f.Note != "" {
		t.Errorf("note %q with live features", f.Note)
	}
	if _, err := Compare(testStore, nil, o); err == nil {
		t.Error("no features accepted")
	}
	if _, err := Compare(testStore, []int{1, -1}, o); err == nil {
		t.Error("feature -1 accepted")
	}
	if f, err := Compare(testStore, []int{5, 17}, o); err != nil || !strings.Contains(f.Note, "none of these") {
		t.Errorf("all dead: %v %v", f, err)
	}
}

// A store written and reopened (memory-mapped) plots the same as in memory.
func TestOpenedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.saestore")
	if err := testStore.Write(path); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, kind := range store.PlotKinds {
		a, err1 := Distribution(testStore, kind, DefaultOptions())
		b, err2 := Distribution(s, kind, DefaultOptions())
		if err1 != nil || err2 != nil || !slices.Equal(a.Bars[0].Counts, b.Bars[0].Counts) || !slices.Equal(a.Bars[1].Counts, b.Bars[1].Counts) {
			t.Errorf("%s: in memory and reopened differ (%v, %v)", kind, err1, err2)
		}
	}
	a, _ := Density(testStore, 9, Options{})
	b, _ := Density(s, 9, Options{})
	if !slices.Equal(a.Bars[0].Counts, b.Bars[0].Counts) {
		t.Error("density differs after reopening")
	}
}

func TestTicks(t *testing.T) {
	cases := []struct {
		lo, hi  float64
		n       int
		integer bool
		want    []string
	}{
		{0, 1, 5, false, []string{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{73.5, 141.5, 10, true, []string{"80", "90", "100", "110", "120", "130", "140"}},
		{0, 3.2, 10, false, []string{"0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0"}},
		{0.000127, 0.000355, 10, false, []string{"0.000150", "0.000175", "0.000200", "0.000225", "0.000250", "0.000275", "0.000300", "0.000325", "0.000350"}},
		{-0.5, 3.5, 10, true, []string{"0", "1", "2", "3"}},
		{15.3501, 15.4204, 10, false, []string{"15.36", "15.37", "15.38", "15.39", "15.40", "15.41", "15.42"}},
	}
	for _, c := range cases {
		var got []string
		for _, tk := range (niceTicks{n: c.n, integer: c.integer}).Ticks(c.lo, c.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
			if tk.Value < c.lo || tk.Value > c.hi {
				t.Errorf("[%g, %g]: tick %g outside", c.lo, c.hi, tk.Value)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("[%g, %g] n %d: %q, want %q", c.lo, c.hi, c.n, got, c.want)
		}
	}
	// Labels are distinct on any range.
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 2000; i++ {
		lo := (rng.Float64() - 0.3) * math.Pow(10, float64(rng.IntN(16)-6))
		hi := lo + rng.Float64()*math.Pow(10, float64(rng.IntN(12)-6))
		if hi-lo < 1e-6*math.Abs(lo) {
			continue // below what the float32 activations resolve
		}
		seen := map[string]bool{}
		n := 0
		for _, tk := range (niceTicks{n: 10}).Ticks(lo, hi) {
			if tk.Label == "" {
				continue
			}
			n++
			if seen[tk.Label] {
				t.Fatalf("[%g, %g]: label %q twice", lo, hi, tk.Label)
			}
			seen[tk.Label] = true
		}
		if hi > lo && (n < 2 || n > 21) {
			t.Errorf("[%g, %g]: %d labels", lo, hi, n)
		}
	}
	var got []string
	for _, tk := range (logTicks{}).Ticks(0.003, 20) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	if !slices.Equal(got, []string{"0.01", "0.1", "1", "10"}) {
		t.Errorf("log ticks %q", got)
	}
}

func TestKinds(t *testing.T) {
	if k := Kinds(); len(k) != 6 || k[5] != KindDensity || k[0] != string(store.PlotFeaturesPerToken) {
		t.Errorf("kinds %v", k)
	}
	if KindTitle("features_per_token") != "Features above a threshold per token" || KindTitle("frequency") != "Activation frequency per feature" ||
		KindTitle(KindDensity) != "Activation density" {
		t.Errorf("titles %q %q", KindTitle("features_per_token"), KindTitle("frequency"))
	}
	if numfmt.Thousands(1234567) != "1,234,567" || numfmt.Thousands(-1000) != "-1,000" || numfmt.Thousands(12) != "12" {
		t.Error(numfmt.Thousands(1234567), numfmt.Thousands(-1000))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
