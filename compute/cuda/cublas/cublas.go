//go:build cgo && linux

package cublas

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The few cuBLAS entry points the backend uses, declared here so that no
// cuBLAS header or link-time library is needed: the library is opened at
// run time (libcublas.so.13, .12 or .11), so one binary works with CUDA 11,
// 12 and 13. Handles and streams are opaque pointers; enums are ints.
typedef int (*sc_create_t)(void**);
typedef int (*sc_destroy_t)(void*);
typedef int (*sc_set_stream_t)(void*, void*);
typedef int (*sc_set_math_t)(void*, int);
typedef int (*sc_version_t)(void*, int*);
typedef int (*sc_property_t)(int, int*);
typedef int (*sc_sgemm_t)(void*, int, int, int, int, int, const float*, const float*, int, const float*, int, const float*, float*, int);

static struct {
	void* lib;
	void* lt;
	sc_create_t create;
	sc_destroy_t destroy;
	sc_set_stream_t set_stream;
	sc_set_math_t set_math;
	sc_version_t version;
	sc_sgemm_t sgemm;
	sc_property_t property; // cublasGetProperty: optional
} sc;

static char sc_err[2048];
static char sc_path[2048];

static const char* sc_error(void) { return sc_err; }
static const char* sc_loaded_path(void) { return sc_path; }

// sc_open loads cuBLAS from lib, after loading its companion cuBLASLt from
// lt (when given) with RTLD_GLOBAL so that libcublas finds it even when its
// folder is not on the loader's search path. 0 on success.
static int sc_open(const char* lt, const char* lib) {
	if (sc.lib) return 0;
	void* hlt = NULL;
	if (lt && *lt) hlt = dlopen(lt, RTLD_NOW | RTLD_GLOBAL);
	void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char* e = dlerror();
		snprintf(sc_err, sizeof sc_err, "%s", e ? e : lib);
		if (hlt) dlclose(hlt);
		return -1;
	}
	sc.create = (sc_create_t)dlsym(h, "cublasCreate_v2");
	sc.destroy = (sc_destroy_t)dlsym(h, "cublasDestroy_v2");
	sc.set_stream = (sc_set_stream_t)dlsym(h, "cublasSetStream_v2");
	sc.set_math = (sc_set_math_t)dlsym(h, "cublasSetMathMode");
	sc.version = (sc_version_t)dlsym(h, "cublasGetVersion_v2");
	sc.sgemm = (sc_sgemm_t)dlsym(h, "cublasSgemm_v2");
	sc.property = (sc_property_t)dlsym(h, "cublasGetProperty");
	if (!sc.create || !sc.destroy || !sc.set_stream || !sc.set_math || !sc.version || !sc.sgemm) {
		snprintf(sc_err, sizeof sc_err, "%s lacks a cuBLAS v2 entry point (cublasCreate_v2, cublasSetStream_v2, cublasSetMathMode, cublasSgemm_v2, ...)", lib);
		dlclose(h);
		if (hlt) dlclose(hlt);
		memset(&sc, 0, sizeof sc);
		return -1;
	}
	Dl_info info;
	if (dladdr((void*)sc.sgemm, &info) && info.dli_fname) snprintf(sc_path, sizeof sc_path, "%s", info.dli_fname);
	else snprintf(sc_path, sizeof sc_path, "%s", lib);
	sc.lib = h;
	sc.lt = hlt;
	return 0;
}

// sc_library_version returns major·10000 + minor·100 + patch, or -1.
static int sc_library_version(void) {
	int major = 0, minor = 0, patch = 0;
	if (!sc.property || sc.property(0, &major) || sc.property(1, &minor) || sc.property(2, &patch)) return -1;
	return major * 10000 + minor * 100 + patch;
}

