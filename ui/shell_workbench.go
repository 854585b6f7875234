package ui

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
