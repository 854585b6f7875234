package model

import (
	"fmt"
	"math"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights/hookname"
)

// scratch returns the model's ln_final and logits buffers, logitChunk rows
// each (allocated once).
func (m *Model) scratch() (final, logits compute.Tensor) {
	if m.final == nil {
		m.final = m.be.Alloc(logitChunk, m.Config.DModel)
		m.logits = m.be.Alloc(logitChunk, m.Config.VocabSize)
	}
	return m.final, m.logits
}

// forChunks runs fn on the logits of resid's rows, logitChunk rows at a
// time: fn gets the first row index and the logits [n, vocab].
func (m *Model) forChunks(resid compute.Tensor, fn func(row0 int, logits compute.Tensor) error) error {
	be := m.be
	final, logits := m.scratch()
	eps := float32(m.Config.LayerNormEps)
	for lo := 0; lo < resid.Rows(); lo += logitChunk {
		hi := min(lo+logitChunk, resid.Rows())
		f := be.RowsView(final, 0, hi-lo)
		lg := be.RowsView(logits, 0, hi-lo)
		be.LayerNorm(f, be.RowsView(resid, lo, hi), m.lnfW, m.lnfB, eps)
		be.MatMulTransB(lg, f, m.wte)
		if err := fn(lo, lg); err != nil {
			return err
		}
	}
	return nil
}

