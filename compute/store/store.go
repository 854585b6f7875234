// Package store holds the result of scanning a corpus with a model and an
// SAE, written once, atomically, to a single file that is memory-mapped
// when reopened (a finished analysis opens instantly; every section
// carries a checksum, checked on open or on first use), and answers the
// queries of the panes: ranking, contexts, interval samples, histograms,
// co-activation, the learnt-versus-random distributions.
//
// # Two layouts
//
// A full store (format 2, NewBuilder) keeps the token rows and every
// non-zero activation, by token and by feature, and derives everything
// from them: its size grows with the corpus (~0.26 MB per 128-token row
// at L0 ≈ 59). A bounded store (format 3, NewBoundedBuilder, what analyze
// writes) keeps streaming summaries whose size depends on the number of
// features, not of tokens; both open, and answer the same queries (those
// that need every activation, Activation and FeatureValues, say
// ErrNotKept on a bounded store).
//
// # What a bounded store keeps, per feature
//
//   - Moments: count of tokens where it fires, Σv, Σv² (float64, token
//     order) and max: frequency, mean and σ/μ over all counted tokens.
//   - The TopK (100) strongest activations (ties to the earlier token),
//     exact while streaming (a weakest-entry replacement).
//   - Interval samples: Intervals (10) equal intervals of (0, R], as
//     sae_vis' "quantile groups" are (its n_quantiles groups cut
//     torch.linspace(0, max, n_quantiles+1) and draw random activations
//     in each; Neuronpedia's dashboards come from sae_dashboard, sae_vis'
//     successor, with the same groups: equal fractions of the max, not
//     quantiles of the distribution), with
//     PerInterval (5) samples each, drawn by reservoir sampling (Algorithm
//     R, a generator per feature seeded by Params.SampleSeed), so that the
//     sample is uniform within its interval whatever the corpus length.
//   - An activation-density histogram of HistBins (32) bins of (0, R].
//   - For every kept sample (top or interval), the feature's activations
//     in the sample's whole row, and the rows' tokens (each kept row once):
//     contexts of any window up to a row answer exactly.
//   - The CoK (100) features whose activations correlate most with it
//     (Pearson over the counted tokens, zeros included: the "fires with"
//     table), from exact cross sums Σ f·g accumulated in token order over
//     the upper triangle (8·d²/2 bytes while scanning; SAEs wider than
//     CoMaxFeatures keep none).
//
// and per token, learnt and random alike: how many tokens have n features
// above each threshold of GridThresholds (0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5
// and 10: the notebook's 0.1, 0.2, 0.5 and 2.0 among them), and the
// random baseline's moments.
//
// # Bins decided while streaming
//
// The intervals and histogram bins must be known when an activation
// arrives, yet they split (0, max], and the max is known only at the end.
// The bounded builder keeps every activation of the first ExactTokens
// tokens (1024 rows of 128; 8 bytes an activation), the "first pass": at
// its end each feature's range R is its max so far, and top entries,
// histogram and reservoirs are derived exactly as a full store derives
// them. Past it, activations stream row by row; one above R doubles R,
// merging bins in pairs (histogram counts add; the reservoirs of two
// intervals merge into a uniform sample of their union, drawing from each
// in proportion to the activations not yet drawn), so R stays below twice
// the max. A feature silent in the prefix starts with R = its first
// activation. So for corpora of up to ExactTokens tokens (today's 1000
// rows), every answer equals the full store's, to the bit; past it,
// moments, top contexts, co-activations and per-token counts stay exact
// and the intervals and histogram are over (0, R] with max ≤ R < 2·max.
//
// A full store's random baseline keeps each sampled token's activations;
// a bounded one only their per-token counts on the grid (its
// features-per-token plot is offered on the grid's thresholds).
package store

import (
	"fmt"
	"math"
	"time"
)

// FormatVersion is the version of the bounded stores (NewBoundedBuilder)
// and FullFormatVersion that of the full ones (NewBuilder), which keep
// every activation; both open, files of any other version are refused
// (and rescanned by the caller). Version 2 added the checksums of the
// header and of every section, version 3 the bounded layout.
const (
	FormatVersion     = 3
	FullFormatVersion = 2
)

