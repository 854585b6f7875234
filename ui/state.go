package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/ui/labels"
	"github.com/saescope/saescope/weights/tokenizer"
)

// Jobs runs the background work of a workspace: every goroutine that
// touches the model or a store goes through Go, so that closing the
// workspace can cancel them and wait before the files are unmapped.
type Jobs struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[chan struct{}]bool // one per running job, closed when it returns
}

// NewJobs returns a job group that runs until Close.
func NewJobs() *Jobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &Jobs{ctx: ctx, cancel: cancel, running: map[chan struct{}]bool{}}
}

// Go runs fn on a new goroutine with the group's context.
func (j *Jobs) Go(fn func(ctx context.Context)) {
	j.wg.Add(1)
	done := make(chan struct{})
	j.mu.Lock()
	j.running[done] = true
	j.mu.Unlock()
	go func() {
		defer j.wg.Done()
		defer func() {
			j.mu.Lock()
			delete(j.running, done)
			j.mu.Unlock()
			close(done)
		}()
		fn(j.ctx)
	}()
}

// AfterRunning runs fn on a goroutine once every job running now has
// returned; jobs started later do not delay it. A store the panes no
// longer show is closed this way: a job started before the panes let go
// of it may still be reading its mapped file.
func (j *Jobs) AfterRunning(fn func()) {
	j.mu.Lock()
	wait := make([]chan struct{}, 0, len(j.running))
	for c := range j.running {
		wait = append(wait, c)
	}
	j.mu.Unlock()
	go func() {
		for _, c := range wait {
			<-c
		}
		fn()
	}()
}

// CloseStore closes st once the jobs running now have returned (at once
// when j is nil).
func (j *Jobs) CloseStore(st *store.Store) {
	if j == nil {
		st.Close()
		return
	}
	j.AfterRunning(func() { st.Close() })
}

// Context is cancelled by Close.
func (j *Jobs) Context() context.Context { return j.ctx }

// Wait blocks until every job has returned.
func (j *Jobs) Wait() { j.wg.Wait() }

// Close cancels the jobs and waits for them.
func (j *Jobs) Close() {
	j.cancel()
	j.wg.Wait()
}

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

	bench *Workbench
	cache featureCache

	// RequestAnalyze, when set, starts the analysis of this SAE (the
	// panes' "Analyze" buttons call it).
	RequestAnalyze func()
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

// FindLabel returns the features whose label or notes contain q.
func (v *View) FindLabel(q string) []int { return v.labels.Find(q) }

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

// labelSaver writes label edits to the book on one goroutine, the latest
// edit of each feature first in, without delaying any: a kill loses at
// most the edit being written.
type labelSaver struct {
	book  *labels.Book
	onErr func(error)

	mu      sync.Mutex
	idle    *sync.Cond
	pending map[int]labels.Entry
	order   []int
	running bool
	memory  map[int]labels.Entry // when there is no book
}

func newLabelSaver(book *labels.Book, onErr func(error)) *labelSaver {
	s := &labelSaver{book: book, onErr: onErr, pending: map[int]labels.Entry{}, memory: map[int]labels.Entry{}}
	s.idle = sync.NewCond(&s.mu)
	return s
}

func (s *labelSaver) Get(f int) labels.Entry {
	s.mu.Lock()
	if e, ok := s.pending[f]; ok {
		s.mu.Unlock()
		return e
	}
	if s.book == nil {
		e := s.memory[f]
		s.mu.Unlock()
		return e
	}
	s.mu.Unlock()
	return s.book.Get(f)
}

func (s *labelSaver) Find(q string) []int {
	s.Flush()
	if s.book == nil {
		return nil
	}
	return s.book.Find(q)
}

func (s *labelSaver) Set(f int, e labels.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.book == nil {
		s.memory[f] = e
		return
	}
	if !slices.Contains(s.order, f) {
		s.order = append(s.order, f)
	}
	s.pending[f] = e
	if !s.running {
		s.running = true
		go s.loop()
	}
}

func (s *labelSaver) loop() {
	for {
		s.mu.Lock()
		if len(s.order) == 0 {
			s.running = false
			s.idle.Broadcast()
			s.mu.Unlock()
			return
		}
		f := s.order[0]
		s.order = s.order[1:]
		e := s.pending[f]
		s.mu.Unlock()
		err := s.book.Set(f, e) // outside the lock: the UI never waits for the disk
		s.mu.Lock()
		// the entry stays pending (Get answers from it) until written
		if cur, ok := s.pending[f]; ok && cur == e && !slices.Contains(s.order, f) {
			delete(s.pending, f)
		}
		s.mu.Unlock()
		if err != nil && s.onErr != nil {
			s.onErr(errors.New("the label could not be saved: " + err.Error()))
		}
	}
}

// Flush waits until every edit has been written, and writes the book
// again if its last write failed (so that a label typed on a full disk is
// saved once there is space, at the latest when the workspace or window
// closes, even with no edit after it).
func (s *labelSaver) Flush() {
	s.mu.Lock()
	for s.running {
		s.idle.Wait()
	}
	s.mu.Unlock()
	if s.book == nil {
		return
	}
	if err := s.book.Save(); err != nil && s.onErr != nil {
		s.onErr(errors.New("the labels could not be saved: " + err.Error()))
	}
}
