//go:build !cgo

package cpu

import "gonum.org/v1/gonum/blas"

type openBLAS struct{}

func loadOpenBLAS() string { return "" }
func setBLASThreads(int)   {}
func blasThreads() int     { return 0 }
func (openBLAS) Sgemm(blas.Transpose, blas.Transpose, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int) {
	panic("openBLAS used without cgo")
}

func blasCore() string { return "" }
