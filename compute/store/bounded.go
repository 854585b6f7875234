package store

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/saescope/saescope/weights"
)

// ExactTokens is how many tokens a bounded builder keeps every feature's
// activations of, exactly, before it fixes each feature's range and goes
// on streaming (the "first pass" that decides the bins): a corpus of up
// to ExactTokens tokens (1024 rows of 128) gives the answers a full store
// (format 2) gives, exactly.
const ExactTokens = 1 << 17

// CoK is how many co-activating features a bounded store keeps per
// feature, strongest first.
const CoK = 100

// CoMaxFeatures is the widest SAE whose co-activations a bounded builder
// accumulates for every pair: the d·(d−1)/2 cross sums take 8 bytes each
// while the scan runs (268 MB at 8192 features). For a wider SAE the
// builder chooses each feature's CoCandidates likeliest partners on the
// exact prefix (the first ExactTokens tokens: every pair's correlation
// there) and sums only those pairs over the whole corpus: the
// correlations kept are exact, the partners chosen on the prefix.
const CoMaxFeatures = 8192

// CoCandidates is how many partners per feature a wide SAE's builder
// follows past the prefix (each pair once, whichever feature chose it).
const CoCandidates = 2 * CoK

// GridThresholds returns the thresholds at which a bounded store keeps
// the distribution of the number of features above threshold per token
// (learnt and random), the notebook's 0.1, 0.2, 0.5 and 2.0 among them.
func GridThresholds() []float32 {
	return []float32{0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10}
}

// gridIndex returns the index of t in GridThresholds, or -1.
func gridIndex(t float32) int {
	for i, g := range GridThresholds() {
		if g == t {
			return i
		}
	}
	return -1
}

// posVal is a feature's activation at a position of a row.
type posVal struct {
	pos uint16
	val float32
}

// featState is one feature's streaming state in a bounded builder.
type featState struct {
	rng     *rand.Rand
	topActs [TopK][]posVal // the row activations of the top entries (by slot)
	topMin  int            // slot of the weakest top entry once TopK are kept
	intActs [Intervals * PerInterval][]posVal
}

// bounded is the state of a builder that keeps only summaries whose size
// depends on the number of features (see the package documentation).
type bounded struct {
	limit     int  // ExactTokens, smaller in tests
	streaming bool // past the exact prefix
	// exact prefix: every feature's activations, token order
	ftok [][]uint32
	fval [][]float32
	// streaming: the current row's entries (token order) and per-feature state
	row      int // row being buffered; -1: none
	rowFeat  []uint32
	rowVal   []float32
	rowTok   []uint32
	feats    []featState
	cnt, off []int32 // scratch of flushRow, d each
	touched  []uint32
	order    []int32
	// summaries of every token
	nnz   int
	cross []float64 // upper triangle of Σ f·g, nil when d > coMax
	// wide SAEs (d > coMax): feature a's followed partners b > a, sorted,
	// and Σ a·b over the tokens so far; chosen when the prefix ends
	coMax      int
	prefixToks int // tokens kept whole in the exact prefix
	cand       [][]uint32
	candSum    [][]float64
	// tokens whose pairs are not yet in cross: token i's entries are
	// pendFeat/pendVal[pendPtr[i]:pendPtr[i+1]] (the last ends at len)
	pendPtr    []int
	pendFeat   []uint32
	pendVal    []float32
	grid       []uint64 // learnt: tokens with n features above GridThresholds()[t] at t·(d+1)+n
	randGrid   []uint64
	randToks   int
	randNNZ    int
	thresholds []float32
}

// NewBoundedBuilder starts a bounded store (format 3) for the given token
// rows (row-major, SeqLen each) and SAE width. It takes the same calls as
// NewBuilder's; what it keeps does not grow with the number of tokens past
// the first ExactTokens.
func NewBoundedBuilder(meta Meta, tokens []int32) *Builder {
	return newBoundedBuilder(meta, tokens, ExactTokens)
}

func newBoundedBuilder(meta Meta, tokens []int32, limit int) *Builder {
	return newBoundedBuilderCo(meta, tokens, limit, CoMaxFeatures)
}

