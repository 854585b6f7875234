//go:build cuda

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/cuda"
)

// This is saescope-cuda, the CUDA build (go build -tags cuda). On a machine
// without a usable GPU it never reaches main: compute/cuda/guard hands over
// to the CPU build next to it, or explains and exits.

// backendNames lists the --backend values this build accepts.
func backendNames() []string { return []string{"auto", "cpu", "cuda", "cuda-tf32"} }

// newBackend returns the backend called name with the CPU BLAS blas: auto
// is the GPU (the CPU, with a warning, if opening it fails), cuda the GPU in
// FP32, cuda-tf32 the GPU with TF32 tensor-core matrix products, cpu the
// CPU. $SAESCOPE_CUDA_DEVICE picks the GPU (default 0) and
// $SAESCOPE_CUBLAS_DIR the folder of libcublas.so.N.
func newBackend(name string, blas string) (compute.Backend, error) {
	dev := 0
	if v := os.Getenv("SAESCOPE_CUDA_DEVICE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("SAESCOPE_CUDA_DEVICE=%q is not a device number", v)
		}
		dev = n
	}
	switch name {
	case "cpu":
		return cpu.New(cpu.BLAS(blas))
	case "cuda", "cuda-tf32":
		be, err := cuda.New(cuda.Options{Device: dev, TF32: name == "cuda-tf32"})
		if err != nil {
			return nil, fmt.Errorf("--backend %s: %w", name, err)
		}
		return be, nil
	case "", "auto":
		be, err := cuda.New(cuda.Options{Device: dev})
		if err == nil {
			return be, nil
		}
		fmt.Fprintf(os.Stderr, "saescope: the GPU is not usable (%v); running on the CPU\n", err)
		return cpu.New(cpu.BLAS(blas))
	}
	return nil, fmt.Errorf("unknown backend %q (this build knows %s)", name, strings.Join(backendNames(), ", "))
}

// cudaHandoff does nothing in the CUDA build (see backend_nocuda.go).
func cudaHandoff([]string) error { return nil }
