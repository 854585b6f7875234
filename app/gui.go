package main

import (
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/saescope/saescope/ui"
)

// gui opens the main window and runs until it is closed.
func gui() {
	a := fyneapp.NewWithID("io.github.saescope")
	shell := ui.NewShell(a, version)
	shell.Window.ShowAndRun()
}
