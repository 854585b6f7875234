//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/saescope/saescope/compute/cuda/cublas"
	"github.com/saescope/saescope/compute/cuda/engine"
	// Before gorgonia.org/cu's init can exit the process: see package guard.
	_ "github.com/saescope/saescope/compute/cuda/guard"
	"github.com/saescope/saescope/compute/cuda/kernels"
)

// Options configure the CUDA backend.
type Options struct {
	// Device is the CUDA device ordinal (0 = the first GPU).
	Device int
	// TF32 lets cuBLAS use TF32 tensor cores for the matrix products
	// (10-bit mantissa inputs, FP32 accumulation): several times faster
	// on Ampere and later, with errors around 1e-3 relative instead of
	// FP32's 1e-6. Off by default: the default is parity with the CPU.
	TF32 bool
	// CUBLASDir is a folder holding libcublas.so.N (and libcublasLt.so.N);
	// empty means $SAESCOPE_CUBLAS_DIR (cublas.DirEnv), then the loader's
	// search path.
	CUBLASDir string
}

// Backend is the CUDA compute.Backend: engine.Backend on a GPU. It also
// offers SparseRows and RowSumSquares, the scan's device-side read-back.
type Backend struct {
	*engine.Backend
	dev *device
}

// New opens device o.Device and returns a backend on it. It fails (without
// exiting) when the device, the PTX or cuBLAS cannot be used.
func New(o Options) (*Backend, error) {
	dev, err := openDevice(o)
	if err != nil {
		return nil, err
	}
	name := "cuda"
	if o.TF32 {
		name = "cuda/tf32"
	}
	return &Backend{Backend: engine.New(dev, name), dev: dev}, nil
}

// Info describes the device, driver and cuBLAS in use.
func (b *Backend) Info() string { return b.dev.Name() }

// Close releases the backend's scratch memory, cuBLAS handle, stream and
// module. Tensors must have been freed (or be abandoned) before.
func (b *Backend) Close() {
	b.Backend.Close()
	b.dev.close()
}

// Devices returns the number of CUDA devices (0 and an error when the
// driver reports none).
func Devices() (int, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return 0, fmt.Errorf("count CUDA devices: %w", err)
	}
	if n == 0 {
		return 0, errors.New("the CUDA driver reports no device")
	}
	return n, nil
}

// device is engine.Device on a GPU through gorgonia.org/cu: the device's
// primary context (the one the CUDA runtime, hence cuBLAS, uses), one
// non-blocking stream for everything, the kernels' module loaded from the
// embedded PTX, and a cuBLAS handle bound to the stream.
type device struct {
	ord    int
	dev    cu.Device
	ctx    cu.CUContext
	stream cu.Stream
	mod    cu.Module
	fns    []cu.Function
	blas   *cublas.Handle
	desc   string
	closed bool
}

func openDevice(o Options) (d *device, err error) {
	n, err := Devices()
	if err != nil {
		return nil, err
	}
	if o.Device < 0 || o.Device >= n {
		return nil, fmt.Errorf("CUDA device %d does not exist (%d device(s))", o.Device, n)
	}
	d = &device{ord: o.Device}
	if d.dev, err = cu.GetDevice(o.Device); err != nil {
		return nil, fmt.Errorf("CUDA device %d: %w", o.Device, err)
	}
	if d.ctx, err = d.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("CUDA device %d: retain the primary context: %w", o.Device, err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if err = cu.SetCurrentContext(d.ctx); err != nil {
		return nil, fmt.Errorf("CUDA device %d: make the context current: %w", o.Device, err)
	}
	if d.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return nil, fmt.Errorf("CUDA device %d: create a stream: %w", o.Device, err)
	}
	if d.mod, err = cu.LoadData(kernels.PTX); err != nil {
		return nil, fmt.Errorf("load the kernels' PTX (compute_60, CUDA 11.8; the driver must support CUDA ≥ 11.8): %w", err)
	}
	for _, k := range engine.Kernels() {
		fn, err := d.mod.Function(k.String())
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", k, err)
		}
		d.fns = append(d.fns, fn)
	}
	if d.blas, err = cublas.New(o.CUBLASDir, unsafe.Pointer(d.stream.C()), o.TF32); err != nil {
		return nil, err
	}
	name, _ := d.dev.Name()
	major, minor, _ := d.dev.ComputeCapability()
	math := "FP32"
	if o.TF32 {
		math = "TF32 tensor cores"
	}
	drv := cu.Version()
	d.desc = fmt.Sprintf("%s (device %d, sm_%d%d), driver CUDA %d.%d, cuBLAS %s (%s), %s matrix products",
		name, o.Device, major, minor, drv/1000, drv%1000/10, d.blas.Version(), d.blas.Path(), math)
	return d, nil
}