static int sc_create(void** h) { return sc.create(h); }
static int sc_destroy(void* h) { return sc.destroy(h); }
static int sc_set_stream(void* h, void* s) { return sc.set_stream(h, s); }
static int sc_set_math(void* h, int mode) { return sc.set_math(h, mode); }
static int sc_version(void* h, int* v) { return sc.version(h, v); }
static int sc_sgemm(void* h, int ta, int tb, int m, int n, int k, float alpha, uintptr_t a, int lda, uintptr_t b, int ldb, float beta, uintptr_t c, int ldc) {
	return sc.sgemm(h, ta, tb, m, n, k, &alpha, (const float*)a, lda, (const float*)b, ldb, &beta, (float*)c, ldc);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// DirEnv names the environment variable that points at a folder
// holding libcublas.so.N and libcublasLt.so.N, e.g. the lib folder of the
// nvidia-cublas Python wheel next to PyTorch.
const DirEnv = "SAESCOPE_CUBLAS_DIR"

// cuBLAS constants (cublas_api.h).
const (
	cublasOpN             = 0
	cublasOpT             = 1
	cublasDefaultMath     = 0
	cublasTF32TensorOp    = 3
	cublasStatusSuccess   = 0
	cublasNotInitialized  = 1
	cublasArchMismatch    = 8
	cublasExecutionFailed = 13
)

var cublasStatus = map[int]string{
	0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
	7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

func cublasErr(what string, rc C.int) error {
	if rc == cublasStatusSuccess {
		return nil
	}
	name, ok := cublasStatus[int(rc)]
	if !ok {
		name = fmt.Sprintf("cuBLAS status %d", int(rc))
	}
	return fmt.Errorf("%s: %s", what, name)
}

// candidates lists (cuBLASLt, cuBLAS) pairs to try, newest first:
// in dir (and dir/lib), in $SAESCOPE_CUBLAS_DIR (and its lib), then by
// soname through the loader's search path (LD_LIBRARY_PATH, ld.so.cache).
func candidates(dir string) [][2]string {
	versions := []string{"13", "12", "11"}
	var dirs []string
	for _, d := range []string{dir, os.Getenv(DirEnv)} {
		if d == "" {
			continue
		}
		dirs = append(dirs, d, filepath.Join(d, "lib"))
	}
	var out [][2]string
	for _, d := range dirs {
		for _, v := range versions {
			lib := filepath.Join(d, "libcublas.so."+v)
			if _, err := os.Stat(lib); err == nil {
				out = append(out, [2]string{filepath.Join(d, "libcublasLt.so."+v), lib})
			}
		}
	}
	for _, v := range versions {
		out = append(out, [2]string{"libcublasLt.so." + v, "libcublas.so." + v})
	}
	return out
}

var cublasLoad struct {
	sync.Mutex
	path string
}

// Load opens the first cuBLAS that loads (once per process: later calls
// return the same library) and returns its path. It needs no GPU.
func Load(dir string) (string, error) {
	cublasLoad.Lock()
	defer cublasLoad.Unlock()
	if cublasLoad.path != "" {
		return cublasLoad.path, nil
	}
	var tried []string
	for _, c := range candidates(dir) {
		lt, lib := C.CString(c[0]), C.CString(c[1])
		rc := C.sc_open(lt, lib)
		C.free(unsafe.Pointer(lt))
		C.free(unsafe.Pointer(lib))
		if rc == 0 {
			cublasLoad.path = C.GoString(C.sc_loaded_path())
			return cublasLoad.path, nil
		}
		tried = append(tried, C.GoString(C.sc_error()))
	}
	return "", fmt.Errorf("cuBLAS not found (tried libcublas.so.13, .12 and .11; set %s to the folder holding libcublas.so.N, e.g. the nvidia/cublas/lib folder of a PyTorch environment):\n  %s",
		DirEnv, strings.Join(tried, "\n  "))
}

// LibraryVersion returns the loaded cuBLAS's version ("12.4.5"), or "" when
// none is loaded or it does not say.
func LibraryVersion() string {
	cublasLoad.Lock()
	defer cublasLoad.Unlock()
	if cublasLoad.path == "" {
		return ""
	}
	v := int(C.sc_library_version())
	if v < 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
}

// Handle is one cuBLAS handle, bound to a stream.
type Handle struct {
	h       unsafe.Pointer
	version int
	path    string
	tf32    bool
}

// New loads cuBLAS (see Load) and creates a handle on stream (a CUstream;
// nil is the legacy default stream) with FP32 math, or TF32 tensor-core
// math when tf32 is set. The device's context must be current on the
// calling thread.
func New(dir string, stream unsafe.Pointer, tf32 bool) (*Handle, error) {
	path, err := Load(dir)
	if err != nil {
		return nil, err
	}
	c := &Handle{path: path, tf32: tf32}
	var h unsafe.Pointer
	rc := C.sc_create(&h)
	c.h = h
	if rc != cublasStatusSuccess {
		err := cublasErr("cublasCreate", rc)
		if rc == cublasNotInitialized {
			err = fmt.Errorf("%w (%s: no usable GPU, or a driver too old for this cuBLAS: CUDA 13 needs driver ≥ 580, 12 needs ≥ 525)", err, path)
		}
		return nil, err
	}
	var v C.int
	if rc := C.sc_version(c.h, &v); rc == cublasStatusSuccess {
		c.version = int(v)
	}
	if rc := C.sc_set_stream(c.h, stream); rc != cublasStatusSuccess {
		c.Destroy()
		return nil, cublasErr("cublasSetStream", rc)
	}
	mode := C.int(cublasDefaultMath)
	if tf32 {
		mode = cublasTF32TensorOp
	}
	if rc := C.sc_set_math(c.h, mode); rc != cublasStatusSuccess {
		c.Destroy()
		return nil, cublasErr("cublasSetMathMode", rc)
	}
	return c, nil
}

// Path returns the file cuBLAS was loaded from.
func (c *Handle) Path() string { return c.path }

// Version formats cuBLAS's version number (e.g. 130001 → 13.0.1).
func (c *Handle) Version() string {
	v := c.version
	if v >= 10000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
	}
	return fmt.Sprintf("%d.%d.%d", v/1000, v/100%10, v%100)
}

// Destroy releases the handle.
func (c *Handle) Destroy() {
	if c.h != nil {
		C.sc_destroy(c.h)
		c.h = nil
	}
}

// Sgemm is cublasSgemm_v2 on device addresses (column-major, host alpha
// and beta).
func (c *Handle) Sgemm(transA, transB bool, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, cp uintptr, ldc int) error {
	ta, tb := C.int(cublasOpN), C.int(cublasOpN)
	if transA {
		ta = cublasOpT
	}
	if transB {
		tb = cublasOpT
	}
	rc := C.sc_sgemm(c.h, ta, tb, C.int(m), C.int(n), C.int(k), C.float(alpha), C.uintptr_t(a), C.int(lda), C.uintptr_t(b), C.int(ldb), C.float(beta), C.uintptr_t(cp), C.int(ldc))
	if rc != cublasStatusSuccess {
		err := cublasErr(fmt.Sprintf("cublasSgemm(%c%c, m=%d n=%d k=%d, lda=%d ldb=%d ldc=%d)", "NT"[ta], "NT"[tb], m, n, k, lda, ldb, ldc), rc)
		if rc == cublasArchMismatch || rc == cublasExecutionFailed {
			err = errors.Join(err, fmt.Errorf("cuBLAS %s at %s", c.Version(), c.path))
		}
		return err
	}
	return nil
}
