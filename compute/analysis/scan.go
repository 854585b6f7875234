// Package analysis scans a corpus with GPT-2 and one or more SAEs into
// stores: the learnt features' sparse activations and statistics, the
// notebook's random baseline, the unembedding statistics and the
// reconstruction score. It streams batch by batch and never holds the
// dense [tokens × features] matrix. Several SAEs share one model pass per
// batch, to the deepest of their hooks, and each gets its own store.
//
// Files: scan.go (Scan and ScanMany, and the scanner that holds one
// SAE's part of a scan: its preparation and the passes after the
// batches), pass.go (what the SAEs share: the model's pass over each
// batch to the deepest hook, the buffers), batch.go (an SAE's step of a
// batch: the encoders at its hook and the read-back of their results),
// absorb.go (a batch's results into the store's builder, with the random
// baseline), random.go (the random encoder and random decoder
// directions), cache.go (a scan's key and where its store is kept).
package analysis

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/tokenizer"
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

// Scan runs the analysis of rows (each SeqLen tokens, BOS first; or, with
// meta.Params.NoBOS, text only, as corpus.Corpus.WithoutBOS cuts them for
// an SAE trained without BOS, whose position 0 is then counted like any
// other token). meta carries the sources and parameters; the caller sets
// Params.NoBOS from the SAE (sae.SAE.NoBOS) before it computes the
// store's key, and rows that do not start with BOS are refused without
// it. The returned store is complete but not written. Scan checks the
// inputs, runs the model and the SAE (and the random baseline's encoder)
// over the rows batch by batch into the store's builder, then unembeds
// the decoder directions, measures the reconstruction loss and indexes
// the store. It is ScanMany with one SAE.
func Scan(ctx context.Context, m *model.Model, enc *encoder.Encoder, rows [][]int32, meta store.Meta, progress func(Progress)) (*store.Store, error) {
	var each func(int, Progress)
	if progress != nil {
		each = func(_ int, p Progress) { progress(p) }
	}
	sts, err := ScanMany(ctx, m, rows, []Target{{Enc: enc, Meta: meta}}, each)
	if err != nil {
		return nil, err
	}
	return sts[0], nil
}

// ScanFull is Scan into a full store, which keeps every activation (see
// Target.Full).
func ScanFull(ctx context.Context, m *model.Model, enc *encoder.Encoder, rows [][]int32, meta store.Meta, progress func(Progress)) (*store.Store, error) {
	var each func(int, Progress)
	if progress != nil {
		each = func(_ int, p Progress) { progress(p) }
	}
	sts, err := ScanMany(ctx, m, rows, []Target{{Enc: enc, Meta: meta, Full: true}}, each)
	if err != nil {
		return nil, err
	}
	return sts[0], nil
}

// Target is one SAE of a scan and the metadata of its store (sources and
// parameters, as Scan's meta).
type Target struct {
	Enc  *encoder.Encoder
	Meta store.Meta
	// Full keeps every activation: a full store (store.NewBuilder, format
	// 2), whose size grows with the corpus, for checks against reference
	// activations; otherwise the store is bounded (store.NewBoundedBuilder).
	Full bool
}

// ScanMany analyses rows with every target's SAE in one pass: each batch
// runs the model once, to the deepest hook the SAEs need (one pass per
// batch for the SAEs of centred hooks, one for those trained on
// uncentred activations), and each SAE encodes the activations at its
// own hook as the pass goes by them. Each target gets its own store, the
// one Scan would make of it alone: what is kept of an SAE's batches does
// not depend on the others, and its key stays its own (Key).
//
// The targets share the rows and the batch size (Params.Batch) and must
// agree on Params.NoBOS (rows with or without BOS); progress is called
// with the target's index. After the batches, each target's store is
// finished in turn (unembedding, reconstruction score, indexing). The
// stores are returned in the targets' order, complete but not written;
// on an error, or when ctx is cancelled, none is returned, so a caller
// that writes the stores after ScanMany never leaves one half-written.
func ScanMany(ctx context.Context, m *model.Model, rows [][]int32, targets []Target, progress func(sae int, p Progress)) (_ []*store.Store, err error) {
	defer compute.RecoverBackend(m.Backend(), &err)
	if progress == nil {
		progress = func(int, Progress) {}
	}
	ms := &multiScan{ctx: ctx, m: m, be: m.Backend(), rows: rows, progress: progress,
		bufs: map[bufKey]compute.Tensor{}}
	defer ms.close()
	if err := ms.check(targets); err != nil {
		return nil, err
	}
	for _, sc := range ms.scanners {
		if err := sc.prepare(); err != nil {
			return nil, ms.named(sc, err)
		}
	}
	if err := ms.scanBatches(); err != nil {
		return nil, err
	}
	out := make([]*store.Store, len(ms.scanners))
	for i, sc := range ms.scanners {
		st, err := sc.finish()
		if err != nil {
			return nil, ms.named(sc, err)
		}
		out[i] = st
	}
	return out, nil
}

