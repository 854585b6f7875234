package ui

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// storeFiles counts the stores in the store folder.
func storeFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(StoreDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".saestore") {
			n++
		}
	}
	return n
}

// The window's Analyze scans every SAE of the workspace in one pass: a
// cancel writes nothing and leaves each SAE as it was; run to the end,
// each SAE gets its own store, the one its analysis alone has (same key);
// pressed again, nothing is scanned. A workspace opened with analysis
// analyses its SAEs together once all are open.
func TestShellAnalyzesEverySAEInOnePass(t *testing.T) {
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	const rows = 23 // rows no other test analyses: nothing cached
	spec := WorkspaceSpec{Model: fixModel, Corpus: ShippedCorpus, Rows: rows, SAEs: []SAESpec{{Path: fixSAE}, {Path: fixSAELens}}}
	if err := wait(t, func(done func(error)) { s.OpenWorkspace(spec, false, done) }); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	vs := s.workspaceViews()
	if len(vs) != 2 || vs[0].Store() != nil || vs[1].Store() != nil {
		t.Fatalf("%d views, or stores before any analysis", len(vs))
	}
	before := storeFiles(t)
	err := wait(t, func(done func(error)) {
		s.analyzeViews(s.workspaceViews(), false, done)
		if !s.Analyzing() {
			t.Error("not analysing")
		}
		s.CancelAnalysis()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled analysis: %v", err)
	}
	if n := storeFiles(t); n != before || vs[0].Store() != nil || vs[1].Store() != nil || !strings.Contains(s.Status.Text, "nothing was written") {
		t.Errorf("after cancel: %d stores (were %d), status %q", n, before, s.Status.Text)
	}

	if err := wait(t, func(done func(error)) { s.analyzeViews(s.workspaceViews(), false, done) }); err != nil {
		t.Fatal(err)
	}
	if n := storeFiles(t); n != before+2 {
		t.Errorf("%d new stores for two SAEs", n-before)
	}
	for _, v := range vs {
		st := v.Store()
		if st == nil {
			t.Fatalf("%s has no store", v.Name())
		}
		c, err := s.session.loadCorpus(context.Background(), s.session.WS.Tok, s.spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := v.SAE.AnalysisMeta(c, params(s.spec, v.SAE)).Key; st.Meta.Key != want || st.Meta.Hook != v.SAE.Weights.Hook.String() {
			t.Errorf("%s: key %s hook %s, its analysis alone has key %s", v.Name(), st.Meta.Key, st.Meta.Hook, want)
		}
	}
	if !strings.Contains(s.Status.Text, "2 SAEs analysed") {
		t.Errorf("status %q", s.Status.Text)
	}
	if err := wait(t, func(done func(error)) { s.analyzeViews(s.workspaceViews(), false, done) }); err != nil || !strings.Contains(s.Status.Text, "Every SAE of the workspace is already analysed") {
		t.Errorf("analyze again: %v, %q", err, s.Status.Text)
	}

	// opened with analysis on other rows: both analysed, together
	s.closeSession()
	spec.Rows = rows + 1
	if err := wait(t, func(done func(error)) { s.OpenWorkspace(spec, true, done) }); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	defer s.closeSession()
	for _, v := range s.workspaceViews() {
		if st := v.Store(); st == nil || st.Meta.Params.Rows != rows+1 {
			t.Errorf("%s not analysed on %d rows at opening", v.Name(), rows+1)
		}
	}
	if n := storeFiles(t); n != before+4 {
		t.Errorf("%d stores after opening with analysis, want %d", n, before+4)
	}
}
