// Package analysis scans a corpus with GPT-2 and an SAE into a store: the
// learnt features' sparse activations and statistics, the notebook's random
// baseline, the unembedding statistics and the reconstruction score. It
// streams batch by batch and never holds the dense [tokens × features]
// matrix.
package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/parallel"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// Progress reports a scan's advance.
type Progress struct {
	Stage      string        // "scan", "unembedding", "reconstruction", "indexing", "writing"
	Rows       int           // rows done
	TotalRows  int           // rows to do
	TokensPerS float64       // scan speed so far
	ETA        time.Duration // estimated time left in this stage
}

// DefaultParams returns the notebook's settings: 1000 rows of 128 tokens,
// batch 32, BOS excluded, a baseline on one row in five.
func DefaultParams() store.Params {
	return store.Params{Rows: 1000, SeqLen: 128, Batch: 32, ShuffleSeed: 0, BaselineSeed: 1234,
		BaselineStride: 5, SampleSeed: 42, ReconRows: 16, UnembedScale: "avg_norm"}
}

func fillDefaults(p *store.Params) {
	d := DefaultParams()
	if p.Batch <= 0 {
		p.Batch = d.Batch
	}
	if p.BaselineStride <= 0 {
		p.BaselineStride = d.BaselineStride
	}
	if p.UnembedScale == "" {
		p.UnembedScale = d.UnembedScale
	}
	if p.ReconRows < 0 {
		p.ReconRows = 0
	}
}

// RandomEncoder returns the notebook's baseline SAE: W_enc replaced by a
// standard Gaussian matrix of the same shape (seeded), b_enc and b_dec kept.
func RandomEncoder(be compute.Backend, s *sae.SAE, seed uint64) (*encoder.Encoder, error) {
	rng := rand.New(rand.NewPCG(seed, 0xba5e))
	w := weights.Tensor{Shape: append([]int(nil), s.WEnc.Shape...), Data: make([]float32, len(s.WEnc.Data))}
	for i := range w.Data {
		w.Data[i] = float32(rng.NormFloat64())
	}
	rs := *s
	rs.WEnc = w
	return encoder.New(be, &rs)
}

