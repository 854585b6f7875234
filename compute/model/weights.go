package model

import "github.com/saescope/saescope/compute"

// BlockWeights are one transformer block's weights on the model's backend,
// as a pass uses them (Conv1D layout: [in, out]). They belong to the
// model: read them, never write or free them.
type BlockWeights struct {
	LN1W, LN1B   compute.Tensor // [1, d_model]
	QKVW, QKVB   compute.Tensor // [d_model, 3·d_model], [1, 3·d_model]
	OW, OB       compute.Tensor // [d_model, d_model], [1, d_model]
	LN2W, LN2B   compute.Tensor // [1, d_model]
	FCW, FCB     compute.Tensor // [d_model, d_mlp], [1, d_mlp]
	ProjW, ProjB compute.Tensor // [d_mlp, d_model], [1, d_model]
}

// Block returns block li's weights (li in [0, n_layer)), for code that
// runs a block's ops itself: a backward pass (compute/attribution).
func (m *Model) Block(li int) BlockWeights {
	l := &m.layers[li]
	return BlockWeights{LN1W: l.ln1W, LN1B: l.ln1B, QKVW: l.qkvW, QKVB: l.qkvB, OW: l.oW, OB: l.oB,
		LN2W: l.ln2W, LN2B: l.ln2B, FCW: l.fcW, FCB: l.fcB, ProjW: l.projW, ProjB: l.projB}
}

// WPE returns the position embedding [n_positions, d_model].
func (m *Model) WPE() compute.Tensor { return m.wpe }

// FinalLN returns ln_final's gain and bias ([1, d_model] each).
func (m *Model) FinalLN() (w, b compute.Tensor) { return m.lnfW, m.lnfB }
