// Package ui holds SAE Scope's Fyne panes, menus and dialogs. It does no
// numeric work and never blocks the UI thread: long work runs in goroutines
// and reports back through fyne.Do.
package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

// Title is the main window's title.
const Title = "SAE Scope"

// Shell is the main window and the state the panes share.
type Shell struct {
	App    fyne.App
	Window fyne.Window
	status *widget.Label
}

// NewShell builds the main window with its menu and an empty workspace.
func NewShell(a fyne.App, version string) *Shell {
	w := a.NewWindow(Title)
	s := &Shell{App: a, Window: w, status: widget.NewLabel("No workspace open. Use File ▸ Open model… to start.")}
	w.SetMainMenu(s.menu(version))
	welcome := widget.NewRichTextFromMarkdown("# SAE Scope\n\nExplore the features of sparse autoencoders trained on GPT-2 small.")
	w.SetContent(container.NewBorder(nil, s.status, nil, nil, container.NewCenter(welcome)))
	w.Resize(fyne.NewSize(1200, 800))
	return s
}

func (s *Shell) menu(version string) *fyne.MainMenu {
	file := fyne.NewMenu("File",
		fyne.NewMenuItem("Open model…", func() { s.notYet("Opening a model") }),
		fyne.NewMenuItem("Open SAE…", func() { s.notYet("Opening an SAE") }),
		fyne.NewMenuItem("Open corpus…", func() { s.notYet("Opening a corpus") }),
	)
	view := fyne.NewMenu("View",
		fyne.NewMenuItem("Ranking", nil),
		fyne.NewMenuItem("Contexts", nil),
		fyne.NewMenuItem("Neuroscope", nil),
		fyne.NewMenuItem("Elicitation", nil),
	)
	for _, it := range view.Items {
		it.Disabled = true
	}
	help := fyne.NewMenu("Help",
		fyne.NewMenuItem("About SAE Scope", func() {
			dialog.ShowInformation("About SAE Scope",
				"SAE Scope "+version+"\nExplore sparse-autoencoder features of GPT-2 small, locally.", s.Window)
		}),
	)
	return fyne.NewMainMenu(file, view, help)
}

func (s *Shell) notYet(what string) {
	dialog.ShowInformation(Title, what+" is not available in this build yet.", s.Window)
}
