package model

import (
	"fmt"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights/hookname"
)

// ZeroAblate is a Patch that sets the activation to zero.
func ZeroAblate() Patch {
	return func(be compute.Backend, _ hookname.Hook, act compute.Tensor, _, _ int) error {
		be.Fill(act, 0)
		return nil
	}
}

// MeanAblate is a Patch that replaces every position's activation by the
// mean over the batch and positions of the activation itself.
func MeanAblate() Patch {
	return func(be compute.Backend, _ hookname.Hook, act compute.Tensor, _, _ int) error {
		mean := be.Alloc(1, act.Cols())
		defer be.Free(mean)
		be.MeanRows(mean, act)
		be.FillRows(act, mean)
		return nil
	}
}

// HostFunc is a Patch that copies the activation to host memory, lets fn
// change it (data is [batch][seq][width] flattened row-major), and copies
// it back: TransformerLens' general "replace with this function" hook.
func HostFunc(fn func(h hookname.Hook, data []float32, batch, seq, width int) error) Patch {
	return func(be compute.Backend, h hookname.Hook, act compute.Tensor, batch, seq int) error {
		buf := make([]float32, act.Rows()*act.Cols())
		be.Read(act, buf)
		if err := fn(h, buf, batch, seq, act.Cols()); err != nil {
			return fmt.Errorf("hook function: %w", err)
		}
		be.Write(act, buf)
		return nil
	}
}
