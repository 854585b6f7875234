package ui

import (
	"fmt"
	"slices"
	"time"

	"fyne.io/fyne/v2"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/ui/labels"
	"github.com/saescope/saescope/weights/tokenizer"
)

// View is the state the panes of one SAE share: the SAE, its analysis
// store (nil until analysed), its label book and the selected feature.
// Its methods are called on the UI thread; listeners run there too, in
// the order they were added.
type View struct {
	SAE  *workspace.SAE
	Tok  *tokenizer.Tokenizer
	Jobs *Jobs

	dSae      int
	store     *store.Store
	ownsStore bool
	feature   int
	labels    *labelSaver

	onFeature []func(f int)
	onStore   []func(st *store.Store)
	onLabel   []func(f int)
	onPins    []func()
	onMessage func(msg string)

	bench   *Workbench
	cache   featureCache
	suggest suggestions

	// RequestAnalyze, when set, starts the analysis of this SAE (the
	// panes' "Analyze" buttons call it).
	RequestAnalyze func()

	// analyzing: the SAE's analysis runs (the panes say so rather than
	// asking for one)
	analyzing bool
}

// NewView returns the state of sae's panes. book may be nil (labels are
// then kept for the session only and a message says so).
func NewView(sae *workspace.SAE, tok *tokenizer.Tokenizer, book *labels.Book, jobs *Jobs) *View {
	v := &View{SAE: sae, Tok: tok, Jobs: jobs, feature: -1, dSae: sae.Weights.DSae}
	v.labels = newLabelSaver(book, func(err error) { v.Message(err.Error()) })
	NewWorkbench().Add(v)
	return v
}

// Bench returns the workbench the view belongs to (the window's, or its
// own when it is alone).
func (v *View) Bench() *Workbench { return v.bench }

// OnPins adds a listener of changes to the workbench's pinned features.
func (v *View) OnPins(fn func()) { v.onPins = append(v.onPins, fn) }

// Name is the SAE's short name.
func (v *View) Name() string { return v.SAE.Name() }

// DSae is the number of features.
func (v *View) DSae() int { return v.dSae }

// Store returns the analysis, nil before one is open.
func (v *View) Store() *store.Store { return v.store }

// SetStore shows st (nil to detach the panes from the current one). owned
// says the view opened st itself and closes it when it is replaced.
func (v *View) SetStore(st *store.Store, owned bool) {
	if st == v.store {
		return
	}
	old, oldOwned := v.store, v.ownsStore
	v.store, v.ownsStore = st, owned
	if st != nil && v.feature >= st.DSae() {
		v.feature = -1
	}
	v.startSuggestions(st)
	for _, fn := range v.onStore {
		fn(st)
	}
	if b := v.bench; b != nil && slices.ContainsFunc(b.pins, func(p Pin) bool { return p.View == v }) {
		b.changed() // the comparison shows this store's numbers
	}
	if old != nil && oldOwned {
		v.Jobs.CloseStore(old) // a job may still read it
	}
}

// Analyzing says whether the SAE's analysis is running.
func (v *View) Analyzing() bool { return v.analyzing }

// SetAnalyzing records whether the SAE's analysis runs; without a store,
// the panes are told again (their store listeners run) so that they say
// so, or ask for an analysis once it has ended without one.
func (v *View) SetAnalyzing(on bool) {
	if on == v.analyzing {
		return
	}
	v.analyzing = on
	if v.store == nil {
		for _, fn := range v.onStore {
			fn(nil)
		}
	}
}

// noStoreMessage is what a pane that needs the analysis says without one:
// that it is running, or how to start it; what names what the pane shows.
func (v *View) noStoreMessage(what string) string {
	if v.analyzing {
		return fmt.Sprintf("%s is being analysed: %s appear when the scan ends (progress and Cancel in the status bar).", v.Name(), what)
	}
	return fmt.Sprintf("%s has not been analysed on this corpus yet: press Analyze (in the ranking) to scan it; %s come from that scan.", v.Name(), what)
}

// Feature returns the selected feature, -1 for none.
func (v *View) Feature() int { return v.feature }

// CheckFeature says whether f is a feature of the SAE.
func (v *View) CheckFeature(f int) error {
	if f < 0 || f >= v.dSae {
		return fmt.Errorf("feature %d out of range: this SAE has features 0 to %d", f, v.dSae-1)
	}
	return nil
}

// Select makes f the selected feature of every pane.
func (v *View) Select(f int) error {
	if err := v.CheckFeature(f); err != nil {
		return err
	}
	if f == v.feature {
		return nil
	}
	t0 := time.Now()
	v.feature = f
	for _, fn := range v.onFeature {
		fn(f)
	}
	if timingOn {
		logTiming("select feature %d: every pane updated in %v", f, time.Since(t0))
		// queued behind the frame being drawn: runs once it is on screen
		go fyne.Do(func() { logTiming("select feature %d: drawn after %v", f, time.Since(t0)) })
	}
	return nil
}

// OnFeature adds a listener of selection changes.
func (v *View) OnFeature(fn func(f int)) { v.onFeature = append(v.onFeature, fn) }

// OnStore adds a listener of store changes (nil when detached).
func (v *View) OnStore(fn func(st *store.Store)) { v.onStore = append(v.onStore, fn) }

// OnLabel adds a listener of label edits.
func (v *View) OnLabel(fn func(f int)) { v.onLabel = append(v.onLabel, fn) }

// Entry returns feature f's label and notes.
func (v *View) Entry(f int) labels.Entry { return v.labels.Get(f) }

// Label returns feature f's label.
func (v *View) Label(f int) string { return v.labels.Get(f).Label }

// FindLabel returns the features whose label or notes contain q, and
// those with no label whose suggested label (Suggested) does, in order.
func (v *View) FindLabel(q string) []int {
	out := append(v.labels.Find(q), v.findSuggested(q)...)
	slices.Sort(out)
	return slices.Compact(out)
}

// SetEntry records feature f's label and notes; the write to disk starts
// at once on a goroutine (no debounce), so the UI never waits for it.
func (v *View) SetEntry(f int, e labels.Entry) {
	if v.CheckFeature(f) != nil {
		return
	}
	v.labels.Set(f, e)
	for _, fn := range v.onLabel {
		fn(f)
	}
}

// FlushLabels waits until every label edit is on disk.
func (v *View) FlushLabels() { v.labels.Flush() }

// SetMessageHandler sets where Message goes (the window's status line).
func (v *View) SetMessageHandler(fn func(msg string)) { v.onMessage = fn }

// Message shows msg in the window's status line (UI thread or not).
func (v *View) Message(msg string) {
	if v.onMessage != nil {
		uiDo(func() { v.onMessage(msg) })
	}
}
