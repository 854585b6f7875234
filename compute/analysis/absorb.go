package analysis

import (
	"fmt"
	"math"
	"slices"

	"github.com/saescope/saescope/compute/parallel"
	"github.com/saescope/saescope/compute/store"
)

// absorb adds a batch's tokens and baseline to the builder. It fails
// on a non-finite activation (an encoder overflowing float32), naming
// the feature and the row.
func (sc *scanner) absorb(o *batchOut) error {
	if !sc.onDevice {
		sc.extract(o)
	}
	if err := sc.addTokens(o); err != nil {
		return err
	}
	sc.addBaseline(o)
	if o.r0 == 0 {
		sc.reserve(o.nb * sc.seq)
	}
	return nil
}

// isBOS says whether token t of a batch is a BOS: position 0 of its row,
// unless the rows have none (Params.NoBOS), where position 0 is text
// and counts like any other token.
func (sc *scanner) isBOS(t int) bool { return !sc.p.NoBOS && t%sc.seq == 0 }

// extract collects the positive entries of a batch's dense features and
// random features (none at BOS for the learnt ones) and the squared norms
// of its hook activations: what the device path reads back ready-made.
func (sc *scanner) extract(o *batchOut) {
	n, d, dIn := o.nb*sc.seq, sc.d, sc.dIn
	sc.learnt.extract(sc.hostF[:n*d], d, n, sc.isBOS)
	sc.random.extract(sc.hostR[:len(o.rrows)*d], d, len(o.rrows), func(int) bool { return false })
	for t := 0; t < n; t++ {
		var ss float64
		for _, v := range sc.hostX[t*dIn : (t+1)*dIn] {
			ss += float64(v) * float64(v)
		}
		o.sq[t] = ss
	}
}

// learntOf returns token t's learnt entries (none at BOS: excluded, or
// zero in the notebook's mode).
func (sc *scanner) learntOf(o *batchOut, t int) ([]uint32, []float32) {
	if sc.isBOS(t) {
		return nil, nil
	}
	if sc.onDevice {
		return o.lids[o.lptr[t]:o.lptr[t+1]], o.lvals[o.lptr[t]:o.lptr[t+1]]
	}
	return sc.learnt.token(t)
}

// randomOf returns baseline row j's entries.
func (sc *scanner) randomOf(o *batchOut, j int) ([]uint32, []float32) {
	if sc.onDevice {
		return o.rids[o.rptr[j]:o.rptr[j+1]], o.rvals[o.rptr[j]:o.rptr[j+1]]
	}
	return sc.random.token(j)
}

// addTokens hands the builder each token of o with its learnt entries,
// counted unless it is a BOS the parameters exclude, and adds the norms
// of the hook activation at its non-BOS tokens to the average.
func (sc *scanner) addTokens(o *batchOut) error {
	r0, seq := o.r0, sc.seq
	for t := 0; t < o.nb*seq; t++ {
		ids, vals := sc.learntOf(o, t)
		if err := checkFinite(ids, vals, r0+t/seq, t%seq); err != nil {
			return err
		}
		sc.b.AddToken(r0*seq+t, ids, vals, !sc.isBOS(t) || sc.p.IncludeBOS)
		if !sc.isBOS(t) {
			sc.normSum += math.Sqrt(o.sq[t])
			sc.normN++
		}
	}
	return nil
}

// addBaseline hands the builder the random baseline of o's baseline rows:
// each token's random vector rescaled to the norm of its learnt one (both
// are non-negative after the ReLU, so their positive entries carry the
// whole norm), tokens spread over the cores, then handed to the builder
// together.
func (sc *scanner) addBaseline(o *batchOut) {
	r0, seq, rb := o.r0, sc.seq, &sc.rb
	rb.toks, rb.src, rb.ids, rb.offs = rb.toks[:0], rb.src[:0], rb.ids[:0], append(rb.offs[:0], 0)
	for j, rt := range o.rrows {
		t := int(rt)
		if sc.isBOS(t) && !sc.p.IncludeBOS {
			continue
		}
		_, lv := sc.learntOf(o, t)
		ids, rv := sc.randomOf(o, j)
		if len(lv) == 0 || len(rv) == 0 { // a zero norm on either side: no baseline values
			ids, rv = nil, nil
		}
		rb.toks, rb.src, rb.ids = append(rb.toks, r0*seq+t), append(rb.src, j), append(rb.ids, ids)
		rb.offs = append(rb.offs, rb.offs[len(rb.offs)-1]+len(rv))
	}
	total := rb.offs[len(rb.toks)]
	rb.scaled = slices.Grow(rb.scaled[:0], total)[:total]
	rb.vals = slices.Grow(rb.vals[:0], len(rb.toks))[:len(rb.toks)]
	clear(rb.vals)
	parallel.Ranges(sc.workers, len(rb.toks), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			if rb.ids[i] == nil {
				continue
			}
			_, lv := sc.learntOf(o, rb.toks[i]-r0*seq)
			_, rv := sc.randomOf(o, rb.src[i])
			var ln, rn float64 // both > 0: their entries are positive
			for _, v := range lv {
				ln += float64(v) * float64(v)
			}
			for _, v := range rv {
				rn += float64(v) * float64(v)
			}
			k := float32(math.Sqrt(ln / rn))
			dst := rb.scaled[rb.offs[i]:rb.offs[i+1]]
			for x, v := range rv {
				dst[x] = v * k
			}
			rb.vals[i] = dst
		}
	})
	sc.b.AddRandomTokens(rb.toks, rb.ids, rb.vals)
}

