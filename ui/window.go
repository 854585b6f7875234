// Package ui holds SAE Scope's Fyne panes, menus and dialogs. It does no
// numeric work and never blocks the UI thread: long work runs in goroutines
// and reports back through fyne.Do.
//
// State flows one way: a View holds one SAE's store, labels and selected
// feature, and calls its listeners (the panes) on the UI thread when any of
// them changes; the panes change the View, never each other. The Shell
// owns the window, the workspace (model + SAEs) and the background jobs.
//
// Files: window.go the Shell and its menus; shell_workspace.go the
// Shell's methods that open, analyse and close a workspace (Session);
// view.go the View; jobs.go the background jobs; labelsaver.go label
// saving; explorer.go one SAE's panes; panes.go the table of panes and
// how to add one (one table entry plus the pane's own file); header.go the
// selected feature's header; one file per pane (ranking.go, contexts.go,
// neuroscope.go, elicit.go, detail.go, statistics.go, compare.go).
package ui

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
	"github.com/saescope/saescope/compute"
)

// Title is the main window's title.
const Title = "SAE Scope"

// Shell is the main window and the state the panes share.
type Shell struct {
	App    fyne.App
	Window fyne.Window

	Bar      *WorkspaceBar
	BarItem  *widget.AccordionItem
	barBox   *widget.Accordion
	Tabs     *container.AppTabs // one tab per SAE
	Status   *widget.Label
	Progress *widget.ProgressBar

	welcome *fyne.Container
	center  *fyne.Container
	version string

	session *Session
	spec    WorkspaceSpec
	running *analysisRun
	// modelGen counts OpenModel requests: a model that finishes loading
	// after a later request is closed, not opened.
	modelGen int

	firstRun *FirstRun // the "Get models" screen (firstrun.go)

	// statusError: the status line shows an error (showError), cleared
	// by the next status or by an edit of the workspace bar's fields.
	statusError bool
	// analyzeItems are the File menu's Analyze, Analyze again and Cancel
	// analysis, enabled as the bar's buttons are (syncAnalysisControls).
	analyzeItems [3]*fyne.MenuItem
	// themeMenu is View › Theme, its current choice ticked.
	themeMenu *fyne.Menu

	backendMake func() (compute.Backend, error) // given to NewShell
	backendOnce sync.Once
	backendVal  compute.Backend
	backendErr  error
}

// NewShell builds the main window with its menu and an empty workspace.
// newBackend makes the compute backend the models run on (the CPU, or the
// CUDA build's GPU): it is called once, when the first model opens, and
// its error is that model's error.
func NewShell(a fyne.App, version string, newBackend func() (compute.Backend, error)) *Shell {
	w := a.NewWindow(Title)
	s := &Shell{App: a, Window: w, version: version, backendMake: newBackend,
		Status: widget.NewLabel("No workspace open. Pick a model folder above, or File › Open model…, to start.")}
	s.Status.Wrapping = fyne.TextWrapWord // an error's reason is never cut off
	s.Progress = widget.NewProgressBar()
	s.Progress.Hide()
	s.Bar = newWorkspaceBar(s)
	s.Tabs = container.NewAppTabs()
	s.Tabs.OnSelected = func(*container.TabItem) {
		s.updateTitle()
		s.syncAnalysisControls()
	}
	s.welcome = container.NewVBox()
	s.rebuildWelcome()
	s.center = container.NewStack(s.welcomeView())
	w.SetMainMenu(s.menu())
	s.syncAnalysisControls()
	status := container.NewBorder(nil, nil, nil,
		container.NewHBox(container.NewCenter(container.NewGridWrap(fyne.NewSize(260, s.Progress.MinSize().Height), s.Progress)), s.Bar.Cancel), container.NewStack(s.Status, coldStartProbe()))
	s.BarItem = widget.NewAccordionItem("Workspace", s.Bar.Content())
	s.barBox = widget.NewAccordion(s.BarItem)
	s.barBox.Open(0)
	s.firstRunScreen().foldBarForNewUser()
	w.SetContent(container.NewBorder(s.barBox, status, nil, nil, s.center))
	w.Resize(fyne.NewSize(1280, 800))
	w.SetOnClosed(s.shutdown)
	s.Bar.SetSources(nil, s.recentModels())
	go s.scanLocalSources()
	return s
}

// Session returns the open workspace, nil when none.
func (s *Shell) Session() *Session { return s.session }

// Spec returns what the open workspace holds.
func (s *Shell) Spec() WorkspaceSpec { return s.spec }