// finish turns a scanner whose batches are absorbed into its store: the
// summary, the unembedding statistics, the reconstruction score and the
// store's indexes.
func (sc *scanner) finish() (*store.Store, error) {
	sc.summarize()
	if err := sc.unembedding(); err != nil {
		return nil, err
	}
	if err := sc.reconstruction(); err != nil {
		return nil, err
	}
	return sc.build()
}

// scanner holds one SAE's part of a scan: its encoder, the store's
// builder, the host buffers its batches' results are read back into, and
// what it accumulates besides the builder (the activation norms, the
// time spent on the host). The multiScan that owns it runs the model and
// calls, for each batch, begin on its batchOut, atHook when the pass
// reaches its hook, then report; finish after the last batch. What a
// batch leaves in the store is decided here (absorb.go), never by the
// pass, so a store is the same made alone or with other SAEs.
type scanner struct {
	ctx      context.Context
	m        *model.Model
	be       compute.Backend
	enc      *encoder.Encoder
	rows     [][]int32
	tokens   []int32 // the rows, one after the other (shared by the scanners)
	meta     store.Meta
	full     bool // keep every activation (Target.Full)
	progress func(Progress)
	shared   *multiScan // the backend and host buffers the scanners share

	// Set by check.
	p    *store.Params // &meta.Params, defaults filled in
	sae  *sae.SAE      // enc's
	hook hookname.Hook // where the SAE reads activations
	seq  int           // tokens per row

	// Set by prepare.
	renc   *encoder.Encoder // the random baseline's: a Gaussian W_enc
	b      *store.Builder
	d, dIn int // features, hook width
	batch  int // rows per batch
	// Backend buffers (shared with the other scanners of the pass, which
	// use them in turn): a batch's features, and its baseline rows'
	// activations and random features.
	feats, rfeats, ract compute.Tensor
	// How a batch's results reach the host: read in place on the CPU,
	// compacted on the device by a backend that can (only the non-zero
	// entries cross), or copied densely otherwise.
	hostView            compute.HostData
	inPlace             bool
	devSparse           compute.SparseReader
	onDevice            bool
	hostF, hostR, hostX []float32      // dense features, random features, activations (not on the device path; the shared host buffers)
	workers             int            // cores the host's work is spread over
	learnt, random      *sparseBuffers // the positive entries of hostF and hostR
	outs                []*batchOut    // two on the device path, used in turn; else one

	// Accumulated by the batches.
	rb       baselineBatch // the current batch's baseline for the builder
	normSum  float64       // the hook activation's L2 norms at non-BOS tokens (all with NoBOS)
	normN    int
	start    time.Time      // of the first batch
	scanTime time.Duration  // from start until the last batch is absorbed
	hostWG   sync.WaitGroup // the batch the host is absorbing in the background (device path)
	hostErr  error          // absorb's error in the background, read after hostWG.Wait
	hostTime time.Duration  // the device's wait for the host
}

// check fills in the parameters' defaults, refuses rows that do not
// start with BOS unless Params.NoBOS, and an SAE that does not fit the
// model, and records the SAE, the backend and the store format in the
// metadata. The rows themselves (not empty, of equal lengths, in the
// vocabulary) are multiScan.check's.
func (sc *scanner) check() error {
	sc.p = &sc.meta.Params
	p := sc.p
	fillDefaults(p)
	seq := len(sc.rows[0])
	sc.seq = seq
	p.SeqLen, p.Rows = seq, len(sc.rows)
	if !p.NoBOS {
		for i, r := range sc.rows {
			if r[0] != tokenizer.BOS {
				return fmt.Errorf("scan: row %d starts with token %d, not BOS (%d): rows without BOS are scanned with Params.NoBOS", i, r[0], tokenizer.BOS)
			}
		}
	}
	m := sc.m
	s := sc.enc.SAE
	if err := s.CheckModel(m.Config.DModel, m.Config.DMLP(), m.Config.NLayer); err != nil {
		return err
	}
	sc.sae, sc.hook = s, s.Hook
	meta := &sc.meta
	meta.Hook, meta.DIn, meta.DSae, meta.Backend = s.Hook.String(), s.DIn, s.DSae, sc.be.Name()
	meta.Version, meta.Created = store.FormatVersion, time.Now().UTC()
	if sc.full {
		meta.Version = store.FullFormatVersion
	}
	return nil
}

