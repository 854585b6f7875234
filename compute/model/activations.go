package model

import "github.com/saescope/saescope/compute"

// activations holds the buffers a pass writes for one number of token rows
// (batch·seq): the positions, the embeddings, the residual stream and each
// block's intermediate values, reused from Run to Run and block to block.
type activations struct {
	rows                               int
	pos                                []int32
	embed, posEmbed, resid, ln, qkv, z compute.Tensor
	attnOut, hidden, mlpOut            compute.Tensor
}

// logitChunk bounds the rows whose logits exist at once (50257 floats each).
const logitChunk = 64

// activationsFor returns buffers for rows token rows. They are allocated
// for the largest number of rows seen so far (m.acts); a smaller pass gets
// views of their first rows (m.cut), kept while that number repeats, so
// that a steady stream of batches allocates nothing.
func (m *Model) activationsFor(rows int) *activations {
	switch {
	case m.acts != nil && m.acts.rows == rows:
		return m.acts
	case m.cut != nil && m.cut.rows == rows:
		return m.cut
	case m.acts != nil && m.acts.rows > rows:
		m.cut = m.acts.view(m.be, rows)
		return m.cut
	}
	if m.acts != nil {
		m.acts.free(m.be)
	}
	be, cfg := m.be, m.Config
	d := cfg.DModel
	m.acts = &activations{
		rows:     rows,
		pos:      make([]int32, rows),
		embed:    be.Alloc(rows, d),
		posEmbed: be.Alloc(rows, d),
		resid:    be.Alloc(rows, d),
		ln:       be.Alloc(rows, d),
		qkv:      be.Alloc(rows, 3*d),
		z:        be.Alloc(rows, d),
		attnOut:  be.Alloc(rows, d),
		hidden:   be.Alloc(rows, cfg.DMLP()),
		mlpOut:   be.Alloc(rows, d),
	}
	m.cut = nil
	return m.acts
}

// view returns a's buffers cut to their first rows (no copies).
func (a *activations) view(be compute.Backend, rows int) *activations {
	return a.rowsView(be, 0, rows)
}

// rowsView returns rows [lo, hi) of a's buffers (no copies): a lane's.
func (a *activations) rowsView(be compute.Backend, lo, hi int) *activations {
	return &activations{
		rows:     hi - lo,
		pos:      a.pos[lo:hi],
		embed:    be.RowsView(a.embed, lo, hi),
		posEmbed: be.RowsView(a.posEmbed, lo, hi),
		resid:    be.RowsView(a.resid, lo, hi),
		ln:       be.RowsView(a.ln, lo, hi),
		qkv:      be.RowsView(a.qkv, lo, hi),
		z:        be.RowsView(a.z, lo, hi),
		attnOut:  be.RowsView(a.attnOut, lo, hi),
		hidden:   be.RowsView(a.hidden, lo, hi),
		mlpOut:   be.RowsView(a.mlpOut, lo, hi),
	}
}

// counterpart returns the buffer of w whose rows t is, when a is a lane's
// view (rowsView) of w and t one of a's buffers; nil otherwise.
func (a *activations) counterpart(t compute.Tensor, w *activations) compute.Tensor {
	ws := w.tensors()
	for i, v := range a.tensors() {
		if v == t {
			return ws[i]
		}
	}
	return nil
}

// tensors returns a's buffers, in one order for every activations.
func (a *activations) tensors() [9]compute.Tensor {
	return [...]compute.Tensor{a.embed, a.posEmbed, a.resid, a.ln, a.qkv, a.z, a.attnOut, a.hidden, a.mlpOut}
}

// free releases a's buffers (not views: call it on m.acts only).
func (a *activations) free(be compute.Backend) {
	for _, t := range a.tensors() {
		be.Free(t)
	}
}
