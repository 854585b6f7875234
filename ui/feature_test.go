package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/ui/labels"
)

func TestLabelsEditedInPlaceAreSaved(t *testing.T) {
	test.NewTempApp(t)
	ws, sae, st := fixture(t)
	dir := t.TempDir()
	book, err := labels.Open(dir, sae.Hash, sae.Path)
	if err != nil {
		t.Fatal(err)
	}
	jobs := NewJobs()
	defer jobs.Close()
	v := NewView(sae, ws.Tok, book, jobs)
	v.SetStore(st, false)
	h := NewFeatureHeader(v)
	r := NewRankingPane(v)
	show(t, containerOf(h.Content(), r.Content()), 800, 700)
	if !h.Label.Disabled() {
		t.Error("label editable with no feature selected")
	}
	v.Select(12)
	if h.Title.Text != "Feature 12" || !strings.Contains(h.Stats.Text, "mean") {
		t.Errorf("header %q / %q", h.Title.Text, h.Stats.Text)
	}
	test.Type(h.Label, "Commas")
	test.Type(h.Notes, "after numbers")
	v.FlushLabels()
	// on disk now: a new book (another process after a crash) reads it
	again, err := labels.Open(dir, sae.Hash, sae.Path)
	if err != nil {
		t.Fatal(err)
	}
	if e := again.Get(12); e.Label != "Commas" || e.Notes != "after numbers" {
		t.Errorf("saved %+v", e)
	}
	// the ranking shows it; another feature has its own
	if r.v.Label(12) != "Commas" {
		t.Error("ranking label")
	}
	v.Select(13)
	if h.Label.Text != "" || h.Notes.Text != "" {
		t.Errorf("feature 13 shows %q %q", h.Label.Text, h.Notes.Text)
	}
	v.Select(12)
	if h.Label.Text != "Commas" {
		t.Errorf("back to 12: %q", h.Label.Text)
	}
	// clearing removes the entry
	h.Label.SetText("")
	h.Notes.SetText("")
	v.FlushLabels()
	again, _ = labels.Open(dir, sae.Hash, sae.Path)
	if e := again.Get(12); e != (labels.Entry{}) {
		t.Errorf("cleared entry kept: %+v", e)
	}
}

// Many fast edits: each is on disk in order, the last one wins.
func TestLabelSaverKeepsTheLastEdit(t *testing.T) {
	_, sae, _ := fixture(t)
	dir := t.TempDir()
	book, _ := labels.Open(dir, sae.Hash, sae.Path)
	s := newLabelSaver(book, func(err error) { t.Error(err) })
	for i := 0; i < 200; i++ {
		s.Set(i%7, labels.Entry{Label: strings.Repeat("x", i)})
		if got := s.Get(i % 7); len(got.Label) != i {
			t.Fatalf("Get after Set %d: %q", i, got.Label)
		}
	}
	s.Flush()
	again, _ := labels.Open(dir, sae.Hash, sae.Path)
	for f := 0; f < 7; f++ {
		last := 199 - (199-f)%7
		if got := again.Get(f).Label; len(got) != last {
			t.Errorf("feature %d: %d characters saved, want %d", f, len(got), last)
		}
	}
}
