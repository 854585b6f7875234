package store

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNotKept is wrapped by the errors of queries that need every
// activation (Activation, FeatureValues, a features-per-token threshold
// off the grid) on a bounded store, which keeps summaries only.
var ErrNotKept = errors.New("not kept in a bounded store")

// Bounded reports whether s is a bounded store (format 3): summaries
// whose size depends on the number of features, not of tokens.
func (s *Store) Bounded() bool { return s.bounded }

// slotsPerFeature is the number of sample slots of a feature.
const slotsPerFeature = TopK + Intervals*PerInterval

// validateBounded is validate for a bounded store.
func (s *Store) validateBounded() error {
	m := s.Meta
	d := m.DSae
	seq := m.Params.SeqLen
	if d <= 0 || seq <= 0 || seq > 1<<16 || len(s.Tokens) != len(s.RowIDs)*seq {
		return fmt.Errorf("bad shape: d_sae %d, seq_len %d, %d tokens of %d rows", d, seq, len(s.Tokens), len(s.RowIDs))
	}
	for i := 1; i < len(s.RowIDs); i++ {
		if s.RowIDs[i] <= s.RowIDs[i-1] {
			return errors.New("row ids not increasing")
		}
	}
	for _, mm := range []Moments{s.Learnt, s.Random} {
		if len(mm.Count) != d || len(mm.Sum) != d || len(mm.SumSq) != d || len(mm.Max) != d {
			return errors.New("moment arrays of the wrong length")
		}
	}
	if len(s.TopTok) != d*TopK || len(s.TopVal) != d*TopK || len(s.TopN) != d {
		return errors.New("top arrays of the wrong length")
	}
	for f, n := range s.TopN {
		if n > TopK {
			return fmt.Errorf("feature %d: %d top entries", f, n)
		}
	}
	if len(s.IntTok) != d*Intervals*PerInterval || len(s.IntVal) != len(s.IntTok) || len(s.IntCount) != d*Intervals || len(s.Range) != d {
		return errors.New("interval arrays of the wrong length")
	}
	if len(s.Hist) != d*HistBins {
		return errors.New("histogram of the wrong length")
	}
	if len(s.SampPos) != len(s.SampVal) {
		return errors.New("sample arrays of different lengths")
	}
	if err := checkPtr("samp_ptr", s.SampPtr, d*slotsPerFeature, len(s.SampPos)); err != nil {
		return err
	}
	g := len(GridThresholds())
	if len(s.TokCounts) != g*(d+1) || len(s.RandCounts) != g*(d+1) {
		return errors.New("per-token counts of the wrong length")
	}
	if len(s.CoN) != d || len(s.CoID) != d*CoK || len(s.CoCorr) != d*CoK {
		return errors.New("co-activation arrays of the wrong length")
	}
	for f, n := range s.CoN {
		if n > CoK {
			return fmt.Errorf("feature %d: %d co-activations", f, n)
		}
	}
	for _, u := range [][]float32{s.UnembedEntropy, s.UnembedMaxProb, s.RandomUnembedEntropy, s.RandomUnembedMaxProb} {
		if len(u) != d && len(u) != 0 {
			return errors.New("unembedding arrays of the wrong length")
		}
	}
	return nil
}

// keptRow returns the index in RowIDs of the row of token tok, or -1.
func (s *Store) keptRow(tok uint32) int {
	r := tok / uint32(s.SeqLen())
	i, ok := slices.BinarySearch(s.RowIDs, r)
	if !ok {
		return -1
	}
	return i
}

func (s *Store) checkTopTokBounded() error {
	for f, n := range s.TopN {
		for _, t := range s.TopTok[f*TopK : f*TopK+int(n)] {
			if s.keptRow(t) < 0 {
				return errors.New("top token in a row not kept")
			}
		}
	}
	return nil
}

func (s *Store) checkIntTokBounded() error {
	for _, t := range s.IntTok {
		if t != NoToken && s.keptRow(t) < 0 {
			return errors.New("interval token in a row not kept")
		}
	}
	return nil
}