func (d *device) close() {
	if d.closed {
		return
	}
	d.closed = true
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cu.SetCurrentContext(d.ctx) != nil {
		return
	}
	if d.blas != nil {
		d.blas.Destroy()
		d.blas = nil
	}
	if d.mod != (cu.Module{}) {
		_ = d.mod.Unload()
		d.mod = cu.Module{}
	}
	if d.stream != (cu.Stream{}) {
		_ = d.stream.Destroy()
	}
	_ = d.dev.ReleasePrimaryCtx()
}

func (d *device) must(err error, what string) {
	if err != nil {
		panic(fmt.Sprintf("cuda backend on device %d: %s: %v", d.ord, what, err))
	}
}

// Name implements engine.Device.
func (d *device) Name() string { return d.desc }

// Bind implements engine.Device: CUDA contexts are per OS thread, and
// goroutines move between threads.
func (d *device) Bind() func() {
	runtime.LockOSThread()
	d.must(cu.SetCurrentContext(d.ctx), "make the context current")
	return runtime.UnlockOSThread
}

// Alloc implements engine.Device.
func (d *device) Alloc(bytes int) (engine.Ptr, error) {
	p, err := cu.MemAlloc(int64(bytes))
	if err != nil {
		return 0, fmt.Errorf("cuMemAlloc(%d): %w", bytes, err)
	}
	return engine.Ptr(p), nil
}

// Free implements engine.Device.
func (d *device) Free(p engine.Ptr) {
	d.must(d.stream.Synchronize(), "synchronize before freeing")
	d.must(cu.MemFree(cu.DevicePtr(p)), "cuMemFree")
}

// Memset32 implements engine.Device.
func (d *device) Memset32(p engine.Ptr, v uint32, n int) {
	d.must(cu.MemsetD32Async(cu.DevicePtr(p), uint(v), int64(n), d.stream), "cuMemsetD32Async")
}

// HtoD implements engine.Device. From pageable memory the driver stages the
// data before returning, so src may be reused at once.
func (d *device) HtoD(dst engine.Ptr, src unsafe.Pointer, bytes int) {
	d.must(cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, int64(bytes), d.stream), "cuMemcpyHtoDAsync")
}

// DtoH implements engine.Device.
func (d *device) DtoH(dst unsafe.Pointer, src engine.Ptr, bytes int) {
	d.must(cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), int64(bytes), d.stream), "cuMemcpyDtoHAsync")
	d.must(d.stream.Synchronize(), "synchronize (an earlier kernel or copy failed)")
}

// DtoD implements engine.Device.
func (d *device) DtoD(dst, src engine.Ptr, bytes int) {
	d.must(cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), int64(bytes), d.stream), "cuMemcpyDtoDAsync")
}

// Launch implements engine.Device.
func (d *device) Launch(k engine.Kernel, grid, block engine.Dim3, args ...uint64) {
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	one := func(v int) int { return max(v, 1) }
	err := d.fns[k].Launch(grid.X, one(grid.Y), one(grid.Z), block.X, one(block.Y), one(block.Z), 0, d.stream, params)
	d.must(err, fmt.Sprintf("launch %s grid %v block %v", k, grid, block))
}

// Sgemm implements engine.Device.
func (d *device) Sgemm(transA, transB bool, m, n, k int, alpha float32, a engine.Ptr, lda int, b engine.Ptr, ldb int, beta float32, c engine.Ptr, ldc int) {
	d.must(d.blas.Sgemm(transA, transB, m, n, k, alpha, uintptr(a), lda, uintptr(b), ldb, beta, uintptr(c), ldc), "SGEMM")
}

// Sync implements engine.Device.
func (d *device) Sync() {
	d.must(d.stream.Synchronize(), "synchronize (an earlier kernel or copy failed)")
}

var _ engine.Device = (*device)(nil)
