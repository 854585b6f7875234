package ui

import (
	"context"
	"sync"
)

// latest runs requests off the UI thread, the newest winning: one run at
// a time; a request made while one runs replaces any request still
// waiting, so a burst of changes (keystrokes in a threshold field, a
// window being resized) costs at most two runs and always ends on the
// last. A run returns the UI-thread part of its result (nil for none),
// which is applied unless Drop was called after its request.
type latest[T any] struct {
	jobs *Jobs
	run  func(ctx context.Context, req T) func()

	mu      sync.Mutex
	wg      sync.WaitGroup
	next    T
	has     bool
	running bool
	seq     uint64 // requests made
	cut     uint64 // results of requests up to cut are dropped
}

func newLatest[T any](jobs *Jobs, run func(ctx context.Context, req T) func()) *latest[T] {
	return &latest[T]{jobs: jobs, run: run}
}

// Request asks for req to run (any goroutine).
func (l *latest[T]) Request(req T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.next, l.has = req, true
	if l.running {
		return
	}
	l.running = true
	l.wg.Add(1)
	l.jobs.Go(l.loop)
}

// Drop forgets the requests made so far: a run in flight finishes but
// its result is not applied.
func (l *latest[T]) Drop() {
	l.mu.Lock()
	l.cut = l.seq
	l.has = false
	l.mu.Unlock()
}

func (l *latest[T]) loop(ctx context.Context) {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		if !l.has || ctx.Err() != nil {
			l.running = false
			l.mu.Unlock()
			return
		}
		req, seq := l.next, l.seq
		var zero T
		l.next, l.has = zero, false
		l.mu.Unlock()
		apply := l.run(ctx, req)
		if apply == nil {
			continue
		}
		uiDo(func() {
			l.mu.Lock()
			dropped := seq <= l.cut
			l.mu.Unlock()
			if !dropped {
				apply()
			}
		})
	}
}

// Settle waits until no run is pending or in flight and its results are
// applied (tests, measurements).
func (l *latest[T]) Settle() {
	for {
		l.wg.Wait()
		if !settled() {
			return
		}
	}
}
