package store

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/saescope/saescope/compute/parallel"
	"github.com/saescope/saescope/weights"
)

// Builder assembles a Store from a scan that delivers tokens in order.
type Builder struct {
	s       *Store
	counted int      // tokens that count in the statistics
	next    int      // next token index expected
	err     error    // the first non-finite value added
	bd      *bounded // a bounded builder's state; nil for a full store
}

// ErrNonFinite is wrapped by Build's error when an activation given to the
// builder is +Inf, -Inf or NaN (an SAE whose encoder overflows float32).
var ErrNonFinite = errors.New("non-finite activation")

// finite reports whether v is neither infinite nor NaN: its exponent bits
// are not all ones.
func finite(v float32) bool { return math.Float32bits(v)&0x7f800000 != 0x7f800000 }

// checkFinite records the first non-finite value of token tok's entries.
func (b *Builder) checkFinite(what string, tok int, feats []uint32, vals []float32) {
	if b.err != nil {
		return
	}
	for i, v := range vals {
		if !finite(v) {
			f := -1
			if i < len(feats) {
				f = int(feats[i])
			}
			seq := max(1, b.s.Meta.Params.SeqLen)
			b.err = fmt.Errorf("%w: %sfeature %d is %v at token %d (row %d, position %d)", ErrNonFinite, what, f, v, tok, tok/seq, tok%seq)
			return
		}
	}
}

// NewBuilder starts a store for the given token rows (row-major, SeqLen
// each) and SAE width.
func NewBuilder(meta Meta, tokens []int32) *Builder {
	d := meta.DSae
	s := &Store{Meta: meta, Tokens: tokens,
		TokPtr:  make([]uint64, 1, len(tokens)+1),
		Random:  newMoments(d),
		RandPtr: []uint64{0},
	}
	return &Builder{s: s}
}

// AddToken appends token tok's active features (ids ascending, values > 0).
// counted says whether the token enters the statistics (false for a BOS
// position that is excluded).
func (b *Builder) AddToken(tok int, feats []uint32, vals []float32, counted bool) {
	if tok != b.next {
		panic("store.Builder: tokens out of order")
	}
	b.next++
	b.checkFinite("", tok, feats, vals)
	if counted {
		b.counted++
	}
	if b.bd != nil {
		b.addBounded(tok, feats, vals, counted)
		return
	}
	s := b.s
	s.TokFeat = append(s.TokFeat, feats...)
	s.TokVal = append(s.TokVal, vals...)
	s.TokPtr = append(s.TokPtr, uint64(len(s.TokFeat)))
}

// AddRandomToken records the baseline of token tok: its positive random
// activations (any order; they are sorted here) and their feature ids for
// the per-feature moments. It is AddRandomTokens for one token.
func (b *Builder) AddRandomToken(tok int, feats []uint32, vals []float32) {
	b.AddRandomTokens([]int{tok}, [][]uint32{feats}, [][]float32{vals})
}