// Explorer returns the explorer of the SAE tab shown, nil when none.
func (s *Shell) Explorer() *Explorer {
	if s.session == nil || len(s.session.Explorers) == 0 {
		return nil
	}
	i := s.Tabs.SelectedIndex()
	if i < 0 || i >= len(s.session.Explorers) {
		return nil
	}
	return s.session.Explorers[i]
}

// SetStatus shows a line in the status bar.
func (s *Shell) SetStatus(text string) {
	s.statusError = false
	if s.Status.Importance != widget.MediumImportance {
		s.Status.Importance = widget.MediumImportance
		s.Status.Refresh()
	}
	s.Status.SetText(text)
}

// showError shows err in the status bar, in the error colour until the
// next status, and in a dialog.
func (s *Shell) showError(err error) {
	s.SetStatus(err.Error())
	s.statusError = true
	s.Status.Importance = widget.DangerImportance
	s.Status.Refresh()
	dialog.ShowError(err, s.Window)
}

// replaceError shows hint in place of an error in the status bar (a field
// of the workspace bar was edited since); another status stays.
func (s *Shell) replaceError(hint string) {
	if s.statusError {
		s.SetStatus(hint)
	}
}

// syncAnalysisControls enables what can run now: Analyze (the bar's
// button, the File menu's entries) with an SAE tab shown and no analysis
// running, Cancel only while one runs.
func (s *Shell) syncAnalysisControls() {
	running := s.running != nil
	s.Bar.SetRunning(running)
	if s.Explorer() == nil {
		s.Bar.Analyze.Disable()
	}
	canAnalyze := s.Explorer() != nil && !running
	changed := false
	for i, it := range s.analyzeItems {
		disabled := !canAnalyze
		if i == 2 {
			disabled = !running
		}
		if it != nil && it.Disabled != disabled {
			it.Disabled = disabled
			changed = true
		}
	}
	if mm := s.Window.MainMenu(); changed && mm != nil {
		mm.Refresh()
	}
}

func (s *Shell) updateTitle() {
	t := Title
	if e := s.Explorer(); e != nil {
		t += " — " + e.View.Name()
	}
	s.Window.SetTitle(s.demoTitle(t))
	s.workspaceShown()
	bar := "Workspace"
	if s.session != nil {
		// an accordion's title cannot wrap or shorten itself: cut here, or a
		// workspace of long names widens the window past the screen
		bar += ": " + shorten(s.spec.Title(), barTitleRunes)
	}
	if s.BarItem.Title != bar {
		s.BarItem.Title = bar
		s.barBox.Refresh()
	}
}

// ShowWorkspaceBar opens or folds the workspace bar.
func (s *Shell) ShowWorkspaceBar(open bool) {
	if open {
		s.barBox.Open(0)
	} else {
		s.barBox.Close(0)
	}
}

func (s *Shell) menu() *fyne.MainMenu {
	s.analyzeItems = [3]*fyne.MenuItem{
		fyne.NewMenuItem("Analyze", func() { s.Analyze(false) }),
		fyne.NewMenuItem("Analyze again (ignore the finished analysis)", func() { s.Analyze(true) }),
		fyne.NewMenuItem("Cancel analysis", s.CancelAnalysis),
	}
	recent := fyne.NewMenuItem("Recent workspaces", nil)
	recent.ChildMenu = fyne.NewMenu("")
	s.fillRecentMenu(recent.ChildMenu)
	file := fyne.NewMenu("File",
		fyne.NewMenuItem("Get models…", s.ShowGetModels),
		fyne.NewMenuItem("Open demo workspace", func() { s.OpenDemo(nil) }),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Open model…", func() { s.Bar.browseFolder(func(p string) { s.Bar.Model.SetText(p); s.OpenModel(p, nil) }) }),
		fyne.NewMenuItem("Add SAE file…", func() {
			s.Bar.browseFile([]string{".pt", ".pth", ".bin"}, func(p string) { s.Bar.SAE.SetText(p); s.AddSAE(SAESpec{Path: p}, nil) })
		}),
		fyne.NewMenuItem("Add SAELens folder…", func() {
			s.Bar.browseFolder(func(p string) { s.Bar.SAE.SetText(p); s.AddSAE(SAESpec{Path: p}, nil) })
		}),
		fyne.NewMenuItem("Open corpus…", func() { s.Bar.browseFile(corpusExtensions(), s.Bar.Corpus.SetText) }),
		fyne.NewMenuItemSeparator(),
		s.analyzeItems[0],
		s.analyzeItems[1],
		s.analyzeItems[2],
		fyne.NewMenuItemSeparator(),
		recent,
	)
	view := fyne.NewMenu("View", append(paneMenu(s.ShowPane), fyne.NewMenuItemSeparator())...)
	themes := fyne.NewMenuItem("Theme", nil)
	themes.ChildMenu = fyne.NewMenu("")
	for _, c := range []struct{ name, label string }{{ThemeSystem, "System"}, {ThemeLight, "Light"}, {ThemeDark, "Dark"}} {
		it := fyne.NewMenuItem(c.label, func() { s.SetTheme(c.name) })
		it.Checked = themeChoice(s.App) == c.name // the theme in use is ticked
		themes.ChildMenu.Items = append(themes.ChildMenu.Items, it)
	}
	s.themeMenu = themes.ChildMenu
	view.Items = append(view.Items, themes)
	help := fyne.NewMenu("Help",
		fyne.NewMenuItem("About SAE Scope", func() {
			dialog.ShowInformation("About SAE Scope",
				"SAE Scope "+s.version+"\nExplore sparse-autoencoder features of GPT-2 small, locally.", s.Window)
		}),
	)
	return fyne.NewMainMenu(file, view, help)
}

