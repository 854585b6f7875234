package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/store"
)

// checkStrip compares a strip with a context of the store.
func checkStrip(t *testing.T, v *View, s *TokenStrip, c store.Context, scale float32) {
	t.Helper()
	toks := s.Tokens()
	if len(toks) != len(c.Tokens) {
		t.Fatalf("strip of %d tokens, context of %d", len(toks), len(c.Tokens))
	}
	for i, tok := range toks {
		if tok.ID != int(c.Tokens[i]) || tok.Value != c.Acts[i] || tok.Text != v.Tok.DisplayString(int(c.Tokens[i])) {
			t.Fatalf("token %d: %+v, store has id %d act %v", i, tok, c.Tokens[i], c.Acts[i])
		}
	}
	if s.Marked() != c.Target() {
		t.Errorf("marked %d, activating token at %d", s.Marked(), c.Target())
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
	want, _ := st.TopContexts(f, DefaultContexts, DefaultPrefix, DefaultSuffix)
	strips := p.TopList()
	if len(strips) != len(want) || len(want) != DefaultContexts {
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
	want, _ = st.TopContexts(f, 5, 3, 0)
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
