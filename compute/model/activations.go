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
	return &activations{
		rows:     rows,
		pos:      a.pos[:rows],
		embed:    be.RowsView(a.embed, 0, rows),
		posEmbed: be.RowsView(a.posEmbed, 0, rows),
		resid:    be.RowsView(a.resid, 0, rows),
		ln:       be.RowsView(a.ln, 0, rows),
		qkv:      be.RowsView(a.qkv, 0, rows),
		z:        be.RowsView(a.z, 0, rows),
		attnOut:  be.RowsView(a.attnOut, 0, rows),
		hidden:   be.RowsView(a.hidden, 0, rows),
		mlpOut:   be.RowsView(a.mlpOut, 0, rows),
	}
}

// free releases a's buffers (not views: call it on m.acts only).
func (a *activations) free(be compute.Backend) {
	for _, t := range []compute.Tensor{a.embed, a.posEmbed, a.resid, a.ln, a.qkv, a.z, a.attnOut, a.hidden, a.mlpOut} {
		be.Free(t)
	}
}
