package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// One selected feature is shared by every pane: selecting anywhere
// updates everywhere.
func TestSelectionPropagatesToEveryPane(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	e := NewExplorer(v)
	show(t, e.Content(), 1280, 800)
	e.Neuroscope() // built before the selections, as a tab shown once is
	e.Settle()

	check := func(f int, from string) {
		t.Helper()
		if v.Feature() != f {
			t.Fatalf("%s: selected %d, want %d", from, v.Feature(), f)
		}
		if e.Header.Title.Text != "Feature "+itoa(f) {
			t.Errorf("%s: header %q", from, e.Header.Title.Text)
		}
		if !strings.HasPrefix(e.Contexts().Title.Text, "Feature "+itoa(f)+" ") {
			t.Errorf("%s: contexts %q", from, e.Contexts().Title.Text)
		}
		if e.Neuroscope().FeatureEntry.Text != itoa(f) {
			t.Errorf("%s: neuroscope feature %q", from, e.Neuroscope().FeatureEntry.Text)
		}
		want := e.Neuroscope().Acts().Feature(f)[1:]
		if got := e.Neuroscope().Strip.Tokens(); len(got) == 0 || got[0].Value != want[0] {
			t.Errorf("%s: neuroscope not recoloured", from)
		}
		if r := e.Ranking.rowOf(f); r < 0 || e.Ranking.shownRow != r {
			t.Errorf("%s: ranking row %d shown %d", from, r, e.Ranking.shownRow)
		}
	}

	// from the ranking table
	e.Ranking.Table.Select(widget.TableCellID{Row: 3, Col: colMean})
	check(e.Ranking.Rows()[3].ID, "ranking")

	// from an elicitation result
	e.Elicit().Example(ExampleCountries, nil)
	e.Settle()
	e.Elicit().Results.Select(widget.TableCellID{Row: 2, Col: 0})
	check(e.Elicit().Top()[2].ID, "elicitation")

	// from the neuroscope's feature field
	enterFeature(e.Neuroscope().FeatureEntry, "42")
	check(42, "neuroscope")

	// from the ranking's find field
	e.Ranking.FindEntry.SetText("7")
	e.Ranking.Find()
	check(7, "find")

	// panes by name
	for _, name := range PaneNames() {
		if err := e.ShowPane(name); err != nil {
			t.Error(err)
		}
	}
}

// A long paste turns word wrapping off before the text is laid out.
func TestLongPasteDoesNotWrap(t *testing.T) {
	a := test.NewTempApp(t)
	v := newTestView(t)
	p := NewNeuroscopePane(v)
	show(t, p.Content(), 800, 600)
	p.Settle()
	p.Text.SetText("")
	p.Settle()
	long := strings.Repeat("x", 3000)
	a.Clipboard().SetContent(long)
	test.Type(p.Text, "")
	p.Text.TypedShortcut(&fyne.ShortcutPaste{Clipboard: a.Clipboard()})
	p.Settle()
	if p.Text.Wrapping != fyne.TextWrapOff || p.Text.Text != long {
		t.Errorf("after a 3000-character paste: wrapping %v, %d characters", p.Text.Wrapping, len(p.Text.Text))
	}
	p.Text.SetText("short again")
	p.Settle()
	if p.Text.Wrapping != fyne.TextWrapWord {
		t.Error("wrapping not restored for short text")
	}
}