// Top and interval-sample sizes.
const (
	TopK               = 100 // top contexts kept per feature
	Intervals          = 10  // equal activation intervals, as sae_vis
	PerInterval        = 5   // samples per interval
	HistBins           = 32  // bins of each feature's activation histogram
	NoToken     uint32 = math.MaxUint32
)

// Params are the scan parameters that, with the model, SAE and corpus,
// determine a store.
type Params struct {
	Rows           int    `json:"rows"`
	SeqLen         int    `json:"seq_len"`
	Batch          int    `json:"batch"`
	ShuffleSeed    uint64 `json:"shuffle_seed"`
	IncludeBOS     bool   `json:"include_bos"`     // notebook mode: BOS activations zeroed and counted
	BaselineSeed   uint64 `json:"baseline_seed"`   // seed of the random W_enc
	BaselineStride int    `json:"baseline_stride"` // one row in this many gets the baseline
	SampleSeed     uint64 `json:"sample_seed"`     // interval sampling
	ReconRows      int    `json:"recon_rows"`      // rows used for the reconstruction score
	UnembedScale   string `json:"unembed_scale"`   // "avg_norm" (the notebook) or a number
	// NoBOS is true for a scan of rows without BOS (an SAE trained with
	// SAELens prepend_bos false): position 0 is an ordinary token, counted
	// like the others. Left out of the JSON when false, so that the keys
	// of the stores scanned before it existed stay the same.
	NoBOS bool `json:"no_bos,omitempty"`
	// FoldDecNorm is true for a scan of an SAE whose decoder norms were
	// folded into its encoder at load (sae.SAE.FoldDecoderNorm): its
	// activations are each feature's times its decoder norm.
	FoldDecNorm bool `json:"fold_dec_norm,omitempty"`
	// Shard is set on the store of one shard of a scan (analyze --shard;
	// see Shard), nil on a whole scan's (left out of the JSON).
	Shard *Shard `json:"shard,omitempty"`
}

// Source identifies an input file by path and fingerprint.
type Source struct {
	Path string `json:"path"`
	Hash string `json:"hash"`
	// Kind says what a corpus is: "" for text cut into rows, TokenRows
	// for exact token rows (Path is then their file, "" for rows given
	// on the command line). Left out of the JSON when empty, so the
	// headers of earlier stores read the same.
	Kind string `json:"kind,omitempty"`
}

// TokenRows is the Source.Kind of a corpus of exact token rows.
const TokenRows = "token_rows"

// Describe names the source for people: its path, or for token rows
// "token rows from F" ("token rows given on the command line").
func (s Source) Describe() string {
	switch {
	case s.Kind != TokenRows:
		return s.Path
	case s.Path == "":
		return "token rows given on the command line"
	}
	return "token rows from " + s.Path
}

// Summary holds the whole-store numbers.
type Summary struct {
	Tokens       int     `json:"tokens"`        // tokens counted in the statistics
	RandomTokens int     `json:"random_tokens"` // tokens with a baseline
	L0           float64 `json:"l0"`            // mean active features per counted token
	RandomL0     float64 `json:"random_l0"`
	Dead         int     `json:"dead"`          // features that never fire
	AvgNorm      float64 `json:"avg_norm"`      // mean L2 norm of the hook activation
	UnembedScale float64 `json:"unembed_scale"` // the scale used for the unembedding
	LossClean    float64 `json:"loss_clean"`
	LossRecons   float64 `json:"loss_recons"`
	LossZero     float64 `json:"loss_zero"`
	LossMean     float64 `json:"loss_mean"`
	ReconScore   float64 `json:"recon_score"`
	ScanSeconds  float64 `json:"scan_seconds"`
	TokensPerS   float64 `json:"tokens_per_s"`
	// HostSeconds is the part of ScanSeconds the host spent turning each
	// batch's results into the store's arrays while the backend waited.
	HostSeconds float64 `json:"host_seconds,omitempty"`
	// CoPrefixTokens, for an SAE wider than CoMaxFeatures, is the number
	// of tokens its features' co-activation partners were chosen on (the
	// exact prefix); 0 for a narrower SAE (every pair summed) or a store
	// that kept no co-activations of a wide SAE (made before they were).
	CoPrefixTokens int `json:"co_prefix_tokens,omitempty"`
}

