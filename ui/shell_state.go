package ui

import (
	"strings"

	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/workspace"
)

// The window's state (the SAE tab and pane shown, each SAE's selected
// feature, the pins, the Steer pane's preset) is saved with the workspace
// in the recent list when the workspace is closed or the window is, and
// restored when the workspace reopens (issue 20 item 9).

// CurrentPane is the name of the pane whose tab is shown.
func (e *Explorer) CurrentPane() string {
	sel := e.Tabs.Selected()
	for _, p := range paneTable {
		if p.tab != "" && e.tabs[p.tab] == sel {
			return p.name
		}
	}
	return ""
}

// explorerIndex is the index of v's explorer in the session, -1 if none.
func (ss *Session) explorerIndex(v *View) int {
	for i, e := range ss.Explorers {
		if e.View == v {
			return i
		}
	}
	return -1
}

// CaptureState returns what the window shows of the open workspace, SAEs
// named by their index in the workspace's spec (nil with no workspace).
func (s *Shell) CaptureState() *workspace.State {
	ss := s.session
	if ss == nil || len(ss.Explorers) == 0 {
		return nil
	}
	// the spec lists the SAEs that opened, in the explorers' order
	index := func(v *View) int {
		i := ss.explorerIndex(v)
		if i < 0 || i >= len(s.spec.SAEs) || s.spec.SAEs[i].Path != v.SAE.Path {
			return -1
		}
		return i
	}
	st := &workspace.State{Tab: max(s.Tabs.SelectedIndex(), 0)}
	if e := s.Explorer(); e != nil {
		st.Pane = e.CurrentPane()
	}
	for _, e := range ss.Explorers {
		st.Selected = append(st.Selected, e.View.Feature())
	}
	b := s.workbench(ss)
	for _, p := range b.Pins() {
		if i := index(p.View); i >= 0 {
			st.Pins = append(st.Pins, workspace.FeatureRef{SAE: i, Feature: p.Feature})
		}
	}
	set := b.Steer()
	cfg := set.Settings()
	preset := &workspace.SteerPreset{Prompt: cfg.Prompt, Tokens: cfg.Tokens, Temperature: cfg.Temperature, TopP: cfg.TopP,
		Seed: cfg.Seed, Scope: string(cfg.Scope), Pos: cfg.Pos}
	for _, f := range set.Features() {
		if i := index(f.View); i >= 0 {
			preset.Features = append(preset.Features, workspace.SteerItem{FeatureRef: workspace.FeatureRef{SAE: i, Feature: f.Feature},
				Mode: string(f.Mode), Coeff: f.Coeff})
		}
	}
	st.Steer = preset
	return st
}

// saveState records the window's state with the workspace in the recent
// list (before the workspace closes, and when the window does).
func (s *Shell) saveState() {
	if st := s.CaptureState(); st != nil {
		s.spec.State = st
		s.remember()
	}
}

// restoreState shows the state saved with w, now open: its SAEs are
// found by their paths among the explorers (an SAE that did not open
// takes its part of the state with it). What does not fit is said in the
// status line.
func (s *Shell) restoreState(w WorkspaceSpec) {
	ss := s.session
	if w.State == nil || ss == nil {
		return
	}
	explorers := make([]*Explorer, len(w.SAEs))
	dSae := make([]int, len(w.SAEs))
	for i, sp := range w.SAEs {
		for _, e := range ss.Explorers {
			if e.View.SAE.Path == sp.Path && !containsExplorer(explorers[:i], e) {
				explorers[i], dSae[i] = e, e.View.DSae()
				break
			}
		}
	}
	st, notes := w.State.Valid(dSae)
	for i, f := range st.Selected {
		if f >= 0 && explorers[i] != nil {
			if err := explorers[i].View.Select(f); err != nil {
				notes = append(notes, err.Error())
			}
		}
	}
	b := s.workbench(ss)
	for _, p := range st.Pins {
		if err := b.Pin(explorers[p.SAE].View, p.Feature); err != nil {
			notes = append(notes, err.Error())
		}
	}
	if p := st.Steer; p != nil {
		var fs []SteerFeature
		for _, it := range p.Features {
			v := explorers[it.SAE].View
			fs = append(fs, SteerFeature{View: v, Feature: it.Feature, Mode: intervene.Mode(it.Mode), Coeff: it.Coeff})
		}
		b.Steer().Replace(fs, steerSettingsOf(p))
	}
	if st.Tab < len(explorers) && explorers[st.Tab] != nil {
		e := explorers[st.Tab]
		s.Tabs.SelectIndex(ss.explorerIndex(e.View))
		if st.Pane != "" {
			if err := e.ShowPane(st.Pane); err != nil {
				notes = append(notes, err.Error())
			}
		}
	}
	if len(notes) > 0 {
		s.SetStatus(s.Status.Text + " Not restored from the last session: " + strings.Join(notes, "; ") + ".")
	}
}

func containsExplorer(list []*Explorer, e *Explorer) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

// steerSettingsOf reads a preset's settings, the defaults for what it
// lacks or has out of range.
func steerSettingsOf(p *workspace.SteerPreset) SteerSettings {
	st := DefaultSteerSettings()
	st.Prompt, st.Tokens, st.Temperature, st.Seed, st.Pos = p.Prompt, p.Tokens, p.Temperature, p.Seed, p.Pos
	if p.TopP > 0 && p.TopP <= 1 {
		st.TopP = p.TopP
	}
	switch s := SteerScope(p.Scope); s {
	case ScopeAll, ScopePrompt, ScopePosition:
		st.Scope = s
	}
	if st.Check() != nil { // tokens or temperature out of range
		d := DefaultSteerSettings()
		st.Tokens, st.Temperature = min(max(st.Tokens, 0), MaxSteerTokens), max(st.Temperature, 0)
		if st.Check() != nil {
			st.Tokens, st.Temperature = d.Tokens, d.Temperature
		}
	}
	return st
}