func (s *Shell) fillRecentMenu(m *fyne.Menu) {
	m.Items = nil
	for _, w := range LoadRecent(s.App.Preferences()) {
		w := w
		m.Items = append(m.Items, fyne.NewMenuItem(w.Title(), func() { s.OpenWorkspace(w, false, nil) }))
	}
	if len(m.Items) == 0 {
		it := fyne.NewMenuItem("(none yet)", nil)
		it.Disabled = true
		m.Items = append(m.Items, it)
	}
}

// refreshRecent rebuilds the Recent menu and the welcome screen.
func (s *Shell) refreshRecent() {
	if mm := s.Window.MainMenu(); mm != nil {
		for _, it := range mm.Items[0].Items {
			if it.ChildMenu != nil && it.Label == "Recent workspaces" {
				s.fillRecentMenu(it.ChildMenu)
			}
		}
		mm.Refresh()
	}
	s.rebuildWelcome()
}

func (s *Shell) rebuildWelcome() {
	objs := []fyne.CanvasObject{s.firstRunScreen().Content()}
	if rec := LoadRecent(s.App.Preferences()); len(rec) > 0 {
		objs = append(objs, widget.NewLabelWithStyle("Recent workspaces", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
		for _, w := range rec {
			w := w
			b := widget.NewButton(w.Title(), func() { s.OpenWorkspace(w, false, nil) })
			b.Alignment = widget.ButtonAlignLeading
			objs = append(objs, b)
		}
	}
	s.welcome.Objects = objs
	s.welcome.Refresh()
}

// ShowPane brings a pane of the shown SAE to the front.
func (s *Shell) ShowPane(name string) {
	e := s.Explorer()
	if e == nil {
		s.SetStatus("Open a model and add an SAE first.")
		return
	}
	if err := e.ShowPane(name); err != nil {
		s.SetStatus(err.Error())
	}
}

// SetTheme switches between the system, light and dark themes and
// remembers the choice.
func (s *Shell) SetTheme(name string) {
	ApplyTheme(s.App, name)
	s.App.Preferences().SetString(prefTheme, strings.ToLower(name))
	if s.themeMenu != nil {
		for _, it := range s.themeMenu.Items {
			it.Checked = strings.EqualFold(it.Label, name)
		}
		s.themeMenu.Refresh()
	}
}

// ApplySavedTheme applies the theme chosen last time (call it before
// NewShell).
func ApplySavedTheme(a fyne.App) {
	if t := a.Preferences().String(prefTheme); t != "" && t != ThemeSystem {
		ApplyTheme(a, t)
	}
}

func (s *Shell) recentModels() []string {
	var out []string
	for _, w := range LoadRecent(s.App.Preferences()) {
		if !slices.Contains(out, w.Model) {
			out = append(out, w.Model)
		}
	}
	return out
}

// shutdown saves what is pending and stops the background work.
func (s *Shell) shutdown() {
	if s.firstRun != nil {
		s.firstRun.stop()
	}
	if s.session == nil {
		return
	}
	s.saveState() // shell_state.go
	for _, e := range s.session.Explorers {
		e.View.FlushLabels()
	}
	s.session.Jobs.cancel()
}

// describeSpec is a status line for a workspace.
func describeSpec(w WorkspaceSpec) string {
	if isDemoSpec(w) {
		return demoDescription(w)
	}
	return fmt.Sprintf("%s with %d SAE(s)", w.Model, len(w.SAEs))
}
