//go:build cgo

package cpu

/*
#cgo CFLAGS: -O3
#include "kernels.h"
*/
import "C"

import "unsafe"

// geluSlice applies gelu_new in place with the vectorized C kernel.
func geluSlice(x []float32) {
	if len(x) == 0 {
		return
	}
	C.saescope_gelu_new((*C.float)(unsafe.Pointer(&x[0])), C.ptrdiff_t(len(x)))
}

// causalSoftmax normalizes a seq×seq score matrix row by row, causally.
func causalSoftmax(scores []float32, seq int) {
	C.saescope_causal_softmax((*C.float)(unsafe.Pointer(&scores[0])), C.int(seq))
}
