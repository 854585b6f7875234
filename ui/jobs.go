package ui

import (
	"context"
	"sync"

	"github.com/saescope/saescope/compute/store"
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
