// Package weights reads and validates the files that hold models, sparse
// autoencoders and corpora. Its subpackages each own one file format; this
// package holds the types they share.
package weights

import "fmt"

// Tensor is a dense, row-major float32 array decoded from a weight file.
// Data may alias a read-only memory mapping: callers must not write to it.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NumElements returns the product of the shape's dimensions (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// CheckShape returns an error naming the tensor when t's shape differs from want.
func (t Tensor) CheckShape(name string, want ...int) error {
	if len(t.Shape) != len(want) {
		return fmt.Errorf("tensor %s: shape %v, want %v", name, t.Shape, want)
	}
	for i := range want {
		if t.Shape[i] != want[i] {
			return fmt.Errorf("tensor %s: shape %v, want %v", name, t.Shape, want)
		}
	}
	return nil
}
