package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/weights/demo"
)

func TestDemoOpensLabelled(t *testing.T) {
	hubEnv(t, "", true)
	dir := t.TempDir()
	oldDir, oldRows := demoDir, DemoRows
	demoDir = func() (string, error) { return dir, nil }
	DemoRows = 2
	t.Cleanup(func() { demoDir, DemoRows = oldDir, oldRows })

	s, fr := newFirstRunShell(t)
	// from the first-run screen's button
	test.Tap(fr.OpenDemo)
	pump(t, "the demo", func() bool {
		return s.Session() != nil && len(s.Session().Explorers) == 2 && !s.Analyzing() &&
			s.Session().Explorers[1].View.Store() != nil && strings.HasPrefix(s.Status.Text, demo.Label)
	})
	settleAll(s)
	check := func() {
		t.Helper()
		if !isDemoSpec(s.Spec()) || len(s.Spec().SAEs) != 2 || s.Spec().Corpus != ShippedCorpus || s.Spec().Rows != 2 {
			t.Errorf("spec %+v", s.Spec())
		}
		for i, it := range s.Tabs.Items {
			if !strings.HasPrefix(it.Text, demoPrefix) {
				t.Errorf("tab %d %q", i, it.Text)
			}
			if s.Session().Explorers[i].View.Store() == nil {
				t.Errorf("SAE %d not analysed", i)
			}
		}
		if !strings.Contains(s.Window.Title(), demo.Label) {
			t.Errorf("title %q", s.Window.Title())
		}
		if !strings.Contains(s.BarItem.Title, demo.Label) {
			t.Errorf("workspace bar %q", s.BarItem.Title)
		}
		if !strings.Contains(s.Status.Text, demo.Label) {
			t.Errorf("status %q", s.Status.Text)
		}
	}
	check()

	// File › Get models… over the open workspace shows the screen in a dialog
	s.ShowGetModels()
	if fr.dlg == nil || s.Window.Canvas().Overlays().Top() == nil {
		t.Error("no Get models dialog")
	}
	fr.hideDialog()
	pump(t, "the rescan", func() bool { return !fr.Busy() })

	// again (as from File › Open demo workspace): the analyses reopen
	// from their store files, without reading the corpus
	s.closeSession()
	if s.center.Objects[0] != s.welcomeView() {
		t.Error("closing the workspace does not bring the first-run screen back")
	}
	t0 := time.Now()
	if err := wait(t, s.OpenDemo); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	defer s.closeSession()
	t.Logf("demo reopened in %v", time.Since(t0))
	check()
	for i, sp := range s.Spec().SAEs {
		if sp.Store == "" {
			t.Errorf("SAE %d: no store remembered", i)
		}
	}
	if rec := LoadRecent(s.App.Preferences()); len(rec) == 0 || !strings.HasPrefix(rec[0].Title(), demo.Label) {
		t.Errorf("recent list %+v", rec)
	}
}

func TestProcessStartIsInThePast(t *testing.T) {
	if d := time.Since(processStart); d < 0 || d > time.Hour {
		t.Errorf("process started %v ago (%s)", d, processStartSource)
	}
}