// newBoundedBuilderCo is newBoundedBuilder with the widest SAE whose every
// pair is summed set to coMax (smaller in tests).
func newBoundedBuilderCo(meta Meta, tokens []int32, limit, coMax int) *Builder {
	d := meta.DSae
	s := &Store{Meta: meta, Tokens: tokens, Random: newMoments(d), Learnt: newMoments(d)}
	bd := &bounded{limit: limit, row: -1, ftok: make([][]uint32, d), fval: make([][]float32, d),
		thresholds: GridThresholds(), coMax: coMax}
	g := len(bd.thresholds)
	bd.grid = make([]uint64, g*(d+1))
	bd.randGrid = make([]uint64, g*(d+1))
	if d <= coMax {
		bd.cross = make([]float64, d*(d-1)/2)
	}
	return &Builder{s: s, bd: bd}
}

// addBounded is AddToken for a bounded builder.
func (b *Builder) addBounded(tok int, feats []uint32, vals []float32, counted bool) {
	s, bd := b.s, b.bd
	d := s.Meta.DSae
	seq := max(1, s.SeqLen())
	bd.nnz += len(feats)
	m := &s.Learnt
	for i, f := range feats {
		v := vals[i]
		m.Count[f]++
		m.Sum[f] += float64(v)
		m.SumSq[f] += float64(v) * float64(v)
		if v > m.Max[f] {
			m.Max[f] = v
		}
	}
	if bd.cross != nil && len(feats) > 1 && slices.IsSorted(feats) {
		bd.pendPtr = append(bd.pendPtr, len(bd.pendFeat))
		bd.pendFeat = append(bd.pendFeat, feats...)
		bd.pendVal = append(bd.pendVal, vals...)
		if len(bd.pendFeat) >= 1<<18 {
			bd.flushCross(d)
		}
	}
	include := s.Meta.Params.IncludeBOS || s.Meta.Params.NoBOS
	if tok%seq != 0 || include {
		for t, th := range bd.thresholds {
			n := 0
			for _, v := range vals {
				if v > th {
					n++
				}
			}
			bd.grid[t*(d+1)+n]++
		}
	}
	row := tok / seq
	if !bd.streaming && tok >= bd.limit && tok%seq == 0 {
		bd.switchToStreaming(b)
	}
	if !bd.streaming {
		if counted {
			bd.prefixToks++
		}
		for i, f := range feats {
			bd.ftok[f] = append(bd.ftok[f], uint32(tok))
			bd.fval[f] = append(bd.fval[f], vals[i])
		}
		return
	}
	if bd.cand != nil && len(feats) > 1 && slices.IsSorted(feats) {
		bd.addCandidatePairs(feats, vals)
	}
	if row != bd.row {
		bd.flushRow(b)
		bd.row = row
	}
	bd.rowFeat = append(bd.rowFeat, feats...)
	bd.rowVal = append(bd.rowVal, vals...)
	for range feats {
		bd.rowTok = append(bd.rowTok, uint32(tok))
	}
}

// addRandomBounded records the grid counts and the number of a batch of
// baseline tokens, from their values rounded to half floats as a full
// store keeps them.
func (bd *bounded) addRandomBounded(d int, halves []uint16, offs []int) {
	for i := 0; i+1 < len(offs); i++ {
		hv := halves[offs[i]:offs[i+1]] // decreasing
		for t, th := range bd.thresholds {
			n := sort.Search(len(hv), func(j int) bool { return weights.HalfToFloat32(hv[j]) <= th })
			bd.randGrid[t*(d+1)+n]++
		}
		bd.randToks++
		bd.randNNZ += len(hv)
	}
}

// rowActs returns feature f's activations in the row of token tok from
// its token-ordered lists.
func rowActs(toks []uint32, vals []float32, tok uint32, seq int) []posVal {
	r0 := tok / uint32(seq) * uint32(seq)
	lo, _ := slices.BinarySearch(toks, r0)
	hi, _ := slices.BinarySearch(toks, r0+uint32(seq))
	out := make([]posVal, hi-lo)
	for i := lo; i < hi; i++ {
		out[i-lo] = posVal{uint16(toks[i] - r0), vals[i]}
	}
	return out
}

// binOf returns the bin of (0, r] split in k that v falls in, or -1 for a
// value outside [0, r] (NaN, or damage): never an index out of range.
func binOf(v, r float32, k int) int {
	x := float64(v) / float64(r)
	if !(x >= 0 && x <= 1) {
		return -1
	}
	return min(int(x*float64(k)), k-1)
}