// Meta is the JSON header of a store file.
type Meta struct {
	Version  int       `json:"version"`
	Created  time.Time `json:"created"`
	Key      string    `json:"key"`
	Backend  string    `json:"backend"`
	Model    Source    `json:"model"`
	SAE      Source    `json:"sae"`
	Corpus   Source    `json:"corpus"`
	Hook     string    `json:"hook"`
	DIn      int       `json:"d_in"`
	DSae     int       `json:"d_sae"`
	Params   Params    `json:"params"`
	Summary  Summary   `json:"summary"`
	Sections []section `json:"sections"`
}

// Moments are per-feature sums over the counted tokens.
type Moments struct {
	Count []uint32  // tokens where the feature is > 0
	Sum   []float64 // sum of activations
	SumSq []float64 // sum of squared activations
	Max   []float32 // largest activation (0 for a dead feature)
}

func newMoments(n int) Moments {
	return Moments{Count: make([]uint32, n), Sum: make([]float64, n), SumSq: make([]float64, n), Max: make([]float32, n)}
}

// Store is an open (or freshly built) analysis.
//
// The arrays of an opened store are checked against their checksums:
// the small ones by Open, the large ones (TokFeat, TokVal, FeatTok,
// FeatVal, RandVal, TopTok, TopVal, IntTok, IntVal, Hist) on first use by
// the query methods, which return an error wrapping ErrCorrupt for a
// damaged one. Code that reads those arrays directly calls Verify (or a
// method that needs them, such as FeatureValues) first.
type Store struct {
	Meta Meta

	// Tokens holds the corpus rows, Params.SeqLen ids each. A token index
	// is row·SeqLen + position.
	Tokens []int32

	// Learnt activations by token (CSR): the entries of token i are
	// TokFeat/TokVal[TokPtr[i]:TokPtr[i+1]], feature ids ascending.
	TokPtr  []uint64
	TokFeat []uint32
	TokVal  []float32
	// The same by feature (CSC): token indices ascending.
	FeatPtr []uint64
	FeatTok []uint32
	FeatVal []float32

	Learnt Moments
	Random Moments

	// Random baseline per sampled token: RandTok[j] is the token index and
	// RandVal[RandPtr[j]:RandPtr[j+1]] its positive activations as IEEE
	// half floats, sorted in decreasing order (the ids are not needed by
	// any query; half precision keeps a dense baseline small, at a relative
	// rounding of 2⁻¹¹).
	RandTok []uint32
	RandPtr []uint64
	RandVal []uint16

	// TopTok/TopVal[f·TopK : f·TopK+TopN[f]] are feature f's strongest
	// activations, largest first.
	TopTok []uint32
	TopVal []float32
	TopN   []uint32

	// IntTok/IntVal[(f·Intervals + i)·PerInterval + s]: sample s of interval i
	// ((i/10·max, (i+1)/10·max]) of feature f; NoToken where the interval
	// has fewer samples.
	IntTok []uint32
	IntVal []float32

	// Hist[f·HistBins + b] counts feature f's activations in bin b of
	// (0, Max[f]] split in HistBins equal bins.
	Hist []uint32

	// Direct unembedding of each decoder direction and of as many random
	// directions, scaled to Summary.UnembedScale: entropy (bits) and max
	// probability of softmax(W_U · ln_final(s·d + b_dec)).
	UnembedEntropy       []float32
	UnembedMaxProb       []float32
	RandomUnembedEntropy []float32
	RandomUnembedMaxProb []float32

	// A bounded store's (format 3) summaries besides the top and interval
	// samples above (Tokens then holds only the rows in RowIDs).

	// Range[f] is the range (0, Range[f]] that feature f's histogram and
	// intervals split (its max for a corpus of up to ExactTokens tokens);
	// IntCount[f·Intervals + i] counts its activations in interval i.
	Range    []float32
	IntCount []uint64
	// RowIDs are the corpus rows that samples are in, ascending; row
	// RowIDs[j]'s tokens are Tokens[j·SeqLen : (j+1)·SeqLen].
	RowIDs []uint32
	// The sample slots: feature f's top entry i is slot f·S + i, its
	// interval sample (i, k) slot f·S + TopK + i·PerInterval + k, with
	// S = TopK + Intervals·PerInterval.
	// A slot's feature activations in its row are
	// SampPos/SampVal[SampPtr[slot]:SampPtr[slot+1]] (positions ascending).
	SampPtr []uint64
	SampPos []uint16
	SampVal []float32
	// TokCounts[t·(DSae+1) + n] counts the tokens with n learnt features
	// above GridThresholds()[t]; RandCounts the baseline's tokens alike.
	TokCounts  []uint64
	RandCounts []uint64
	// CoID/CoCorr[f·CoK : f·CoK+CoN[f]]: the features most correlated
	// with f, as CoActivation returns them.
	CoN    []uint32
	CoID   []uint32
	CoCorr []float64

	bounded bool // a bounded store (built by a bounded builder, or format 3)
	closer  func() error
	path    string                  // the file of an opened store
	lazy    map[string]*lazySection // an opened store's sections verified on first use
}

