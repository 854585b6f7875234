//go:build cgo

package cpu

/*
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
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

// fptr is the address of v's first element (v is not empty), or nil.
func fptr(v []float32) *C.float {
	if len(v) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&v[0]))
}

// layerNormRows writes LayerNorm(x)·w + b of rows×cols x into out.
func layerNormRows(x, out, w, b []float32, rows, cols int, eps float32) {
	if rows == 0 {
		return
	}
	C.saescope_layernorm(fptr(x), fptr(out), fptr(w), fptr(b), C.ptrdiff_t(rows), C.int(cols), C.float(eps))
}

// centerRows subtracts from each row of rows×cols x its mean.
func centerRows(x []float32, rows, cols int) {
	if rows == 0 {
		return
	}
	C.saescope_center_rows(fptr(x), C.ptrdiff_t(rows), C.int(cols))
}

// addResidualRows adds to resid delta's rows plus bias (when not nil),
// centred when centre, and, when ln is not nil, writes LayerNorm(resid)·w
// + b into ln; delta is left as it was.
func addResidualRows(resid, delta, bias []float32, centre bool, ln, w, b []float32, rows, cols int, eps float32) {
	if rows == 0 {
		return
	}
	c := C.int(0)
	if centre {
		c = 1
	}
	C.saescope_add_residual(fptr(resid), fptr(delta), fptr(bias), c, fptr(ln), fptr(w), fptr(b), C.ptrdiff_t(rows), C.int(cols), C.float(eps))
}

// addBiasRows adds bias to each row of rows×cols x.
func addBiasRows(x, bias []float32, rows, cols int) {
	if rows == 0 {
		return
	}
	C.saescope_add_bias(fptr(x), fptr(bias), C.ptrdiff_t(rows), C.int(cols))
}

// biasGeluRows sets each row of rows×cols x to gelu_new(x + bias), with
// addBiasRows' and geluSlice's arithmetic.
func biasGeluRows(x, bias []float32, rows, cols int) {
	if rows == 0 {
		return
	}
	C.saescope_bias_gelu_new(fptr(x), fptr(bias), C.ptrdiff_t(rows), C.int(cols))
}

// biasReLURows sets each row of rows×cols x to max(x + bias, 0) (bias may
// be nil).
func biasReLURows(x, bias []float32, rows, cols int) {
	if rows == 0 {
		return
	}
	C.saescope_bias_relu(fptr(x), fptr(bias), C.ptrdiff_t(rows), C.int(cols))
}

// attentionVariant is the best attention kernel this CPU runs: attnAVX512,
// attnAVX2 or attnTiles (none: the backend's attention runs its products
// through the BLAS, in tiles).
func attentionVariant() attnPath { return attnPath(C.saescope_attention_variant()) }

// attentionScratch is the number of floats attentionHead needs as scratch.
func attentionScratch(seq, dh int) int {
	return int(C.saescope_attention_scratch(C.int(seq), C.int(dh)))
}

// attentionHead writes one head's causal self-attention into out (rows ldo
// apart) from q, k and v (seq rows of dh, ld apart), each plus its bias bq,
// bk or bv (dh floats, or nil for none), with the C kernel of variant
// (attnAVX512 or attnAVX2, one attentionVariant allows).
func attentionHead(variant attnPath, q, k, v, bq, bk, bv []float32, ld int, out []float32, ldo, seq, dh int, scale float32, scratch []float32) {
	C.saescope_attention_head(C.int(variant), fptr(q), fptr(k), fptr(v), C.ptrdiff_t(ld), fptr(bq), fptr(bk), fptr(bv),
		fptr(out), C.ptrdiff_t(ldo), C.int(seq), C.int(dh), C.float(scale), fptr(scratch))
}