// exactFeature derives feature f's top entries, range, histogram and
// interval reservoirs from its exact lists, as a full store's Finish
// does, with their row activations.
func (bd *bounded) exactFeature(b *Builder, f int, idx []int) []int {
	s := b.s
	seq := max(1, s.SeqLen())
	toks, vals := bd.ftok[f], bd.fval[f]
	st := &bd.feats[f]
	st.rng = rand.New(rand.NewPCG(s.Meta.Params.SampleSeed, uint64(f)))
	idx = topK(toks, vals, TopK, idx)
	for i, j := range idx {
		s.TopTok[f*TopK+i] = toks[j]
		s.TopVal[f*TopK+i] = vals[j]
		st.topActs[i] = rowActs(toks, vals, toks[j], seq)
	}
	s.TopN[f] = uint32(len(idx))
	st.topMin = len(idx) - 1
	base := f * Intervals * PerInterval
	for i := 0; i < Intervals*PerInterval; i++ {
		s.IntTok[base+i] = NoToken
	}
	mx := s.Learnt.Max[f]
	if len(vals) == 0 || !(mx > 0) || !finite(mx) {
		return idx
	}
	s.Range[f] = mx
	for _, v := range vals {
		if bin := binOf(v, mx, HistBins); bin >= 0 {
			s.Hist[f*HistBins+bin]++
		}
	}
	seen := s.IntCount[f*Intervals : (f+1)*Intervals]
	for i, v := range vals {
		iv := binOf(v, mx, Intervals)
		if iv < 0 {
			continue
		}
		seen[iv]++
		slot := -1
		if seen[iv] <= PerInterval {
			slot = int(seen[iv]) - 1
		} else if r := st.rng.IntN(int(seen[iv])); r < PerInterval {
			slot = r
		}
		if slot >= 0 {
			o := iv*PerInterval + slot
			s.IntTok[base+o] = toks[i]
			s.IntVal[base+o] = v
			st.intActs[o] = nil // filled below, once per kept sample
		}
	}
	for o := 0; o < Intervals*PerInterval; o++ {
		if t := s.IntTok[base+o]; t != NoToken {
			st.intActs[o] = rowActs(toks, vals, t, seq)
		}
	}
	return idx
}

// prepare allocates the per-feature summaries of a bounded store.
func (bd *bounded) prepare(s *Store) {
	d := s.Meta.DSae
	s.TopTok = make([]uint32, d*TopK)
	s.TopVal = make([]float32, d*TopK)
	s.TopN = make([]uint32, d)
	s.IntTok = make([]uint32, d*Intervals*PerInterval)
	s.IntVal = make([]float32, d*Intervals*PerInterval)
	s.IntCount = make([]uint64, d*Intervals)
	s.Range = make([]float32, d)
	s.Hist = make([]uint32, d*HistBins)
	bd.feats = make([]featState, d)
}

// switchToStreaming fixes every feature's range from the exact prefix
// and drops the prefix's activations.
func (bd *bounded) switchToStreaming(b *Builder) {
	bd.chooseCandidates(b.s.Meta.DSae)
	bd.prepare(b.s)
	var idx []int
	for f := range bd.feats {
		idx = bd.exactFeature(b, f, idx)
		if bd.feats[f].rng == nil {
			bd.feats[f].rng = rand.New(rand.NewPCG(b.s.Meta.Params.SampleSeed, uint64(f)))
		}
	}
	bd.ftok, bd.fval = nil, nil
	bd.streaming = true
	d := b.s.Meta.DSae
	bd.cnt, bd.off = make([]int32, d), make([]int32, d)
}