// Close releases the file mapping of an opened store.
func (s *Store) Close() error {
	if s.closer == nil {
		return nil
	}
	err := s.closer()
	s.closer = nil
	return err
}

// DSae returns the number of features.
func (s *Store) DSae() int { return s.Meta.DSae }

// SeqLen returns the row length.
func (s *Store) SeqLen() int { return s.Meta.Params.SeqLen }

// NumTokens returns the number of token positions (rows × SeqLen).
func (s *Store) NumTokens() int {
	if s.bounded {
		return s.Meta.Params.Rows * s.SeqLen()
	}
	return len(s.Tokens)
}

// CheckFeature returns an error when f is not a feature of the store.
func (s *Store) CheckFeature(f int) error {
	if f < 0 || f >= s.Meta.DSae {
		return fmt.Errorf("feature %d out of range: this SAE has features 0 to %d", f, s.Meta.DSae-1)
	}
	return nil
}

// Activation returns feature f's activation at token index tok (0 when
// not active there), or an error wrapping ErrCorrupt when the sparse
// activations of an opened store are damaged.
func (s *Store) Activation(f, tok int) (float32, error) {
	if s.bounded {
		return 0, fmt.Errorf("activation of feature %d at token %d: %w", f, tok, ErrNotKept)
	}
	if err := s.need(secTokFeat, secTokVal); err != nil {
		return 0, err
	}
	if tok < 0 || tok >= len(s.Tokens) {
		return 0, fmt.Errorf("token index %d out of range: the store has %d tokens", tok, len(s.Tokens))
	}
	return s.activation(f, tok), nil
}

// activation is Activation once the sections are verified.
func (s *Store) activation(f, tok int) float32 {
	lo, hi := s.TokPtr[tok], s.TokPtr[tok+1]
	ids := s.TokFeat[lo:hi]
	i, j := 0, len(ids)
	for i < j {
		h := (i + j) / 2
		if int(ids[h]) < f {
			i = h + 1
		} else {
			j = h
		}
	}
	if i < len(ids) && int(ids[i]) == f {
		return s.TokVal[int(lo)+i]
	}
	return 0
}

// FeatureValues returns feature f's non-zero activations, in token order,
// or an error wrapping ErrCorrupt when they are damaged.
func (s *Store) FeatureValues(f int) ([]float32, error) {
	if err := s.CheckFeature(f); err != nil {
		return nil, err
	}
	if s.bounded {
		return nil, fmt.Errorf("feature %d's single activations: %w, which keeps its %d-bin histogram", f, ErrNotKept, HistBins)
	}
	if err := s.need(secFeatVal); err != nil {
		return nil, err
	}
	return s.FeatVal[s.FeatPtr[f]:s.FeatPtr[f+1]], nil
}
