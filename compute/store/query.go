package store

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/saescope/saescope/weights"
)

// FeatureStats are one feature's summary numbers over the counted tokens.
type FeatureStats struct {
	ID        int     `json:"id"`
	Count     int     `json:"count"`     // tokens where it fires (> 0)
	Frequency float64 `json:"frequency"` // Count / tokens
	Mean      float64 `json:"mean"`      // mean activation over all tokens (zeros included)
	Std       float64 `json:"std"`       // population standard deviation over all tokens
	CV        float64 `json:"cv"`        // Std / Mean (σ/μ); NaN for a dead feature
	Max       float64 `json:"max"`
	Dead      bool    `json:"dead"`
}

func (m Moments) stats(f, n int) FeatureStats {
	st := FeatureStats{ID: f, Count: int(m.Count[f]), Max: float64(m.Max[f]), Dead: m.Count[f] == 0}
	if n > 0 {
		N := float64(n)
		st.Frequency = float64(m.Count[f]) / N
		st.Mean = m.Sum[f] / N
		v := m.SumSq[f]/N - st.Mean*st.Mean
		if v < 0 {
			v = 0
		}
		st.Std = math.Sqrt(v)
	}
	st.CV = math.NaN()
	if st.Mean > 0 {
		st.CV = st.Std / st.Mean
	}
	return st
}

// Stats returns feature f's statistics (learnt SAE).
func (s *Store) Stats(f int) (FeatureStats, error) {
	if err := s.CheckFeature(f); err != nil {
		return FeatureStats{}, err
	}
	return s.Learnt.stats(f, s.Meta.Summary.Tokens), nil
}

// RandomStats returns random-baseline feature f's statistics.
func (s *Store) RandomStats(f int) (FeatureStats, error) {
	if err := s.CheckFeature(f); err != nil {
		return FeatureStats{}, err
	}
	return s.Random.stats(f, s.Meta.Summary.RandomTokens), nil
}

// AllStats returns every feature's statistics, by id.
func (s *Store) AllStats() []FeatureStats {
	out := make([]FeatureStats, s.DSae())
	for f := range out {
		out[f] = s.Learnt.stats(f, s.Meta.Summary.Tokens)
	}
	return out
}

// Metric names a ranking key.
type Metric string

// The ranking keys.
const (
	ByMean      Metric = "mean"
	ByCV        Metric = "cv"
	ByFrequency Metric = "frequency"
	ByMax       Metric = "max"
	ByID        Metric = "id"
)

// ParseMetric reads a metric name.
func ParseMetric(name string) (Metric, error) {
	switch m := Metric(strings.ToLower(name)); m {
	case ByMean, ByCV, ByFrequency, ByMax, ByID:
		return m, nil
	case "freq":
		return ByFrequency, nil
	case "sigma_over_mu", "std/mean":
		return ByCV, nil
	}
	return "", fmt.Errorf("unknown ranking %q (mean, cv, frequency, max, id)", name)
}

func (st FeatureStats) key(m Metric) float64 {
	switch m {
	case ByMean:
		return st.Mean
	case ByCV:
		return st.CV
	case ByFrequency:
		return st.Frequency
	case ByMax:
		return st.Max
	}
	return float64(st.ID)
}

// Ranking is the order of the live features under a metric, and the dead
// features apart (never ranked above a live one).
type Ranking struct {
	Metric     Metric         `json:"metric"`
	Descending bool           `json:"descending"`
	Live       []FeatureStats `json:"live"`
	Dead       []int          `json:"dead"`
}

// Rank orders the features by m (largest first when descending), ties
// broken by id.
func (s *Store) Rank(m Metric, descending bool) Ranking {
	all := s.AllStats()
	r := Ranking{Metric: m, Descending: descending}
	for _, st := range all {
		if st.Dead {
			r.Dead = append(r.Dead, st.ID)
		} else {
			r.Live = append(r.Live, st)
		}
	}
	sort.SliceStable(r.Live, func(i, j int) bool {
		a, b := r.Live[i].key(m), r.Live[j].key(m)
		if a == b || math.IsNaN(a) && math.IsNaN(b) {
			return r.Live[i].ID < r.Live[j].ID
		}
		if descending {
			return a > b
		}
		return a < b
	})
	return r
}

// Slice returns ranks [lo, hi) of the live features (0-based), clipped.
func (r Ranking) Slice(lo, hi int) ([]FeatureStats, error) {
	if lo < 0 || hi < lo {
		return nil, fmt.Errorf("rank range %d–%d is empty or negative", lo, hi)
	}
	if lo >= len(r.Live) {
		return nil, fmt.Errorf("rank %d is past the %d live features", lo, len(r.Live))
	}
	return r.Live[lo:min(hi, len(r.Live))], nil
}

