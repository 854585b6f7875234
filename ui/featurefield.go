package ui

import (
	"time"

	"fyne.io/fyne/v2/widget"
)

// FeatureTypingPause is how long typing in a feature field must pause
// before the id typed is taken: typing 122 selects 122, not 1 and 12 on
// the way. Enter takes it at once.
const FeatureTypingPause = 600 * time.Millisecond

// featureField makes an entry where a feature id is typed act on Enter or
// once typing pauses, never on each prefix. Its methods run on the UI
// thread.
type featureField struct {
	entry *widget.Entry
	pause time.Duration
	// take acts on the text typed (UI thread).
	take  func(text string)
	timer *time.Timer
	gen   int // the typing generation; a pending timer of an older one does nothing
}

// newFeatureField wires e: take is called with its text on Enter, or
// FeatureTypingPause after the last edit. Edits made while syncing (the
// field following the selection) are ignored by the caller's take.
func newFeatureField(e *widget.Entry, take func(text string)) *featureField {
	ff := &featureField{entry: e, pause: FeatureTypingPause, take: take}
	e.OnChanged = func(string) { ff.typed() }
	e.OnSubmitted = func(s string) {
		ff.cancel()
		ff.take(s)
	}
	return ff
}

// typed (re)starts the pause after an edit.
func (ff *featureField) typed() {
	ff.cancel()
	gen := ff.gen
	ff.timer = time.AfterFunc(ff.pause, func() {
		uiDo(func() {
			if gen == ff.gen {
				ff.timer = nil
				ff.take(ff.entry.Text)
			}
		})
	})
}

// cancel forgets the pending edit (the selection changed elsewhere, or
// Enter took it).
func (ff *featureField) cancel() {
	ff.gen++
	if ff.timer != nil {
		ff.timer.Stop()
		ff.timer = nil
	}
}
