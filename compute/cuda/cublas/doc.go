// Package cublas loads NVIDIA cuBLAS at run time and calls the few entry
// points the CUDA backend uses (handle, stream, math mode, SGEMM) through a
// small C shim: no cuBLAS header or link-time library is needed, so one
// binary runs with libcublas.so.13, .12 or .11, whichever the machine has
// (a CUDA installation, or the nvidia-cublas wheel of a PyTorch environment
// pointed at by $SAESCOPE_CUBLAS_DIR). Loading needs no GPU; creating a
// handle does. Linux with cgo only; elsewhere the package is empty.
package cublas
