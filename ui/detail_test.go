package ui

import (
	"fmt"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/ui/plots"
)

// liveFeature is a feature of the fixture store that fires.
func liveFeature(t *testing.T, v *View) int {
	t.Helper()
	r := v.Store().Rank("mean", true)
	return r.Live[len(r.Live)/3].ID
}

// The detail pane's lists are the compute functions' answers: the
// logit effect, the nearest features by decoder cosine (here and in the
// other SAE) and the co-activation; the density is the store's.
func TestDetailPaneShowsTheFeature(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	o := otherView(t, nil)
	v.Bench().Add(o)
	p := NewDetailPane(v)
	show(t, p.Content(), 900, 700)
	p.Settle()
	if !strings.Contains(p.Info.Text, "Select a feature") || p.Density.Message() == "" {
		t.Errorf("no feature: %q / %q", p.Info.Text, p.Density.Message())
	}
	f := liveFeature(t, v)
	v.Select(f)
	p.Settle()
	st := v.Store()

	// logits
	le, err := features.FeatureLogits(v.SAE.W.Model, v.SAE.Enc, f, logitK)
	if err != nil {
		t.Fatal(err)
	}
	checkTokens := func(name string, l *pickList, want []features.Ranked) {
		t.Helper()
		rows := l.Rows()
		if len(rows) != len(want) {
			t.Fatalf("%s: %d rows, want %d", name, len(rows), len(want))
		}
		for i, r := range want {
			if rows[i].Text != v.Tok.DisplayString(r.ID) || rows[i].Value != fmt.Sprintf("%+.2f", r.Value) {
				t.Errorf("%s row %d: %+v, want %q %+.2f", name, i, rows[i], v.Tok.DisplayString(r.ID), r.Value)
			}
		}
	}
	checkTokens("boosted", p.Boosted, le.Boosted)
	checkTokens("suppressed", p.Suppressed, le.Suppressed)
	// the histogram of every token's logit weight, beside the lists
	lh := p.LogitHist.Figure()
	if lh == nil || lh.Kind != plots.KindLogitWeights || len(lh.Bars) != 2 {
		t.Fatalf("logit weights: %+v (%v, %q)", lh, p.LogitHist.Err(), p.LogitHist.Message())
	}
	for i, c := range le.Hist.Counts {
		if lh.Bars[0].Counts[i]+lh.Bars[1].Counts[i] != c || lh.Bars[0].Edges[i] != le.Hist.Edges[i] {
			t.Fatalf("logit weight bin %d: %d+%d tokens, want %d", i, lh.Bars[0].Counts[i], lh.Bars[1].Counts[i], c)
		}
	}
	if n := lh.Bars[0].N + lh.Bars[1].N; n != v.SAE.W.Model.Config.VocabSize {
		t.Errorf("logit weights of %d tokens", n)
	}
	paths := saveTo(t, t.TempDir(), nil)
	p.exportLogitHist("csv")
	if data := exported(t, v, paths); !strings.HasPrefix(string(data), "bin_lo,bin_hi,suppressed_count") ||
		!strings.Contains((*paths)[0], "logit-weights") {
		t.Errorf("logit weights CSV %q: %.60q", (*paths)[0], data)
	}

	// nearest by decoder cosine, here and in the other SAE
	checkSimilar := func(name string, l *pickList, want []features.Similar) {
		t.Helper()
		rows := l.Rows()
		if len(rows) != len(want) || len(want) == 0 {
			t.Fatalf("%s: %d rows, want %d", name, len(rows), len(want))
		}
		for i, s := range want {
			if rows[i].ID != s.ID || rows[i].Value != fmt.Sprintf("%.3f", s.Cosine) {
				t.Errorf("%s row %d: %+v, want %d %.3f", name, i, rows[i], s.ID, s.Cosine)
			}
		}
	}
	w := v.SAE.Weights
	near, _ := features.NearestByDecoder(w, f, w, nearK)
	checkSimilar("nearest", p.Nearest, near)
	if p.OtherSAE.Selected != shortName(o) {
		t.Fatalf("other SAE %q", p.OtherSAE.Selected)
	}
	far, _ := features.NearestByDecoder(w, f, o.SAE.Weights, nearK)
	checkSimilar("other SAE", p.Other, far)

	// co-activation
	co, err := st.CoActivation(f, nearK)
	if err != nil || len(co) == 0 {
		t.Fatal(err, len(co))
	}
	rows := p.CoAct.Rows()
	if len(rows) != len(co) {
		t.Fatalf("co-activation: %d rows, want %d", len(rows), len(co))
	}
	for i, c := range co {
		if rows[i].ID != c.ID || rows[i].Value != fmt.Sprintf("%.3f", c.Correlation) {
			t.Errorf("co-activation row %d: %+v, want %+v", i, rows[i], c)
		}
	}

	// the density is the store's histogram: its counts sum to the tokens
	// the feature fires on
	fig := p.Density.Figure()
	want, _ := plots.Density(st, f, plots.Options{})
	s, _ := st.Stats(f)
	sum := 0
	for i, c := range fig.Bars[0].Counts {
		sum += c
		if c != want.Bars[0].Counts[i] {
			t.Errorf("density bin %d: %d, store %d", i, c, want.Bars[0].Counts[i])
		}
	}
	if sum != s.Count {
		t.Errorf("density counts sum to %d, the feature fires on %d tokens", sum, s.Count)
	}
	if !strings.Contains(p.Info.Text, fmt.Sprintf("entropy %.2f of", st.UnembedEntropy[f])) {
		t.Errorf("info %q", p.Info.Text)
	}
}

