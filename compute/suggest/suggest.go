// Package suggest proposes a label for each feature of an analysis: the
// few tokens that carry most of its activation mass, with how precisely
// and how completely the feature picks them out ("fires on ·the, ·a —
// 81% of its mass").
//
// The numbers come from what a store keeps of every feature, full or
// bounded: the whole corpus rows of its strongest activations and of its
// interval samples (store.TopContexts, store.IntervalSamples). Over the
// counted positions of those rows:
//
//   - Share: the activation on the chosen tokens over all the activation;
//   - Precision: the positions where the feature fires that hold a chosen
//     token, over all the positions where it fires;
//   - Recall: the positions holding a chosen token where the feature
//     fires, over all the positions holding one.
//
// Rows chosen for their strong activations make the recall an upper
// bound of the corpus' (the text around a strong activation is more
// likely to fire again); Rows says how many rows the numbers are from.
package suggest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/saescope/saescope/compute/store"
)

// MaxTokens is the most tokens a suggestion names.
const MaxTokens = 3

// Enough is the share of the mass at which no further token is named.
const Enough = 0.5

// minShare is the least share of the mass a token must carry to be named
// after the first.
const minShare = 0.05

// Suggestion is a feature's proposed label.
type Suggestion struct {
	Feature   int     `json:"feature"`
	Tokens    []int   `json:"tokens"` // strongest first; empty for a dead feature
	Share     float64 `json:"share"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	Rows      int     `json:"rows"`
}

// ForFeature computes feature f's suggestion from st.
func ForFeature(st *store.Store, f int) (Suggestion, error) {
	return new(Suggester).ForFeature(st, f)
}

// Suggester computes suggestions one feature after another, reusing its
// tallies (one slot a vocabulary id): for every feature of a store, one
// Suggester is several times faster than ForFeature. It is not safe for
// concurrent use.
type Suggester struct {
	mass       []float64
	occ, fires []int32
	touched    []int32 // the ids tallied for the feature in progress
	rows       map[int]bool
}

// tally counts one position holding token id, where the feature is a.
func (g *Suggester) tally(id int32, a float32) {
	if id < 0 {
		return
	}
	if int(id) >= len(g.occ) {
		n := max(int(id)+1, 2*len(g.occ), 50257)
		g.mass = append(g.mass, make([]float64, n-len(g.mass))...)
		g.occ = append(g.occ, make([]int32, n-len(g.occ))...)
		g.fires = append(g.fires, make([]int32, n-len(g.fires))...)
	}
	if g.occ[id] == 0 {
		g.touched = append(g.touched, id)
	}
	g.occ[id]++
	if a > 0 {
		g.mass[id] += float64(a)
		g.fires[id]++
	}
}

// reset clears the tallies of the ids touched.
func (g *Suggester) reset() {
	for _, id := range g.touched {
		g.mass[id], g.occ[id], g.fires[id] = 0, 0, 0
	}
	g.touched = g.touched[:0]
	clear(g.rows)
}

// ForFeature computes feature f's suggestion from st.
func (g *Suggester) ForFeature(st *store.Store, f int) (Suggestion, error) {
	s := Suggestion{Feature: f}
	if err := st.CheckFeature(f); err != nil {
		return s, err
	}
	seq := st.SeqLen()
	if seq < 1 {
		return s, fmt.Errorf("suggest feature %d: the store has rows of %d tokens", f, seq)
	}
	top, err := st.TopContexts(f, store.TopK, seq, seq)
	if err != nil {
		return s, fmt.Errorf("suggest feature %d: %w", f, err)
	}
	groups, err := st.IntervalSamples(f, seq, seq)
	if err != nil {
		return s, fmt.Errorf("suggest feature %d: %w", f, err)
	}
	ctxs := top
	for _, g := range groups {
		ctxs = append(ctxs, g.Contexts...)
	}
	// position 0 is BOS, not text, unless the rows have none
	first := 1
	if st.Meta.Params.NoBOS {
		first = 0
	}
	if g.rows == nil {
		g.rows = map[int]bool{}
	}
	defer g.reset()
	var mass float64
	var fires int
	for _, c := range ctxs {
		if g.rows[c.Row] {
			continue
		}
		g.rows[c.Row] = true
		for i, id := range c.Tokens {
			if c.Start+i < first {
				continue
			}
			a := c.Acts[i]
			g.tally(id, a)
			if a > 0 {
				mass += float64(a)
				fires++
			}
		}
	}
	s.Rows = len(g.rows)
	if mass == 0 {
		return s, nil // dead, or no kept row
	}
	// the MaxTokens ids of most mass (ties to the smaller id)
	var ids []int32
	for _, id := range g.touched {
		if g.mass[id] == 0 {
			continue
		}
		i := sort.Search(len(ids), func(k int) bool {
			return g.mass[ids[k]] < g.mass[id] || g.mass[ids[k]] == g.mass[id] && ids[k] > id
		})
		if i < MaxTokens {
			ids = append(ids, 0)
			copy(ids[i+1:], ids[i:])
			ids[i] = id
			ids = ids[:min(len(ids), MaxTokens)]
		}
	}
	var chosenMass float64
	var chosenFires, chosenOcc int
	for _, id := range ids {
		m := g.mass[id]
		if chosenMass >= Enough*mass || (len(s.Tokens) > 0 && m < minShare*mass) {
			break
		}
		s.Tokens = append(s.Tokens, int(id))
		chosenMass += m
		chosenFires += int(g.fires[id])
		chosenOcc += int(g.occ[id])
	}
	s.Share = chosenMass / mass
	s.Precision = float64(chosenFires) / float64(fires)
	s.Recall = float64(chosenFires) / float64(chosenOcc)
	return s, nil
}

// Text is the suggestion as the Label column shows it, display giving
// each token's text: "fires on ·the, ·a — 81% of its mass (precision
// 78%, recall 64%)"; "" for a dead feature.
func (s Suggestion) Text(display func(id int) string) string {
	if len(s.Tokens) == 0 {
		return ""
	}
	names := make([]string, len(s.Tokens))
	for i, id := range s.Tokens {
		names[i] = display(id)
	}
	return fmt.Sprintf("fires on %s — %s of its mass (precision %s, recall %s)",
		strings.Join(names, ", "), percent(s.Share), percent(s.Precision), percent(s.Recall))
}

// Short is the suggestion in a table cell: "·the, ·a (81% of its mass)";
// "" for a dead feature.
func (s Suggestion) Short(display func(id int) string) string {
	if len(s.Tokens) == 0 {
		return ""
	}
	names := make([]string, len(s.Tokens))
	for i, id := range s.Tokens {
		names[i] = display(id)
	}
	return fmt.Sprintf("%s (%s of its mass)", strings.Join(names, ", "), percent(s.Share))
}

func percent(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }
