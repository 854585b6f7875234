package ui

import (
	// before Fyne reads the locale: no "Error parsing user locale C"
	// under C.UTF-8 (the package says why)
	_ "early/localeenv"

	"fyne.io/fyne/v2"
)

// uiDo runs fn on the UI thread (fyne.Do). Every result of background
// work reaches the widgets through it. Tests replace it with a queue that
// the test goroutine drains, so that widgets are only ever touched from
// one goroutine there too.
var uiDo = fyne.Do

// settled is called by the panes' Settle once no job is left; tests set it
// to drain their queue (it returns whether it ran anything).
var settled = func() bool { return false }
