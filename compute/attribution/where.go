package attribution

import "github.com/saescope/saescope/compute"

// ComputedOn says where attribution's work runs on be: everything on the
// CPU for a host backend; on a GPU, the matrix products and SAE encodes
// there and the row-wise steps of the backward (LayerNorm, attention,
// gelu_new, the SAEs' masks and normalisation) on the CPU, which means
// reading them back.
func ComputedOn(be compute.Backend) string {
	if _, host := be.(compute.HostData); host {
		return "cpu"
	}
	return be.Name() + " for the matrix products and SAE encodes; the backward's row-wise steps on the CPU"
}