// Context is a window of tokens around one activation of a feature.
type Context struct {
	Row    int       `json:"row"`
	Pos    int       `json:"pos"`    // position of the activating token in its row
	Value  float32   `json:"value"`  // the activation there
	Start  int       `json:"start"`  // position of Tokens[0] in the row
	Tokens []int32   `json:"tokens"` // the window
	Acts   []float32 `json:"acts"`   // the feature's activation at each token of the window
}

// Target returns the index of the activating token inside Tokens.
func (c Context) Target() int { return c.Pos - c.Start }

func (s *Store) context(f int, tok uint32, val float32, prefix, suffix int) Context {
	seq := s.SeqLen()
	row, pos := int(tok)/seq, int(tok)%seq
	start := pos - min(prefix, pos) // no overflow for any window size
	end := pos + 1 + min(suffix, seq-pos-1)
	c := Context{Row: row, Pos: pos, Value: val, Start: start,
		Tokens: s.Tokens[row*seq+start : row*seq+end], Acts: make([]float32, end-start)}
	for p := start; p < end; p++ {
		c.Acts[p-start] = s.activation(f, row*seq+p)
	}
	return c
}

// checkWindow refuses a negative window; a window longer than a row is
// cut at the row's ends.
func checkWindow(prefix, suffix int) error {
	if prefix < 0 || suffix < 0 {
		return fmt.Errorf("contexts: negative window (%d tokens before, %d after)", prefix, suffix)
	}
	return nil
}

// TopContexts returns feature f's k strongest activations (k ≤ TopK) with
// prefix tokens before and suffix tokens after each.
func (s *Store) TopContexts(f, k, prefix, suffix int) ([]Context, error) {
	if err := s.CheckFeature(f); err != nil {
		return nil, err
	}
	if k < 0 {
		return nil, fmt.Errorf("contexts: negative count %d", k)
	}
	if err := checkWindow(prefix, suffix); err != nil {
		return nil, err
	}
	if s.bounded {
		if err := s.needContexts(secTopTok, secTopVal); err != nil {
			return nil, err
		}
	} else if err := s.need(secTopTok, secTopVal, secTokFeat, secTokVal); err != nil {
		return nil, err
	}
	n := min(k, int(s.TopN[f]))
	out := make([]Context, n)
	for i := 0; i < n; i++ {
		if s.bounded {
			out[i] = s.boundedContext(f*slotsPerFeature+i, s.TopTok[f*TopK+i], s.TopVal[f*TopK+i], prefix, suffix)
			continue
		}
		out[i] = s.context(f, s.TopTok[f*TopK+i], s.TopVal[f*TopK+i], prefix, suffix)
	}
	return out, nil
}

// IntervalGroup is the samples of one activation interval.
type IntervalGroup struct {
	Lo       float32   `json:"lo"`
	Hi       float32   `json:"hi"`
	Contexts []Context `json:"contexts"`
}

// IntervalSamples returns feature f's examples from each of the Intervals
// equal activation intervals of (0, max], highest interval first. A
// bounded store's intervals split (0, Range[f]], which is the max for a
// corpus of up to ExactTokens tokens, and otherwise the range its bins
// had to double to while streaming (less than twice the max).
func (s *Store) IntervalSamples(f, prefix, suffix int) ([]IntervalGroup, error) {
	if err := s.CheckFeature(f); err != nil {
		return nil, err
	}
	if err := checkWindow(prefix, suffix); err != nil {
		return nil, err
	}
	mx := s.Learnt.Max[f]
	if s.bounded {
		if err := s.needContexts(secIntTok, secIntVal); err != nil {
			return nil, err
		}
		mx = s.Range[f]
	} else if err := s.need(secIntTok, secIntVal, secTokFeat, secTokVal); err != nil {
		return nil, err
	}
	var out []IntervalGroup
	for iv := Intervals - 1; iv >= 0; iv-- {
		g := IntervalGroup{Lo: mx * float32(iv) / Intervals, Hi: mx * float32(iv+1) / Intervals}
		for k := 0; k < PerInterval; k++ {
			o := (f*Intervals+iv)*PerInterval + k
			if s.IntTok[o] == NoToken {
				break
			}
			if s.bounded {
				slot := f*slotsPerFeature + TopK + iv*PerInterval + k
				g.Contexts = append(g.Contexts, s.boundedContext(slot, s.IntTok[o], s.IntVal[o], prefix, suffix))
				continue
			}
			g.Contexts = append(g.Contexts, s.context(f, s.IntTok[o], s.IntVal[o], prefix, suffix))
		}
		out = append(out, g)
	}
	return out, nil
}