// flushRow streams the buffered row into every feature's summaries.
func (bd *bounded) flushRow(b *Builder) {
	if bd.row < 0 || len(bd.rowFeat) == 0 {
		bd.rowFeat, bd.rowVal, bd.rowTok = bd.rowFeat[:0], bd.rowVal[:0], bd.rowTok[:0]
		return
	}
	s := b.s
	seq := max(1, s.SeqLen())
	// Group the row's entries by feature, token order kept (counting sort).
	bd.touched = bd.touched[:0]
	for _, f := range bd.rowFeat {
		if bd.cnt[f] == 0 {
			bd.touched = append(bd.touched, f)
		}
		bd.cnt[f]++
	}
	o := int32(0)
	for _, f := range bd.touched {
		bd.off[f] = o
		o += bd.cnt[f]
	}
	bd.order = slices.Grow(bd.order[:0], len(bd.rowFeat))[:len(bd.rowFeat)]
	for i, f := range bd.rowFeat {
		bd.order[bd.off[f]] = int32(i)
		bd.off[f]++
	}
	r0 := uint32(bd.row * seq)
	o = 0
	for _, f := range bd.touched {
		n := bd.cnt[f]
		ent := bd.order[o : o+n]
		o += n
		bd.cnt[f] = 0
		var acts []posVal // the feature's activations in this row, made when kept
		get := func() []posVal {
			if acts == nil {
				acts = make([]posVal, len(ent))
				for k, e := range ent {
					acts[k] = posVal{uint16(bd.rowTok[e] - r0), bd.rowVal[e]}
				}
			}
			return acts
		}
		for _, e := range ent {
			bd.streamValue(s, int(f), bd.rowTok[e], bd.rowVal[e], get)
		}
	}
	bd.rowFeat, bd.rowVal, bd.rowTok = bd.rowFeat[:0], bd.rowVal[:0], bd.rowTok[:0]
}

// streamValue adds feature f's activation v at token tok to its top
// entries, range, histogram and interval reservoirs.
func (bd *bounded) streamValue(s *Store, f int, tok uint32, v float32, acts func() []posVal) {
	st := &bd.feats[f]
	// Top entries: ties go to the earlier token, which came first.
	n := int(s.TopN[f])
	switch {
	case n < TopK:
		s.TopTok[f*TopK+n], s.TopVal[f*TopK+n] = tok, v
		st.topActs[n] = acts()
		s.TopN[f]++
		if n == TopK-1 {
			st.topMin = minSlot(s.TopVal[f*TopK:(f+1)*TopK], s.TopTok[f*TopK:(f+1)*TopK])
		}
	case v > s.TopVal[f*TopK+st.topMin]:
		k := st.topMin
		s.TopTok[f*TopK+k], s.TopVal[f*TopK+k] = tok, v
		st.topActs[k] = acts()
		st.topMin = minSlot(s.TopVal[f*TopK:(f+1)*TopK], s.TopTok[f*TopK:(f+1)*TopK])
	}
	if !finite(v) || !(v > 0) {
		return
	}
	r := s.Range[f]
	if r == 0 {
		r = v
		s.Range[f] = r
	}
	for v > r {
		r *= 2
		bd.double(s, f)
		s.Range[f] = r
	}
	if bin := binOf(v, r, HistBins); bin >= 0 {
		s.Hist[f*HistBins+bin]++
	}
	iv := binOf(v, r, Intervals)
	if iv < 0 {
		return
	}
	seen := &s.IntCount[f*Intervals+iv]
	*seen++
	slot := -1
	if *seen <= PerInterval {
		slot = int(*seen) - 1
	} else if x := st.rng.IntN(int(*seen)); x < PerInterval {
		slot = x
	}
	if slot >= 0 {
		o := f*Intervals*PerInterval + iv*PerInterval + slot
		s.IntTok[o], s.IntVal[o] = tok, v
		st.intActs[iv*PerInterval+slot] = acts()
	}
}

// minSlot returns the slot of the weakest of the top entries: smallest
// value, then latest token.
func minSlot(vals []float32, toks []uint32) int {
	k := 0
	for i := 1; i < len(vals); i++ {
		if vals[i] < vals[k] || vals[i] == vals[k] && toks[i] > toks[k] {
			k = i
		}
	}
	return k
}

// double widens feature f's bins twofold: histogram bins and intervals
// merge in pairs (the upper half starts empty), and the reservoirs of two
// merged intervals become one uniform sample of their union (mergeSamples).
func (bd *bounded) double(s *Store, f int) {
	h := s.Hist[f*HistBins : (f+1)*HistBins]
	for j := 0; j < HistBins/2; j++ {
		h[j] = h[2*j] + h[2*j+1]
	}
	clear(h[HistBins/2:])
	st := &bd.feats[f]
	seen := s.IntCount[f*Intervals : (f+1)*Intervals]
	for j := 0; j < Intervals/2; j++ {
		a, c := 2*j, 2*j+1
		var out [PerInterval]sample
		m := mergeSamples(st.rng, bd.samplesOf(s, f, a), int(seen[a]), bd.samplesOf(s, f, c), int(seen[c]), out[:0])
		bd.setSamples(s, f, j, m)
		seen[j] = seen[a] + seen[c]
	}
	for j := Intervals / 2; j < Intervals; j++ {
		seen[j] = 0
		bd.setSamples(s, f, j, nil)
	}
}

