package ui

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/weights/demo"
	"github.com/saescope/saescope/weights/tokenrows"
)

// prefRecent is the preference key of the recent workspaces.
const prefRecent = "recent_workspaces"

// maxRecent is how many workspaces are remembered.
const maxRecent = 8

// ShippedCorpus names the small corpus built into the binary.
const ShippedCorpus = "shipped"

// WorkspaceSpec is what a workspace opens: a model, its SAEs, a corpus.
type WorkspaceSpec struct {
	Model  string    `json:"model"`
	SAEs   []SAESpec `json:"saes"`
	Corpus string    `json:"corpus"` // a path, or ShippedCorpus ("" means shipped)
	Rows   int       `json:"rows"`
	// State is what the window showed when the workspace was left (nil in
	// entries saved before it was kept): restored when it reopens.
	State *workspace.State `json:"state,omitempty"`
}

// SAESpec is one SAE of a workspace and, once analysed, its store file
// and the corpus and rows it was made on (so that the analysis reopens at
// once, before the corpus is read).
type SAESpec struct {
	Path        string `json:"path"`
	Hook        string `json:"hook,omitempty"`
	Store       string `json:"store,omitempty"`
	StoreCorpus string `json:"store_corpus,omitempty"`
	StoreRows   int    `json:"store_rows,omitempty"`
	// FoldDecNorm folds the SAE's decoder norms into its encoder at load.
	FoldDecNorm bool `json:"fold_dec_norm,omitempty"`
}

// Title is how a workspace is listed in the Recent menu.
func (w WorkspaceSpec) Title() string {
	var saes []string
	for _, s := range w.SAEs {
		saes = append(saes, filepath.Base(s.Path))
	}
	corpus := "shipped corpus"
	if w.Corpus != "" && w.Corpus != ShippedCorpus {
		corpus = filepath.Base(w.Corpus)
	}
	rows := w.Rows
	if rows <= 0 {
		rows = analysis.DefaultParams().Rows
	}
	if tokenrows.IsTokenRowsFile(w.Corpus) {
		// exact rows: the file's first rows, as many as it has up to Rows
		corpus = fmt.Sprintf("token rows %s (up to %s)", corpus, numfmt.Thousands(rows))
	} else {
		corpus += fmt.Sprintf(" (%s rows)", numfmt.Thousands(rows))
	}
	t := filepath.Base(w.Model)
	if isDemoSpec(w) {
		t = demo.Label
	}
	if len(saes) > 0 {
		t += " · " + strings.Join(saes, ", ")
	}
	return fmt.Sprintf("%s · %s", t, corpus)
}

// supersedes says whether w replaces o in the recent list: the same model
// and corpus, and o's SAEs the first of w's.
func (w WorkspaceSpec) supersedes(o WorkspaceSpec) bool {
	if w.Model != o.Model || w.Corpus != o.Corpus || w.Rows != o.Rows || len(o.SAEs) > len(w.SAEs) {
		return false
	}
	for i := range o.SAEs {
		if w.SAEs[i].Path != o.SAEs[i].Path || w.SAEs[i].Hook != o.SAEs[i].Hook {
			return false
		}
	}
	return true
}

// LoadRecent returns the remembered workspaces, newest first.
func LoadRecent(p fyne.Preferences) []WorkspaceSpec {
	var out []WorkspaceSpec
	if raw := p.String(prefRecent); raw != "" {
		if err := json.Unmarshal([]byte(raw), &out); err != nil {
			return nil
		}
	}
	return out
}

// RememberWorkspace puts w first in the recent list, dropping the entries
// it supersedes.
func RememberWorkspace(p fyne.Preferences, w WorkspaceSpec) {
	if w.Model == "" {
		return
	}
	list := []WorkspaceSpec{w}
	for _, o := range LoadRecent(p) {
		if !w.supersedes(o) && len(list) < maxRecent {
			list = append(list, o)
		}
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return
	}
	p.SetString(prefRecent, string(raw))
}
