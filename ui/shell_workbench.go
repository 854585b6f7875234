package ui

import (
	"fmt"
	"strings"
)

// workbench returns the session's workbench, made on first use: its
// dialogs open in the main window, and Show brings a view's tab (and a
// pane of it) to the front.
func (s *Shell) workbench(ss *Session) *Workbench {
	if ss.bench == nil {
		b := NewWorkbench()
		b.Window = s.Window
		b.SetShow(func(v *View, pane string) { s.showView(ss, v, pane) })
		ss.bench = b
	}
	return ss.bench
}

// showView brings v's tab to the front, with pane when not empty.
func (s *Shell) showView(ss *Session, v *View, pane string) {
	if s.session != ss {
		return
	}
	for i, e := range ss.Explorers {
		if e.View != v {
			continue
		}
		s.Tabs.SelectIndex(i)
		if pane != "" {
			if err := e.ShowPane(pane); err != nil {
				s.SetStatus(err.Error())
			}
		}
		return
	}
}

// PinFeatures pins the features listed in list for the compare pane:
// "3,17" pins features of the SAE tab shown, "1:12" feature 12 of the
// second tab (tabs count from 0).
func (s *Shell) PinFeatures(list string) error {
	e := s.Explorer()
	if e == nil {
		return fmt.Errorf("open a model and add an SAE before pinning features")
	}
	fields := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
	if len(fields) == 0 {
		return fmt.Errorf("no feature to pin in %q: give ids such as 3,17 (or 1:12 for feature 12 of the second tab)", list)
	}
	for _, f := range fields {
		target := e
		if tab, id, ok := strings.Cut(f, ":"); ok {
			i, err := parseInt(tab)
			if err != nil || i < 0 || i >= len(s.session.Explorers) {
				return fmt.Errorf("pin %q: there is no SAE tab %q (tabs count from 0)", f, tab)
			}
			target, f = s.session.Explorers[i], id
		}
		if err := target.PinFeatures(f); err != nil {
			return err
		}
	}
	return nil
}