// prepare makes the random baseline's encoder, the store's builder, the
// backend buffers for the largest batch (shared with the other scanners)
// and the host buffers and batchOuts of the read-back path the backend
// offers.
func (sc *scanner) prepare() error {
	be, s, p, seq := sc.be, sc.sae, sc.p, sc.seq
	renc, err := RandomEncoder(be, s, p.BaselineSeed)
	if err != nil {
		return err
	}
	sc.renc = renc
	sc.b = store.NewBoundedBuilder(sc.meta, sc.tokens)
	if sc.full {
		sc.b = store.NewBuilder(sc.meta, sc.tokens)
	}
	d, dIn := s.DSae, s.DIn
	B := min(p.Batch, len(sc.rows))
	sc.d, sc.dIn, sc.batch = d, dIn, B
	sh := sc.shared
	sc.feats = sh.tensor("features", B*seq, d)
	// At most ceil(B/stride)+1 rows of a batch get the baseline.
	rcap := ((B+p.BaselineStride-1)/p.BaselineStride + 1) * seq
	sc.rfeats = sh.tensor("baseline features", rcap, d)
	sc.ract = sh.tensor("baseline activations", rcap, dIn)
	sc.hostView, sc.inPlace = be.(compute.HostData)
	sc.devSparse, sc.onDevice = compute.ReadsBackSparse(be)
	sc.workers = runtime.GOMAXPROCS(0)
	sc.learnt, sc.random = newSparseBuffers(sc.workers), newSparseBuffers(sc.workers)
	sc.outs = []*batchOut{{sq: make([]float64, B*seq)}}
	if sc.onDevice {
		sc.outs = append(sc.outs, &batchOut{sq: make([]float64, B*seq)})
	}
	return nil
}

// close waits for the batch the host may still be absorbing, so that a
// failed or cancelled scan returns only after it, then frees the random
// encoder that prepare made (the shared buffers are the multiScan's).
func (sc *scanner) close() {
	sc.hostWG.Wait()
	if sc.renc != nil {
		sc.renc.Close()
	}
}

// stage reports the start of a stage after the batches.
func (sc *scanner) stage(name string) {
	sc.progress(Progress{Stage: name, Rows: len(sc.rows), TotalRows: len(sc.rows)})
}

// summarize writes the scan's speed, its time on the host and the
// average norm of the hook activation (BOS excluded; over every token of
// rows without BOS) in the summary.
func (sc *scanner) summarize() {
	sum := sc.b.Summary()
	sum.ScanSeconds = sc.scanTime.Seconds()
	sum.TokensPerS = float64(len(sc.tokens)) / sc.scanTime.Seconds()
	sum.HostSeconds = sc.hostTime.Seconds()
	if sc.normN > 0 {
		sum.AvgNorm = sc.normSum / float64(sc.normN)
	}
}

// unembedding sets the unembedding statistics of the decoder directions
// and of random directions of the same norms, scaled as the notebook did
// (by the average norm, or by the number Params.UnembedScale gives), for
// an SAE at a hook of the residual stream's width; otherwise it does
// nothing.
func (sc *scanner) unembedding() error {
	if sc.hook.Width() != "d_model" {
		return nil
	}
	sc.stage("unembedding")
	sum := sc.b.Summary()
	scale := sum.AvgNorm
	if sc.p.UnembedScale != "avg_norm" {
		var err error
		if scale, err = strconv.ParseFloat(sc.p.UnembedScale, 64); err != nil {
			return fmt.Errorf("scan: unembed scale %q is neither avg_norm nor a number", sc.p.UnembedScale)
		}
	}
	sum.UnembedScale = scale
	ue, err := features.UnembedDecoder(sc.ctx, sc.m, sc.enc, float32(scale))
	if err != nil {
		return err
	}
	rdir, err := randomDirections(sc.be, sc.sae, sc.p.BaselineSeed+1)
	if err != nil {
		return err
	}
	re, err := features.UnembedDecoder(sc.ctx, sc.m, rdir, float32(scale))
	rdir.Close()
	if err != nil {
		return err
	}
	sc.b.SetUnembedding(ue.EntropyBits, ue.MaxProb, re.EntropyBits, re.MaxProb)
	return nil
}

// reconstruction writes the losses with the SAE spliced in and the
// reconstruction score, measured on the first Params.ReconRows rows, in
// the summary; it does nothing when ReconRows is 0.
func (sc *scanner) reconstruction() error {
	if sc.p.ReconRows <= 0 {
		return nil
	}
	sc.stage("reconstruction")
	nr := min(sc.p.ReconRows, len(sc.rows))
	losses, err := features.Reconstruction(sc.ctx, sc.m, sc.enc, sc.tokens[:nr*sc.seq], nr, sc.seq)
	if err != nil {
		return err
	}
	sum := sc.b.Summary()
	sum.LossClean, sum.LossRecons, sum.LossZero, sum.LossMean, sum.ReconScore = losses.Clean, losses.Recons, losses.Zero, losses.Mean, losses.Score
	return nil
}

// build reports the "indexing" stage and has the builder derive the
// by-feature index, statistics and samples and return the store.
func (sc *scanner) build() (*store.Store, error) {
	sc.stage("indexing")
	st, err := sc.b.Build()
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return st, nil
}
