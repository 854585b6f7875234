package ui

import (
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// enterFeature types s into a feature field and presses Enter.
func enterFeature(e *widget.Entry, s string) {
	e.SetText(s)
	e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
}

// Typing 122 in the neuroscope's Feature field selects 122 once typing
// pauses, or at once on Enter, and never 1 or 12 on the way (issue 20,
// item 6); a selection made elsewhere meanwhile wins over the pending
// typing.
func TestFeatureFieldSelectsAfterPauseOrEnter(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewNeuroscopePane(v)
	w := show(t, p.Content(), 900, 600)
	p.Settle()
	var selected []int
	v.OnFeature(func(f int) { selected = append(selected, f) })
	p.featureField.pause = 50 * time.Millisecond
	// waitPause waits out the pause, running what it queued on the UI thread.
	waitPause := func() {
		time.Sleep(120 * time.Millisecond)
		drainUI()
	}

	w.Canvas().Focus(p.FeatureEntry)
	test.Type(p.FeatureEntry, "122")
	drainUI()
	if len(selected) != 0 {
		t.Fatalf("typing 122 selected %v before the pause", selected)
	}
	waitPause()
	if !slices.Equal(selected, []int{122}) || v.Feature() != 122 {
		t.Fatalf("after the pause: selected %v, feature %d", selected, v.Feature())
	}

	// Enter takes the id at once
	selected = nil
	p.FeatureEntry.SetText("")
	test.Type(p.FeatureEntry, "37")
	p.FeatureEntry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !slices.Equal(selected, []int{37}) {
		t.Fatalf("Enter after 37: selected %v", selected)
	}
	waitPause()
	if !slices.Equal(selected, []int{37}) {
		t.Errorf("the pause after Enter selected again: %v", selected)
	}

	// a bad id is reported after the pause, not while typing
	p.FeatureEntry.SetText("")
	test.Type(p.FeatureEntry, "2x")
	drainUI()
	if p.Msg.Visible() {
		t.Errorf("message while typing: %q", p.Msg.Text)
	}
	waitPause()
	if !p.Msg.Visible() {
		t.Error("no message for 2x after the pause")
	}

	// a feature chosen elsewhere while typing cancels the typed one
	selected = nil
	p.FeatureEntry.SetText("")
	test.Type(p.FeatureEntry, "5")
	if err := v.Select(9); err != nil {
		t.Fatal(err)
	}
	waitPause()
	if !slices.Equal(selected, []int{9}) || p.FeatureEntry.Text != "9" || p.Msg.Visible() {
		t.Errorf("selected elsewhere while typing: selected %v, field %q, message %q", selected, p.FeatureEntry.Text, p.Msg.Text)
	}
}
