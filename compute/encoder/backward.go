package encoder

import (
	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights/sae"
)

// EncodeMatrix returns, on the backend, the matrix ([d_in, d_sae]) whose
// product with the (normalised) input gives the pre-activations that an
// active feature passes through unchanged: W_enc (with any constant input
// scale folded in), or a Gated SAE's magnitude matrix W_enc ⊙ exp(r_mag)
// (its gate is a step: no gradient). A backward pass multiplies a
// feature gradient by its transpose.
func (e *Encoder) EncodeMatrix() compute.Tensor {
	if e.SAE.Arch == sae.Gated {
		return e.wMag
	}
	return e.wEnc
}

// Normalizes says whether the SAE normalises each input row at run time
// (SAELens' layer_norm or constant_norm_rescale), so that its
// reconstruction depends on the row's statistics.
func (e *Encoder) Normalizes() bool { return needsNorm(e.SAE.Norm) }
