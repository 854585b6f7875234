package encoder

import (
	"fmt"

	"github.com/saescope/saescope/compute"
)

// DecoderScales returns, for each row of x ([rows, d_in], activations at
// the SAE's hook), the factor that takes a change of the SAE's decoded
// output to the hook's own units: a feature changed by Δ moves the
// reconstruction by Δ·W_dec[f]·scale[r]. It is 1/scale of the SAE's
// run-time normalisation (σ+ε for layer_norm, ‖x‖/√d for
// constant_norm_rescale), and nil for an SAE without one (every factor 1).
// Interventions that keep the SAE's error need it: x + (c − f(x))·W_dec[f]
// is exact only in the normalised space.
func (e *Encoder) DecoderScales(x compute.Tensor) ([]float64, error) {
	if !needsNorm(e.SAE.Norm) {
		return nil, nil
	}
	if x.Cols() != e.SAE.DIn {
		return nil, fmt.Errorf("decoder scales: activation has %d columns, the SAE reads %d", x.Cols(), e.SAE.DIn)
	}
	host := make([]float32, x.Rows()*x.Cols())
	e.be.Read(x, host)
	st := normalize(e.SAE.Norm, make([]float32, len(host)), host, x.Cols())
	out := make([]float64, len(st.scale))
	for r, s := range st.scale {
		out[r] = 1 / s
	}
	return out, nil
}
