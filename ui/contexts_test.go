package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights/tokenizer"
)

// checkStrip compares a strip with a context of the store: one chip a
// token, except that a run of byte-level tokens forming a character is
// one chip showing it, with the run's strongest activation.
func checkStrip(t *testing.T, v *View, s *TokenStrip, c store.Context, scale float32) {
	t.Helper()
	toks := s.Tokens()
	marked := -1
	i := 0
	for ci, tok := range toks {
		if i >= len(c.Tokens) {
			t.Fatalf("strip of %d chips, context of %d tokens", len(toks), len(c.Tokens))
		}
		j := i + 1
		if tok.Raw != "" { // a merged run: the shortest that reads as the chip
			var b []byte
			for j = i; j < len(c.Tokens); j++ {
				bj, _ := v.Tok.Bytes(int(c.Tokens[j]))
				b = append(b, bj...)
				if utf8.Valid(b) {
					break
				}
			}
			j++
			if j-i < 2 || tokenizer.Display(b) != tok.Text {
				t.Fatalf("chip %d %q: tokens %v read %q", ci, tok.Text, c.Tokens[i:min(j, len(c.Tokens))], tokenizer.Display(b))
			}
		} else if tok.Text != v.Tok.DisplayString(int(c.Tokens[i])) {
			t.Fatalf("chip %d: %+v, store has id %d", ci, tok, c.Tokens[i])
		}
		best := float32(-1)
		for k := i; k < j; k++ {
			best = max(best, c.Acts[k])
			if k == c.Target() {
				marked = ci
			}
		}
		if tok.Value != best || (j == i+1 && tok.ID != int(c.Tokens[i])) {
			t.Fatalf("chip %d: %+v, store has id %d, activation %v", ci, tok, c.Tokens[i], best)
		}
		i = j
	}
	if i != len(c.Tokens) {
		t.Fatalf("the chips cover %d of %d tokens", i, len(c.Tokens))
	}
	if s.Marked() != marked {
		t.Errorf("marked chip %d, activating token at %d (chip %d)", s.Marked(), c.Target(), marked)
	}
	if s.Scale() != scale {
		t.Errorf("scale %v, want the feature's max %v", s.Scale(), scale)
	}
}

func TestContextsShowTheStore(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewContextsPane(v)
	show(t, p.Content(), 800, 700)
	if len(p.TopList()) != 0 || !strings.Contains(p.Title.Text, "Select a feature") {
		t.Fatalf("before selection: %d strips, title %q", len(p.TopList()), p.Title.Text)
	}
	st := v.Store()
	f := st.Rank(store.ByMean, true).Live[0].ID
	if err := v.Select(f); err != nil {
		t.Fatal(err)
	}
	want := firstOfEachRow(t, st, f, DefaultContexts, DefaultPrefix, DefaultSuffix)
	strips := p.TopList()
	if len(strips) != len(want) || len(want) == 0 {
		t.Fatalf("%d strips, store gives %d contexts", len(strips), len(want))
	}
	stats, _ := st.Stats(f)
	for i, c := range want {
		checkStrip(t, v, strips[i], c, float32(stats.Max))
	}
	if !strings.Contains(p.Title.Text, "Feature "+itoa(f)) {
		t.Errorf("title %q", p.Title.Text)
	}
	// adjustable count, prefix and suffix
	p.KEntry.SetText("5")
	p.PrefixEntry.SetText("3")
	p.SuffixEntry.SetText("0")
	want = firstOfEachRow(t, st, f, 5, 3, 0)
	strips = p.TopList()
	if len(strips) != 5 {
		t.Fatalf("count 5: %d strips", len(strips))
	}
	for i, c := range want {
		checkStrip(t, v, strips[i], c, float32(stats.Max))
	}
	// bad input: a message, the last good values kept
	for _, bad := range []struct {
		e    func(string)
		text string
	}{{p.KEntry.SetText, "1000"}, {p.KEntry.SetText, "0"}, {p.PrefixEntry.SetText, "-1"}, {p.SuffixEntry.SetText, "500"}} {
		bad.e(bad.text)
		if !p.Msg.Visible() {
			t.Errorf("%q: no message", bad.text)
		}
	}
	p.KEntry.SetText("abc")
	p.KEntry.OnSubmitted("abc")
	if !p.Msg.Visible() || p.K != 5 {
		t.Errorf("non-number: message %v, k %d", p.Msg.Visible(), p.K)
	}
}

// firstOfEachRow is the strongest window of each of the k rows where
// feature f is strongest, from every window the store keeps.
func firstOfEachRow(t *testing.T, st *store.Store, f, k, prefix, suffix int) []store.Context {
	t.Helper()
	all, err := st.TopContexts(f, store.TopK, prefix, suffix)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Context
	rows := map[int]bool{}
	for _, c := range all {
		if !rows[c.Row] && len(out) < k {
			out = append(out, c)
		}
		rows[c.Row] = true
	}
	return out
}

