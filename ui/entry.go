package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// Fyne's word wrapping re-measures a line character by character: a very
// long line, or a "word" hundreds of characters long (a pasted hash or
// number), makes every keystroke slow. Past these sizes the text entries
// stop wrapping (the line scrolls sideways) until the text is short again.
const (
	maxWrappedLine = 5000
	maxWrappedWord = 200
)

// needsNoWrap says whether text is too long to word-wrap quickly.
func needsNoWrap(text string) bool {
	line, word := 0, 0
	for _, r := range text {
		switch r {
		case '\n':
			line, word = 0, 0
			continue
		case ' ', '\t':
			word = 0
		default:
			word++
		}
		line++
		if line > maxWrappedLine || word > maxWrappedWord {
			return true
		}
	}
	return false
}

// adaptWrap turns e's word wrapping off for text too long to wrap
// quickly, and on again for text that is not.
func adaptWrap(e *widget.Entry, text string) {
	want := fyne.TextWrapWord
	if needsNoWrap(text) {
		want = fyne.TextWrapOff
	}
	if e.Wrapping != want {
		e.Wrapping = want
		e.Refresh()
	}
}

// textEntry is a multi-line entry that stops wrapping before a long
// paste, not after it (the wrapping of the pasted text would be the slow
// part).
type textEntry struct {
	widget.Entry
}

func newTextEntry() *textEntry {
	e := &textEntry{}
	e.MultiLine = true
	e.Wrapping = fyne.TextWrapWord
	e.ExtendBaseWidget(e)
	return e
}

// TypedShortcut implements fyne.Shortcutable.
func (e *textEntry) TypedShortcut(s fyne.Shortcut) {
	if p, ok := s.(*fyne.ShortcutPaste); ok && p.Clipboard != nil {
		if needsNoWrap(e.Text + p.Clipboard.Content()) {
			e.Wrapping = fyne.TextWrapOff
		}
	}
	e.Entry.TypedShortcut(s)
}
