// Package kernels holds the CUDA kernels of the GPU backend: their source
// (kernels.cu), the PTX that nvcc makes of it ahead of time (kernels.ptx,
// committed, so that users need no CUDA compiler: the driver compiles PTX
// for the GPU it runs on), and — in builds without the cuda tag — an
// emulator that runs the same source on the CPU for the tests.
//
// Regenerate the PTX after editing kernels.cu (needs nvcc; Debian:
// nvidia-cuda-toolkit from the non-free component):
//
//	go generate ./compute/cuda/kernels/
//
// which runs packaging/cuda/regen-ptx.sh, i.e.
//
//	nvcc -ptx -arch=compute_60 -O3 -o kernels.ptx kernels.cu
//
// PTX for compute_60 is JIT-compiled by any driver that supports the nvcc
// version that wrote it (11.8 here) on any GPU from Pascal (sm_60) on,
// Hopper (sm_90) included. TestPTXUpToDate checks that kernels.ptx was
// made from the current kernels.cu.
package kernels

import _ "embed"

//go:generate sh ../../../packaging/cuda/regen-ptx.sh

// PTX is kernels.ptx, loaded by the GPU backend with cuModuleLoadData.
//
//go:embed kernels.ptx
var PTX string

// Source is kernels.cu, the source of PTX.
//
//go:embed kernels.cu
var Source string
