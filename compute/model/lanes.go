package model

import (
	"context"
	"fmt"
	"sync"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights/hookname"
)

// laneSet is a pass's blocks run in lanes (compute.Laner): each lane a
// pass of its own over a group of the batch's sequences, on row views of
// the pass's buffers and a backend whose ops run on its goroutine. The
// lanes meet at each hook the pass patches, observes or stops at: the last
// to arrive runs the hook on the whole batch, with every core, while the
// others wait.
type laneSet struct {
	whole *pass
	laner compute.Laner
	lanes []*pass

	mu      sync.Mutex
	cond    sync.Cond
	waiting int
	round   int
	// err ends every lane: the first lane's failure, or what the hook run
	// on the whole batch returned (errStopped included)
	err error
	// leave ends the backend's lane state (EnterLanes); nil while a hook
	// runs on the whole batch
	leave func()
}

// laneSeqs is the first sequence of lane i of n over batch sequences:
// groups of (nearly) equal size.
func laneSeqs(i, n, batch int) int { return i * batch / n }

// laneActs returns the views of the model's buffers a that each of n lanes
// works on (lane i: sequences laneSeqs(i) to laneSeqs(i+1) of batch, seq
// rows each), cached while a and the split repeat.
func (m *Model) laneActs(a *activations, n, batch, seq int) []*activations {
	if k := [3]int{n, batch, seq}; m.lanesOf == a && m.laneSplit == k {
		return m.laneViews
	}
	views := make([]*activations, n)
	for i := range views {
		views[i] = a.rowsView(m.be, laneSeqs(i, n, batch)*seq, laneSeqs(i+1, n, batch)*seq)
	}
	m.lanesOf, m.laneSplit, m.laneViews = a, [3]int{n, batch, seq}, views
	return views
}

// runLanes runs blocks first… of the model on p's batch in n lanes. It
// returns what the first failing lane or hook returned, errStopped when a
// hook ended the pass.
func (p *pass) runLanes(ctx context.Context, laner compute.Laner, first, n int) error {
	s := &laneSet{whole: p, laner: laner}
	s.cond.L = &s.mu
	views := p.m.laneActs(p.acts, n, p.batch, p.seq)
	for i, a := range views {
		lp := *p // the pass's hooks, stop, centring and state, on the lane's rows
		lp.onBackend(laner.Lane())
		lp.acts, lp.batch, lp.lanes = a, laneSeqs(i+1, n, p.batch)-laneSeqs(i, n, p.batch), s
		s.lanes = append(s.lanes, &lp)
	}
	s.leave = laner.EnterLanes()
	var wg sync.WaitGroup
	for _, lp := range s.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.fail(lp.runBlocks(ctx, first))
		}()
	}
	wg.Wait()
	if s.leave != nil {
		s.leave()
	}
	return s.err
}

// failed returns the error that ends every lane, if any yet.
func (s *laneSet) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// fail records err (when not nil and the first) and wakes the lanes that
// wait at a hook.
func (s *laneSet) fail(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
	s.cond.Broadcast()
}

// visit is lane p's arrival at hook h, whose activation is act (a view
// of one of the whole pass's buffers): it waits for the other lanes, the
// last of which runs the hook on the whole batch.
func (s *laneSet) visit(p *pass, h hookname.Hook, act compute.Tensor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.waiting++
	if s.waiting < len(s.lanes) {
		for r := s.round; s.round == r && s.err == nil; {
			s.cond.Wait()
		}
		return s.err
	}
	whole := p.acts.counterpart(act, s.whole.acts)
	if whole == nil {
		// a hook on a buffer the lanes do not view: a defect of block
		s.err = fmt.Errorf("model: hook %s in lanes on a buffer of no lane view", h)
	} else {
		s.leave()
		s.leave = nil
		err := s.wholeVisit(h, whole)
		s.leave = s.laner.EnterLanes()
		if err != nil && s.err == nil {
			s.err = err
		}
	}
	s.waiting = 0
	s.round++
	s.cond.Broadcast()
	return s.err
}

// wholeVisit runs the hook on the whole batch, a panic of the backend or of
// the hook's code turned into an error.
func (s *laneSet) wholeVisit(h hookname.Hook, act compute.Tensor) (err error) {
	defer compute.RecoverBackend(s.whole.be, &err)
	return s.whole.visit(h, act)
}
