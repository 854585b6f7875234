package ui

import (
	"context"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/workspace"
)

// newSteerTest returns a view of the fixture SAE and its Steer pane in a
// window, with a short greedy generation.
func newSteerTest(t *testing.T) (*View, *SteerPane) {
	t.Helper()
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewSteerPane(v)
	show(t, p.Content(), 1000, 800)
	st := p.Set().Settings()
	st.Prompt, st.Tokens = "The cat sat on the", 6
	p.Set().SetSettings(st)
	return v, p
}

// directSteer runs what the pane should have run, through compute/intervene
// directly: the plain and steered greedy continuations and the last
// logits of each.
func directSteer(t *testing.T, v *View, prompt string, gen int, ivs []intervene.Intervention) (plain, steered *intervene.Result) {
	t.Helper()
	var ids []int32
	for _, id := range v.Tok.ToTokens(prompt) {
		ids = append(ids, int32(id))
	}
	m := v.SAE.W.Model
	var err error
	if plain, err = intervene.Greedy(context.Background(), m, ids, gen, model.Hooks{}); err != nil {
		t.Fatal(err)
	}
	pp, err := intervene.PosPatches(ivs)
	if err != nil {
		t.Fatal(err)
	}
	if steered, err = intervene.Greedy(context.Background(), m, ids, gen, model.Hooks{PosPatches: pp}); err != nil {
		t.Fatal(err)
	}
	return plain, steered
}

func sameIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Features come from the feature header's Steer button and the ranking's
// row menu, at their maximum activation; the pane shows what
// compute/intervene computes for them, and a slider moved reruns it.
func TestSteerPaneAddsAndRuns(t *testing.T) {
	v, p := newSteerTest(t)
	p.Settle()
	if p.Result() == nil || p.Result().Steering != 0 || !p.Empty.Visible() {
		t.Fatalf("before any feature: result %+v, empty hint shown %v", p.Result(), p.Empty.Visible())
	}
	h := NewFeatureHeader(v)
	if !h.Steer.Disabled() {
		t.Error("Steer enabled with no feature selected")
	}
	v.Select(17)
	test.Tap(h.Steer)
	r := NewRankingPane(v)
	// a right click on a row of the ranking opens that row's menu
	win := test.NewTempWindow(t, r.Content())
	win.Resize(fyne.NewSize(600, 500))
	r.Table.ScrollToTop() // it showed the selected feature's row
	header, height, pad := tableRowGeometry(&r.Table.Table)
	at := fyne.NewPos(40, header+2.5*(height+pad))
	if row, ok := r.Table.RowAt(at); !ok || row != 2 {
		t.Fatalf("row at %v: %d %v, want 2", at, row, ok)
	}
	if _, ok := r.Table.RowAt(fyne.NewPos(40, header/2)); ok {
		t.Error("the header row taken for a feature's")
	}
	r.Table.TappedSecondary(&fyne.PointEvent{Position: at, AbsolutePosition: at})
	if win.Canvas().Overlays().Top() == nil {
		t.Error("a right click on a ranking row opened no menu")
	}
	win.Canvas().Overlays().Remove(win.Canvas().Overlays().Top())
	menu := r.RowMenu(5)
	var steerItem *fyne.MenuItem
	for _, it := range menu.Items {
		if it.Label == "Steer" {
			steerItem = it
		}
	}
	if steerItem == nil {
		t.Fatalf("ranking menu %v has no Steer", menu.Items)
	}
	steerItem.Action()
	fs := p.Set().Features()
	if len(fs) != 2 || fs[0].Feature != 17 || fs[1].Feature != 5 || len(p.Rows) != 2 || p.Empty.Visible() {
		t.Fatalf("list %+v, %d rows", fs, len(p.Rows))
	}
	for _, f := range fs {
		s, err := v.Store().Stats(f.Feature)
		if err != nil {
			t.Fatal(err)
		}
		if f.Mode != intervene.Add || f.Coeff != s.Max {
			t.Errorf("feature %d: %s %v, want add at its max activation %v", f.Feature, f.Mode, f.Coeff, s.Max)
		}
		lo, hi := sliderRange(f)
		if lo != -3*s.Max || hi != 3*s.Max {
			t.Errorf("feature %d: slider %v to %v", f.Feature, lo, hi)
		}
	}
	if steerItem = r.RowMenu(5).Items[2]; !steerItem.Disabled {
		t.Error("Steer offered again for a feature in the list")
	}
	test.Tap(h.Steer) // already in the list: a message, no duplicate
	if len(p.Set().Features()) != 2 {
		t.Error("feature added twice")
	}

	check := func(what string, c17 float64) {
		t.Helper()
		p.Settle()
		res := p.Result()
		if res == nil || p.Msg.Visible() {
			t.Fatalf("%s: no result (message %q)", what, p.Msg.Text)
		}
		ivs := []intervene.Intervention{
			{Enc: v.SAE.Enc, Feature: 17, Mode: intervene.Add, Coeff: float32(c17)},
			{Enc: v.SAE.Enc, Feature: 5, Mode: intervene.Add, Coeff: float32(fs[1].Coeff)},
		}
		plain, steered := directSteer(t, v, "The cat sat on the", 6, ivs)
		if !sameIDs(res.Plain, plain.Generated) || !sameIDs(res.Steered, steered.Generated) {
			t.Errorf("%s: plain %v steered %v, direct %v %v", what, res.Plain, res.Steered, plain.Generated, steered.Generated)
		}
		if kl := intervene.KL(plain.LogitsLast, steered.LogitsLast); math.Abs(res.Next.KL-kl) > 1e-9*math.Max(1, kl) || !(kl > 0) {
			t.Errorf("%s: KL %v, direct %v", what, res.Next.KL, kl)
		}
		if continuationOf(p.SteeredText) != res.SteeredText || continuationOf(p.PlainText) != res.PlainText || res.SteeredText == "" {
			t.Errorf("%s: continuations shown %q, %q; run %q, %q", what, continuationOf(p.PlainText), continuationOf(p.SteeredText), res.PlainText, res.SteeredText)
		}
		if !strings.Contains(p.Summary.Text, "KL") || !strings.Contains(p.Summary.Text, "Loss over the prompt") || p.TopSteered.Lines() != len(res.Next.Steered) || len(res.Next.Steered) != SteerTop {
			t.Errorf("%s: summary %q", what, p.Summary.Text)
		}
	}
	check("both added", fs[0].Coeff)
	// dragging the first slider reruns with the new coefficient
	p.Rows[0].Slider.SetValue(-2 * fs[0].Coeff)
	if got := p.Set().Features()[0].Coeff; got != p.Rows[0].Slider.Value {
		t.Fatalf("slider at %v, coefficient %v", p.Rows[0].Slider.Value, got)
	}
	check("slider moved", p.Rows[0].Slider.Value)
	// typing an exact value
	p.Rows[0].Value.SetText("1.5")
	check("value typed", 1.5)
	// clamp and ablate rows
	p.Rows[1].Mode.SetSelected(string(intervene.Ablate))
	if !p.Rows[1].Slider.Disabled() || p.Set().Features()[1].Mode != intervene.Ablate {
		t.Error("ablate: slider still enabled")
	}
	// removing
	test.Tap(p.Rows[1].Remove)
	test.Tap(p.Rows[0].Remove)
	if len(p.Set().Features()) != 0 || !p.Empty.Visible() {
		t.Errorf("after removing both: %+v", p.Set().Features())
	}
	p.Settle()
}

// A run overtaken by a newer request is cancelled and never shown: only
// the newest request's result reaches the pane.
func TestSteerPaneNewestWins(t *testing.T) {
	v, p := newSteerTest(t)
	p.Settle()
	if err := p.Set().Add(v, 17); err != nil {
		t.Fatal(err)
	}
	p.Settle()
	type run struct {
		ctx context.Context
		id  uint64
	}
	began, release := make(chan run, 8), make(chan struct{})
	p.runner.mu.Lock()
	p.runner.delay = 0
	p.runner.started = func(ctx context.Context, id uint64) {
		began <- run{ctx, id}
		<-release
	}
	p.runner.mu.Unlock()
	stale := p.runner.Stale()
	p.Set().SetCoeff(0, 7)
	first := <-began
	p.Set().SetCoeff(0, -3) // the newest: cancels the first run
	if first.ctx.Err() == nil {
		t.Error("the first run was not cancelled by a newer request")
	}
	close(release)
	p.Settle()
	if p.runner.Newest() == first.id || p.runner.Stale() != stale+1 {
		t.Errorf("newest %d, first %d, stale runs %d (was %d)", p.runner.Newest(), first.id, p.runner.Stale(), stale)
	}
	plain, steered := directSteer(t, v, "The cat sat on the", 6, []intervene.Intervention{{Enc: v.SAE.Enc, Feature: 17, Mode: intervene.Add, Coeff: -3}})
	if kl := intervene.KL(plain.LogitsLast, steered.LogitsLast); math.Abs(p.Result().Next.KL-kl) > 1e-9*math.Max(1, kl) {
		t.Errorf("shown KL %v, the newest request's %v", p.Result().Next.KL, kl)
	}
}