// Logits returns the logits ([vocab] each) at the given rows of a final
// residual stream (row = sequence·seq + position).
func (m *Model) Logits(resid compute.Tensor, rows []int) ([][]float32, error) {
	out := make([][]float32, len(rows))
	for i, r := range rows {
		if r < 0 || r >= resid.Rows() {
			return nil, fmt.Errorf("logits: row %d outside [0, %d)", r, resid.Rows())
		}
		row := m.be.RowsView(resid, r, r+1)
		err := m.forChunks(row, func(_ int, lg compute.Tensor) error {
			out[i] = make([]float32, m.Config.VocabSize)
			m.be.Read(lg, out[i])
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UnembedStats applies ln_final and the unembedding to each row of x
// ([n, d]) and returns the entropy (bits) and maximum probability of each
// row's softmax.
func (m *Model) UnembedStats(x compute.Tensor) (entropyBits, maxProb []float32, err error) {
	entropyBits = make([]float32, x.Rows())
	maxProb = make([]float32, x.Rows())
	err = m.forChunks(x, func(row0 int, lg compute.Tensor) error {
		n := lg.Rows()
		m.be.SoftmaxStats(entropyBits[row0:row0+n], maxProb[row0:row0+n], lg)
		return nil
	})
	return entropyBits, maxProb, err
}

// DirectionLogits returns the logit weights of residual-stream directions
// (rows of dirs, d_model each) as sae_vis and Neuronpedia show them for a
// feature's decoder row u: u · W_U with W_U processed as
// HookedTransformer.from_pretrained does (ln_final.w folded in, centred
// over d_model, then over the vocabulary), no bias, no LayerNorm scale.
// That is centre_vocab(((u − mean u) ⊙ ln_final.w) · W_Eᵀ). Call it with
// the model locked.
func (m *Model) DirectionLogits(dirs [][]float32) ([][]float32, error) {
	be := m.be
	d := m.Config.DModel
	g := make([]float32, d)
	be.Read(m.lnfW, g)
	final, logits := m.scratch()
	out := make([][]float32, len(dirs))
	y := make([]float32, d)
	for i, u := range dirs {
		if len(u) != d {
			return nil, fmt.Errorf("direction logits: direction of width %d, the model's d_model is %d", len(u), d)
		}
		var mean float64
		for _, v := range u {
			mean += float64(v)
		}
		mean /= float64(d)
		for j, v := range u {
			y[j] = float32(float64(v)-mean) * g[j]
		}
		x, lg := be.RowsView(final, 0, 1), be.RowsView(logits, 0, 1)
		be.Write(x, y)
		be.MatMulTransB(lg, x, m.wte)
		row := make([]float32, m.Config.VocabSize)
		be.Read(lg, row)
		var lm float64
		for _, v := range row {
			lm += float64(v)
		}
		lm /= float64(len(row))
		for j := range row {
			row[j] -= float32(lm)
		}
		out[i] = row
	}
	return out, nil
}

// TokenLoss returns the next-token cross-entropy at every position but the
// last of each sequence: [batch][seq-1], as TransformerLens'
// loss_per_token.
func (m *Model) TokenLoss(out *Output, tokens []int32) ([][]float32, error) {
	if out == nil || out.Resid == nil {
		return nil, fmt.Errorf("loss: the forward pass stopped before the logits")
	}
	B, T := out.Batch, out.Seq
	if T < 2 {
		return nil, fmt.Errorf("loss: sequences of %d token cannot predict a next token", T)
	}
	perRow := make([]float32, B*T)
	targets := make([]int32, logitChunk)
	err := m.forChunks(out.Resid, func(row0 int, lg compute.Tensor) error {
		n := lg.Rows()
		for i := 0; i < n; i++ {
			r := row0 + i
			if r%T == T-1 {
				targets[i] = 0 // no next token; result discarded
			} else {
				targets[i] = tokens[r+1]
			}
		}
		m.be.CrossEntropy(perRow[row0:row0+n], lg, targets[:n])
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := make([][]float32, B)
	for b := 0; b < B; b++ {
		res[b] = perRow[b*T : b*T+T-1]
	}
	return res, nil
}

// MeanLoss is the mean of TokenLoss over every sequence and position,
// TransformerLens' default loss.
func MeanLoss(perToken [][]float32) float64 {
	var s float64
	n := 0
	for _, row := range perToken {
		for _, v := range row {
			s += float64(v)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// WriteDirections maps n rows of activations at hook h (rows: n × the
// hook's width, row-major) to the residual-stream directions they write:
// through W_O of the layer for attn.hook_z, through the MLP's W_out for
// mlp.hook_post, unchanged for every other hook (the residual stream and
// the outputs added to it). Biases are left out: these are directions.
// With centre, the result is centred over d_model, as
// HookedTransformer.from_pretrained centres the weights that write the
// residual stream. Call it with the model locked.
func (m *Model) WriteDirections(h hookname.Hook, rows []float32, n int, centre bool) ([]float32, error) {
	d := m.Config.DModel
	if h.Layer >= len(m.layers) {
		return nil, fmt.Errorf("write directions: %s is past the model's %d layers", h, len(m.layers))
	}
	var w compute.Tensor
	width := d
	switch h.Point {
	case hookname.AttnZ:
		w = m.layers[h.Layer].oW
	case hookname.MLPPost:
		w, width = m.layers[h.Layer].projW, m.Config.DMLP()
	}
	if len(rows) != n*width {
		return nil, fmt.Errorf("write directions: %d values for %d rows at %s (width %d)", len(rows), n, h, width)
	}
	out := make([]float32, n*d)
	if w == nil {
		copy(out, rows)
	} else {
		be := m.be
		const chunk = 256
		x, y := be.Alloc(min(chunk, n), width), be.Alloc(min(chunk, n), d)
		defer be.Free(x)
		defer be.Free(y)
		for lo := 0; lo < n; lo += chunk {
			hi := min(n, lo+chunk)
			xv, yv := be.RowsView(x, 0, hi-lo), be.RowsView(y, 0, hi-lo)
			be.Write(xv, rows[lo*width:hi*width])
			be.MatMul(yv, xv, w, nil)
			be.Read(yv, out[lo*d:hi*d])
		}
	}
	if centre {
		for r := 0; r < n; r++ {
			row := out[r*d : (r+1)*d]
			var mean float64
			for _, v := range row {
				mean += float64(v)
			}
			mean /= float64(d)
			for j, v := range row {
				row[j] = float32(float64(v) - mean)
			}
		}
	}
	return out, nil
}
