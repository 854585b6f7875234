package cpu

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// sgemmer is the one BLAS routine the CPU backend needs: row-major
// C = alpha·op(A)·op(B) + beta·C.
type sgemmer interface {
	Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
}

// gonumBLAS is gonum's pure-Go BLAS, the default of gorgonia.org/tensor.
type gonumBLAS struct{ gonum.Implementation }