// Clicking a listed feature selects it: in this SAE, or in the other
// SAE's tab.
func TestDetailListsSelect(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	o := otherView(t, nil)
	b := v.Bench()
	b.Add(o)
	var shownView *View
	var shownPane string
	b.SetShow(func(v *View, pane string) { shownView, shownPane = v, pane })
	e := NewExplorer(v)
	show(t, e.Content(), 1280, 800)
	e.ShowPane(PaneDetail)
	p := e.Detail()
	v.Select(liveFeature(t, v))
	e.Settle()

	target := p.Nearest.Rows()[2].ID
	p.Nearest.Pick(2)
	e.Settle()
	if v.Feature() != target || e.Header.Title.Text != "Feature "+itoa(target) {
		t.Fatalf("picked %d: selected %d", target, v.Feature())
	}
	// the pane follows: its lists are the new feature's
	w := v.SAE.Weights
	near, _ := features.NearestByDecoder(w, target, w, nearK)
	if p.Nearest.Rows()[0].ID != near[0].ID {
		t.Error("the lists were not redrawn for the picked feature")
	}
	target = p.CoAct.Rows()[0].ID
	p.CoAct.Pick(0)
	e.Settle()
	if v.Feature() != target {
		t.Errorf("co-activation pick: selected %d, want %d", v.Feature(), target)
	}
	before := v.Feature()
	target = p.Other.Rows()[1].ID
	p.Other.Pick(1)
	e.Settle()
	if o.Feature() != target || shownView != o || shownPane != PaneDetail || v.Feature() != before {
		t.Errorf("other SAE pick: %d selected there (want %d), shown %v %q, here %d", o.Feature(), target, shownView == o, shownPane, v.Feature())
	}
	// token rows are not features: picking one does nothing
	p.Boosted.Pick(0)
	if v.Feature() != before {
		t.Error("a token row selected a feature")
	}
}

// A feature without data: not analysed, dead, or an SAE with no other of
// its width; messages, no panic.
func TestDetailWithoutData(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewDetailPane(v)
	show(t, p.Content(), 900, 700)
	if !p.OtherSAE.Disabled() {
		t.Error("other-SAE selector enabled with no other SAE")
	}
	syn := synthStore(20) // features 20… are dead
	defer syn.Close()
	v.SetStore(syn, false)
	v.Select(200)
	p.Settle()
	if fig := p.Density.Figure(); fig == nil || !strings.Contains(fig.Note, "never fires") {
		t.Errorf("dead feature: density %v", fig)
	}
	if len(p.CoAct.Rows()) != 0 || p.CoAct.Subtitle.Text != "fires with no other" {
		t.Errorf("dead feature: co-activation %v %q", p.CoAct.Rows(), p.CoAct.Subtitle.Text)
	}
	if !strings.Contains(p.Info.Text, "no unembedding statistics") {
		t.Errorf("info %q", p.Info.Text)
	}
	v.SetStore(nil, false)
	v.Select(3)
	p.Settle()
	if !strings.Contains(p.Density.Message(), "No analysis yet") || len(p.Nearest.Rows()) != nearK || p.CoAct.Subtitle.Text != "needs the analysis" {
		t.Errorf("no store: %q, %d nearest, %q", p.Density.Message(), len(p.Nearest.Rows()), p.CoAct.Subtitle.Text)
	}
	if err := p.SetOther(v); err == nil {
		t.Error("the SAE itself accepted as the other")
	}
}

// The density exports to PNG, SVG, PDF and CSV; the CSV's counts sum to
// the feature's firing tokens.
func TestDetailDensityExports(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewDetailPane(v)
	show(t, p.Content(), 900, 700)
	paths := saveTo(t, t.TempDir(), nil)
	f := liveFeature(t, v)
	v.Select(f)
	p.Settle()
	// the Density button's menu of formats
	if findButton(t, p.Content(), "Density") == nil {
		t.Fatal("no Density export button")
	}
	for _, format := range plots.Formats {
		p.exportDensity(format)
		checkFormat(t, format, exported(t, v, paths))
	}
	p.exportDensity("csv")
	sums := csvCounts(t, readCSV(t, exported(t, v, paths)))
	s, _ := v.Store().Stats(f)
	if sums["feature_"+itoa(f)] != s.Count {
		t.Errorf("CSV counts %v, want %d", sums, s.Count)
	}
	test.Tap(findButton(t, p.Content(), "Lists"))
	rows := readCSV(t, exported(t, v, paths))
	co, _ := v.Store().CoActivation(f, nearK)
	var coRows [][]string
	for _, r := range rows {
		if r[0] == "coactivation" {
			coRows = append(coRows, r)
		}
	}
	if rows[0][0] != "list" || len(rows) != 1+2*logitK+nearK+len(co) || len(coRows) != len(co) || coRows[0][2] != itoa(co[0].ID) {
		t.Errorf("lists CSV: %d rows, %d co-activation rows (want %d)", len(rows), len(coRows), len(co))
	}
	if !strings.Contains((*paths)[0], fmt.Sprintf("density-blocks.1.hook_resid_pre-256-feature-%d.png", f)) {
		t.Errorf("file name %s", (*paths)[0])
	}
}
