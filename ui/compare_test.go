package ui

import (
	"fmt"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/ui/plots"
)

// Pins: one per feature and SAE, at most MaxPins, messages not panics.
func TestWorkbenchPins(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	o := otherView(t, nil)
	b := v.Bench()
	b.Add(o)
	if o.Bench() != b || len(b.Views()) != 2 {
		t.Fatal("the other view did not join")
	}
	calls := 0
	v.OnPins(func() { calls++ })
	if err := b.Pin(v, -1); err == nil || !strings.Contains(err.Error(), "select a feature") {
		t.Errorf("pin with nothing selected: %v", err)
	}
	if err := b.Pin(v, 256); err == nil {
		t.Error("feature out of range pinned")
	}
	if err := b.Pin(v, 3); err != nil {
		t.Fatal(err)
	}
	if err := b.Pin(v, 3); err == nil || !strings.Contains(err.Error(), "already pinned") {
		t.Errorf("pinned twice: %v", err)
	}
	if err := b.Pin(o, 3); err != nil { // the same id in another SAE is another feature
		t.Fatal(err)
	}
	for f := 10; len(b.Pins()) < MaxPins; f++ {
		if err := b.Pin(v, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Pin(v, 99); err == nil || !strings.Contains(err.Error(), "unpin one first") {
		t.Errorf("pin past the maximum: %v", err)
	}
	if calls != MaxPins {
		t.Errorf("%d notifications for %d pins", calls, MaxPins)
	}
	b.Unpin(v, 3)
	b.Unpin(v, 3) // not pinned: nothing
	if b.Pinned(v, 3) || !b.Pinned(o, 3) || calls != MaxPins+1 {
		t.Errorf("unpin: pins %v, %d calls", b.Pins(), calls)
	}
	// a view that leaves takes its pins along
	NewWorkbench().Add(o)
	if b.Pinned(o, 3) || len(b.Views()) != 1 {
		t.Error("the view's pins stayed behind")
	}
	b.ClearPins()
	if len(b.Pins()) != 0 {
		t.Error("pins left after ClearPins")
	}
	// the header's button pins and unpins the selected feature
	h := NewFeatureHeader(v)
	if !h.Pin.Disabled() {
		t.Error("Pin enabled with nothing selected")
	}
	v.Select(5)
	test.Tap(h.Pin)
	if !b.Pinned(v, 5) || h.Pin.Text != "Unpin" {
		t.Errorf("header pin: pinned %v, button %q", b.Pinned(v, 5), h.Pin.Text)
	}
	test.Tap(h.Pin)
	if b.Pinned(v, 5) || h.Pin.Text != "Pin" {
		t.Errorf("header unpin: pinned %v, button %q", b.Pinned(v, 5), h.Pin.Text)
	}
}

func shownComparePane(t *testing.T, v *View) *ComparePane {
	t.Helper()
	p := NewComparePane(v)
	show(t, p.Content(), 900, 900)
	p.Settle()
	return p
}

// With nothing pinned the pane says how to pin; with one, to pin another.
func TestCompareNothingPinned(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := shownComparePane(t, v)
	if p.Msg.Text != noPins || p.body.Visible() || len(p.Cards) != 0 || !p.Clear.Disabled() {
		t.Errorf("nothing pinned: %q, body shown %v", p.Msg.Text, p.body.Visible())
	}
	test.Tap(p.PinSelected) // nothing selected: disabled, no panic
	v.Select(liveFeature(t, v))
	test.Tap(p.PinSelected)
	p.Settle()
	if len(p.Cards) != 1 || !strings.Contains(p.Msg.Text, "pin another") || !strings.Contains(p.Pairs.Text, "Pin a second") {
		t.Errorf("one pin: %d cards, %q, %q", len(p.Cards), p.Msg.Text, p.Pairs.Text)
	}
	test.Tap(p.Clear)
	p.Settle()
	if p.Msg.Text != noPins || len(p.Cards) != 0 {
		t.Errorf("after Unpin all: %q, %d cards", p.Msg.Text, len(p.Cards))
	}
}

// Features of one SAE side by side: their numbers, logits and contexts;
// densities overlaid from the store; decoder cosine and co-activation.
func TestCompareSameSAE(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	st := v.Store()
	p := shownComparePane(t, v)
	r := st.Rank(store.ByMean, true).Live
	ids := []int{r[0].ID, r[5].ID, r[len(r)/2].ID}
	for _, f := range ids {
		if err := v.Bench().Pin(v, f); err != nil {
			t.Fatal(err)
		}
	}
	p.Settle()
	if len(p.Cards) != 3 || p.Msg.Visible() && p.Msg.Text != "" {
		t.Fatalf("%d cards, message %q", len(p.Cards), p.Msg.Text)
	}
	for i, c := range p.Cards {
		f := ids[i]
		s, _ := st.Stats(f)
		if c.Pin.Feature != f || !strings.Contains(c.Stats.Text, "mean "+fnum(s.Mean)) || !strings.Contains(c.Stats.Text, numfmt.Thousands(s.Count)+" tokens") {
			t.Errorf("card %d: feature %d, stats %q", i, c.Pin.Feature, c.Stats.Text)
		}
		le, _ := features.FeatureLogits(v.SAE.W.Model, v.SAE.Enc, f, logitK)
		lines := strings.Split(c.Boosts.Text, "\n")
		if len(lines) != compareLogits || !strings.HasSuffix(lines[0], fmt.Sprintf("%+.2f", le.Boosted[0].Value)) ||
			!strings.HasSuffix(strings.Split(c.Suppresses.Text, "\n")[0], fmt.Sprintf("%+.2f", le.Suppressed[0].Value)) {
			t.Errorf("card %d logits %q / %q", i, c.Boosts.Text, c.Suppresses.Text)
		}
		want, _ := st.TopContexts(f, compareContexts, comparePrefix, compareSuffix)
		strips := c.Contexts.strips()
		if len(strips) != len(want) {
			t.Fatalf("card %d: %d contexts, want %d", i, len(strips), len(want))
		}
		for j, w := range want {
			checkStrip(t, v, strips[j], w, float32(s.Max))
		}
	}
	// the overlaid densities are the store's: each series sums to the
	// tokens its feature fires on
	fig := p.Density.Figure()
	want, _ := plots.Compare(st, ids, plots.Options{})
	for i, b := range fig.Bars {
		s, _ := st.Stats(ids[i])
		if b.N != s.Count || fmt.Sprint(b.Counts) != fmt.Sprint(want.Bars[i].Counts) {
			t.Errorf("density of %d: N %d, count %d", ids[i], b.N, s.Count)
		}
	}
	// pairs
	w := v.SAE.Weights
	all, _ := features.NearestByDecoder(w, ids[0], w, w.DSae)
	cos, _ := similarTo(all, ids[1])
	co, _ := st.CoActivation(ids[0], st.DSae())
	r01, ok := correlatedWith(co, ids[1])
	lines := strings.Split(p.Pairs.Text, "\n")
	if len(lines) != 3 {
		t.Fatalf("pairs %q", p.Pairs.Text)
	}
	wantLine := fmt.Sprintf("%d and %d: decoder cosine %.3f · ", ids[0], ids[1], cos)
	if ok {
		wantLine += fmt.Sprintf("co-activation r %.3f", r01)
	}
	if !strings.HasPrefix(lines[0], wantLine) {
		t.Errorf("pair line %q, want %q", lines[0], wantLine)
	}
	// unpin from the bar
	test.Tap(findButtonIn(t, p.PinBar, 1))
	p.Settle()
	if len(p.Cards) != 2 || v.Bench().Pinned(v, ids[1]) {
		t.Errorf("after unpinning %d: %d cards", ids[1], len(p.Cards))
	}
}

// Features of two SAEs: densities overlaid on shared bins from each
// store; co-activation "different SAEs"; a pin whose SAE has no analysis
// is said to be left out of the plot.
func TestCompareAcrossSAEs(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	syn := synthStore(30)
	defer syn.Close()
	o := otherView(t, syn)
	b := v.Bench()
	b.Add(o)
	p := shownComparePane(t, v)
	f := liveFeature(t, v)
	b.Pin(v, f)
	b.Pin(o, 7)
	p.Settle()
	if len(p.Cards) != 2 {
		t.Fatalf("%d cards", len(p.Cards))
	}
	fig := p.Density.Figure()
	if fig == nil || len(fig.Bars) != 2 {
		t.Fatalf("density %v (%v)", fig, p.Density.Err())
	}
	sa, _ := v.Store().Stats(f)
	sb, _ := syn.Stats(7)
	if fig.Bars[0].N != sa.Count || fig.Bars[1].N != sb.Count || fmt.Sprint(fig.Bars[0].Edges) != fmt.Sprint(fig.Bars[1].Edges) {
		t.Errorf("densities: N %d and %d, want %d and %d", fig.Bars[0].N, fig.Bars[1].N, sa.Count, sb.Count)
	}
	all, _ := features.NearestByDecoder(v.SAE.Weights, f, o.SAE.Weights, o.SAE.Weights.DSae)
	cos, _ := similarTo(all, 7)
	want := fmt.Sprintf("%d (1.resid_pre) and 7 (0.mlp_out): decoder cosine %.3f · co-activation: different SAEs", f, cos)
	if p.Pairs.Text != want {
		t.Errorf("pair %q, want %q", p.Pairs.Text, want)
	}
	// the other SAE loses its analysis: its pin stays, out of the plot
	o.SetStore(nil, false)
	p.Settle()
	if !strings.Contains(p.Msg.Text, "Not analysed, so not in the plot: feature 7") || len(p.Density.Figure().Bars) != 1 {
		t.Errorf("unanalysed pin: %q", p.Msg.Text)
	}
	if !strings.Contains(p.Cards[1].Stats.Text, "Not analysed") {
		t.Errorf("card %q", p.Cards[1].Stats.Text)
	}
	// the densities export
	paths := saveTo(t, t.TempDir(), nil)
	test.Tap(findButton(t, p.Content(), "PDF"))
	checkFormat(t, "pdf", exported(t, v, paths))
}

// findButtonIn returns the i-th pin chip's unpin button.
func findButtonIn(t *testing.T, bar *fyne.Container, i int) *widget.Button {
	t.Helper()
	chip := bar.Objects[i].(*fyne.Container)
	return chip.Objects[len(chip.Objects)-1].(*widget.Button)
}
