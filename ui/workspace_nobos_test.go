package ui

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/weights/corpus"
)

// A workspace with an SAE trained without BOS (OpenAI's TopK fixture,
// NoBOS) beside one trained with it: each is scanned on its own rows of
// the one corpus (rows without BOS: every token counted, no_bos in the
// store's parameters; rows with BOS: position 0 left out), the bar names
// the first only, and the note goes with the workspace.
func TestWorkspaceNoBOSSAE(t *testing.T) {
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	oai := filepath.Join(fix, "v2", "oai-topk8-hook_resid_post-0.pt")
	const rows = 20
	spec := WorkspaceSpec{Model: fixModel, Corpus: ShippedCorpus, Rows: rows,
		SAEs: []SAESpec{{Path: oai, Hook: "blocks.0.hook_resid_post"}, {Path: fixSAE}}}
	if err := wait(t, func(done func(error)) { s.OpenWorkspace(spec, true, done) }); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	ex := s.Session().Explorers
	if len(ex) != 2 {
		t.Fatalf("%d SAEs open", len(ex))
	}
	nb, withBOS := ex[0].View.Store(), ex[1].View.Store()
	if nb == nil || withBOS == nil {
		t.Fatal("an SAE was not analysed")
	}
	if !ex[0].View.SAE.Weights.NoBOS || ex[1].View.SAE.Weights.NoBOS {
		t.Fatal("the fixtures' prepend_bos is not what this test assumes")
	}
	if p := nb.Meta.Params; !p.NoBOS || nb.Meta.Summary.Tokens != rows*128 {
		t.Errorf("SAE without BOS: params %+v, %d tokens counted, want %d", p, nb.Meta.Summary.Tokens, rows*128)
	}
	if p := withBOS.Meta.Params; p.NoBOS || withBOS.Meta.Summary.Tokens != rows*127 {
		t.Errorf("SAE with BOS: params %+v, %d tokens counted, want %d", p, withBOS.Meta.Summary.Tokens, rows*127)
	}
	c, err := corpus.LoadFS(context.Background(), assets.CorpusFS(), assets.CorpusDir, s.Session().WS.Tok, corpus.Options{SeqLen: 128, Rows: rows}, nil)
	if err != nil {
		t.Fatal(err)
	}
	without, err := c.WithoutBOS()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nb.Tokens, slices.Concat(without.Rows...)) || !slices.Equal(withBOS.Tokens, slices.Concat(c.Rows...)) {
		t.Error("the SAEs were not scanned on their own rows")
	}
	note := s.Bar.NoBOS
	if !note.Visible() || !strings.Contains(note.Text, ex[0].View.SAE.Name()) || strings.Contains(note.Text, ex[1].View.SAE.Name()) ||
		!strings.Contains(note.Text, "without BOS") || !strings.Contains(note.Text, "prepend_bos false") {
		t.Errorf("bar note %q (shown %v)", note.Text, note.Visible())
	}

	// Reopened from the recent list: each finished analysis opens again.
	rec := LoadRecent(a.Preferences())
	s.closeSession()
	if note.Visible() {
		t.Error("the note outlived its workspace")
	}
	if err := wait(t, func(done func(error)) { s.OpenWorkspace(rec[0], false, done) }); err != nil {
		t.Fatal(err)
	}
	settleAll(s)
	defer s.closeSession()
	ex = s.Session().Explorers
	if st := ex[0].View.Store(); st == nil || st.Meta.Key != nb.Meta.Key {
		t.Error("the analysis without BOS did not reopen")
	}
	if st := ex[1].View.Store(); st == nil || st.Meta.Key != withBOS.Meta.Key {
		t.Error("the analysis with BOS did not reopen")
	}
	if !note.Visible() {
		t.Error("no note after reopening")
	}
}

// The bar's note: hidden for none, one SAE, several.
func TestWorkspaceBarNoBOSNote(t *testing.T) {
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	b := s.Bar
	if b.NoBOS.Visible() {
		t.Error("a note before any SAE")
	}
	b.SetNoBOS([]string{"a"})
	if !b.NoBOS.Visible() || b.NoBOS.Text != "a: scanned without BOS, as it was trained (prepend_bos false)." {
		t.Errorf("one: %q", b.NoBOS.Text)
	}
	b.SetNoBOS([]string{"a", "b"})
	if b.NoBOS.Text != "a, b: scanned without BOS, as they were trained (prepend_bos false)." {
		t.Errorf("two: %q", b.NoBOS.Text)
	}
	b.SetNoBOS(nil)
	if b.NoBOS.Visible() {
		t.Error("note shown for none")
	}
}