func (s *Store) checkSampPos() error {
	for _, p := range s.SampPos {
		if int(p) >= s.SeqLen() {
			return errors.New("sample position past the row")
		}
	}
	return nil
}

func (s *Store) checkCoID() error {
	for _, g := range s.CoID {
		if int(g) >= s.Meta.DSae {
			return errors.New("co-activating feature out of range")
		}
	}
	return nil
}

// boundedContext is context for sample slot of a bounded store.
func (s *Store) boundedContext(slot int, tok uint32, val float32, prefix, suffix int) Context {
	seq := s.SeqLen()
	row, pos := int(tok)/seq, int(tok)%seq
	start := pos - min(prefix, pos)
	end := pos + 1 + min(suffix, seq-pos-1)
	k := s.keptRow(tok) // ≥ 0: checked when the section was verified
	c := Context{Row: row, Pos: pos, Value: val, Start: start,
		Tokens: s.Tokens[k*seq+start : k*seq+end], Acts: make([]float32, end-start)}
	lo, hi := s.SampPtr[slot], s.SampPtr[slot+1]
	for i := lo; i < hi; i++ {
		if p := int(s.SampPos[i]); p >= start && p < end {
			c.Acts[p-start] = s.SampVal[i]
		}
	}
	return c
}

// boundedNeeds are the sections the context queries of a bounded store read.
var boundedNeeds = [...]string{secTokens, secSampPos, secSampVal}

// needContexts verifies the sections a bounded store's contexts read.
func (s *Store) needContexts(names ...string) error {
	if err := s.need(boundedNeeds[:]...); err != nil {
		return err
	}
	return s.need(names...)
}

// gridCounts expands the per-token counts of grid threshold t (learnt or
// random) into one count per token, in increasing order (a bounded store
// keeps how many tokens have each count, not which).
func gridCounts(hist []uint64, t, d int) []int {
	row := hist[t*(d+1) : (t+1)*(d+1)]
	total := uint64(0)
	for _, c := range row {
		total += c
	}
	out := make([]int, 0, total)
	for n, c := range row {
		for ; c > 0; c-- {
			out = append(out, n)
		}
	}
	return out
}

// offGrid is the error for a features-per-token threshold a bounded
// store has no counts for.
func offGrid(th float32) error {
	return fmt.Errorf("threshold %g: %w, which keeps the features-per-token counts at %v only", th, ErrNotKept, GridThresholds())
}

// boundedCoActivation is CoActivation for a bounded store.
func (s *Store) boundedCoActivation(f, k int) ([]Correlated, error) {
	if len(s.CoN) == 0 || s.Meta.DSae > CoMaxFeatures && s.Meta.Summary.CoPrefixTokens == 0 {
		return nil, fmt.Errorf("co-activations of feature %d: %w for an SAE of more than %d features by this store (made before they were; analyse again to get them)", f, ErrNotKept, CoMaxFeatures)
	}
	if err := s.need(secCoID, secCoCorr); err != nil {
		return nil, err
	}
	n := min(max(k, 0), int(s.CoN[f]))
	if n == 0 {
		return nil, nil
	}
	out := make([]Correlated, n)
	for i := range out {
		out[i] = Correlated{ID: int(s.CoID[f*CoK+i]), Correlation: s.CoCorr[f*CoK+i]}
	}
	return out, nil
}

// CoActivationNote says how a bounded store chose the co-activating
// features of an SAE wider than CoMaxFeatures (empty otherwise): the
// partners on the first tokens, the correlations over all of them.
func (s *Store) CoActivationNote() string {
	if !s.bounded || s.Meta.Summary.CoPrefixTokens == 0 {
		return ""
	}
	return fmt.Sprintf("the partners of this %d-feature SAE were chosen on the first %d tokens (%d per feature); their correlations are over all %d",
		s.Meta.DSae, s.Meta.Summary.CoPrefixTokens, CoCandidates, s.Meta.Summary.Tokens)
}