// Bad input gets a message in the pane, and no run.
func TestSteerPaneMessages(t *testing.T) {
	v, p := newSteerTest(t)
	p.Settle()
	if err := p.Set().Add(v, 17); err != nil {
		t.Fatal(err)
	}
	p.Settle()
	for _, c := range []struct {
		name string
		do   func()
		want string
	}{
		{"non-finite coefficient", func() { p.Rows[0].Value.SetText("NaN") }, "not a finite number"},
		{"infinite coefficient", func() { p.Rows[0].Value.SetText("Inf") }, "not a finite number"},
		{"empty prompt", func() { p.Prompt.SetText("  ") }, "Type a prompt"},
		{"prompt too long", func() { p.Prompt.SetText(strings.Repeat(" word", 200)) }, "context of 128 tokens"},
		{"too many to generate", func() { p.Prompt.SetText("Hello"); p.Tokens.SetText("127") }, "generate at most 126"},
		{"tokens not a number", func() { p.Tokens.SetText("ten") }, "tokens to generate"},
		{"temperature", func() { p.Tokens.SetText("4"); p.Greedy.SetChecked(false); p.Temperature.SetText("-1") }, "temperature"},
		{"position", func() {
			p.Temperature.SetText("1")
			p.Scope.SetSelected(scopeNames[ScopePosition])
			p.Pos.SetText("40")
		}, "position 40"},
	} {
		c.do()
		p.Settle()
		if !p.Msg.Visible() || !strings.Contains(strings.ToLower(p.Msg.Text), strings.ToLower(c.want)) {
			t.Errorf("%s: message %q (shown %v), want %q", c.name, p.Msg.Text, p.Msg.Visible(), c.want)
		}
	}
	p.Pos.SetText("-1")
	p.Settle()
	if p.Msg.Visible() {
		t.Errorf("valid input, message %q", p.Msg.Text)
	}
	// the status line names the token steered (position -1 of BOS, "Hello")
	if want := `position 1, the prompt's "Hello"`; !strings.Contains(p.Status.Text, want) {
		t.Errorf("status %q, want it to say %s", p.Status.Text, want)
	}
	// no model loaded
	test.NewTempApp(t)
	bare := NewView(&workspace.SAE{Weights: v.SAE.Weights}, v.Tok, nil, v.Jobs)
	q := NewSteerPane(bare)
	q.Settle()
	if !q.Msg.Visible() || !strings.Contains(q.Msg.Text, "No model loaded") {
		t.Errorf("no model: message %q", q.Msg.Text)
	}
}

// The Steer panes of a workbench (one per SAE tab) share one run per
// change: both show its result.
func TestSteerPanesShareOneRun(t *testing.T) {
	v, p := newSteerTest(t)
	q := NewSteerPane(v) // another SAE tab's pane on the same workbench
	show(t, q.Content(), 1000, 800)
	p.Settle()
	var runs atomic.Int32
	p.runner.mu.Lock()
	p.runner.started = func(context.Context, uint64) { runs.Add(1) }
	p.runner.mu.Unlock()
	if err := p.Set().Add(v, 17); err != nil {
		t.Fatal(err)
	}
	p.Settle()
	if runs.Load() != 1 || p.Result() == nil || p.Result() != q.Result() || len(q.Rows) != 1 {
		t.Errorf("%d runs for one change; results %p and %p, %d rows in the second pane", runs.Load(), p.Result(), q.Result(), len(q.Rows))
	}
}