// AddRandomTokens records the baselines of several tokens, token toks[i]'s
// positive random activations being vals[i], of the features ids[i]: its
// values as half floats, largest first, and the per-feature moments. The
// work is spread over the CPU's cores, and the arrays are the same, to the
// bit, as with one call per token. For non-negative values a half's bit
// pattern orders as its value (and rounding to half is monotonic), so
// sorting the bits gives the same list as sorting the floats, in linear
// time. Ascending ids let the moments be split by feature; others are
// summed in one pass.
func (b *Builder) AddRandomTokens(toks []int, ids [][]uint32, vals [][]float32) {
	s := b.s
	n0 := len(s.RandVal)
	offs := make([]int, len(toks)+1) // token i's values: RandVal[n0+offs[i] : n0+offs[i+1]]
	for i, v := range vals {
		offs[i+1] = offs[i] + len(v)
	}
	total := offs[len(toks)]
	s.RandVal = slices.Grow(s.RandVal, total)[:n0+total]
	workers := max(1, min(runtime.GOMAXPROCS(0), total/(1<<14)))
	// Each token's values as halves, largest first (tokens split by
	// workers); and whether every token's ids ascend.
	// Also the first token (per worker) with a non-finite value.
	sorted := make([]bool, workers)
	bad := make([]int, workers)
	for w := range sorted {
		sorted[w], bad[w] = true, -1
	}
	parallel.Ranges(workers, len(toks), func(w, lo, hi int) {
		var tmp []uint16
		ok := true
		for i := lo; i < hi; i++ {
			dst := s.RandVal[n0+offs[i] : n0+offs[i+1]]
			for j, v := range vals[i] {
				if !finite(v) && bad[w] < 0 {
					bad[w] = i
				}
				dst[j] = weights.Float32ToHalf(v)
			}
			tmp = sortHalvesDesc(dst, tmp)
			ok = ok && slices.IsSorted(ids[i])
		}
		sorted[w] = ok
	})
	// Moments, features split by workers: each feature still sums its
	// tokens in order, as AddRandomToken does.
	moments := func(_, lo, hi int) {
		m := &s.Random
		for i, fs := range ids {
			k, _ := slices.BinarySearch(fs, uint32(lo))
			for ; k < len(fs) && int(fs[k]) < hi; k++ {
				f, v := fs[k], vals[i][k]
				m.Count[f]++
				m.Sum[f] += float64(v)
				m.SumSq[f] += float64(v) * float64(v)
				if v > m.Max[f] {
					m.Max[f] = v
				}
			}
		}
	}
	for _, i := range bad {
		if i >= 0 {
			b.checkFinite("random baseline ", toks[i], ids[i], vals[i])
			break
		}
	}
	if slices.Contains(sorted, false) {
		moments(0, 0, s.Meta.DSae) // unsorted ids: one pass over all
	} else {
		parallel.Ranges(workers, s.Meta.DSae, moments)
	}
	if b.bd != nil {
		b.bd.addRandomBounded(s.Meta.DSae, s.RandVal[n0:], offs)
		s.RandVal = s.RandVal[:n0]
		return
	}
	for i, t := range toks {
		s.RandTok = append(s.RandTok, uint32(t))
		s.RandPtr = append(s.RandPtr, uint64(n0+offs[i+1]))
	}
}

// Reserve sizes the sparse arrays for about nnz learnt and nnzRandom
// baseline entries, so that appending does not copy them while they grow
// (the scan estimates both after its first batch).
func (b *Builder) Reserve(nnz, nnzRandom int) {
	if b.bd != nil {
		return // nothing grows with the tokens
	}
	s := b.s
	if cap(s.TokFeat) < nnz {
		s.TokFeat = append(make([]uint32, 0, nnz), s.TokFeat...)
		s.TokVal = append(make([]float32, 0, nnz), s.TokVal...)
	}
	if cap(s.RandVal) < nnzRandom {
		s.RandVal = append(make([]uint16, 0, nnzRandom), s.RandVal...)
	}
}

// SetUnembedding stores the unembedding statistics of decoder and random directions.
func (b *Builder) SetUnembedding(entropy, maxProb, randEntropy, randMaxProb []float32) {
	b.s.UnembedEntropy, b.s.UnembedMaxProb = entropy, maxProb
	b.s.RandomUnembedEntropy, b.s.RandomUnembedMaxProb = randEntropy, randMaxProb
}

// Snapshot returns the store under construction (for size estimates).
func (b *Builder) Snapshot() *Store { return b.s }

// Summary gives access to the summary to fill in (losses, timings).
func (b *Builder) Summary() *Summary { return &b.s.Meta.Summary }

// Build derives the by-feature index, moments, top contexts, interval
// samples and histograms, and returns the store (not yet written). It
// returns an error wrapping ErrNonFinite, naming the feature and token,
// when an activation added was +Inf, -Inf or NaN: such a store's
// statistics would be meaningless.
func (b *Builder) Build() (*Store, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.Finish(), nil
}

