// Package engine is the device-independent half of the CUDA backend: it
// implements compute.Backend (and the sparse read-back the scan uses) in
// terms of a small Device interface — device memory, copies, launches of the
// kernels of compute/cuda/kernels, and one SGEMM. Two Devices exist: the
// real GPU (package compute/cuda, build tag cuda: gorgonia.org/cu and a
// run-time loaded cuBLAS) and the kernel emulator (compute/cuda/kernels,
// no tag), which runs the same kernel source on the CPU so that all of this
// package's logic — launch shapes, parameter packing, the row-major to
// column-major GEMM mapping, the sparse compaction — is tested on machines
// without a GPU.
package engine

import (
	"fmt"
	"unsafe"
)

// Ptr is a device address.
type Ptr uintptr

// Dim3 is a CUDA grid or block shape.
type Dim3 struct{ X, Y, Z int }

// Kernel names one kernel of kernels.cu.
type Kernel int

// The kernels of compute/cuda/kernels/kernels.cu, with their parameters.
const (
	FillRows        Kernel = iota // (float* dst, const float* v, long long rows, int cols)
	Add                           // (float* dst, const float* a, const float* b, long long n)
	SubRow                        // (float* dst, const float* x, const float* v, long long rows, int cols)
	BiasReLU                      // (float* x, const float* bias, long long rows, int cols)
	GeluNew                       // (float* x, long long n)
	GatherRows                    // (float* dst, const float* table, const int* ids, int rows, int cols)
	CenterRows                    // (float* x, int rows, int cols)
	LayerNorm                     // (float* dst, const float* x, const float* w, const float* b, int rows, int cols, float eps)
	MeanRows                      // (float* dst, const float* x, int rows, int cols)
	CrossEntropy                  // (float* loss, const float* logits, const int* targets, int rows, int cols)
	SoftmaxStats                  // (float* ent, float* maxp, const float* logits, int rows, int cols)
	Attention                     // (float* z, const float* qkv, int seq, int heads, int dh, float scale)
	CountPositive                 // (int* counts, const float* x, int rows, int cols)
	CompactPositive               // (unsigned* ids, float* vals, const float* x, const unsigned long long* offsets, int rows, int cols)
	RowSumSq                      // (double* out, const float* x, int rows, int cols)
	TopKRows                      // (float* x, int rows, int cols, int k)
	JumpReLU                      // (float* x, const float* threshold, long long rows, int cols)
	Gate                          // (float* mag, const float* gate, long long n)
	NormalizeRows                 // (float* dst, float* stats, const float* x, int rows, int cols, int mode, float eps)
	DenormalizeRows               // (float* x, const float* stats, long long rows, int cols)
	AddRow                        // (float* x, const float* v, long long rows, int cols)
	BiasGeluNew                   // (float* x, const float* bias, long long rows, int cols)
	AddResidual                   // (float* resid, float* delta, const float* bias, int centre, float* ln, const float* w, const float* b, int rows, int cols, float eps)
	numKernels
)

var kernelNames = [...]string{
	FillRows: "fill_rows", Add: "add", SubRow: "sub_row", BiasReLU: "bias_relu", GeluNew: "gelu_new",
	GatherRows: "gather_rows", CenterRows: "center_rows", LayerNorm: "layernorm", MeanRows: "mean_rows",
	CrossEntropy: "cross_entropy", SoftmaxStats: "softmax_stats", Attention: "attention",
	CountPositive: "count_positive", CompactPositive: "compact_positive", RowSumSq: "row_sumsq",
	TopKRows: "topk_rows", JumpReLU: "jump_relu", Gate: "gate", NormalizeRows: "normalize_rows",
	DenormalizeRows: "denormalize_rows", AddRow: "add_row", BiasGeluNew: "bias_gelu_new", AddResidual: "add_residual",
}

// String returns the kernel's symbol in kernels.cu.
func (k Kernel) String() string {
	if k < 0 || k >= numKernels {
		return fmt.Sprintf("kernel(%d)", int(k))
	}
	return kernelNames[k]
}

// Kernels lists every kernel (for loading them all up front).
func Kernels() []Kernel {
	ks := make([]Kernel, numKernels)
	for i := range ks {
		ks[i] = Kernel(i)
	}
	return ks
}

// Launch geometry fixed by the kernels.
const (
	AttentionThreads  = 128 // ATT_THREADS
	AttentionRowsTile = 16  // ATT_TQ
	AttentionMaxDHead = 128 // ATT_MAXDH
	MeanRowsThreads   = 256 // mean_rows: 8 warps × 32 columns
)

// Device is what the engine needs from a GPU. Every operation is ordered
// on one stream; DtoH and Sync wait for it. Methods other than Alloc
// panic on a device error (the Backend interface has no error returns and
// a failed kernel leaves nothing to recover); the panic message names the
// operation.
type Device interface {
	// Name describes the device ("NVIDIA H100 80GB HBM3, cuBLAS 13.0.0, …").
	Name() string
	// Bind makes the device current on the calling OS thread until the
	// returned function is called (the engine serializes all calls).
	Bind() (unbind func())
	// Alloc returns bytes of uninitialized device memory.
	Alloc(bytes int) (Ptr, error)
	// Free releases memory from Alloc, after the stream's pending work.
	Free(p Ptr)
	// Memset32 sets n 32-bit words at p to v.
	Memset32(p Ptr, v uint32, n int)
	// HtoD copies bytes from host memory; src may be reused on return.
	HtoD(dst Ptr, src unsafe.Pointer, bytes int)
	// DtoH copies bytes to host memory and waits for the copy.
	DtoH(dst unsafe.Pointer, src Ptr, bytes int)
	// DtoD copies bytes between device buffers.
	DtoD(dst, src Ptr, bytes int)
	// Launch queues kernel k; each argument is one parameter in a 64-bit
	// slot (pointers and long long whole, int and float in the low 32 bits).
	Launch(k Kernel, grid, block Dim3, args ...uint64)
	// Sgemm is cublasSgemm (column-major, host alpha and beta).
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a Ptr, lda int, b Ptr, ldb int, beta float32, c Ptr, ldc int)
	// Sync waits for the stream and reports an earlier asynchronous failure by panicking.
	Sync()
}
