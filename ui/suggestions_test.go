package ui

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/suggest"
	"github.com/saescope/saescope/ui/labels"
)

// Every feature's suggested label is computed in the background once the
// store is shown, equals compute/suggest's, and the label search finds
// it for the features that have no label of their own.
func TestSuggestedLabels(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	t.Cleanup(v.FlushLabels)
	ready := 0
	v.OnSuggestions(func() { ready++ })
	v.Jobs.Wait()
	drainUI()
	st := v.Store()
	if done, total := v.SuggestionsDone(); done != st.DSae() || total != st.DSae() || ready == 0 {
		t.Fatalf("%d of %d suggestions, %d notices", done, total, ready)
	}
	live := st.Rank(store.ByMean, true).Live
	f := live[0].ID
	for _, fs := range live[:10] {
		want, err := suggest.ForFeature(st, fs.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Suggested(fs.ID); got != want.Text(v.Tok.InlineString) || !strings.HasPrefix(got, "fires on ") {
			t.Errorf("feature %d: %q, want %q", fs.ID, got, want.Text(v.Tok.InlineString))
		}
	}
	// in the proportional font's glyphs: a newline token as \n, not ↩
	// (which Fyne draws from its colour-emoji font)
	newlines := 0
	for f := 0; f < st.DSae(); f++ {
		got := v.Suggested(f)
		if strings.ContainsAny(got, "↩→") {
			t.Errorf("feature %d: %q has an arrow", f, got)
		}
		newlines += strings.Count(got, `\n`)
	}
	if newlines == 0 {
		t.Error("no suggestion names a newline token: the check above tests nothing on this fixture")
	}
	for _, d := range st.Rank(store.ByMean, true).Dead {
		if v.Suggested(d) != "" {
			t.Errorf("dead feature %d: %q", d, v.Suggested(d))
		}
	}
	// searchable: the first token named finds the feature
	sg, _ := suggest.ForFeature(st, f)
	q := v.Tok.InlineString(sg.Tokens[0])
	if !slices.Contains(v.FindLabel(q), f) {
		t.Errorf("search %q does not find feature %d (%q)", q, f, v.Suggested(f))
	}
	// the words around the tokens are not searched
	if got := v.FindLabel("of its mass"); len(got) != 0 {
		t.Errorf("search \"of its mass\" finds %d features", len(got))
	}
	// a label of its own replaces the suggestion in the search
	v.SetEntry(f, labels.Entry{Label: "zzz unique"})
	if slices.Contains(v.FindLabel(q), f) && !strings.Contains(strings.ToLower("zzz unique"), strings.ToLower(q)) {
		t.Errorf("labelled feature %d still found by its suggestion %q", f, q)
	}
	if !slices.Contains(v.FindLabel("zzz unique"), f) {
		t.Error("the label is not found")
	}
	// a new store: recomputed for it
	v.SetStore(synthStore(10), false)
	v.Jobs.Wait()
	drainUI()
	if done, _ := v.SuggestionsDone(); done != 256 || v.Suggested(2) == "" || v.Suggested(50) != "" {
		t.Errorf("new store: %d done, feature 2 %q, dead 50 %q", done, v.Suggested(2), v.Suggested(50))
	}
}

// The Label column shows a feature's suggested label greyed until a label
// is typed; the header's label field offers it; the ranking's search
// finds it.
func TestSuggestedLabelsShown(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	t.Cleanup(v.FlushLabels) // the label book writes on a goroutine
	p := NewRankingPane(v)
	h := NewFeatureHeader(v)
	show(t, containerOf(h.Content(), p.Content()), 900, 800)
	v.Jobs.Wait()
	drainUI()
	row := p.Rows()[0]
	f := row.ID
	sg, err := suggest.ForFeature(v.Store(), f)
	if err != nil {
		t.Fatal(err)
	}
	cell := widget.NewLabel("")
	p.updateCell(widget.TableCellID{Row: 0, Col: colLabel}, cell)
	if cell.Text != sg.Short(v.Tok.InlineString) || cell.Text == "" || cell.Importance != widget.LowImportance {
		t.Errorf("label cell %q (importance %v), want %q greyed", cell.Text, cell.Importance, sg.Short(v.Tok.InlineString))
	}
	v.Select(f)
	if !strings.Contains(h.Label.PlaceHolder, sg.Text(v.Tok.InlineString)) || h.Label.Text != "" {
		t.Errorf("header placeholder %q", h.Label.PlaceHolder)
	}
	// searchable from the ranking
	p.FindEntry.SetText(v.Tok.InlineString(sg.Tokens[0]))
	p.Find()
	if !slices.ContainsFunc(p.Rows(), func(s store.FeatureStats) bool { return s.ID == f }) {
		t.Errorf("search %q: feature %d not among %d rows", p.FindEntry.Text, f, len(p.Rows()))
	}
	p.FindEntry.SetText("")
	p.Find()
	// a label typed replaces it, in the normal colour
	test.Type(h.Label, "my label")
	p.updateCell(widget.TableCellID{Row: 0, Col: colLabel}, cell)
	if cell.Text != "my label" || cell.Importance == widget.LowImportance {
		t.Errorf("labelled: cell %q (importance %v)", cell.Text, cell.Importance)
	}
}

// A suggested label is drawn in the theme's placeholder grey in every
// ranking cell, those the table makes later included (the light theme's
// disabled grey, which a LowImportance label takes, is near white).
func TestSuggestedLabelCellsUsePlaceholderGrey(t *testing.T) {
	a := test.NewTempApp(t)
	for _, name := range []string{ThemeLight, ThemeDark} {
		ApplyTheme(a, name)
		v := newTestView(t)
		p := NewRankingPane(v)
		for i := 0; i < 3; i++ { // cells made at any time
			cell := p.createCell()
			l := cellLabel(cell)
			l.Importance = widget.LowImportance
			got := l.Theme().Color(theme.ColorNameDisabled, a.Settings().ThemeVariant())
			want := a.Settings().Theme().Color(theme.ColorNamePlaceHolder, a.Settings().ThemeVariant())
			if got != want {
				t.Errorf("%s theme: a suggested label is drawn in %v, not the placeholder grey %v", name, got, want)
			}
			if plain := a.Settings().Theme().Color(theme.ColorNameDisabled, a.Settings().ThemeVariant()); plain == want {
				t.Fatalf("%s theme: disabled and placeholder colours are the same: the test cannot tell them apart", name)
			}
		}
	}
}
