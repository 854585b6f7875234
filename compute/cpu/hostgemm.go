package cpu

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
)

// Sgemmer is a row-major single-precision matrix product on host memory:
// C = alpha·op(A)·op(B) + beta·C, as BLAS' sgemm.
type Sgemmer interface {
	Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
}

// HostGemm returns the matrix product the CPU backend would use for choice
// (OpenBLAS when installed and asked for or auto, gonum's pure-Go BLAS
// otherwise) and its name ("openblas" or "gonum"), for code that works on
// host slices (compute/lmtrain).
func HostGemm(choice BLAS) (Sgemmer, string, error) {
	if err := choice.Check(); err != nil {
		return nil, "", fmt.Errorf("host gemm: %w", err)
	}
	if choice != BLASGonum {
		if loadOpenBLAS() != "" {
			setBLASThreadsAll()
			return openBLAS{}, "openblas", nil
		}
		if choice == BLASOpenBLAS {
			return nil, "", fmt.Errorf("host gemm: OpenBLAS not found (install libopenblas0, e.g. apt-get install libopenblas-dev)")
		}
	}
	return gonumBLAS{}, "gonum", nil
}