// Scan runs the analysis of rows (each SeqLen tokens, BOS first). meta
// carries the sources and parameters; the returned store is complete but
// not written.
func Scan(ctx context.Context, m *model.Model, enc *encoder.Encoder, rows [][]int32, meta store.Meta, progress func(Progress)) (_ *store.Store, err error) {
	defer compute.RecoverBackend(m.Backend(), &err)
	p := &meta.Params
	fillDefaults(p)
	if progress == nil {
		progress = func(Progress) {}
	}
	if len(rows) == 0 {
		return nil, errors.New("scan: the corpus has no rows")
	}
	seq := len(rows[0])
	for i, r := range rows {
		if len(r) != seq {
			return nil, fmt.Errorf("scan: row %d has %d tokens, row 0 has %d", i, len(r), seq)
		}
	}
	p.SeqLen, p.Rows = seq, len(rows)
	if err := m.CheckTokens(rows[0], 1, seq); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	s := enc.SAE
	if err := s.CheckModel(m.Config.DModel, m.Config.DMLP(), m.Config.NLayer); err != nil {
		return nil, err
	}
	be := m.Backend()
	meta.Hook, meta.DIn, meta.DSae, meta.Backend = s.Hook.String(), s.DIn, s.DSae, be.Name()
	meta.Version, meta.Created = store.FormatVersion, time.Now().UTC()

	renc, err := RandomEncoder(be, s, p.BaselineSeed)
	if err != nil {
		return nil, err
	}
	defer renc.Close()
	tokens := make([]int32, 0, len(rows)*seq)
	for _, r := range rows {
		tokens = append(tokens, r...)
	}
	b := store.NewBuilder(meta, tokens)
	d, dIn := s.DSae, s.DIn
	B := min(p.Batch, len(rows))
	feats := be.Alloc(B*seq, d)
	// At most ceil(B/stride)+1 rows of a batch get the baseline.
	rcap := ((B+p.BaselineStride-1)/p.BaselineStride + 1) * seq
	rfeats := be.Alloc(rcap, d)
	ract := be.Alloc(rcap, dIn)
	defer func() { be.Free(feats); be.Free(rfeats); be.Free(ract) }()
	// How a batch's results reach the host: read in place on the CPU,
	// compacted on the device by a backend that can (only the non-zero
	// entries cross), or copied densely otherwise.
	hostView, inPlace := be.(compute.HostData)
	devSparse, onDevice := compute.ReadsBackSparse(be)
	var hostF, hostR, hostX []float32
	if !inPlace && !onDevice {
		hostF = make([]float32, B*seq*d)
		hostR = make([]float32, rcap*d)
	}
	if !onDevice {
		hostX = make([]float32, B*seq*dIn)
	}
	workers := runtime.GOMAXPROCS(0)
	learnt, random := newSparseBuffers(workers), newSparseBuffers(workers)
	// A batch's results on the host. On the device path the host turns
	// batch k into the store's arrays while the device runs batch k+1, so
	// there are two of these, used in turn; the other paths read buffers
	// that the next batch overwrites, so they absorb a batch before the
	// next one starts.
	type batchOut struct {
		r0, nb       int
		rrows        []int32 // token rows of the batch that get the baseline
		lptr, rptr   []uint64
		lids, rids   []uint32
		lvals, rvals []float32
		sq           []float64 // squared norms of the hook activation
	}
	outs := []*batchOut{{sq: make([]float64, B*seq)}}
	if onDevice {
		outs = append(outs, &batchOut{sq: make([]float64, B*seq)})
	}
	var normSum float64
	var normN int
	var rb baselineBatch
	isBOS := func(t int) bool { return t%seq == 0 }
	// absorb adds a batch's tokens and baseline to the builder. It fails
	// on a non-finite activation (an encoder overflowing float32), naming
	// the feature and the row.
	absorb := func(o *batchOut) error {
		r0, n := o.r0, o.nb*seq
		if !onDevice {
			learnt.extract(hostF[:n*d], d, n, isBOS)
			random.extract(hostR[:len(o.rrows)*d], d, len(o.rrows), func(int) bool { return false })
			for t := 0; t < n; t++ {
				var ss float64
				for _, v := range hostX[t*dIn : (t+1)*dIn] {
					ss += float64(v) * float64(v)
				}
				o.sq[t] = ss
			}
		}
		// Token t's learnt entries (none at BOS: excluded, or zero in the
		// notebook's mode) and baseline row j's entries.
		learntOf := func(t int) ([]uint32, []float32) {
			if isBOS(t) {
				return nil, nil
			}
			if onDevice {
				return o.lids[o.lptr[t]:o.lptr[t+1]], o.lvals[o.lptr[t]:o.lptr[t+1]]
			}
			return learnt.token(t)
		}
		randomOf := func(j int) ([]uint32, []float32) {
			if onDevice {
				return o.rids[o.rptr[j]:o.rptr[j+1]], o.rvals[o.rptr[j]:o.rptr[j+1]]
			}
			return random.token(j)
		}
		for t := 0; t < n; t++ {
			ids, vals := learntOf(t)
			if err := checkFinite(ids, vals, r0+t/seq, t%seq); err != nil {
				return err
			}
			b.AddToken(r0*seq+t, ids, vals, !isBOS(t) || p.IncludeBOS)
			if !isBOS(t) {
				normSum += math.Sqrt(o.sq[t])
				normN++
			}
		}
		// Random baseline: each token's random vector rescaled to the
		// norm of its learnt one (both are non-negative after the ReLU, so
		// their positive entries carry the whole norm), tokens spread
		// over the cores, then handed to the builder together.
		rb.toks, rb.src, rb.ids, rb.offs = rb.toks[:0], rb.src[:0], rb.ids[:0], append(rb.offs[:0], 0)
		for j, rt := range o.rrows {
			t := int(rt)
			if isBOS(t) && !p.IncludeBOS {
				continue
			}
			_, lv := learntOf(t)
			ids, rv := randomOf(j)
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
		parallel.Ranges(workers, len(rb.toks), func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				if rb.ids[i] == nil {
					continue
				}
				_, lv := learntOf(rb.toks[i] - r0*seq)
				_, rv := randomOf(rb.src[i])
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
		b.AddRandomTokens(rb.toks, rb.ids, rb.vals)
		if r0 == 0 {
			// Size the sparse arrays from the first batch's density (+25%).
			learntPer := float64(len(b.Snapshot().TokFeat)) / float64(max(1, n))
			randPer := float64(len(b.Snapshot().RandVal)) / float64(max(1, len(b.Snapshot().RandTok)))
			totalRand := (len(rows) + p.BaselineStride - 1) / p.BaselineStride * seq
			b.Reserve(int(1.25*learntPer*float64(len(tokens)))+1024, int(1.25*randPer*float64(totalRand))+1024)
		}
		return nil
	}
	// The batch the host is absorbing in the background (device path).
	var hostWG sync.WaitGroup
	defer hostWG.Wait()
	var hostTime time.Duration // the device's wait for the host
	var hostErr error          // absorb's error in the background, read after hostWG.Wait
	waitHost := func() error {
		t0 := time.Now()
		hostWG.Wait()
		hostTime += time.Since(t0)
		return hostErr
	}
	hook := s.Hook
	start := time.Now()
	for k, r0 := 0, 0; r0 < len(rows); k, r0 = k+1, r0+B {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		o := outs[k%len(outs)] // on the device path, absorbed two batches ago
		nb := min(B, len(rows)-r0)
		o.r0, o.nb = r0, nb
		batchTok := tokens[r0*seq : (r0+nb)*seq]
		// Rows of this batch that get the baseline, and their token rows.
		o.rrows = o.rrows[:0]
		for r := 0; r < nb; r++ {
			if (r0+r)%p.BaselineStride == 0 {
				for t := 0; t < seq; t++ {
					o.rrows = append(o.rrows, int32(r*seq+t))
				}
			}
		}
		n := nb * seq
		m.Lock()
		_, err := m.Run(ctx, batchTok, nb, seq, model.Hooks{StopAfter: &hook, Uncentred: s.Uncentred, Observe: func(h hookname.Hook, act compute.Tensor) error {
			if h != hook {
				return nil
			}
			f := be.RowsView(feats, 0, n)
			if err := enc.Encode(f, act); err != nil {
				return err
			}
			switch {
			case inPlace:
				hostF = hostView.HostData(f)
				be.Read(act, hostX[:n*dIn])
			case onDevice:
				o.lptr, o.lids, o.lvals = devSparse.SparseRows(f, o.lptr, o.lids, o.lvals)
				devSparse.RowSumSquares(act, o.sq[:n])
			default:
				be.Read(f, hostF[:n*d])
				be.Read(act, hostX[:n*dIn])
			}
			if len(o.rrows) > 0 {
				ra := be.RowsView(ract, 0, len(o.rrows))
				be.Gather(ra, act, o.rrows)
				rf := be.RowsView(rfeats, 0, len(o.rrows))
				if err := renc.Encode(rf, ra); err != nil {
					return err
				}
				switch {
				case inPlace:
					hostR = hostView.HostData(rf)
				case onDevice:
					o.rptr, o.rids, o.rvals = devSparse.SparseRows(rf, o.rptr, o.rids, o.rvals)
				default:
					be.Read(rf, hostR[:len(o.rrows)*d])
				}
			}
			return nil
		}})
		m.Unlock()
		if err != nil {
			return nil, err
		}
		if err := waitHost(); err != nil { // the previous batch
			return nil, fmt.Errorf("scan: %w", err)
		}
		if onDevice {
			hostWG.Add(1)
			go func() {
				defer hostWG.Done()
				hostErr = absorb(o)
			}()
		} else {
			t0 := time.Now()
			err := absorb(o)
			hostTime += time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("scan: %w", err)
			}
		}
		done := r0 + nb
		el := time.Since(start)
		tps := float64(done*seq) / el.Seconds()
		progress(Progress{Stage: "scan", Rows: done, TotalRows: len(rows), TokensPerS: tps,
			ETA: time.Duration(float64(len(rows)-done) * float64(seq) / tps * float64(time.Second))})
	}
	if err := waitHost(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	scanTime := time.Since(start)
	sum := b.Summary()
	sum.ScanSeconds = scanTime.Seconds()
	sum.TokensPerS = float64(len(tokens)) / scanTime.Seconds()
	sum.HostSeconds = hostTime.Seconds()
	if normN > 0 {
		sum.AvgNorm = normSum / float64(normN)
	}

	// Unembedding of decoder directions and of random directions of the
	// same norms, scaled as the notebook did.
	if hook.Width() == "d_model" {
		progress(Progress{Stage: "unembedding", Rows: len(rows), TotalRows: len(rows)})
		scale := sum.AvgNorm
		if p.UnembedScale != "avg_norm" {
			if scale, err = strconv.ParseFloat(p.UnembedScale, 64); err != nil {
				return nil, fmt.Errorf("scan: unembed scale %q is neither avg_norm nor a number", p.UnembedScale)
			}
		}
		sum.UnembedScale = scale
		ue, err := features.UnembedDecoder(ctx, m, enc, float32(scale))
		if err != nil {
			return nil, err
		}
		rdir, err := randomDirections(be, s, p.BaselineSeed+1)
		if err != nil {
			return nil, err
		}
		re, err := features.UnembedDecoder(ctx, m, rdir, float32(scale))
		rdir.Close()
		if err != nil {
			return nil, err
		}
		b.SetUnembedding(ue.EntropyBits, ue.MaxProb, re.EntropyBits, re.MaxProb)
	}

	if p.ReconRows > 0 {
		progress(Progress{Stage: "reconstruction", Rows: len(rows), TotalRows: len(rows)})
		nr := min(p.ReconRows, len(rows))
		losses, err := features.Reconstruction(ctx, m, enc, tokens[:nr*seq], nr, seq)
		if err != nil {
			return nil, err
		}
		sum.LossClean, sum.LossRecons, sum.LossZero, sum.LossMean, sum.ReconScore = losses.Clean, losses.Recons, losses.Zero, losses.Mean, losses.Score
	}
	progress(Progress{Stage: "indexing", Rows: len(rows), TotalRows: len(rows)})
	st, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return st, nil
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

// randomDirections returns an encoder whose decoder rows are Gaussian
// directions with the norms of s's decoder rows (the rest is s's).
func randomDirections(be compute.Backend, s *sae.SAE, seed uint64) (*encoder.Encoder, error) {
	rng := rand.New(rand.NewPCG(seed, 0xd1))
	w := weights.Tensor{Shape: append([]int(nil), s.WDec.Shape...), Data: make([]float32, len(s.WDec.Data))}
	for f := 0; f < s.DSae; f++ {
		row := s.WDec.Data[f*s.DIn : (f+1)*s.DIn]
		out := w.Data[f*s.DIn : (f+1)*s.DIn]
		var want, got float64
		for j := range out {
			out[j] = float32(rng.NormFloat64())
			got += float64(out[j]) * float64(out[j])
			want += float64(row[j]) * float64(row[j])
		}
		k := float32(math.Sqrt(want / got))
		for j := range out {
			out[j] *= k
		}
	}
	rs := *s
	rs.WDec = w
	return encoder.New(be, &rs)
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