// Finish is Build without the check for non-finite activations, for
// inputs known to be finite. It never panics on a non-finite value: such
// values are left out of the histogram and the interval samples.
func (b *Builder) Finish() *Store {
	if b.bd != nil {
		return b.finishBounded()
	}
	s := b.s
	d := s.Meta.DSae
	if b.next != len(s.Tokens) {
		// Tokens never delivered (a shorter scan) have no activations.
		for b.next < len(s.Tokens) {
			b.AddToken(b.next, nil, nil, false)
		}
	}
	nnz := len(s.TokFeat)
	// Moments and CSC by counting sort.
	s.Learnt = newMoments(d)
	for i, f := range s.TokFeat {
		v := s.TokVal[i]
		s.Learnt.Count[f]++
		s.Learnt.Sum[f] += float64(v)
		s.Learnt.SumSq[f] += float64(v) * float64(v)
		if v > s.Learnt.Max[f] {
			s.Learnt.Max[f] = v
		}
	}
	s.FeatPtr = make([]uint64, d+1)
	for f := 0; f < d; f++ {
		s.FeatPtr[f+1] = s.FeatPtr[f] + uint64(s.Learnt.Count[f])
	}
	s.FeatTok = make([]uint32, nnz)
	s.FeatVal = make([]float32, nnz)
	fill := append([]uint64(nil), s.FeatPtr[:d]...)
	for tok := 0; tok+1 < len(s.TokPtr); tok++ {
		for i := s.TokPtr[tok]; i < s.TokPtr[tok+1]; i++ {
			f := s.TokFeat[i]
			s.FeatTok[fill[f]] = uint32(tok)
			s.FeatVal[fill[f]] = s.TokVal[i]
			fill[f]++
		}
	}
	// Per-feature derived data, in parallel over features.
	s.TopTok = make([]uint32, d*TopK)
	s.TopVal = make([]float32, d*TopK)
	s.TopN = make([]uint32, d)
	s.IntTok = make([]uint32, d*Intervals*PerInterval)
	s.IntVal = make([]float32, d*Intervals*PerInterval)
	s.Hist = make([]uint32, d*HistBins)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var idx []int
			for f := w; f < d; f += workers {
				idx = b.perFeature(f, idx)
			}
		}(w)
	}
	wg.Wait()
	sum := &s.Meta.Summary
	sum.Tokens = b.counted
	sum.RandomTokens = len(s.RandTok)
	if b.counted > 0 {
		sum.L0 = float64(nnz) / float64(b.counted)
	}
	if len(s.RandTok) > 0 {
		sum.RandomL0 = float64(len(s.RandVal)) / float64(len(s.RandTok))
	}
	sum.Dead = 0
	for _, c := range s.Learnt.Count {
		if c == 0 {
			sum.Dead++
		}
	}
	return s
}

// perFeature fills feature f's top list, interval samples and histogram.
func (b *Builder) perFeature(f int, idx []int) []int {
	s := b.s
	lo, hi := s.FeatPtr[f], s.FeatPtr[f+1]
	toks, vals := s.FeatTok[lo:hi], s.FeatVal[lo:hi]
	n := len(vals)
	// Top K: largest values, ties by earlier token.
	idx = topK(toks, vals, TopK, idx)
	k := len(idx)
	for i := 0; i < k; i++ {
		s.TopTok[f*TopK+i] = toks[idx[i]]
		s.TopVal[f*TopK+i] = vals[idx[i]]
	}
	s.TopN[f] = uint32(k)
	// Histogram and interval samples over (0, max].
	mx := s.Learnt.Max[f]
	base := f * Intervals * PerInterval
	for i := 0; i < Intervals*PerInterval; i++ {
		s.IntTok[base+i] = NoToken
	}
	if n == 0 || !(mx > 0) || !finite(mx) {
		return idx
	}
	// binOf returns the bin of (0, mx] split in k that v falls in, or -1
	// for a value outside [0, mx] (NaN, or damage): never an index out of
	// range.
	binOf := func(v float32, k int) int {
		x := float64(v) / float64(mx)
		if !(x >= 0 && x <= 1) {
			return -1
		}
		return min(int(x*float64(k)), k-1)
	}
	for _, v := range vals {
		if bin := binOf(v, HistBins); bin >= 0 {
			s.Hist[f*HistBins+bin]++
		}
	}
	// Reservoir sampling per interval, in token order, with a seed per
	// feature so that results do not depend on scheduling.
	rng := rand.New(rand.NewPCG(s.Meta.Params.SampleSeed, uint64(f)))
	var seen [Intervals]int
	for i, v := range vals {
		iv := binOf(v, Intervals)
		if iv < 0 {
			continue
		}
		seen[iv]++
		slot := -1
		if seen[iv] <= PerInterval {
			slot = seen[iv] - 1
		} else if r := rng.IntN(seen[iv]); r < PerInterval {
			slot = r
		}
		if slot >= 0 {
			s.IntTok[base+iv*PerInterval+slot] = toks[i]
			s.IntVal[base+iv*PerInterval+slot] = v
		}
	}
	// Each interval's samples, largest first.
	for iv := 0; iv < Intervals; iv++ {
		o := base + iv*PerInterval
		m := min(seen[iv], PerInterval)
		ts, vs := s.IntTok[o:o+m], s.IntVal[o:o+m]
		sort.Sort(byValue{ts, vs})
	}
	return idx
}

