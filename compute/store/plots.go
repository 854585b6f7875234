package store

import (
	"errors"
	"fmt"
	"math"
)

// PlotKind names one of the notebook's learnt-vs-random distributions.
type PlotKind string

// The distributions.
const (
	PlotFeaturesPerToken PlotKind = "features_per_token" // features above a threshold, per token
	PlotFrequency        PlotKind = "frequency"          // activation frequency per feature
	PlotMean             PlotKind = "mean"               // average activation per feature
	PlotUnembedEntropy   PlotKind = "unembed_entropy"    // entropy (bits) of each direction's unembedding
	PlotUnembedMaxProb   PlotKind = "unembed_maxprob"    // max probability of each direction's unembedding
)

// PlotKinds lists every kind.
var PlotKinds = []PlotKind{PlotFeaturesPerToken, PlotFrequency, PlotMean, PlotUnembedEntropy, PlotUnembedMaxProb}

// Series is a distribution of the learnt SAE and of the random baseline.
type Series struct {
	Kind      PlotKind  `json:"kind"`
	Threshold float32   `json:"threshold,omitempty"`
	Learnt    []float64 `json:"-"`
	Random    []float64 `json:"-"`
	Unit      string    `json:"unit"` // what one sample is: "token" or "feature"
}

// CheckThreshold returns an error unless t can be the activation threshold
// of PlotFeaturesPerToken: a number from 0 to the largest float32
// (activations are float32 and never negative; NaN and ±Inf are refused
// here, once, for every command and pane).
func CheckThreshold(t float64) error {
	switch {
	case math.IsNaN(t):
		return errors.New("the threshold is not a number")
	case t < 0 || t > math.MaxFloat32:
		return fmt.Errorf("threshold %g: it must be a number from 0 to %g (features above it are counted; activations are never negative)", t, math.MaxFloat32)
	}
	return nil
}

// Distribution returns the samples of a plot kind (threshold is used by
// PlotFeaturesPerToken only, and checked by CheckThreshold). Dead
// features are included in per-feature kinds, as the notebook's
// histograms did.
func (s *Store) Distribution(kind PlotKind, threshold float32) (*Series, error) {
	ser := &Series{Kind: kind, Unit: "feature"}
	d := s.DSae()
	switch kind {
	case PlotFeaturesPerToken:
		if err := CheckThreshold(float64(threshold)); err != nil {
			return nil, err
		}
		ser.Unit, ser.Threshold = "token", threshold
		var learnt, random []int
		if s.bounded {
			t := gridIndex(threshold)
			if t < 0 {
				return nil, offGrid(threshold)
			}
			learnt, random = gridCounts(s.TokCounts, t, d), gridCounts(s.RandCounts, t, d)
		} else {
			if err := s.need(secTokVal, secRandVal); err != nil {
				return nil, err
			}
			learnt, random = s.tokenCounts(threshold), s.randomTokenCounts(threshold)
		}
		for _, c := range learnt {
			ser.Learnt = append(ser.Learnt, float64(c))
		}
		for _, c := range random {
			ser.Random = append(ser.Random, float64(c))
		}
	case PlotFrequency, PlotMean:
		ser.Learnt, ser.Random = make([]float64, d), make([]float64, d)
		for f := 0; f < d; f++ {
			a := s.Learnt.stats(f, s.Meta.Summary.Tokens)
			b := s.Random.stats(f, s.Meta.Summary.RandomTokens)
			if kind == PlotFrequency {
				ser.Learnt[f], ser.Random[f] = a.Frequency, b.Frequency
			} else {
				ser.Learnt[f], ser.Random[f] = a.Mean, b.Mean
			}
		}
	case PlotUnembedEntropy, PlotUnembedMaxProb:
		a, b := s.UnembedEntropy, s.RandomUnembedEntropy
		if kind == PlotUnembedMaxProb {
			a, b = s.UnembedMaxProb, s.RandomUnembedMaxProb
		}
		if len(a) == 0 {
			return nil, fmt.Errorf("no unembedding statistics: the SAE's hook %s is not in the residual stream's width", s.Meta.Hook)
		}
		for i := range a {
			ser.Learnt = append(ser.Learnt, float64(a[i]))
			ser.Random = append(ser.Random, float64(b[i]))
		}
	default:
		return nil, fmt.Errorf("unknown plot %q (features_per_token, frequency, mean, unembed_entropy, unembed_maxprob)", kind)
	}
	return ser, nil
}

// Binned is a pair of histograms over shared bins.
type Binned struct {
	Edges  []float64 `json:"edges"` // len(bins)+1
	Learnt []int     `json:"learnt"`
	Random []int     `json:"random"`
}

// Bin counts both series over bins equal bins of [lo, hi]; with lo == hi
// the range covers both series. Values outside the range fall in the end
// bins, so that the counts always sum to the number of samples.
func (ser *Series) Bin(bins int, lo, hi float64) Binned {
	if bins <= 0 {
		bins = 50
	}
	if lo == hi {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range append(append([]float64(nil), ser.Learnt...), ser.Random...) {
			if math.IsNaN(v) {
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if math.IsInf(lo, 1) {
			lo, hi = 0, 1
		}
		if hi == lo {
			hi = lo + 1
		}
	}
	b := Binned{Edges: make([]float64, bins+1), Learnt: make([]int, bins), Random: make([]int, bins)}
	for i := range b.Edges {
		b.Edges[i] = lo + (hi-lo)*float64(i)/float64(bins)
	}
	put := func(counts []int, vals []float64) {
		for _, v := range vals {
			i := int((v - lo) / (hi - lo) * float64(bins))
			if math.IsNaN(v) {
				i = 0
			}
			counts[max(0, min(bins-1, i))]++
		}
	}
	put(b.Learnt, ser.Learnt)
	put(b.Random, ser.Random)
	return b
}
