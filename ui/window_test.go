package ui

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
)

func TestShellHasTitleAndMenu(t *testing.T) {
	a := test.NewApp()
	defer a.Quit()
	s := NewShell(a, "test", testBackend)
	if got := s.Window.Title(); got != Title {
		t.Errorf("title %q", got)
	}
	menu := s.Window.MainMenu()
	if menu == nil || len(menu.Items) != 3 {
		t.Fatalf("menu %v", menu)
	}
	var labels []string
	for _, m := range menu.Items {
		labels = append(labels, m.Label)
	}
	if labels[0] != "File" || labels[2] != "Help" {
		t.Errorf("menus %v", labels)
	}
}

// wait runs op (which calls its callback when done) and waits for it.
func wait(t *testing.T, op func(done func(error))) error {
	t.Helper()
	ch := make(chan error, 1)
	op(func(err error) { ch <- err })
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case err := <-ch:
			drainUI()
			return err
		case fn := <-uiQueue:
			fn()
		case <-deadline:
			t.Fatal("timed out")
			return nil
		}
	}
}

func settleAll(s *Shell) {
	if ss := s.Session(); ss != nil {
		for _, e := range ss.Explorers {
			e.Settle()
		}
	}
}

func TestShellOpensAWorkspaceWithTwoSAEs(t *testing.T) {
	a := test.NewTempApp(t)
	s, _ := openFixture(t, a, 1280, 800, false, fixSAE, fixSAELens)
	if len(s.Tabs.Items) != 2 || len(s.Session().Explorers) != 2 {
		t.Fatalf("%d tabs", len(s.Tabs.Items))
	}
	if !strings.Contains(s.Tabs.Items[0].Text, "resid_pre") || !strings.Contains(s.Tabs.Items[1].Text, "mlp_out") {
		t.Errorf("tabs %q, %q", s.Tabs.Items[0].Text, s.Tabs.Items[1].Text)
	}
	// each SAE has its own selection
	e0, e1 := s.Session().Explorers[0], s.Session().Explorers[1]
	e0.View.Select(5)
	e1.View.Select(9)
	if e0.View.Feature() != 5 || e1.View.Feature() != 9 {
		t.Error("the SAEs share a selection")
	}
	// panes by name
	s.Tabs.SelectIndex(0)
	if err := e0.ShowPane(PaneIntervals); err != nil || e0.Tabs.SelectedIndex() != 0 || e0.Contexts().Tabs.SelectedIndex() != 1 {
		t.Errorf("intervals pane: %v", err)
	}
	s.ShowPane(PaneElicitation)
	if e0.Tabs.SelectedIndex() != 2 {
		t.Error("View menu: elicitation")
	}
	if err := e0.ShowPane("nope"); err == nil {
		t.Error("unknown pane accepted")
	}
	if got := LoadRecent(a.Preferences()); len(got) != 1 || len(got[0].SAEs) != 2 {
		t.Errorf("recent %+v", got)
	}
}

