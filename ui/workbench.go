package ui

import (
	"errors"
	"fmt"
	"slices"

	"fyne.io/fyne/v2"
)

// MaxPins is how many features the compare pane shows side by side.
const MaxPins = 6

// Pin is a feature pinned for comparison: a feature of one SAE's view.
type Pin struct {
	View    *View
	Feature int
}

// Workbench is what the SAE tabs of a window share: the views of the
// open SAEs, the features pinned for comparison (from any of them), and
// a way to show a feature of another SAE (its tab brought to the front).
// Its methods are called on the UI thread. Every view belongs to one
// workbench: its own until it joins the window's (Add).
type Workbench struct {
	// Window is where dialogs open (nil: the app's first window).
	Window fyne.Window

	views []*View
	pins  []Pin
	show  func(v *View, pane string)
	steer *SteerSet
}

// NewWorkbench returns an empty workbench.
func NewWorkbench() *Workbench { return &Workbench{} }

// Add makes v one of the workbench's views (leaving its previous one).
func (b *Workbench) Add(v *View) {
	if old := v.bench; old != nil && old != b {
		old.views = slices.DeleteFunc(old.views, func(x *View) bool { return x == v })
		old.pins = slices.DeleteFunc(old.pins, func(p Pin) bool { return p.View == v })
		if old.steer != nil {
			old.steer.dropView(v)
		}
	}
	v.bench = b
	if !slices.Contains(b.views, v) {
		b.views = append(b.views, v)
	}
}

// Views returns the views in the order they were added.
func (b *Workbench) Views() []*View { return append([]*View(nil), b.views...) }

// SetShow sets how a view's tab and pane are brought to the front (the
// Shell's tabs).
func (b *Workbench) SetShow(fn func(v *View, pane string)) { b.show = fn }

// Show selects feature f of v and brings v's tab, with pane (when not
// empty), to the front.
func (b *Workbench) Show(v *View, f int, pane string) error {
	if err := v.Select(f); err != nil {
		return err
	}
	if b.show != nil {
		b.show(v, pane)
	}
	return nil
}

// Steer returns the Steer pane's list and settings, shared by the views.
func (b *Workbench) Steer() *SteerSet {
	if b.steer == nil {
		b.steer = newSteerSet()
	}
	return b.steer
}

// Pins returns the pinned features, in pinning order.
func (b *Workbench) Pins() []Pin { return append([]Pin(nil), b.pins...) }

// Pinned says whether feature f of v is pinned.
func (b *Workbench) Pinned(v *View, f int) bool { return slices.Contains(b.pins, Pin{v, f}) }

// Pin pins feature f of v for comparison.
func (b *Workbench) Pin(v *View, f int) error {
	if f < 0 {
		return errors.New("select a feature first: Pin adds the selected feature to the comparison")
	}
	if err := v.CheckFeature(f); err != nil {
		return err
	}
	if b.Pinned(v, f) {
		return fmt.Errorf("feature %d of %s is already pinned", f, v.Name())
	}
	if len(b.pins) >= MaxPins {
		return fmt.Errorf("%d features are pinned already, the most the comparison shows: unpin one first", MaxPins)
	}
	b.pins = append(b.pins, Pin{v, f})
	b.changed()
	return nil
}

// Unpin removes feature f of v from the comparison (nothing if it is not
// pinned).
func (b *Workbench) Unpin(v *View, f int) {
	n := len(b.pins)
	b.pins = slices.DeleteFunc(b.pins, func(p Pin) bool { return p == Pin{v, f} })
	if len(b.pins) != n {
		b.changed()
	}
}

// ClearPins unpins every feature.
func (b *Workbench) ClearPins() {
	if len(b.pins) == 0 {
		return
	}
	b.pins = nil
	b.changed()
}

// changed tells every view's pin listeners.
func (b *Workbench) changed() {
	for _, v := range b.views {
		for _, fn := range v.onPins {
			fn()
		}
	}
}

// window is where v's dialogs open.
func (b *Workbench) window() fyne.Window {
	if b.Window != nil {
		return b.Window
	}
	if a := fyne.CurrentApp(); a != nil {
		if ws := a.Driver().AllWindows(); len(ws) > 0 {
			return ws[0]
		}
	}
	return nil
}
