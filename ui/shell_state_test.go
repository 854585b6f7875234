package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/intervene"
)

// The pins, each SAE's selected feature, the tab and pane shown and the
// Steer list with its settings are saved with the workspace when it
// closes and restored when it reopens (in a new window, as after a
// restart); a workspace remembered before the state was kept opens as
// before.
func TestWorkspaceStateRestored(t *testing.T) {
	a := test.NewTempApp(t)
	open := func(spec WorkspaceSpec) *Shell {
		t.Helper()
		s := NewShell(a, "test", testBackend)
		s.Window.Resize(fyne.NewSize(1280, 800))
		if err := wait(t, func(done func(error)) { s.OpenWorkspace(spec, false, done) }); err != nil {
			t.Fatal(err)
		}
		settleAll(s)
		return s
	}
	spec := WorkspaceSpec{Model: fixModel, Corpus: ShippedCorpus, Rows: testRows, SAEs: []SAESpec{{Path: fixSAE}, {Path: fixSAELens}}}
	s := open(spec)
	ex := s.Session().Explorers
	ex[0].View.Select(17)
	ex[1].View.Select(9)
	b := ex[0].View.Bench()
	for _, p := range []Pin{{ex[0].View, 3}, {ex[1].View, 12}} {
		if err := b.Pin(p.View, p.Feature); err != nil {
			t.Fatal(err)
		}
	}
	set := b.Steer()
	// the --steer flag's list, in the tab shown (0) and in tab 1
	s.Tabs.SelectIndex(0)
	if err := s.SteerFeatures("17 clamp 2.5; 1:4 ablate"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"3 boost", "3 add NaN", "3 add 1 2", "7:1", "x", "17"} {
		if err := s.SteerFeatures(bad); err == nil {
			t.Errorf("--steer %q accepted", bad)
		}
	}
	if n := len(set.Features()); n != 2 {
		t.Fatalf("%d features in the Steer list after the bad entries, want 2", n)
	}
	settings := SteerSettings{Prompt: "Once upon a time", Tokens: 7, Temperature: 0.8, TopP: 0.9, Seed: 3, Scope: ScopePosition, Pos: -2}
	set.SetSettings(settings)
	s.Tabs.SelectIndex(1)
	if err := ex[1].ShowPane(PaneSteer); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	s.closeSession()
	rec := LoadRecent(a.Preferences())
	if len(rec) == 0 || rec[0].State == nil {
		t.Fatalf("no state remembered: %+v", rec)
	}

	s2 := open(rec[0])
	defer s2.closeSession()
	ex2 := s2.Session().Explorers
	if len(ex2) != 2 || ex2[0].View.Feature() != 17 || ex2[1].View.Feature() != 9 {
		t.Errorf("selected features %d, %d, want 17, 9", ex2[0].View.Feature(), ex2[1].View.Feature())
	}
	b2 := ex2[0].View.Bench()
	if pins := b2.Pins(); len(pins) != 2 || pins[0] != (Pin{ex2[0].View, 3}) || pins[1] != (Pin{ex2[1].View, 12}) {
		t.Errorf("pins %+v", pins)
	}
	fs := b2.Steer().Features()
	if len(fs) != 2 || fs[0] != (SteerFeature{ex2[0].View, 17, intervene.Clamp, 2.5}) || fs[1].View != ex2[1].View || fs[1].Feature != 4 || fs[1].Mode != intervene.Ablate {
		t.Errorf("steer list %+v", fs)
	}
	if got := b2.Steer().Settings(); got != settings {
		t.Errorf("steer settings %+v, want %+v", got, settings)
	}
	if s2.Tabs.SelectedIndex() != 1 || ex2[1].CurrentPane() != PaneSteer {
		t.Errorf("tab %d, pane %q: want 1, steer", s2.Tabs.SelectedIndex(), ex2[1].CurrentPane())
	}
	// the Steer pane shows the restored list
	p := ex2[1].pane(PaneSteer).(*SteerPane)
	if len(p.Rows) != 2 || p.Rows[0].Value.Text != "2.5" || p.Prompt.Text != settings.Prompt || p.Greedy.Checked || p.Pos.Text != "-2" {
		t.Errorf("steer pane: %d rows, prompt %q, greedy %v, position %q", len(p.Rows), p.Prompt.Text, p.Greedy.Checked, p.Pos.Text)
	}
	s2.closeSession()

	// a workspace remembered without a state, as before it was kept
	old := rec[0]
	old.State = nil
	s3 := open(old)
	defer s3.closeSession()
	ex3 := s3.Session().Explorers
	b3 := ex3[0].View.Bench()
	if ex3[0].View.Feature() != -1 || len(b3.Pins()) != 0 || len(b3.Steer().Features()) != 0 || b3.Steer().Settings() != DefaultSteerSettings() {
		t.Errorf("old workspace: feature %d, pins %v, steer %v", ex3[0].View.Feature(), b3.Pins(), b3.Steer().Features())
	}
	// and an old recent list, as written before: no state field at all
	a.Preferences().SetString(prefRecent, `[{"model":"m","saes":[{"path":"a.pt"}],"corpus":"shipped","rows":40}]`)
	if got := LoadRecent(a.Preferences()); len(got) != 1 || got[0].State != nil || got[0].SAEs[0].Path != "a.pt" {
		t.Errorf("old recent list read as %+v", got)
	}
}
