package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/analysis"
)

// Messages never describe a state that is gone (issue 20, item 3).

// The elicitation hover line follows the selection: the token under the
// pointer is described with the new feature's activation, not the old.
func TestElicitationHoverFollowsTheSelection(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewElicitPane(v)
	show(t, p.Content(), 800, 700)
	p.Example(ExampleCountries, nil)
	p.Settle()
	ta, err := v.SAE.Encode(context.Background(), ExampleCountries)
	if err != nil {
		t.Fatal(err)
	}
	const at = 2 // the chip under the pointer (position 2; chip i is token i+1 after BOS)
	// two features with different activations there
	a, b := -1, -1
	for f := 0; f < v.DSae() && b < 0; f++ {
		switch x := ta.Feature(f)[at+1]; {
		case x > 0 && a < 0:
			a = f
		case a >= 0 && x != ta.Feature(a)[at+1]:
			b = f
		}
	}
	if b < 0 {
		t.Fatal("no two features differ at the hovered token")
	}
	hoverLine := func(f int) string {
		return fmt.Sprintf("activation %.3f", ta.Feature(f)[at+1])
	}
	v.Select(a)
	p.Strip.setHover(at) // the pointer rests on the chip
	if !strings.Contains(p.Hover.Text, hoverLine(a)) {
		t.Fatalf("hovering position %d under feature %d: %q, want %q", at, a, p.Hover.Text, hoverLine(a))
	}
	v.Select(b)
	if !strings.Contains(p.Hover.Text, hoverLine(b)) || !strings.Contains(p.Hover.Text, fmt.Sprintf("position %d", at)) {
		t.Errorf("after selecting feature %d: hover line %q, want %q at position %d", b, p.Hover.Text, hoverLine(b), at)
	}
	// another text: the chip under the pointer is gone; the line says how to hover
	p.Text.SetText("A different text, longer than the first one was, so the chips change.")
	p.Settle()
	if strings.Contains(p.Hover.Text, "activation") {
		t.Errorf("after a new text: hover line %q", p.Hover.Text)
	}
}

// During an analysis the panes that need it say that it runs, not "press
// Analyze" (whose button is disabled meanwhile); they ask for one again
// once it ends without a store.
func TestPanesSayTheAnalysisRuns(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	v.SetStore(nil, false)
	e := NewExplorer(v)
	show(t, e.Content(), 1280, 800)
	v.Select(3)
	st := e.Statistics()
	check := func(when, want, not string) {
		t.Helper()
		for _, pane := range []string{PaneContexts, PaneStatistics} {
			e.ShowPane(pane)
			e.Settle()
			text := e.Contexts().Title.Text
			if pane == PaneStatistics {
				text = st.Plot.Message()
			}
			if !strings.Contains(text, want) || strings.Contains(text, not) {
				t.Errorf("%s %s: %q, want %q", pane, when, text, want)
			}
		}
	}
	check("before", "press Analyze", "being analysed")
	v.SetAnalyzing(true)
	check("while analysing", "being analysed", "press Analyze")
	v.SetAnalyzing(false)
	check("after a cancelled analysis", "press Analyze", "being analysed")
}

// The scan's progress line never says "about 0 s left".
func TestScanProgressText(t *testing.T) {
	for _, c := range []struct {
		eta       time.Duration
		want, not string
	}{
		{300 * time.Millisecond, "under a second left in the scan", "0 s"},
		{0, "under a second left", "0 s"},
		{90 * time.Second, "about 1 min 30 s left in the scan", "under"},
		{4 * time.Second, "about 4 s left in the scan", "under"},
	} {
		got := scanProgressText("sae", analysis.Progress{Stage: "scan", Rows: 800, TotalRows: 1000, TokensPerS: 12345, ETA: c.eta})
		if !strings.Contains(got, c.want) || strings.Contains(got, c.not) || !strings.Contains(got, "800 of 1,000 rows") {
			t.Errorf("ETA %v: %q, want %q", c.eta, got, c.want)
		}
	}
}

// The window: Analyze is enabled only with an SAE tab, Cancel only while
// an analysis runs; an SAE that fails to open names its path once, the
// status line keeps its whole reason, Analyze then says an SAE is
// missing (not the model), and a field edited afterwards replaces the
// error (issue 20, items 3 and 5).
func TestShellControlsAndErrorsInStep(t *testing.T) {
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	s.Window.Resize(fyne.NewSize(1280, 800))
	analyzeOn := func() bool { return !s.Bar.Analyze.Disabled() && !s.analyzeItems[0].Disabled }
	if analyzeOn() || !s.analyzeItems[2].Disabled {
		t.Errorf("no workspace: Analyze enabled %v, Cancel analysis enabled %v", analyzeOn(), !s.analyzeItems[2].Disabled)
	}
	if err := wait(t, func(done func(error)) { s.OpenModel(fixModel, done) }); err != nil {
		t.Fatal(err)
	}
	defer s.closeSession()
	// refused: no hook in its name; missing
	raw, err := os.ReadFile(fixSAE)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "weights.pt")
	if err := os.WriteFile(bad, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "deleted_resid_pre_1.pt")
	for _, c := range []struct{ path, reason string }{{bad, "give it with --hook"}, {missing, "no such file"}} {
		err := wait(t, func(done func(error)) {
			s.AddSAE(SAESpec{Path: c.path}, func(_ *Explorer, err error) { done(err) })
		})
		if err == nil {
			t.Fatalf("%s opened", c.path)
		}
		if n := strings.Count(s.Status.Text, c.path); n != 1 || !strings.Contains(s.Status.Text, c.reason) {
			t.Errorf("the refused SAE's path shows %d times, reason %q: %q", n, c.reason, s.Status.Text)
		}
	}
	if s.Status.Truncation != fyne.TextTruncateOff || s.Status.Wrapping == fyne.TextWrapOff {
		t.Error("the status line cuts long errors off")
	}
	if analyzeOn() || !s.analyzeItems[2].Disabled {
		t.Errorf("after a refused SAE: Analyze enabled %v, Cancel analysis enabled %v", analyzeOn(), !s.analyzeItems[2].Disabled)
	}
	s.Analyze(false)
	if strings.Contains(s.Status.Text, "Open a model") || !strings.Contains(s.Status.Text, "add an SAE") {
		t.Errorf("Analyze with the model open and no SAE: %q", s.Status.Text)
	}
	// an error, then a new SAE picked: the error goes
	s.AddSAE(SAESpec{Path: bad}, func(*Explorer, error) {})
	for i := 0; i < 100 && !s.statusError; i++ {
		time.Sleep(20 * time.Millisecond)
		drainUI()
	}
	if !s.statusError {
		t.Fatal("no error shown")
	}
	s.Bar.SAE.SetText(fixSAE)
	if s.statusError || strings.Contains(s.Status.Text, bad) || !strings.Contains(s.Status.Text, "Add SAE") {
		t.Errorf("after picking another SAE, the status line says %q", s.Status.Text)
	}
	if err := wait(t, func(done func(error)) {
		s.AddSAE(SAESpec{Path: fixSAE}, func(_ *Explorer, err error) { done(err) })
	}); err != nil {
		t.Fatal(err)
	}
	if !analyzeOn() || !s.analyzeItems[2].Disabled {
		t.Errorf("with an SAE: Analyze enabled %v, Cancel analysis enabled %v", analyzeOn(), !s.analyzeItems[2].Disabled)
	}
}