// sample is one kept activation of a feature, with its row's activations.
type sample struct {
	tok  uint32
	val  float32
	acts []posVal
}

func (bd *bounded) samplesOf(s *Store, f, iv int) []sample {
	var out []sample
	o := f*Intervals*PerInterval + iv*PerInterval
	for k := 0; k < PerInterval; k++ {
		if s.IntTok[o+k] == NoToken {
			break
		}
		out = append(out, sample{s.IntTok[o+k], s.IntVal[o+k], bd.feats[f].intActs[iv*PerInterval+k]})
	}
	return out
}

func (bd *bounded) setSamples(s *Store, f, iv int, m []sample) {
	o := f*Intervals*PerInterval + iv*PerInterval
	for k := 0; k < PerInterval; k++ {
		a := &bd.feats[f].intActs[iv*PerInterval+k]
		if k < len(m) {
			s.IntTok[o+k], s.IntVal[o+k], *a = m[k].tok, m[k].val, m[k].acts
		} else {
			s.IntTok[o+k], s.IntVal[o+k], *a = NoToken, 0, nil
		}
	}
}

// mergeSamples draws min(PerInterval, na+nb) of the na+nb activations of
// two populations without replacement, given a uniform sample of each
// (a of na, b of nb, each min(PerInterval, n) long): each draw takes from
// the first population with probability (its activations not yet drawn)
// / (both's), then a random one of its sample not yet taken. The result
// is a uniform sample of the union.
func mergeSamples(rng *rand.Rand, a []sample, na int, b []sample, nb int, out []sample) []sample {
	a, b = slices.Clone(a), slices.Clone(b)
	m := min(PerInterval, na+nb)
	for len(out) < m {
		from, n := &a, &na
		if rng.IntN(na+nb) >= na {
			from, n = &b, &nb
		}
		i := rng.IntN(len(*from))
		out = append(out, (*from)[i])
		(*from)[i] = (*from)[len(*from)-1]
		*from = (*from)[:len(*from)-1]
		*n--
	}
	return out
}

