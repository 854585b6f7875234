package analysis

import (
	"fmt"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// batchOut holds a batch's results on the host. On the device path the
// host turns batch k into the store's arrays while the device runs batch
// k+1, so there are two of these, used in turn; the other paths read
// buffers that the next batch overwrites, so they absorb a batch before
// the next one starts.
type batchOut struct {
	r0, nb       int
	rrows        []int32 // token rows of the batch that get the baseline
	lptr, rptr   []uint64
	lids, rids   []uint32
	lvals, rvals []float32
	sq           []float64 // squared norms of the hook activation
}

// begin makes o the batch of the nb rows from row r0 and lists the token
// rows of those that get the baseline: every stride-th row of the corpus.
func (o *batchOut) begin(r0, nb, seq, stride int) {
	o.r0, o.nb = r0, nb
	o.rrows = o.rrows[:0]
	for r := 0; r < nb; r++ {
		if (r0+r)%stride == 0 {
			for t := 0; t < seq; t++ {
				o.rrows = append(o.rrows, int32(r*seq+t))
			}
		}
	}
}

// scanBatches runs the rows through the model and the encoders batch by
// batch and absorbs each batch's results into the builder, reporting
// progress after each; it stops at the first error or when ctx is done.
// On the device path the host absorbs a batch while the next one runs.
func (sc *scanner) scanBatches() error {
	sc.start = time.Now()
	for k, r0 := 0, 0; r0 < len(sc.rows); k, r0 = k+1, r0+sc.batch {
		if err := sc.ctx.Err(); err != nil {
			return err
		}
		o := sc.outs[k%len(sc.outs)] // on the device path, absorbed two batches ago
		o.begin(r0, min(sc.batch, len(sc.rows)-r0), sc.seq, sc.p.BaselineStride)
		if err := sc.runBatch(o); err != nil {
			return err
		}
		if err := sc.waitHost(); err != nil { // the previous batch
			return fmt.Errorf("scan: %w", err)
		}
		if err := sc.handOver(o); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		sc.reportScan(r0 + o.nb)
	}
	if err := sc.waitHost(); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	sc.scanTime = time.Since(sc.start)
	return nil
}

// runBatch runs the model on o's rows, holding its lock, up to the SAE's
// hook, where encodeBatch takes the activations.
func (sc *scanner) runBatch(o *batchOut) error {
	tokens := sc.tokens[o.r0*sc.seq : (o.r0+o.nb)*sc.seq]
	sc.m.Lock()
	_, err := sc.m.Run(sc.ctx, tokens, o.nb, sc.seq, model.Hooks{StopAfter: &sc.hook, Uncentred: sc.sae.Uncentred, Observe: func(h hookname.Hook, act compute.Tensor) error {
		if h != sc.hook {
			return nil
		}
		return sc.encodeBatch(o, act)
	}})
	sc.m.Unlock()
	return err
}

// encodeBatch encodes the hook activations act of o's tokens with the
// SAE, and those of o's baseline rows, gathered, with the random encoder,
// and reads both results back.
func (sc *scanner) encodeBatch(o *batchOut, act compute.Tensor) error {
	be := sc.be
	f := be.RowsView(sc.feats, 0, o.nb*sc.seq)
	if err := sc.enc.Encode(f, act); err != nil {
		return err
	}
	sc.readLearnt(o, f, act)
	if len(o.rrows) > 0 {
		ra := be.RowsView(sc.ract, 0, len(o.rrows))
		be.Gather(ra, act, o.rrows)
		rf := be.RowsView(sc.rfeats, 0, len(o.rrows))
		if err := sc.renc.Encode(rf, ra); err != nil {
			return err
		}
		sc.readRandom(o, rf)
	}
	return nil
}

// readLearnt reads back a batch's features f and hook activations act:
// on the CPU the features in place and the activations into hostX; on
// the device path the features' non-zero entries and the activations'
// squared norms into o; otherwise both densely into hostF and hostX.
func (sc *scanner) readLearnt(o *batchOut, f, act compute.Tensor) {
	n := o.nb * sc.seq
	switch {
	case sc.inPlace:
		sc.hostF = sc.hostView.HostData(f)
		sc.be.Read(act, sc.hostX[:n*sc.dIn])
	case sc.onDevice:
		o.lptr, o.lids, o.lvals = sc.devSparse.SparseRows(f, o.lptr, o.lids, o.lvals)
		sc.devSparse.RowSumSquares(act, o.sq[:n])
	default:
		sc.be.Read(f, sc.hostF[:n*sc.d])
		sc.be.Read(act, sc.hostX[:n*sc.dIn])
	}
}

// readRandom reads back the random features rf of a batch's baseline
// rows, as readLearnt does the features.
func (sc *scanner) readRandom(o *batchOut, rf compute.Tensor) {
	switch {
	case sc.inPlace:
		sc.hostR = sc.hostView.HostData(rf)
	case sc.onDevice:
		o.rptr, o.rids, o.rvals = sc.devSparse.SparseRows(rf, o.rptr, o.rids, o.rvals)
	default:
		sc.be.Read(rf, sc.hostR[:len(o.rrows)*sc.d])
	}
}

// handOver has the host absorb batch o: in the background on the device
// path (waitHost collects its error), at once otherwise.
func (sc *scanner) handOver(o *batchOut) error {
	if sc.onDevice {
		sc.hostWG.Add(1)
		go func() {
			defer sc.hostWG.Done()
			sc.hostErr = sc.absorb(o)
		}()
		return nil
	}
	t0 := time.Now()
	err := sc.absorb(o)
	sc.hostTime += time.Since(t0)
	return err
}

// waitHost waits for the batch the host is absorbing in the background,
// if any, counting the wait as host time, and returns its error.
func (sc *scanner) waitHost() error {
	t0 := time.Now()
	sc.hostWG.Wait()
	sc.hostTime += time.Since(t0)
	return sc.hostErr
}

// reportScan reports the scan's speed and time left when done rows are
// absorbed (on the device path: handed to the host).
func (sc *scanner) reportScan(done int) {
	el := time.Since(sc.start)
	tps := float64(done*sc.seq) / el.Seconds()
	sc.progress(Progress{Stage: "scan", Rows: done, TotalRows: len(sc.rows), TokensPerS: tps,
		ETA: time.Duration(float64(len(sc.rows)-done) * float64(sc.seq) / tps * float64(time.Second))})
}
