package ui

import (
	"context"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/ui/labels"
)

func TestElicitationNotebookExamples(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewElicitPane(v)
	show(t, p.Content(), 800, 700)

	// developing countries, mean over positions
	p.Example(ExampleCountries, nil)
	p.Settle()
	ta, err := v.SAE.Encode(context.Background(), ExampleCountries)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ta.Elicit(DefaultTopK, nil)
	if got := p.Top(); len(got) != DefaultTopK || got[0] != want[0] || got[DefaultTopK-1] != want[DefaultTopK-1] {
		t.Fatalf("mean: %v, want %v", got, want)
	}
	if p.Pos() != nil || p.Mode.Selected != modeMean || !strings.Contains(p.Summary.Text, "averaged") {
		t.Errorf("mode %q, summary %q", p.Mode.Selected, p.Summary.Text)
	}

	// "Ask not…" at position -4
	n := ExampleAskNotPos
	p.Example(ExampleAskNot, &n)
	p.Settle()
	ta, _ = v.SAE.Encode(context.Background(), ExampleAskNot)
	want, _ = ta.Elicit(DefaultTopK, &n)
	if got := p.Top(); got[0] != want[0] || got[5] != want[5] {
		t.Fatalf("at -4: %v, want %v", got, want)
	}
	if p.Mode.Selected != modePos || p.PosEntry.Text != "-4" || !strings.Contains(p.Summary.Text, `"·for"`) {
		t.Errorf("mode %q pos %q summary %q", p.Mode.Selected, p.PosEntry.Text, p.Summary.Text)
	}
	if m := p.Strip.Marked(); m != len(ta.Tokens)-1-4 {
		t.Errorf("marked chip %d", m)
	}

	// k adjustable
	p.KEntry.SetText("3")
	if len(p.Top()) != 3 {
		t.Errorf("k=3: %d results", len(p.Top()))
	}

	// clicking a token ranks at that position
	test.TapAt(p.Strip, p.Strip.pos[2].AddXY(2, 2))
	if p.Pos() == nil || *p.Pos() != 2 || p.PosEntry.Text != "2" {
		t.Fatalf("tap on token 2: pos %v", p.Pos())
	}
	at2 := 2
	want, _ = ta.Elicit(3, &at2)
	if p.Top()[0] != want[0] {
		t.Errorf("at 2: %v, want %v", p.Top(), want)
	}

	// a k larger than the features firing there lists only those that fire
	p.KEntry.SetText("500")
	all, _ := ta.Elicit(500, &at2)
	firing := 0
	for _, r := range all {
		if r.Value > 0 {
			firing++
		}
	}
	if firing == 0 || firing == len(all) {
		t.Fatalf("%d of %d features fire at 2: the case needs some that do not", firing, len(all))
	}
	if got := p.Top(); len(got) != firing || got[len(got)-1].Value <= 0 || !strings.Contains(p.Summary.Text, "Only") {
		t.Errorf("k=500 at 2: %d listed (last %v), %d fire; summary %q", len(got), got[len(got)-1], firing, p.Summary.Text)
	}
	p.KEntry.SetText("3")

	// clicking a result selects the feature everywhere
	p.Results.Select(widget.TableCellID{Row: 1, Col: 1})
	if v.Feature() != p.Top()[1].ID {
		t.Errorf("result click selected %d, want %d", v.Feature(), p.Top()[1].ID)
	}
	// back to the mean
	p.Mode.SetSelected(modeMean)
	if p.Pos() != nil {
		t.Error("mean mode keeps a position")
	}
}

func TestElicitationBadInput(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewElicitPane(v)
	show(t, p.Content(), 800, 700)
	p.Text.SetText("abc")
	p.Settle()
	p.Text.SetText("")
	p.Settle()
	if !strings.Contains(p.Msg.Text, "empty") || len(p.Top()) != 0 {
		t.Errorf("empty text: %q, %d results", p.Msg.Text, len(p.Top()))
	}
	p.Text.SetText("one two three")
	p.Settle()
	p.PosEntry.SetText("40")
	if !strings.Contains(p.Msg.Text, "outside") {
		t.Errorf("position 40 of 3 tokens: %q", p.Msg.Text)
	}
	p.PosEntry.SetText("-3")
	if p.Msg.Visible() || len(p.Top()) == 0 {
		t.Errorf("position -3: %q", p.Msg.Text)
	}
	for _, k := range []string{"0", "100000", "ten"} {
		p.KEntry.SetText(k)
		if !p.Msg.Visible() {
			t.Errorf("k %q: no message", k)
		}
	}
	p.KEntry.SetText("4")
	p.Text.SetText(strings.Repeat("word ", 2000)) // 10,000 characters
	p.Settle()
	if !strings.Contains(p.Summary.Text, "cut to the model's") {
		t.Errorf("10,000 characters: %q / %q", p.Summary.Text, p.Msg.Text)
	}
	p.Text.SetText(strings.Repeat("many ", 4001))
	p.Settle()
	if !strings.Contains(p.Msg.Text, "more than") || len(p.Top()) != 0 {
		t.Errorf("20,001 characters: %q", p.Msg.Text)
	}
}

// Elicitation's Label column shows a feature's suggested label greyed
// until a label is typed, as the ranking does.
func TestElicitationShowsSuggestedLabels(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	t.Cleanup(v.FlushLabels) // the label book writes on a goroutine
	p := NewElicitPane(v)
	show(t, p.Content(), 800, 700)
	v.Jobs.Wait()
	drainUI()
	p.Example(ExampleCountries, nil)
	p.Settle()
	var f, row = -1, -1
	for i, r := range p.Top() {
		if v.SuggestedShort(r.ID) != "" {
			f, row = r.ID, i
			break
		}
	}
	if f < 0 {
		t.Fatal("no elicited feature has a suggested label")
	}
	cell := widget.NewLabel("")
	p.updateResult(widget.TableCellID{Row: row, Col: 3}, cell)
	if cell.Text != v.SuggestedShort(f) || cell.Importance != widget.LowImportance {
		t.Errorf("label cell %q (importance %v), want %q greyed", cell.Text, cell.Importance, v.SuggestedShort(f))
	}
	v.SetEntry(f, labels.Entry{Label: "typed"})
	p.updateResult(widget.TableCellID{Row: row, Col: 3}, cell)
	if cell.Text != "typed" || cell.Importance == widget.LowImportance {
		t.Errorf("labelled: cell %q (importance %v)", cell.Text, cell.Importance)
	}
}