func TestShellAnalyzeCancelAndReopen(t *testing.T) {
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	spec := WorkspaceSpec{Model: fixModel, Corpus: ShippedCorpus, Rows: 40, SAEs: []SAESpec{{Path: fixSAE}}}
	if err := wait(t, func(done func(error)) { s.OpenWorkspace(spec, false, done) }); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	e := s.Explorer()
	if e == nil || e.View.Store() != nil {
		t.Fatal("a store before any analysis")
	}
	before, _ := os.ReadDir(StoreDir)

	// cancel at once: nothing written, the panes as they were
	s.Bar.Rows.SetText("300")
	err := wait(t, func(done func(error)) {
		s.analyzeView(e.View, true, done)
		if !s.Analyzing() || !s.Bar.Cancel.Visible() {
			t.Error("no Cancel button while analysing")
		}
		s.CancelAnalysis()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled analysis: %v", err)
	}
	after, _ := os.ReadDir(StoreDir)
	if len(after) != len(before) || e.View.Store() != nil || !strings.Contains(s.Status.Text, "cancelled") {
		t.Errorf("after cancel: %d files (was %d), status %q", len(after), len(before), s.Status.Text)
	}

	// run it
	s.Bar.Rows.SetText("40")
	if err := wait(t, func(done func(error)) { s.analyzeView(e.View, false, done) }); err != nil {
		t.Fatal(err)
	}
	st := e.View.Store()
	if st == nil || len(e.Ranking.Rows()) == 0 || s.Analyzing() || s.Bar.Cancel.Visible() {
		t.Fatal("analysis did not reach the panes")
	}
	if !strings.Contains(s.Status.Text, "analysed") {
		t.Errorf("status %q", s.Status.Text)
	}
	rec := LoadRecent(a.Preferences())
	if len(rec) == 0 || rec[0].SAEs[0].Store == "" {
		t.Fatalf("recent workspace without its store: %+v", rec)
	}
	if _, err := os.Stat(rec[0].SAEs[0].Store); err != nil {
		t.Fatal(err)
	}
	if sp := rec[0].SAEs[0]; sp.StoreCorpus != ShippedCorpus || sp.StoreRows != 40 {
		t.Errorf("the store's corpus is not recorded: %+v", sp)
	}
	// an analysis that exists is not run again
	if err := wait(t, func(done func(error)) { s.analyzeView(e.View, false, done) }); err != nil || !strings.Contains(s.Status.Text, "already analysed") {
		t.Errorf("second analyze: %v, %q", err, s.Status.Text)
	}

	// reopen from the recent list: the store opens from its file at once
	s.closeSession()
	t0 := time.Now()
	if err := wait(t, func(done func(error)) { s.OpenWorkspace(rec[0], false, done) }); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	defer s.closeSession()
	took := time.Since(t0)
	e = s.Explorer()
	if e.View.Store() == nil || !strings.Contains(rec[0].SAEs[0].Store, e.View.Store().Meta.Key) || !e.View.ownsStore {
		t.Fatal("the finished analysis did not reopen")
	}
	t.Logf("workspace with a finished analysis reopened in %v", took)

	// the same workspace on another number of rows does not reuse it
	s.closeSession()
	other := rec[0]
	other.Rows = 30
	if err := wait(t, func(done func(error)) { s.OpenWorkspace(other, false, done) }); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	if s.Explorer().View.Store() != nil {
		t.Error("an analysis of 40 rows opened for 30 rows")
	}
}

func TestShellBadInput(t *testing.T) {
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	if err := wait(t, func(done func(error)) { s.OpenModel("", done) }); err == nil {
		t.Error("empty model folder accepted")
	}
	if err := wait(t, func(done func(error)) { s.OpenModel(t.TempDir(), done) }); err == nil || !strings.Contains(s.Status.Text, "open model") {
		t.Errorf("folder without a model: %v, %q", err, s.Status.Text)
	}
	err := wait(t, func(done func(error)) {
		s.AddSAE(SAESpec{Path: fixSAE}, func(_ *Explorer, err error) { done(err) })
	})
	if err == nil {
		t.Error("SAE added without a model")
	}
	if err := wait(t, func(done func(error)) { s.OpenModel(fixModel, done) }); err != nil {
		t.Fatal(err)
	}
	defer s.closeSession()
	err = wait(t, func(done func(error)) {
		s.AddSAE(SAESpec{Path: fixSAE, Hook: "blocks.7.hook_resid_pre"}, func(_ *Explorer, err error) { done(err) })
	})
	if err == nil || len(s.Tabs.Items) != 0 {
		t.Errorf("SAE at a layer the model lacks: %v", err)
	}
	s.Analyze(false)
	if !strings.Contains(s.Status.Text, "add an SAE") {
		t.Errorf("analyze without an SAE: %q", s.Status.Text)
	}
	// the same SAE twice: one tab, and the status says so
	var first, second *Explorer
	for _, e := range []**Explorer{&first, &second} {
		if err := wait(t, func(done func(error)) {
			s.AddSAE(SAESpec{Path: fixSAE}, func(got *Explorer, err error) { *e = got; done(err) })
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Tabs.Items) != 1 || first == nil || second != first || !strings.Contains(s.Status.Text, "already open") {
		t.Errorf("the same SAE added twice: %d tabs, status %q", len(s.Tabs.Items), s.Status.Text)
	}
}

// An SAE of a workspace that cannot be opened (a file since deleted)
// does not keep the others out.
func TestWorkspaceOpensTheSAEsItCan(t *testing.T) {
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	spec := WorkspaceSpec{Model: fixModel, Corpus: ShippedCorpus, Rows: 20,
		SAEs: []SAESpec{{Path: filepath.Join(t.TempDir(), "deleted.pt")}, {Path: fixSAE}}}
	err := wait(t, func(done func(error)) { s.OpenWorkspace(spec, false, done) })
	defer s.closeSession()
	if err == nil || !strings.Contains(err.Error(), "deleted.pt") {
		t.Errorf("error %v, want the missing SAE named", err)
	}
	if len(s.Tabs.Items) != 1 || s.Explorer() == nil || !samePath(s.Explorer().View.SAE.Path, fixSAE) {
		t.Errorf("%d tabs: the SAE after the missing one did not open", len(s.Tabs.Items))
	}
	if !strings.Contains(s.Status.Text, "1 of its 2 SAEs could not be opened") {
		t.Errorf("status %q", s.Status.Text)
	}
}

// A model asked for while another loads replaces it: the first, when it
// arrives, is closed, and the window shows the second (it used to open the
// first under the second's name and remember it so).
func TestOpenModelTwiceQuickly(t *testing.T) {
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	empty := t.TempDir()
	var first, second error
	var n int
	s.OpenModel(fixModel, func(err error) { first = err; n++ })
	s.OpenModel(empty, func(err error) { second = err; n++ })
	pump(t, "both opens", func() bool { return n == 2 })
	drainUI()
	if first == nil || !strings.Contains(first.Error(), "another model") {
		t.Errorf("first open: %v", first)
	}
	if second == nil || s.session != nil || s.spec.Model != empty || s.Bar.Model.Text != empty {
		t.Errorf("second open: %v, session %v, spec %q, bar %q", second, s.session != nil, s.spec.Model, s.Bar.Model.Text)
	}
	if err := wait(t, func(done func(error)) { s.OpenModel(fixModel, done) }); err != nil || s.session == nil {
		t.Fatalf("open again: %v", err)
	}
	s.closeSession()
}

func TestThemeChoice(t *testing.T) {
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	s.SetTheme(ThemeDark)
	if vt, ok := a.Settings().Theme().(variantTheme); !ok || vt.variant != theme.VariantDark {
		t.Errorf("dark theme: %T", a.Settings().Theme())
	}
	if a.Preferences().String(prefTheme) != ThemeDark {
		t.Error("theme not remembered")
	}
	s.SetTheme(ThemeLight)
	ApplySavedTheme(a)
	if vt, ok := a.Settings().Theme().(variantTheme); !ok || vt.variant != theme.VariantLight {
		t.Errorf("light theme: %T", a.Settings().Theme())
	}
}

func TestRecentList(t *testing.T) {
	a := test.NewTempApp(t)
	p := a.Preferences()
	w := WorkspaceSpec{Model: "/m", Corpus: ShippedCorpus, Rows: 1000}
	RememberWorkspace(p, w)
	w.SAEs = []SAESpec{{Path: "/a.pt"}}
	RememberWorkspace(p, w)
	w.SAEs = append(w.SAEs, SAESpec{Path: "/b"})
	RememberWorkspace(p, w)
	if got := LoadRecent(p); len(got) != 1 || len(got[0].SAEs) != 2 {
		t.Fatalf("a growing workspace is one entry: %+v", got)
	}
	for i := 0; i < 20; i++ {
		RememberWorkspace(p, WorkspaceSpec{Model: "/m" + itoa(i)})
	}
	got := LoadRecent(p)
	if len(got) != maxRecent || got[0].Model != "/m19" {
		t.Errorf("%d entries, first %q", len(got), got[0].Model)
	}
	if !strings.Contains(w.Title(), "a.pt, b") {
		t.Errorf("title %q", w.Title())
	}
}