// finishBounded completes a bounded store: the exact prefix's summaries
// (when the corpus was no longer than it) or the last row's, each
// feature's top entries and interval samples in order, their row
// activations packed, the co-activations, and the rows the samples need.
func (b *Builder) finishBounded() *Store {
	s, bd := b.s, b.bd
	d := s.Meta.DSae
	seq := max(1, s.SeqLen())
	all := s.Tokens
	for b.next < len(all) {
		// Tokens never delivered (a shorter scan) have no activations.
		b.AddToken(b.next, nil, nil, false)
	}
	if !bd.streaming {
		bd.chooseCandidates(d)
		bd.prepare(s)
		var idx []int
		for f := 0; f < d; f++ {
			idx = bd.exactFeature(b, f, idx)
		}
		bd.ftok, bd.fval = nil, nil
	} else {
		bd.flushRow(b)
	}
	// Order: top entries best first, interval samples largest first.
	nSlots := d * (TopK + Intervals*PerInterval)
	s.SampPtr = make([]uint64, nSlots+1)
	rows := map[uint32]bool{}
	// The packed activations are sized first: grown by appends, their last
	// doubling set the analysis' peak memory (bench --analyze 200 at 6144
	// features: 1690 MB, sized first 1498 MB).
	n := 0
	for f := 0; f < d; f++ {
		st := &bd.feats[f]
		for _, a := range st.topActs[:s.TopN[f]] {
			n += len(a)
		}
		o := f * Intervals * PerInterval
		for k := 0; k < Intervals*PerInterval; k++ {
			if s.IntTok[o+k] != NoToken {
				n += len(st.intActs[k])
			}
		}
	}
	pos, val := make([]uint16, 0, n), make([]float32, 0, n)
	slot := 0
	put := func(tok uint32, acts []posVal) {
		rows[tok/uint32(seq)] = true
		for _, a := range acts {
			pos = append(pos, a.pos)
			val = append(val, a.val)
		}
		slot++
		s.SampPtr[slot] = uint64(len(pos))
	}
	skip := func(n int) { // empty slots
		for ; n > 0; n-- {
			slot++
			s.SampPtr[slot] = uint64(len(pos))
		}
	}
	perm := make([]int, TopK)
	for f := 0; f < d; f++ {
		st := &bd.feats[f]
		n := int(s.TopN[f])
		tt, tv := s.TopTok[f*TopK:f*TopK+n], s.TopVal[f*TopK:f*TopK+n]
		perm = perm[:n]
		for i := range perm {
			perm[i] = i
		}
		sort.SliceStable(perm, func(i, j int) bool {
			a, c := perm[i], perm[j]
			return tv[a] > tv[c] || tv[a] == tv[c] && tt[a] < tt[c]
		})
		ts, vs, as := slices.Clone(tt), slices.Clone(tv), st.topActs
		for i, p := range perm {
			tt[i], tv[i] = ts[p], vs[p]
			put(tt[i], as[p])
		}
		skip(TopK - n)
		for iv := 0; iv < Intervals; iv++ {
			smp := bd.samplesOf(s, f, iv)
			sort.SliceStable(smp, func(i, j int) bool {
				return smp[i].val > smp[j].val || smp[i].val == smp[j].val && smp[i].tok < smp[j].tok
			})
			bd.setSamples(s, f, iv, smp)
			for _, x := range smp {
				put(x.tok, x.acts)
			}
			skip(PerInterval - len(smp))
		}
		bd.feats[f] = featState{}
	}
	s.SampPos, s.SampVal = pos, val
	s.RandVal = nil
	if s.SampPos == nil {
		s.SampPos, s.SampVal = []uint16{}, []float32{}
	}
	// The rows the samples are in, ascending.
	s.RowIDs = make([]uint32, 0, len(rows))
	for r := range rows {
		s.RowIDs = append(s.RowIDs, r)
	}
	slices.Sort(s.RowIDs)
	kept := make([]int32, 0, len(s.RowIDs)*seq)
	for _, r := range s.RowIDs {
		kept = append(kept, all[int(r)*seq:int(r+1)*seq]...)
	}
	s.Tokens = kept
	s.TokCounts, s.RandCounts = bd.grid, bd.randGrid
	sum := &s.Meta.Summary
	sum.Tokens = b.counted
	sum.RandomTokens = bd.randToks
	if b.counted > 0 {
		sum.L0 = float64(bd.nnz) / float64(b.counted)
	}
	if bd.randToks > 0 {
		sum.RandomL0 = float64(bd.randNNZ) / float64(bd.randToks)
	}
	sum.Dead = 0
	for _, c := range s.Learnt.Count {
		if c == 0 {
			sum.Dead++
		}
	}
	bd.coactivations(s)
	s.bounded = true
	return s
}

