package ui

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/intervene"
)

func TestNeuroscopeColoursTheText(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	st := v.Store()
	p := NewNeuroscopePane(v)
	show(t, p.Content(), 800, 600)
	p.Settle()
	if !strings.Contains(p.Summary.Text, "Select a feature") || len(p.Strip.Tokens()) == 0 {
		t.Fatalf("before selection: %q, %d tokens", p.Summary.Text, len(p.Strip.Tokens()))
	}
	v.Select(17)
	if p.FeatureEntry.Text != "17" {
		t.Errorf("feature entry %q", p.FeatureEntry.Text)
	}
	test.Type(p.Text, " More words")
	p.Settle()
	text := p.Text.Text
	ta, err := v.SAE.Encode(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	want := ta.Feature(17)[1:]
	toks := p.Strip.Tokens()
	if len(toks) != len(want) {
		t.Fatalf("%d chips for %d tokens", len(toks), len(want))
	}
	hi := float32(0)
	for i, tok := range toks {
		if tok.Value != want[i] || tok.Text != ta.Display[i+1] || tok.ID != ta.Tokens[i+1] {
			t.Fatalf("token %d: %+v, want %q %v", i, tok, ta.Display[i+1], want[i])
		}
		hi = max(hi, want[i])
	}
	// the colour scale is the feature's maximum over the corpus, as in
	// Contexts, not the text's own maximum
	stats, err := v.Store().Stats(17)
	if err != nil {
		t.Fatal(err)
	}
	corpusMax := float32(stats.Max)
	if p.Strip.Scale() != corpusMax || p.Legend.Scale() != corpusMax || corpusMax == hi ||
		!strings.Contains(p.Summary.Text, "maximum over the corpus") || !strings.Contains(p.Summary.Text, "min") {
		t.Errorf("scale %v (corpus max %v, text max %v), summary %q", p.Strip.Scale(), corpusMax, hi, p.Summary.Text)
	}
	// before an analysis: the text's maximum, and the summary says so
	v.SetStore(nil, false)
	if p.Strip.Scale() != hi || !strings.Contains(p.Summary.Text, "this text's maximum") {
		t.Errorf("no store: scale %v (text max %v), summary %q", p.Strip.Scale(), hi, p.Summary.Text)
	}
	v.SetStore(st, false)
	// a fixed colour scale
	p.ScaleEntry.SetText("5")
	if p.Strip.Scale() != 5 {
		t.Errorf("scale %v, want 5", p.Strip.Scale())
	}
	p.ScaleEntry.SetText("-2")
	if !p.Msg.Visible() {
		t.Error("negative scale: no message")
	}
	p.ScaleEntry.SetText("")
	if p.Msg.Visible() || p.Strip.Scale() != corpusMax {
		t.Error("clearing the scale does not go back to auto")
	}
	// selecting another feature recolours without running the model again
	before := p.Acts()
	v.Select(3)
	if p.Acts() != before || p.Strip.Tokens()[0].Value != ta.Feature(3)[1] {
		t.Error("feature change did not recolour from the same activations")
	}
	// typing a feature id selects it everywhere
	enterFeature(p.FeatureEntry, "99")
	if v.Feature() != 99 {
		t.Errorf("typed 99, selected %d", v.Feature())
	}
}

func TestNeuroscopeBadInput(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewNeuroscopePane(v)
	show(t, p.Content(), 800, 600)
	v.Select(5)
	enterFeature(p.FeatureEntry, "256")
	if !strings.Contains(p.Msg.Text, "out of range") || v.Feature() != 5 {
		t.Errorf("feature 256: %q, selected %d", p.Msg.Text, v.Feature())
	}
	enterFeature(p.FeatureEntry, "x1")
	if !p.Msg.Visible() {
		t.Error("non-number feature: no message")
	}
	p.Text.SetText("")
	p.Settle()
	if len(p.Strip.Tokens()) != 0 || !strings.Contains(p.Summary.Text, "Type some text") {
		t.Errorf("empty text: %d chips, %q", len(p.Strip.Tokens()), p.Summary.Text)
	}
	p.Text.SetText(strings.Repeat("Ask not what your country can do for you. ", 239)) // 10,038 characters
	p.Settle()
	if !strings.Contains(p.Summary.Text, "cut to the model's") || len(p.Strip.Tokens()) == 0 {
		t.Errorf("10,000 characters: %q", p.Summary.Text)
	}
	p.Text.SetText(strings.Repeat("word ", 4001))
	p.Settle()
	if !strings.Contains(p.Msg.Text, "more than") || len(p.Strip.Tokens()) != 0 {
		t.Errorf("20,001 characters: %q", p.Msg.Text)
	}
	p.Text.SetText("bad \xff utf8")
	p.Settle()
	if !strings.Contains(p.Msg.Text, "UTF-8") {
		t.Errorf("invalid UTF-8: %q", p.Msg.Text)
	}
	p.Text.SetText("fine again")
	p.Settle()
	// the bad feature typed above stays reported while it is in its field
	if !p.Msg.Visible() || !strings.Contains(p.Msg.Text, "x1") || len(p.Strip.Tokens()) == 0 {
		t.Errorf("after a good text, with \"x1\" still in the feature field: message %q, %d chips", p.Msg.Text, len(p.Strip.Tokens()))
	}
	p.ScaleEntry.SetText("abc")
	p.Text.SetText("fine again, longer")
	p.Settle()
	if !strings.Contains(p.Msg.Text, "colour scale") {
		t.Errorf("a bad scale, then new text: message %q", p.Msg.Text)
	}
	p.ScaleEntry.SetText("")
	enterFeature(p.FeatureEntry, "3")
	if p.Msg.Visible() {
		t.Errorf("the pane did not recover: %q", p.Msg.Text)
	}
}

// Typing fast runs the model at most once at a time and ends on the
// newest text.
func TestNeuroscopeTypingEndsOnNewestText(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewNeuroscopePane(v)
	show(t, p.Content(), 800, 600)
	v.Select(1)
	p.Text.SetText("")
	for _, r := range "the cat sat on the mat" {
		test.Type(p.Text, string(r))
	}
	p.Settle()
	ta, _ := v.SAE.Encode(context.Background(), "the cat sat on the mat")
	if got := len(p.Strip.Tokens()); got != len(ta.Tokens)-1 {
		t.Errorf("%d chips, the final text has %d tokens", got, len(ta.Tokens)-1)
	}
}

// Byte-level tokens show as the character they form, and hovering a
// token shows what ablating the feature there does to the next token:
// the lists of intervene.AblateAt on the whole text, cached.
func TestNeuroscopeBytesAndHoverAblation(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewNeuroscopePane(v)
	show(t, p.Content(), 800, 600)
	p.Text.SetText("She said “yes” to the plan and left.")
	p.Settle()
	ta := p.Acts()
	// the feature strongest on this text
	f, best := 0, float32(0)
	for i := 1; i < len(ta.Tokens); i++ {
		for j := 0; j < ta.DSae; j++ {
			if a := ta.Acts[i*ta.DSae+j]; a > best {
				f, best = j, a
			}
		}
	}
	v.Select(f)
	var texts []string
	for _, tok := range p.Strip.Tokens() {
		texts = append(texts, tok.Text)
	}
	joined := strings.Join(texts, "")
	if !strings.Contains(joined, "“") || strings.Contains(joined, "<0x") || len(texts) >= len(ta.Tokens)-1 {
		t.Errorf("chips %q for %d tokens", texts, len(ta.Tokens)-1)
	}
	m := p.Strip.Marked()
	if m < 0 {
		t.Fatal("no marked chip")
	}
	p.Strip.OnHover(m)
	if !strings.Contains(p.Hover.Text, "position ") {
		t.Errorf("hover %q", p.Hover.Text)
	}
	p.SettleAblation()
	pos := p.chipPos[m] + 1
	seq := make([]int32, len(ta.Tokens))
	for i, id := range ta.Tokens {
		seq[i] = int32(id)
	}
	want, err := intervene.AblateAt(context.Background(), v.SAE.W.Model, v.SAE.Enc, seq, f, pos, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want.Value == 0 || math.Abs(float64(want.Value-ta.Feature(f)[pos])) > 1e-5*math.Max(1, math.Abs(float64(want.Value))) { // two passes: the text's whole and AblateAt's cut at pos
		t.Fatalf("ablated value %v, text's %v", want.Value, ta.Feature(f)[pos])
	}
	line := p.Ablation().Text
	for _, l := range [][]intervene.LogProbChange{want.Increases, want.Decreases} {
		for _, ch := range l {
			if item := fmt.Sprintf("%s %+.2f", v.Tok.DisplayString(ch.ID), ch.Delta); !strings.Contains(line, item) {
				t.Errorf("line %q lacks %q", line, item)
			}
		}
	}
	p.Strip.OnHover(-1)
	p.Strip.OnHover(m)
	p.SettleAblation()
	if p.ablation.Runs != 1 || p.Ablation().Text != line {
		t.Errorf("second hover: %d runs, %q", p.ablation.Runs, p.Ablation().Text)
	}
}
