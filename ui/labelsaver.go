package ui

import (
	"errors"
	"slices"
	"sync"

	"github.com/saescope/saescope/ui/labels"
)

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
