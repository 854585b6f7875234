package ui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/suggest"
)

// suggestBatch is how long the background computation of suggested
// labels runs between two notices to the panes.
const suggestBatch = 250 * time.Millisecond

// suggestions are the suggested labels of a view's store (compute/suggest),
// computed for every feature in the background once the store is shown,
// shown greyed in the Label column of a feature with no label, and found
// by the label search.
type suggestions struct {
	mu    sync.Mutex
	st    *store.Store
	text  []string // per feature; "" until computed, or for a dead feature
	short []string // the same, short (suggest.Suggestion.Short)
	lower []string // the tokens named, in lower case, for the search
	done  int      // features computed
	gen   int      // bumped when the store changes: an older run stops

	onReady []func() // UI thread
}

// startSuggestions computes st's suggested labels in the background (nil:
// forget them).
func (v *View) startSuggestions(st *store.Store) {
	s := &v.suggest
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.st, s.done = st, 0
	s.text, s.short, s.lower = nil, nil, nil
	if st != nil {
		s.text, s.short, s.lower = make([]string, st.DSae()), make([]string, st.DSae()), make([]string, st.DSae())
	}
	s.mu.Unlock()
	if st == nil || v.Jobs == nil {
		return
	}
	tok := v.Tok
	v.Jobs.Go(func(ctx context.Context) {
		last := time.Now()
		g := new(suggest.Suggester) // its tallies reused for every feature
		notify := func() {
			uiDo(func() {
				for _, fn := range s.onReady {
					fn()
				}
			})
		}
		for f := 0; f < st.DSae(); f++ {
			if ctx.Err() != nil {
				return
			}
			sg, err := g.ForFeature(st, f)
			text, short, names := "", "", ""
			if err == nil {
				text, short = sg.Text(tok.InlineString), sg.Short(tok.InlineString)
				for _, id := range sg.Tokens {
					// "\x00" between names: a search does not match across two
					names += strings.ToLower(tok.InlineString(id)) + "\x00"
				}
			}
			s.mu.Lock()
			if s.gen != gen {
				s.mu.Unlock()
				return
			}
			s.text[f], s.short[f], s.lower[f] = text, short, names
			s.done = f + 1
			s.mu.Unlock()
			if time.Since(last) > suggestBatch {
				last = time.Now()
				notify()
			}
		}
		notify()
	})
}

// Suggested returns feature f's suggested label ("" before it is
// computed, for a dead feature, or without a store).
func (v *View) Suggested(f int) string {
	s := &v.suggest
	s.mu.Lock()
	defer s.mu.Unlock()
	if f < 0 || f >= len(s.text) {
		return ""
	}
	return s.text[f]
}

// SuggestedShort is Suggested for a table cell: the tokens and their
// share of the mass.
func (v *View) SuggestedShort(f int) string {
	s := &v.suggest
	s.mu.Lock()
	defer s.mu.Unlock()
	if f < 0 || f >= len(s.short) {
		return ""
	}
	return s.short[f]
}

// SuggestionsDone says how many features' suggested labels are computed,
// of how many.
func (v *View) SuggestionsDone() (done, total int) {
	s := &v.suggest
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done, len(s.text)
}

// OnSuggestions adds a listener of newly computed suggested labels (UI
// thread).
func (v *View) OnSuggestions(fn func()) { v.suggest.onReady = append(v.suggest.onReady, fn) }

// findSuggested returns the features without a label one of whose
// suggested tokens contains q (ignoring case): searching "the" finds the
// features suggested as "·the", not every suggestion's "fires on".
func (v *View) findSuggested(q string) []int {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return nil
	}
	s := &v.suggest
	s.mu.Lock()
	var out []int
	for f, t := range s.lower {
		if t != "" && strings.Contains(t, q) {
			out = append(out, f)
		}
	}
	s.mu.Unlock()
	return slices.DeleteFunc(out, func(f int) bool { return v.Label(f) != "" })
}
