//go:build !cuda && cgo

package kernels

/*
#cgo CXXFLAGS: -O2 -std=c++17 -Wno-unknown-pragmas
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char* saescope_emu_error(void);
int saescope_emu_launch(const char* name, int gx, int gy, int gz, int bx, int by, int bz, const uint64_t* a, int nargs);
void saescope_emu_sgemm(int ta, int tb, int m, int n, int k, float alpha, uintptr_t pa, int lda, uintptr_t pb, int ldb, float beta, uintptr_t pc, int ldc);

static uintptr_t emu_alloc(size_t n) {
	void* p = malloc(n);
	if (p) memset(p, 0xff, n); // NaN: reads of memory never written show up
	return (uintptr_t)p;
}
static void emu_free(uintptr_t p) { free((void*)p); }
static void emu_memset32(uintptr_t p, uint32_t v, size_t n) {
	uint32_t* q = (uint32_t*)p;
	for (size_t i = 0; i < n; i++) q[i] = v;
}
static void emu_copy(uintptr_t dst, uintptr_t src, size_t n) { memmove((void*)dst, (const void*)src, n); }
static void emu_from_host(uintptr_t dst, const void* src, size_t n) { memcpy((void*)dst, src, n); }
static void emu_to_host(void* dst, uintptr_t src, size_t n) { memcpy(dst, (const void*)src, n); }
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/saescope/saescope/compute/cuda/engine"
)

// Emulator is an engine.Device that runs the kernels of kernels.cu on the
// CPU (one fiber per CUDA thread, blocks in order) and SGEMM with a
// reference loop. It is slow — meant for correctness tests of small shapes
// on machines without a GPU — and allocates "device" memory with malloc,
// filled with NaN so that reads of memory never written show up.
type Emulator struct {
	mu    sync.Mutex  // the emulator's scheduler state is global
	names [32]*C.char // C names of the kernels launched so far, by engine.Kernel
	live  map[engine.Ptr]int
	Stats EmuStats
}

// EmuStats counts what an Emulator did.
type EmuStats struct {
	Launches, Sgemms int
	Kernels          map[string]int
}

var emuGlobal sync.Mutex // one emulated launch at a time in the process

// NewEmulator returns a fresh emulated device.
func NewEmulator() *Emulator {
	return &Emulator{live: map[engine.Ptr]int{}, Stats: EmuStats{Kernels: map[string]int{}}}
}

// Name implements engine.Device.
func (e *Emulator) Name() string { return "kernel emulator (CPU)" }

// Bind implements engine.Device.
func (e *Emulator) Bind() func() { return func() {} }

// Alloc implements engine.Device.
func (e *Emulator) Alloc(bytes int) (engine.Ptr, error) {
	p := C.emu_alloc(C.size_t(bytes))
	if p == 0 {
		return 0, fmt.Errorf("emulator: out of memory for %d bytes", bytes)
	}
	e.mu.Lock()
	e.live[engine.Ptr(p)] = bytes
	e.mu.Unlock()
	return engine.Ptr(p), nil
}

// Free implements engine.Device.
func (e *Emulator) Free(p engine.Ptr) {
	e.mu.Lock()
	if _, ok := e.live[p]; !ok {
		e.mu.Unlock()
		panic(fmt.Sprintf("emulator: free of %#x, which is not an allocation", uintptr(p)))
	}
	delete(e.live, p)
	e.mu.Unlock()
	C.emu_free(C.uintptr_t(p))
}

// LiveBytes returns the bytes allocated and not freed.
func (e *Emulator) LiveBytes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, b := range e.live {
		n += b
	}
	return n
}

// check panics unless [p, p+bytes) lies inside one live allocation.
func (e *Emulator) check(what string, p engine.Ptr, bytes int) {
	if bytes == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for base, n := range e.live {
		if p >= base && uintptr(p)+uintptr(bytes) <= uintptr(base)+uintptr(n) {
			return
		}
	}
	panic(fmt.Sprintf("emulator: %s of %d bytes at %#x outside every allocation", what, bytes, uintptr(p)))
}

// Memset32 implements engine.Device.
func (e *Emulator) Memset32(p engine.Ptr, v uint32, n int) {
	e.check("memset", p, 4*n)
	C.emu_memset32(C.uintptr_t(p), C.uint32_t(v), C.size_t(n))
}

// HtoD implements engine.Device.
func (e *Emulator) HtoD(dst engine.Ptr, src unsafe.Pointer, bytes int) {
	e.check("host-to-device copy", dst, bytes)
	C.emu_from_host(C.uintptr_t(dst), src, C.size_t(bytes))
}

// DtoH implements engine.Device.
func (e *Emulator) DtoH(dst unsafe.Pointer, src engine.Ptr, bytes int) {
	e.check("device-to-host copy", src, bytes)
	C.emu_to_host(dst, C.uintptr_t(src), C.size_t(bytes))
}

// DtoD implements engine.Device.
func (e *Emulator) DtoD(dst, src engine.Ptr, bytes int) {
	e.check("device copy source", src, bytes)
	e.check("device copy destination", dst, bytes)
	C.emu_copy(C.uintptr_t(dst), C.uintptr_t(src), C.size_t(bytes))
}

// Launch implements engine.Device.
func (e *Emulator) Launch(k engine.Kernel, grid, block engine.Dim3, args ...uint64) {
	if int(k) >= len(e.names) {
		panic(fmt.Sprintf("emulator: kernel %v", k))
	}
	if e.names[k] == nil {
		e.names[k] = C.CString(k.String()) // kept for the emulator's life
	}
	z := func(d engine.Dim3) engine.Dim3 {
		if d.Y == 0 {
			d.Y = 1
		}
		if d.Z == 0 {
			d.Z = 1
		}
		return d
	}
	grid, block = z(grid), z(block)
	slots := (*C.uint64_t)(C.malloc(C.size_t(8 * max(1, len(args)))))
	defer C.free(unsafe.Pointer(slots))
	copy(unsafe.Slice((*uint64)(unsafe.Pointer(slots)), len(args)), args)
	emuGlobal.Lock()
	rc := C.saescope_emu_launch(e.names[k], C.int(grid.X), C.int(grid.Y), C.int(grid.Z), C.int(block.X), C.int(block.Y), C.int(block.Z), slots, C.int(len(args)))
	var msg string
	if rc != 0 {
		msg = C.GoString(C.saescope_emu_error())
	}
	emuGlobal.Unlock()
	if rc != 0 {
		panic("emulator: launch: " + msg)
	}
	e.mu.Lock()
	e.Stats.Launches++
	e.Stats.Kernels[k.String()]++
	e.mu.Unlock()
}

// Sgemm implements engine.Device.
func (e *Emulator) Sgemm(transA, transB bool, m, n, k int, alpha float32, a engine.Ptr, lda int, b engine.Ptr, ldb int, beta float32, c engine.Ptr, ldc int) {
	// The operands must be inside allocations, with cuBLAS's shape rules.
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	if lda < max(1, rowsA) || ldb < max(1, rowsB) || ldc < max(1, m) {
		panic(fmt.Sprintf("emulator: sgemm leading dimensions %d, %d, %d too small for %dx%d, %dx%d, %dx%d", lda, ldb, ldc, rowsA, colsA, rowsB, colsB, m, n))
	}
	if m > 0 && n > 0 && k > 0 {
		e.check("sgemm A", a, 4*(lda*(colsA-1)+rowsA))
		e.check("sgemm B", b, 4*(ldb*(colsB-1)+rowsB))
	}
	if m > 0 && n > 0 {
		e.check("sgemm C", c, 4*(ldc*(n-1)+m))
	}
	ta, tb := C.int(0), C.int(0)
	if transA {
		ta = 1
	}
	if transB {
		tb = 1
	}
	C.saescope_emu_sgemm(ta, tb, C.int(m), C.int(n), C.int(k), C.float(alpha), C.uintptr_t(a), C.int(lda), C.uintptr_t(b), C.int(ldb), C.float(beta), C.uintptr_t(c), C.int(ldc))
	e.mu.Lock()
	e.Stats.Sgemms++
	e.mu.Unlock()
}

// Sync implements engine.Device (the emulator is synchronous).
func (e *Emulator) Sync() {}

var _ engine.Device = (*Emulator)(nil)
