package analysis

import (
	"fmt"
	"time"

	"github.com/saescope/saescope/compute"
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

// atHook is a batch's step of one SAE, when the pass reaches its hook
// with the activations act of o's tokens: the encode and read-back
// (encodeBatch), then the batch handed to the host, once the host is done
// with the previous one. Off the device path the host absorbs it at once,
// so the backend and host buffers are free for the next SAE.
func (sc *scanner) atHook(o *batchOut, act compute.Tensor) error {
	if err := sc.encodeBatch(o, act); err != nil {
		return err
	}
	if err := sc.waitHost(); err != nil { // the previous batch
		return fmt.Errorf("scan: %w", err)
	}
	if err := sc.handOver(o); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	return nil
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
		sc.hostX = sc.shared.host(&sc.shared.hostX, n*sc.dIn)
		sc.be.Read(act, sc.hostX)
	case sc.onDevice:
		o.lptr, o.lids, o.lvals = sc.devSparse.SparseRows(f, o.lptr, o.lids, o.lvals)
		sc.devSparse.RowSumSquares(act, o.sq[:n])
	default:
		sc.hostF = sc.shared.host(&sc.shared.hostF, n*sc.d)
		sc.hostX = sc.shared.host(&sc.shared.hostX, n*sc.dIn)
		sc.be.Read(f, sc.hostF)
		sc.be.Read(act, sc.hostX)
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
		sc.hostR = sc.shared.host(&sc.shared.hostR, len(o.rrows)*sc.d)
		sc.be.Read(rf, sc.hostR)
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
