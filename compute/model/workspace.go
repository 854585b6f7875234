package model

import "github.com/saescope/saescope/compute"

// workspace holds the activation buffers of one batch shape, reused from
// Run to Run so that the hot loop allocates nothing.
type workspace struct {
	rows                               int
	pos                                []int32
	embed, posEmbed, resid, ln, qkv, z compute.Tensor
	attnOut, hidden, mlpOut            compute.Tensor
	final                              compute.Tensor // ln_final output
	logits                             compute.Tensor // [logitChunk, vocab]
}

// logitChunk bounds the rows whose logits exist at once (50257 floats each).
const logitChunk = 64

func (m *Model) workspace(rows int) *workspace {
	if m.ws != nil && m.ws.rows >= rows {
		return m.ws.view(m, rows)
	}
	if m.ws != nil {
		m.ws.free(m.be)
	}
	be, cfg := m.be, m.Config
	d := cfg.DModel
	m.ws = &workspace{
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
	return m.ws
}

// view returns the workspace's buffers cut to rows (no copies).
func (w *workspace) view(m *Model, rows int) *workspace {
	if rows == w.rows {
		return w
	}
	be := m.be
	return &workspace{
		rows:     rows,
		pos:      w.pos[:rows],
		embed:    be.RowsView(w.embed, 0, rows),
		posEmbed: be.RowsView(w.posEmbed, 0, rows),
		resid:    be.RowsView(w.resid, 0, rows),
		ln:       be.RowsView(w.ln, 0, rows),
		qkv:      be.RowsView(w.qkv, 0, rows),
		z:        be.RowsView(w.z, 0, rows),
		attnOut:  be.RowsView(w.attnOut, 0, rows),
		hidden:   be.RowsView(w.hidden, 0, rows),
		mlpOut:   be.RowsView(w.mlpOut, 0, rows),
	}
}

func (w *workspace) free(be compute.Backend) {
	for _, t := range []compute.Tensor{w.embed, w.posEmbed, w.resid, w.ln, w.qkv, w.z, w.attnOut, w.hidden, w.mlpOut, w.final, w.logits} {
		if t != nil {
			be.Free(t)
		}
	}
}
