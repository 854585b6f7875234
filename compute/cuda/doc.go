// Package cuda is the NVIDIA GPU backend of SAE Scope, built only with the
// build tag cuda (go build -tags cuda): the same engine as compute/cpu, on
// a GPU, to float32 rounding.
//
// # Layout
//
//   - compute/cuda/engine (no tag, pure Go): compute.Backend written against
//     a small Device interface — memory, copies, kernel launches, SGEMM —
//     with every launch shape, parameter packing and the row-major ↔
//     column-major mapping of the matrix products.
//   - compute/cuda/kernels (no tag): kernels.cu (CUDA C), kernels.ptx made
//     from it ahead of time by nvcc (committed: users need no CUDA
//     compiler; go generate ./compute/cuda/kernels/ remakes it), and, in
//     builds without the tag, an emulator that runs kernels.cu on the CPU
//     (a fiber per CUDA thread, checking that barriers and warp shuffles
//     are reached uniformly), so CI tests the kernels and the engine
//     without a GPU.
//   - compute/cuda/conformance (no tag): the checks both run — every
//     primitive against the CPU backend, the sparse read-back, a corpus
//     scan and full-size GPT-2 small against the CPU; the parity fixtures
//     (1e-3, identical top-k ids) through compute/internal/fixture.Parity,
//     the same check the CPU backend passes at 1e-4.
//   - this package (tag cuda): the real Device, through gorgonia.org/cu
//     (driver API: the device's primary context, one non-blocking stream,
//     module loading from the embedded PTX, launches) and cuBLAS.
//   - compute/cuda/guard and compute/gpuprobe: see "Run-time selection".
//
// # cuBLAS, located at run time
//
// cuBLAS is not linked: a small C shim opens libcublas.so.13, .12 or .11
// with dlopen (first in $SAESCOPE_CUBLAS_DIR or Options.CUBLASDir — e.g.
// site-packages/nvidia/cublas/lib of a PyTorch environment — then on the
// loader's search path), loading libcublasLt.so.N first with RTLD_GLOBAL,
// and resolves cublasCreate_v2, cublasSetStream_v2, cublasSetMathMode,
// cublasGetVersion_v2, cublasSgemm_v2 and cublasDestroy_v2. So one binary,
// built against Debian's CUDA 11.8 headers, runs with CUDA 11, 12 or 13
// libraries, whichever the machine has; only the driver (libcuda.so.1) is
// linked, as gorgonia.org/cu requires. cuBLAS runs on the CUDA runtime's
// context, the device's primary context, which is therefore the context the
// backend uses too (cuDevicePrimaryCtxRetain, made current on the calling
// OS thread for every call, since goroutines move between threads).
//
// # Memory and streams
//
// Weights are uploaded once (model.New, encoder.New). Activations stay on
// the device for a whole pass; everything is queued on one stream, with
// cuBLAS bound to it, so the host waits only where a result comes back:
// Read, CrossEntropy, SoftmaxStats and the sparse read-back. Scratch buffers
// (token ids, (x - b_dec), the compaction's offsets and output) grow on
// demand and are reused. Backend calls are serialized by a mutex. The scan
// (compute/analysis) keeps two sets of host results, so the host turns
// batch k into the store's arrays while the device runs batch k+1.
//
// # Kernels
//
// gather (embeddings), add, fill, fill rows, mean rows (float64), centre
// rows, LayerNorm (block per row, warp-shuffle reductions, two passes as on
// the CPU), gelu_new (the CPU's x·sigmoid(2u) form with accurate expf),
// causal attention fused in one kernel (scores, masked online softmax and
// the value mix per (sequence, head, tile of 16 queries), key/value chunks
// in shared memory; heads up to 128 wide), SAE encode (one SGEMM, then bias
// with b_dec folded in by compute/encoder, and ReLU in one pass),
// cross-entropy and softmax statistics per row (float64 sums, as the CPU),
// and for the scan: count_positive + compact_positive, which turn a dense
// [rows, d_sae] activation matrix into CSR (per-row counts → prefix sum on
// the host → ids and values in column order), and row_sumsq (activation
// norms). Only those sparse results cross PCIe: see Backend.SparseRows.
//
// The SAE families' steps (compute.FamilyOps, which compute/encoder uses
// instead of its host path, so a scan's activations never leave the
// device): topk_rows (one block per row, an exact radix select on the
// float bits, one byte per pass from a shared-memory histogram, stopping as
// soon as the k-th value's bin is kept whole; ties at the k-th place keep
// the lower columns through a ballot scan; rows of any width, OpenAI's
// 131072 included), jump_relu and gate (elementwise), normalize_rows
// (layer_norm with the unbiased std + ε, or constant_norm_rescale, float64
// sums, the per-row shift and scale kept on the device) and
// denormalize_rows, which undoes it on the reconstruction.
//
// # Precision
//
// FP32 by default: cuBLAS in CUBLAS_DEFAULT_MATH, which never uses TF32 for
// SGEMM. Options.TF32 (backend name "cuda/tf32", app backend "cuda-tf32")
// sets CUBLAS_TF32_TENSOR_OP_MATH; its error against the CPU is measured by
// TestTF32Error.
//
// # Run-time selection
//
// gorgonia.org/cu's package init calls cuInit and exits the process when it
// fails, so nothing that everyone runs may link it. Hence two builds:
//
//   - saescope (no tag, CPU only). With --backend auto (or cuda) it probes
//     for a GPU without linking the driver (compute/gpuprobe: dlopen
//     libcuda.so.1, cuInit, cuDeviceGetCount) and, when one is usable and a
//     saescope-cuda binary sits next to the executable, re-executes that
//     with the same arguments (app/backend_nocuda.go, cudaHandoff);
//     otherwise it runs on the CPU.
//   - saescope-cuda (tag cuda). --backend auto picks the GPU, falling back
//     to the CPU if opening it fails; cpu, cuda and cuda-tf32 force one.
//     The window takes the same flag (ui.Shell.SetBackend) and names the
//     backend and GPU in its status line; closing a workspace frees its
//     device memory (model.Model.Close, encoder.Encoder.Close).
//     On a machine without a usable GPU, package guard (initialized before
//     cu, by import-path order) re-executes the saescope found next to it,
//     or explains and exits, instead of cu's bare exit.
//
// # Tests
//
// The tests of this package need a GPU and the cuda tag. They cannot even
// start without a device — cu's init would exit — so on a machine with a
// driver but no usable device, package guard prints the reason and exits
// the test binary with status 0 ("every CUDA test skipped"), or 1 when
// SAESCOPE_CUDA_REQUIRE=1. On a machine without the driver the binary
// does not load at all (libcuda.so.1 is a link-time dependency): CI only
// compiles it (packaging/cuda/ci-compile.sh). packaging/cuda/
// build-device-bundle.sh builds the test binary and saescope-cuda for a GPU
// machine without Go, with a script that runs them there.
package cuda