// flushCross adds the pending tokens' pairs to the cross sums, in token
// order for every pair (so that the sums are those of one pass), the
// features split over the cores in ranges of equal numbers of pairs.
func (bd *bounded) flushCross(d int) {
	n := len(bd.pendPtr)
	if n == 0 {
		return
	}
	bd.pendPtr = append(bd.pendPtr, len(bd.pendFeat))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(bd.pendFeat)/4096))
	// Boundaries: feature a's row holds d−1−a pairs.
	bounds := make([]int, workers+1)
	total := float64(d) * float64(d-1) / 2
	a, acc := 0, 0.0
	for w := 1; w < workers; w++ {
		for a < d && acc < total*float64(w)/float64(workers) {
			acc += float64(d - 1 - a)
			a++
		}
		bounds[w] = a
	}
	bounds[workers] = d
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := uint32(bounds[w]), uint32(bounds[w+1])
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := 0; t < n; t++ {
				fs := bd.pendFeat[bd.pendPtr[t]:bd.pendPtr[t+1]]
				vs := bd.pendVal[bd.pendPtr[t]:bd.pendPtr[t+1]]
				i, _ := slices.BinarySearch(fs, lo)
				for ; i < len(fs) && fs[i] < hi; i++ {
					a := int(fs[i])
					va := float64(vs[i])
					base := a*d - a*(a+1)/2 - a - 1 // pair (a, b), a < b, is at base + b
					for j := i + 1; j < len(fs); j++ {
						if fs[j] != fs[i] {
							bd.cross[base+int(fs[j])] += va * float64(vs[j])
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	bd.pendPtr, bd.pendFeat, bd.pendVal = bd.pendPtr[:0], bd.pendFeat[:0], bd.pendVal[:0]
}

// coHeap keeps a feature's CoK most correlated features: a min-heap by
// rank (correlation, then the lower id first), its root the weakest kept.
type coHeap []Correlated

// worseCo reports whether x ranks below y.
func worseCo(x, y Correlated) bool {
	return x.Correlation < y.Correlation || x.Correlation == y.Correlation && x.ID > y.ID
}

func (h *coHeap) offer(c Correlated) { h.offerK(c, CoK) }

// offerK keeps c if it ranks among the k best offered.
func (h *coHeap) offerK(c Correlated, k int) {
	q := *h
	if len(q) < k {
		q = append(q, c)
		for j := len(q) - 1; j > 0; {
			p := (j - 1) / 2
			if !worseCo(q[j], q[p]) {
				break
			}
			q[j], q[p] = q[p], q[j]
			j = p
		}
		*h = q
		return
	}
	if !worseCo(q[0], c) {
		return
	}
	q[0] = c
	for i := 0; ; {
		k := 2*i + 1
		if k >= len(q) {
			break
		}
		if k+1 < len(q) && worseCo(q[k+1], q[k]) {
			k++
		}
		if !worseCo(q[k], q[i]) {
			break
		}
		q[i], q[k] = q[k], q[i]
		i = k
	}
}

// coactivations keeps each feature's CoK most correlated features
// (Pearson over the counted tokens, zeros included), as CoActivation
// computes them from a full store's activations: one pass over the cross
// sums, each pair's correlation (symmetric, to the bit) offered to both
// features.
func (bd *bounded) coactivations(s *Store) {
	d := s.Meta.DSae
	s.CoN = make([]uint32, d)
	s.CoID = make([]uint32, d*CoK)
	s.CoCorr = make([]float64, d*CoK)
	if bd.cross == nil && bd.cand == nil {
		return
	}
	if bd.cross != nil {
		bd.flushCross(d)
	}
	n := s.Meta.Summary.Tokens
	if n == 0 {
		bd.cross, bd.cand, bd.candSum = nil, nil, nil
		return
	}
	stats := make([]FeatureStats, d)
	for f := range stats {
		stats[f] = s.Learnt.stats(f, n)
	}
	heaps := make([]coHeap, d)
	pair := func(a, b int, c float64) {
		if c == 0 {
			return
		}
		sa, sb := stats[a], stats[b]
		if sa.Std == 0 || sb.Std == 0 || s.Learnt.Count[a] == 0 || s.Learnt.Count[b] == 0 {
			return
		}
		// As CoActivation writes it for f = a, g = b; for f = b,
		// g = a the products are the same (commutative).
		r := (c/float64(n) - sa.Mean*sb.Mean) / (sa.Std * sb.Std)
		heaps[a].offer(Correlated{ID: b, Correlation: r})
		heaps[b].offer(Correlated{ID: a, Correlation: r})
	}
	if bd.cross != nil {
		k := 0
		for a := 0; a < d; a++ {
			for b := a + 1; b < d; b, k = b+1, k+1 {
				pair(a, b, bd.cross[k])
			}
		}
	} else {
		for a, bs := range bd.cand {
			for i, b := range bs {
				pair(a, int(b), bd.candSum[a][i])
			}
		}
		s.Meta.Summary.CoPrefixTokens = bd.prefixToks
	}
	for f, h := range heaps {
		out := []Correlated(h)
		sortCorrelated(out)
		s.CoN[f] = uint32(len(out))
		for i, c := range out {
			s.CoID[f*CoK+i] = uint32(c.ID)
			s.CoCorr[f*CoK+i] = c.Correlation
		}
	}
	bd.cross, bd.cand, bd.candSum = nil, nil, nil
}

// sortCorrelated orders by correlation, largest first, then by id.
func sortCorrelated(out []Correlated) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].Correlation != out[j].Correlation {
			return out[i].Correlation > out[j].Correlation
		}
		return out[i].ID < out[j].ID
	})
}