// By default each corpus row gives one context; "Every window" shows the
// store's windows as they are, a row's several among them.
func TestContextsOnePerRow(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewContextsPane(v)
	show(t, p.Content(), 800, 700)
	st := v.Store()
	// a feature whose strongest windows repeat a row
	f := -1
	for _, fs := range st.Rank(store.ByMean, true).Live {
		cs, _ := st.TopContexts(fs.ID, DefaultContexts, 0, 0)
		rows := map[int]bool{}
		for _, c := range cs {
			if rows[c.Row] {
				f = fs.ID
			}
			rows[c.Row] = true
		}
		if f >= 0 {
			break
		}
	}
	if f < 0 {
		t.Fatal("no feature of the fixture store repeats a row among its top contexts")
	}
	v.Select(f)
	stats, _ := st.Stats(f)
	strips := p.TopList()
	want := firstOfEachRow(t, st, f, DefaultContexts, DefaultPrefix, DefaultSuffix)
	if len(strips) != len(want) {
		t.Fatalf("one per row: %d strips, want %d", len(strips), len(want))
	}
	for i, c := range want {
		checkStrip(t, v, strips[i], c, float32(stats.Max))
	}
	test.Tap(p.AllWindowsCheck)
	all, _ := st.TopContexts(f, DefaultContexts, DefaultPrefix, DefaultSuffix)
	strips = p.TopList()
	if !p.AllWindows || len(strips) != len(all) {
		t.Fatalf("every window: %d strips, want %d", len(strips), len(all))
	}
	for i, c := range all {
		checkStrip(t, v, strips[i], c, float32(stats.Max))
	}
}

func TestContextsIntervalSamples(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewContextsPane(v)
	show(t, p.Content(), 800, 700)
	st := v.Store()
	f := st.Rank(store.ByMax, true).Live[3].ID
	v.Select(f)
	if n := len(p.IntervalList()); n != 0 {
		t.Errorf("the hidden tab was drawn (%d strips)", n)
	}
	p.Tabs.SelectIndex(1)
	groups, _ := st.IntervalSamples(f, DefaultPrefix, DefaultSuffix)
	var want []store.Context
	for _, g := range groups {
		want = append(want, g.Contexts...)
	}
	strips := p.IntervalList()
	if len(strips) != len(want) || len(want) == 0 {
		t.Fatalf("%d strips, %d samples", len(strips), len(want))
	}
	stats, _ := st.Stats(f)
	for i, c := range want {
		checkStrip(t, v, strips[i], c, float32(stats.Max))
	}
	// the headings name the intervals
	found := 0
	for _, h := range p.intervals.heads {
		if strings.HasPrefix(h.Text, "Interval (") {
			found++
		}
	}
	if found != len(groups) {
		t.Errorf("%d interval headings for %d groups", found, len(groups))
	}
	// an interval of one sample says "1 sample"
	for _, fs := range st.Rank(store.ByMax, true).Live {
		gs, _ := st.IntervalSamples(fs.ID, 0, 0)
		one := -1
		for i, g := range gs {
			if len(g.Contexts) == 1 {
				one = i
			}
		}
		if one < 0 {
			continue
		}
		v.Select(fs.ID)
		n := 0
		for _, h := range p.intervals.heads {
			if strings.HasSuffix(h.Text, ": 1 sample") {
				n++
			}
			if strings.Contains(h.Text, " 1 samples") {
				t.Errorf("heading %q", h.Text)
			}
		}
		if n == 0 {
			t.Errorf("feature %d has an interval of one sample; no heading says \"1 sample\"", fs.ID)
		}
		return
	}
	t.Error("no feature of the fixture store has an interval of one sample")
}

func TestContextsFollowSelectionAndHover(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewContextsPane(v)
	show(t, p.Content(), 800, 700)
	v.Select(10)
	first := p.TopList()[0].Tokens()
	v.Select(11)
	second := p.TopList()[0].Tokens()
	c10, _ := v.Store().TopContexts(11, 1, DefaultPrefix, DefaultSuffix)
	if len(second) != len(c10[0].Tokens) || (len(first) == len(second) && first[0] == second[0] && first[len(first)-1] == second[len(second)-1]) {
		t.Error("the contexts did not change with the selection")
	}
	s := p.TopList()[0]
	s.OnHover(0)
	if !strings.Contains(p.Hover.Text, "id ") || !strings.Contains(p.Hover.Text, "activation") {
		t.Errorf("hover %q", p.Hover.Text)
	}
}

func TestContextsDeadAndNoStore(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	v.SetStore(synthStore(10), false)
	p := NewContextsPane(v)
	show(t, p.Content(), 800, 700)
	v.Select(50)
	if !strings.Contains(p.Msg.Text, "dead") || len(p.TopList()) != 0 {
		t.Errorf("dead feature: %q, %d strips", p.Msg.Text, len(p.TopList()))
	}
	v.Select(2)
	if len(p.TopList()) == 0 {
		t.Error("a live feature of the synthetic store has no contexts")
	}
	v.SetStore(nil, false)
	if len(p.TopList()) != 0 || !strings.Contains(p.Title.Text, "Analyze") {
		t.Errorf("without a store: %q", p.Title.Text)
	}
}