// reserve sizes the builder's sparse arrays from the density of the first
// batch, of n tokens (+25%).
func (sc *scanner) reserve(n int) {
	b, p := sc.b, sc.p
	learntPer := float64(len(b.Snapshot().TokFeat)) / float64(max(1, n))
	randPer := float64(len(b.Snapshot().RandVal)) / float64(max(1, len(b.Snapshot().RandTok)))
	totalRand := (len(sc.rows) + p.BaselineStride - 1) / p.BaselineStride * sc.seq
	b.Reserve(int(1.25*learntPer*float64(len(sc.tokens)))+1024, int(1.25*randPer*float64(totalRand))+1024)
}

// checkFinite returns an error naming the feature, row and position of
// the first of vals that is +Inf, -Inf or NaN: an SAE whose encoder
// overflows float32 on this text (finite weights can, e.g. a W_enc column
// of 3e38), whose statistics would be meaningless. The random baseline's
// values are checked by the store's builder.
func checkFinite(ids []uint32, vals []float32, row, pos int) error {
	for i, v := range vals {
		if math.IsInf(float64(v), 0) || v != v {
			return fmt.Errorf("%w: feature %d is %v at row %d, position %d: the SAE's encoder overflows float32 on this text (check its W_enc and b_enc)",
				store.ErrNonFinite, ids[i], v, row, pos)
		}
	}
	return nil
}

// sparseBuffers extracts the non-zero entries of dense feature rows with
// one worker per core, each into its own buffers.
type sparseBuffers struct {
	workers int
	ids     [][]uint32
	vals    [][]float32
	ptr     []int // per token: end offset in its worker's buffers
	owner   []int // per token: which worker
	begin   []int
}

func newSparseBuffers(workers int) *sparseBuffers {
	return &sparseBuffers{workers: workers, ids: make([][]uint32, workers), vals: make([][]float32, workers)}
}

// extract collects the positive entries of each of the n rows of dense
// ([n, d]); rows for which empty is true get none.
func (sb *sparseBuffers) extract(dense []float32, d, n int, empty func(int) bool) {
	if cap(sb.ptr) < n {
		sb.ptr, sb.owner, sb.begin = make([]int, n), make([]int, n), make([]int, n)
	}
	sb.ptr, sb.owner, sb.begin = sb.ptr[:n], sb.owner[:n], sb.begin[:n]
	parallel.Ranges(sb.workers, n, func(w, lo, hi int) {
		ids, vals := sb.ids[w][:0], sb.vals[w][:0]
		for t := lo; t < hi; t++ {
			sb.owner[t], sb.begin[t] = w, len(ids)
			if !empty(t) {
				for f, v := range dense[t*d : (t+1)*d] {
					if !(v <= 0) { // positive, or NaN (refused by absorb)
						ids = append(ids, uint32(f))
						vals = append(vals, v)
					}
				}
			}
			sb.ptr[t] = len(ids)
		}
		sb.ids[w], sb.vals[w] = ids, vals
	})
}

func (sb *sparseBuffers) token(t int) ([]uint32, []float32) {
	w := sb.owner[t]
	return sb.ids[w][sb.begin[t]:sb.ptr[t]], sb.vals[w][sb.begin[t]:sb.ptr[t]]
}

// baselineBatch holds one batch's baseline tokens for Builder.AddRandomTokens
// (reused from batch to batch).
type baselineBatch struct {
	toks   []int       // token index in the corpus
	src    []int       // row of the batch's baseline results
	ids    [][]uint32  // features
	vals   [][]float32 // rescaled values (views of scaled)
	offs   []int       // token i's values: scaled[offs[i]:offs[i+1]]
	scaled []float32
}
