package ui

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/saescope/saescope/compute/workspace"
)

// LiveDelay is how long typing must pause before a text is run through the
// model. Runs are never cancelled by a keystroke: a run in flight finishes
// and shows its (slightly older) result, then the newest text runs.
const LiveDelay = 60 * time.Millisecond

// liveEncoder runs the SAE on the text being typed, off the UI thread:
// debounced, at most one run at a time, always ending on the newest text.
type liveEncoder struct {
	v     *View
	delay time.Duration
	// onResult is called on the UI thread with the text run, its
	// activations (nil on error), and when the newest keystroke of that
	// text was typed.
	onResult func(text string, ta *workspace.TextActs, err error, typed time.Time)

	mu      sync.Mutex
	wg      sync.WaitGroup
	latest  string
	typed   time.Time
	timer   *time.Timer
	running bool
	done    string
	hasDone bool
}

func newLiveEncoder(v *View, onResult func(string, *workspace.TextActs, error, time.Time)) *liveEncoder {
	return &liveEncoder{v: v, delay: LiveDelay, onResult: onResult}
}

// Request asks for text to be run (UI thread).
func (l *liveEncoder) Request(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latest, l.typed = text, time.Now()
	if l.timer != nil && l.timer.Stop() {
		l.timer.Reset(l.delay)
		return
	}
	l.wg.Add(1)
	l.timer = time.AfterFunc(l.delay, l.fire)
}

// Rerun forgets the last result so that the current text runs again.
func (l *liveEncoder) Rerun() {
	l.mu.Lock()
	l.hasDone = false
	text := l.latest
	l.mu.Unlock()
	l.Request(text)
}

func (l *liveEncoder) fire() {
	l.mu.Lock()
	l.timer = nil
	if l.running {
		l.mu.Unlock()
		l.wg.Done() // the run in flight picks up the newest text
		return
	}
	l.running = true
	l.mu.Unlock()
	l.v.Jobs.Go(func(ctx context.Context) {
		defer l.wg.Done()
		l.run(ctx)
	})
}

func (l *liveEncoder) run(ctx context.Context) {
	for {
		l.mu.Lock()
		text, typed := l.latest, l.typed
		if (l.hasDone && text == l.done) || ctx.Err() != nil {
			l.running = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		ta, err := l.v.SAE.Encode(ctx, text)
		if errors.Is(err, context.Canceled) {
			l.mu.Lock()
			l.running = false
			l.mu.Unlock()
			return
		}
		l.mu.Lock()
		l.done, l.hasDone = text, true
		l.mu.Unlock()
		uiDo(func() { l.onResult(text, ta, err, typed) })
	}
}

// Settle waits until no run is pending or in flight and its results are
// shown (tests, measurements).
func (l *liveEncoder) Settle() {
	for {
		l.wg.Wait()
		if !settled() {
			return
		}
	}
}

// newLiveText returns a multi-line entry whose every change is sent to
// live (with the wrapping adapted to very long lines), the text box of the
// panes that encode typed text as it changes.
func newLiveText(live *liveEncoder, rows int, placeholder string) *textEntry {
	t := newTextEntry()
	t.SetMinRowsVisible(rows)
	t.SetPlaceHolder(placeholder)
	t.OnChanged = func(s string) {
		adaptWrap(&t.Entry, s)
		live.Request(s)
	}
	return t
}