// TokenCounts returns, for each counted token, how many learnt features
// exceed threshold there; nil when the sparse activations of an opened
// store are damaged (Distribution says so). A bounded store gives them in
// increasing order, and nil for a threshold off GridThresholds.
func (s *Store) TokenCounts(threshold float32) []int {
	if s.bounded {
		if t := gridIndex(threshold); t >= 0 {
			return gridCounts(s.TokCounts, t, s.DSae())
		}
		return nil
	}
	if s.need(secTokVal) != nil {
		return nil
	}
	return s.tokenCounts(threshold)
}

func (s *Store) tokenCounts(threshold float32) []int {
	seq := s.SeqLen()
	// position 0 is BOS, left out unless counted; rows scanned without
	// BOS (NoBOS) start with text, counted like any token
	include := s.Meta.Params.IncludeBOS || s.Meta.Params.NoBOS
	var out []int
	for tok := 0; tok+1 < len(s.TokPtr); tok++ {
		if tok%seq == 0 && !include {
			continue
		}
		n := 0
		for _, v := range s.TokVal[s.TokPtr[tok]:s.TokPtr[tok+1]] {
			if v > threshold {
				n++
			}
		}
		out = append(out, n)
	}
	return out
}

// RandomTokenCounts is TokenCounts for the random baseline's tokens.
func (s *Store) RandomTokenCounts(threshold float32) []int {
	if s.bounded {
		if t := gridIndex(threshold); t >= 0 {
			return gridCounts(s.RandCounts, t, s.DSae())
		}
		return nil
	}
	if s.need(secRandVal) != nil {
		return nil
	}
	return s.randomTokenCounts(threshold)
}

func (s *Store) randomTokenCounts(threshold float32) []int {
	out := make([]int, len(s.RandTok))
	for j := range s.RandTok {
		vals := s.RandVal[s.RandPtr[j]:s.RandPtr[j+1]] // decreasing
		out[j] = sort.Search(len(vals), func(i int) bool { return weights.HalfToFloat32(vals[i]) <= threshold })
	}
	return out
}

// Correlated is a feature with its correlation to another.
type Correlated struct {
	ID          int     `json:"id"`
	Correlation float64 `json:"correlation"`
}

// CoActivation returns the k features whose activations correlate most
// (Pearson, over the counted tokens, zeros included) with feature f's. A
// bounded store keeps the CoK strongest (none for an SAE wider than
// CoMaxFeatures: the returned error wraps ErrNotKept).
func (s *Store) CoActivation(f, k int) ([]Correlated, error) {
	if err := s.CheckFeature(f); err != nil {
		return nil, err
	}
	if s.bounded {
		return s.boundedCoActivation(f, k)
	}
	d := s.DSae()
	n := float64(s.Meta.Summary.Tokens)
	if n == 0 || s.Learnt.Count[f] == 0 {
		return nil, nil
	}
	if err := s.need(secFeatTok, secFeatVal, secTokFeat, secTokVal); err != nil {
		return nil, err
	}
	cross := make([]float64, d)
	for i := s.FeatPtr[f]; i < s.FeatPtr[f+1]; i++ {
		tok := s.FeatTok[i]
		v := float64(s.FeatVal[i])
		for j := s.TokPtr[tok]; j < s.TokPtr[tok+1]; j++ {
			cross[s.TokFeat[j]] += v * float64(s.TokVal[j])
		}
	}
	sf := s.Learnt.stats(f, int(n))
	var out []Correlated
	for g := 0; g < d; g++ {
		if g == f || cross[g] == 0 {
			continue
		}
		sg := s.Learnt.stats(g, int(n))
		if sg.Std == 0 || sf.Std == 0 {
			continue
		}
		c := (cross[g]/n - sf.Mean*sg.Mean) / (sf.Std * sg.Std)
		out = append(out, Correlated{ID: g, Correlation: c})
	}
	sortCorrelated(out)
	if len(out) > k {
		out = out[:k]
	}
	return out, nil
}

// Histogram returns feature f's activation histogram: bin edges (HistBins+1
// values over (0, max]) and counts.
func (s *Store) Histogram(f int) (edges []float64, counts []int, err error) {
	if err := s.CheckFeature(f); err != nil {
		return nil, nil, err
	}
	if err := s.need(secHist); err != nil {
		return nil, nil, err
	}
	mx := float64(s.Learnt.Max[f])
	if s.bounded {
		mx = float64(s.Range[f])
	}
	edges = make([]float64, HistBins+1)
	for i := range edges {
		edges[i] = mx * float64(i) / HistBins
	}
	counts = make([]int, HistBins)
	for b := range counts {
		counts[b] = int(s.Hist[f*HistBins+b])
	}
	return edges, counts, nil
}
