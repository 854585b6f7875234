package analysis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// multiScan is the part of a scan that the SAEs share: the rows, the
// model's passes over them batch by batch, and the buffers the SAEs use
// in turn. What each SAE keeps of a batch is its scanner's.
type multiScan struct {
	ctx      context.Context
	m        *model.Model
	be       compute.Backend
	rows     [][]int32
	tokens   []int32 // the rows, one after the other
	seq      int     // tokens per row
	batch    int     // rows per batch
	progress func(int, Progress)
	scanners []*scanner  // in the targets' order
	passes   []*passPlan // one model pass per batch for each
	start    time.Time   // of the first batch

	// Buffers the scanners share, used by one scanner at a time: backend
	// tensors by role and shape, and host slices grown to the largest
	// request.
	bufs                map[bufKey]compute.Tensor
	hostF, hostR, hostX []float32
}

// passPlan is one model pass of a batch: the scanners whose SAEs read the
// same kind of activations (centred, or uncentred for SAEs trained on
// them), run to the deepest of their hooks.
type passPlan struct {
	uncentred bool
	stop      hookname.Hook
	scanners  []*scanner
}

// check refuses an empty corpus, rows of unequal lengths or with tokens
// outside the vocabulary, no SAE, and SAEs that disagree on the batch
// size or on BOS; it makes a scanner per target (scanner.check) and
// plans the passes.
func (ms *multiScan) check(targets []Target) error {
	if len(targets) == 0 {
		return errors.New("scan: no SAE to scan with")
	}
	if len(ms.rows) == 0 {
		return errors.New("scan: the corpus has no rows")
	}
	seq := len(ms.rows[0])
	for i, r := range ms.rows {
		if len(r) != seq {
			return fmt.Errorf("scan: row %d has %d tokens, row 0 has %d", i, len(r), seq)
		}
	}
	ms.seq = seq
	ms.tokens = make([]int32, 0, len(ms.rows)*seq)
	for _, r := range ms.rows {
		ms.tokens = append(ms.tokens, r...)
	}
	if err := ms.m.CheckTokens(ms.tokens, len(ms.rows), seq); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	ms.scanners = make([]*scanner, len(targets))
	for i, t := range targets {
		ms.scanners[i] = &scanner{ctx: ms.ctx, m: ms.m, be: ms.be, enc: t.Enc, rows: ms.rows, tokens: ms.tokens, meta: t.Meta, full: t.Full, shared: ms,
			progress: func(p Progress) { ms.progress(i, p) }}
	}
	for i, sc := range ms.scanners {
		if sc.enc == nil {
			return fmt.Errorf("scan: target %d has no encoder", i)
		}
		if err := sc.check(); err != nil {
			return ms.named(sc, err)
		}
	}
	first := ms.scanners[0].p
	for _, sc := range ms.scanners[1:] {
		if sc.p.Batch != first.Batch {
			return ms.named(sc, fmt.Errorf("scan: batches of %d rows, where the first SAE's are %d: SAEs scanned together share the batch", sc.p.Batch, first.Batch))
		}
		if sc.p.NoBOS != first.NoBOS {
			return ms.named(sc, errors.New("scan: SAEs trained with and without BOS read different rows: scan them apart"))
		}
	}
	ms.batch = min(first.Batch, len(ms.rows))
	for _, sc := range ms.scanners {
		i := slices.IndexFunc(ms.passes, func(pp *passPlan) bool { return pp.uncentred == sc.sae.Uncentred })
		if i < 0 {
			ms.passes = append(ms.passes, &passPlan{uncentred: sc.sae.Uncentred, stop: sc.hook})
			i = len(ms.passes) - 1
		}
		pp := ms.passes[i]
		pp.scanners = append(pp.scanners, sc)
		if sc.hook.Order() > pp.stop.Order() {
			pp.stop = sc.hook
		}
	}
	return nil
}

// named adds which SAE err is about when there are several.
func (ms *multiScan) named(sc *scanner, err error) error {
	if len(ms.scanners) < 2 {
		return err
	}
	name := sc.meta.SAE.Path
	if name == "" {
		name = fmt.Sprintf("SAE %d", slices.Index(ms.scanners, sc))
	}
	return fmt.Errorf("%s at %s: %w", name, sc.hook, err)
}

// bufKey names a shared backend buffer: its role in a batch and its
// shape. Buffers of different roles are never one tensor, even of one
// shape: a scanner holds its features and its baseline's features at
// the same time.
type bufKey struct {
	role       string
	rows, cols int
}

// tensor returns the shared backend buffer for role of shape [rows, cols].
func (ms *multiScan) tensor(role string, rows, cols int) compute.Tensor {
	k := bufKey{role, rows, cols}
	if t, ok := ms.bufs[k]; ok {
		return t
	}
	t := ms.be.Alloc(rows, cols)
	ms.bufs[k] = t
	return t
}

// host returns the first n floats of the shared host buffer *buf, grown
// when it is shorter.
func (ms *multiScan) host(buf *[]float32, n int) []float32 {
	if len(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

// close waits for the scanners' background work and frees what they and
// the pass allocated on the backend.
func (ms *multiScan) close() {
	for _, sc := range ms.scanners {
		sc.close()
	}
	for _, t := range ms.bufs {
		ms.be.Free(t)
	}
}

// scanBatches runs the rows through the model batch by batch, each SAE
// encoding at its hook and absorbing the batch (scanner.atHook), and
// reports each SAE's progress after each batch; it stops at the first
// error or when ctx is done. On the device path the host absorbs a batch
// while the next one runs.
func (ms *multiScan) scanBatches() error {
	ms.start = time.Now()
	for _, sc := range ms.scanners {
		sc.start = ms.start
	}
	for k, r0 := 0, 0; r0 < len(ms.rows); k, r0 = k+1, r0+ms.batch {
		if err := ms.ctx.Err(); err != nil {
			return err
		}
		nb := min(ms.batch, len(ms.rows)-r0)
		for _, sc := range ms.scanners {
			// on the device path, absorbed two batches ago
			sc.outs[k%len(sc.outs)].begin(r0, nb, ms.seq, sc.p.BaselineStride)
		}
		for _, pp := range ms.passes {
			if err := ms.run(pp, k, r0, nb); err != nil {
				return err
			}
		}
		for _, sc := range ms.scanners {
			sc.reportScan(r0 + nb)
		}
	}
	for _, sc := range ms.scanners {
		if err := sc.waitHost(); err != nil {
			return ms.named(sc, fmt.Errorf("scan: %w", err))
		}
		sc.scanTime = time.Since(ms.start)
	}
	return nil
}

// run makes pass pp over batch k (nb rows from r0), holding the model's
// lock, up to its deepest hook: at each hook, the scanners that read it
// take the activations in the targets' order.
func (ms *multiScan) run(pp *passPlan, k, r0, nb int) error {
	tokens := ms.tokens[r0*ms.seq : (r0+nb)*ms.seq]
	at := make([]hookname.Hook, len(pp.scanners))
	for i, sc := range pp.scanners {
		at[i] = sc.hook
	}
	ms.m.Lock()
	defer ms.m.Unlock()
	_, err := ms.m.Run(ms.ctx, tokens, nb, ms.seq, model.Hooks{StopAfter: &pp.stop, Uncentred: pp.uncentred, ObserveAt: at, Observe: func(h hookname.Hook, act compute.Tensor) error {
		for _, sc := range pp.scanners {
			if sc.hook != h {
				continue
			}
			if err := sc.atHook(sc.outs[k%len(sc.outs)], act); err != nil {
				return ms.named(sc, err)
			}
		}
		return nil
	}})
	return err
}
