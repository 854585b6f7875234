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

// Reader gives access to the tensors of a weight file one at a time, so
// that a loader can check names and shapes before it decodes anything, and
// decode only the tensors it needs.
type Reader interface {
	// FloatNames lists the floating-point tensors, sorted.
	FloatNames() []string
	// Shape returns a floating-point tensor's shape without reading it.
	Shape(name string) ([]int, bool)
	// Float32 decodes one tensor.
	Float32(name string) (Tensor, error)
}

// CheckFinite returns an error naming the tensor and the index of its first
// NaN or infinite element, if it has one. A weight that is not finite makes
// every activation that touches it NaN or infinite: refusing it at load
// says where the damage is, instead of failing much later (a JSON encoder
// refusing NaN after a whole scan) or silently (NaN sorts last).
func (t Tensor) CheckFinite(name string) error {
	for i, v := range t.Data {
		if v-v != 0 { // NaN or ±Inf: v-v is NaN for both
			return fmt.Errorf("tensor %s: element %s is %v: the weights are not finite (a damaged or diverged file)", name, t.indexString(i), v)
		}
	}
	return nil
}

// indexString writes flat index i as [i0, i1, …] in t's shape.
func (t Tensor) indexString(i int) string {
	if len(t.Shape) == 0 {
		return "[]"
	}
	idx := make([]int, len(t.Shape))
	for d := len(t.Shape) - 1; d >= 0; d-- {
		if t.Shape[d] > 0 {
			idx[d] = i % t.Shape[d]
			i /= t.Shape[d]
		}
	}
	s := "["
	for d, v := range idx {
		if d > 0 {
			s += ", "
		}
		s += fmt.Sprint(v)
	}
	return s + "]"
}