// Hovering a token shows what ablating the feature there does to the
// next token: the same lists as intervene.AblateAt on the whole corpus
// row, computed once per (feature, row, position).
func TestContextsHoverAblation(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewContextsPane(v)
	show(t, p.Content(), 800, 700)
	st := v.Store()
	f := st.Rank(store.ByMean, true).Live[0].ID
	v.Select(f)
	s := p.TopList()[0]
	c := firstOfEachRow(t, st, f, 1, DefaultPrefix, DefaultSuffix)[0]
	if !strings.Contains(p.Ablation().Text, "Hover a token") {
		t.Errorf("before hovering: %q", p.Ablation().Text)
	}
	s.OnHover(s.Marked())
	p.SettleAblation()
	// the whole row, as the store gives it (a bounded store keeps the
	// rows of its samples only)
	seq := st.SeqLen()
	whole, err := st.TopContexts(f, 1, seq, seq)
	if err != nil || whole[0].Row != c.Row || len(whole[0].Tokens) != seq {
		t.Fatalf("the strongest context's row: %+v, %v", whole, err)
	}
	row := whole[0].Tokens
	want, err := intervene.AblateAt(context.Background(), v.SAE.W.Model, v.SAE.Enc, row, f, c.Pos, 5)
	if err != nil {
		t.Fatal(err)
	}
	line := p.Ablation().Text
	if want.Value == 0 || len(want.Increases) != 5 {
		t.Fatalf("the direct ablation: %+v", want)
	}
	for _, l := range [][]intervene.LogProbChange{want.Increases, want.Decreases} {
		for _, ch := range l {
			if item := fmt.Sprintf("%s %+.2f", v.Tok.DisplayString(ch.ID), ch.Delta); !strings.Contains(line, item) {
				t.Errorf("line %q lacks %q", line, item)
			}
		}
	}
	if p.ablation.Runs != 1 {
		t.Errorf("%d ablations run for one hover", p.ablation.Runs)
	}
	// leaving and coming back: from the cache
	s.OnHover(-1)
	s.OnHover(s.Marked())
	p.SettleAblation()
	if p.ablation.Runs != 1 || p.Ablation().Text != line {
		t.Errorf("second hover: %d runs, %q", p.ablation.Runs, p.Ablation().Text)
	}
	// a token where the feature is 0: no run
	for i, tok := range s.Tokens() {
		if tok.Value == 0 {
			s.OnHover(i)
			p.SettleAblation()
			if !strings.Contains(p.Ablation().Text, "changes nothing") || p.ablation.Runs != 1 {
				t.Errorf("inactive token: %q, %d runs", p.Ablation().Text, p.ablation.Runs)
			}
			break
		}
	}
	// another feature selected: the line no longer shows the old one
	v.Select(st.Rank(store.ByMean, true).Live[1].ID)
	if strings.Contains(p.Ablation().Text, "↑") {
		t.Errorf("after a new selection: %q", p.Ablation().Text)
	}
}

// Only the contexts in (or within a view's height of) the scroll's view
// draw their chips; scrolling to the end draws the last ones and drops
// the first (the renderer paints every object of the tree, in view or
// not: thirty contexts of chips cost a click ~40 ms of drawing).
func TestContextsDrawOnlyThoseInView(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewContextsPane(v)
	show(t, p.Content(), 800, 500)
	p.AllWindowsCheck.SetChecked(true) // as many contexts as the store keeps
	st := v.Store()
	if err := v.Select(st.Rank(store.ByMean, true).Live[0].ID); err != nil {
		t.Fatal(err)
	}
	strips := p.TopList()
	if len(strips) < 10 {
		t.Fatalf("%d contexts: too few to scroll", len(strips))
	}
	drawn := func() (n []bool) {
		for _, s := range strips {
			n = append(n, len(test.WidgetRenderer(s).Objects()) > 1) // more than the hover outline
		}
		return n
	}
	first := drawn()
	if !first[0] {
		t.Fatal("the first context, in view, draws nothing")
	}
	if first[len(first)-1] {
		t.Fatalf("the last of %d contexts, two views below, draws its chips", len(strips))
	}
	p.top.scroll.ScrollToBottom()
	last := drawn()
	if !last[len(last)-1] || last[0] {
		t.Errorf("scrolled to the end: first drawn %v, last drawn %v", last[0], last[len(last)-1])
	}
	// every context still has its tokens and its full size
	for i, s := range strips {
		if len(s.Tokens()) == 0 || s.Size().Height < s.MinSize().Height {
			t.Errorf("context %d: %d tokens, %v high for %v", i, len(s.Tokens()), s.Size().Height, s.MinSize().Height)
		}
	}
}
