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

// expSums returns the maximum m of row (non-empty), Σ exp(x - m) and
// Σ exp(x - m)·(x - m), with the vectorized C kernel.
func expSums(row []float32) (mx float32, s, t float64) {
	var cm C.float
	var cs, ct C.double
	C.saescope_exp_sums((*C.float)(unsafe.Pointer(&row[0])), C.ptrdiff_t(len(row)), &cm, &cs, &ct)
	return float32(cm), float64(cs), float64(ct)
}