type byValue struct {
	t []uint32
	v []float32
}

func (b byValue) Len() int           { return len(b.v) }
func (b byValue) Less(i, j int) bool { return b.v[i] > b.v[j] || b.v[i] == b.v[j] && b.t[i] < b.t[j] }
func (b byValue) Swap(i, j int) {
	b.t[i], b.t[j] = b.t[j], b.t[i]
	b.v[i], b.v[j] = b.v[j], b.v[i]
}

// sortHalvesDesc sorts v (bit patterns of non-negative half floats) in
// decreasing order with a two-pass radix sort, using tmp as scratch, and
// returns tmp (grown) for reuse. Short lists use insertion sort.
func sortHalvesDesc(v, tmp []uint16) []uint16 {
	n := len(v)
	if n < 64 {
		for i := 1; i < n; i++ {
			x := v[i]
			j := i
			for ; j > 0 && v[j-1] < x; j-- {
				v[j] = v[j-1]
			}
			v[j] = x
		}
		return tmp
	}
	if cap(tmp) < n {
		tmp = make([]uint16, n)
	}
	tmp = tmp[:n]
	src, dst := v, tmp
	for shift := 0; shift < 16; shift += 8 {
		var count [257]int
		for _, x := range src {
			count[255-int(x>>shift&0xff)+1]++
		}
		for i := 1; i < 257; i++ {
			count[i] += count[i-1]
		}
		for _, x := range src {
			k := 255 - int(x>>shift&0xff)
			dst[count[k]] = x
			count[k]++
		}
		src, dst = dst, src
	}
	// Two passes: the result is back in v.
	return tmp
}

// topK returns the indices of the k best entries of (toks, vals), best
// first: larger value, then earlier token. It keeps the k best seen in a
// heap, so a feature that fires on many tokens is not sorted whole. idx is
// reused.
func topK(toks []uint32, vals []float32, k int, idx []int) []int {
	// worse reports whether entry a ranks below entry b.
	worse := func(a, b int) bool {
		return vals[a] < vals[b] || vals[a] == vals[b] && toks[a] > toks[b]
	}
	idx = idx[:0]
	n := len(vals)
	// A min-heap (by rank) of the best k so far: idx[0] is the worst kept.
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(idx) {
				return
			}
			if c+1 < len(idx) && worse(idx[c+1], idx[c]) {
				c++
			}
			if !worse(idx[c], idx[i]) {
				return
			}
			idx[i], idx[c] = idx[c], idx[i]
			i = c
		}
	}
	for i := 0; i < n; i++ {
		switch {
		case len(idx) < k:
			idx = append(idx, i)
			for j := len(idx) - 1; j > 0; { // up
				p := (j - 1) / 2
				if !worse(idx[j], idx[p]) {
					break
				}
				idx[j], idx[p] = idx[p], idx[j]
				j = p
			}
		case worse(idx[0], i):
			idx[0] = i
			down(0)
		}
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case worse(b, a):
			return -1
		case worse(a, b):
			return 1
		}
		return 0
	})
	return idx
}
