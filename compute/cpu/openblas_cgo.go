//go:build cgo

package cpu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float*, int,
                         const float*, int, float, float*, int);
typedef void (*set_threads_fn)(int);

static sgemm_fn p_sgemm;
static set_threads_fn p_set_threads;
static void* p_handle;
typedef char* (*corename_fn)(void);

// saescope_open dlopens an OpenBLAS (or any CBLAS) library and returns 1
// when cblas_sgemm was found.
static int saescope_open(const char* name) {
	void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!h) return 0;
	sgemm_fn f = (sgemm_fn)dlsym(h, "cblas_sgemm");
	if (!f) { dlclose(h); return 0; }
	p_handle = h;
	p_sgemm = f;
	p_set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
	return 1;
}

// saescope_corename is the kernel family OpenBLAS chose ("" when the
// library does not say).
static const char* saescope_corename(void) {
	if (!p_handle) return "";
	corename_fn f = (corename_fn)dlsym(p_handle, "openblas_get_corename");
	return f ? f() : "";
}

// saescope_reopen closes the library and opens name again (for it to read
// the environment again when it loads).
static int saescope_reopen(const char* name) {
	if (p_handle) {
		dlclose(p_handle);
		p_handle = NULL;
		p_sgemm = NULL;
		p_set_threads = NULL;
	}
	return saescope_open(name);
}

// saescope_cpu_core names the OpenBLAS core whose kernels this CPU runs
// best among those every DYNAMIC_ARCH build has: SkylakeX with AVX-512
// (F, CD, BW, DQ, VL), Haswell with AVX2 and FMA, else "".
static const char* saescope_cpu_core(void) {
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
	    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl"))
		return "SkylakeX";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "Haswell";
#endif
	return "";
}

static void saescope_set_threads(int n) { if (p_set_threads) p_set_threads(n); }

// saescope_get_threads is OpenBLAS' thread count, or 0 when the library
// does not say.
static int saescope_get_threads(void) {
	if (!p_handle) return 0;
	typedef int (*get_threads_fn)(void);
	get_threads_fn f = (get_threads_fn)dlsym(p_handle, "openblas_get_num_threads");
	return f ? f() : 0;
}

static void saescope_sgemm(int ta, int tb, int m, int n, int k, float alpha,
                           const float* a, int lda, const float* b, int ldb,
                           float beta, float* c, int ldc) {
	// CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112
	p_sgemm(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
*/
import "C"

import (
	"os"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/blas"
)

// openBLAS calls cblas_sgemm of a shared library found at run time, so that
// one binary uses OpenBLAS where it is installed and gonum where it is not.
type openBLAS struct{}

var (
	openBLASOnce sync.Once
	openBLASName string
	openBLASCore string
)

// loadOpenBLAS returns the library name it loaded, or "" when none was found.
// The dlopen happens once per process; the library stays loaded.
func loadOpenBLAS() string {
	openBLASOnce.Do(func() {
		// OpenBLAS' idle threads spin, yielding, for 2^28 cycles after each
		// product (a tenth of a second): between the products of a block
		// they took a core from the attention and LayerNorm workers (7% of
		// a scan's CPU time was sched_yield). 2^4 cycles: they sleep at
		// once, and waking them costs microseconds per product.
		if _, set := os.LookupEnv("OPENBLAS_THREAD_TIMEOUT"); !set {
			os.Setenv("OPENBLAS_THREAD_TIMEOUT", "4")
			defer os.Unsetenv("OPENBLAS_THREAD_TIMEOUT")
		}
		for _, name := range []string{"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0"} {
			if openBLASName, openBLASCore = openLibrary(name); openBLASName != "" {
				return
			}
		}
	})
	return openBLASName
}

// openLibrary opens the BLAS library name and returns its name and core,
// or "" when it cannot be used. A DYNAMIC_ARCH OpenBLAS that chose an old
// core on a newer CPU is opened again with OPENBLAS_CORETYPE set to the
// CPU's (betterCore), which it reads when it loads.
func openLibrary(name string) (string, string) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if C.saescope_open(cname) != 1 {
		return "", ""
	}
	core := C.GoString(C.saescope_corename())
	_, userSet := os.LookupEnv("OPENBLAS_CORETYPE")
	want := betterCore(core, C.GoString(C.saescope_cpu_core()), userSet)
	if want == "" {
		return name, core
	}
	os.Setenv("OPENBLAS_CORETYPE", want)
	defer os.Unsetenv("OPENBLAS_CORETYPE")
	if C.saescope_reopen(cname) != 1 {
		return "", ""
	}
	return name, C.GoString(C.saescope_corename())
}

// blasCore is the kernel family the loaded OpenBLAS uses ("" when none is
// loaded or the library does not say).
func blasCore() string {
	loadOpenBLAS()
	return openBLASCore
}

func setBLASThreads(n int) { C.saescope_set_threads(C.int(n)) }

// blasThreads is OpenBLAS' thread count: 0 when none is loaded or the
// library does not say.
func blasThreads() int { return int(C.saescope_get_threads()) }

func (openBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := C.int(0), C.int(0)
	if tA != blas.NoTrans {
		ta = 1
	}
	if tB != blas.NoTrans {
		tb = 1
	}
	if k == 0 {
		// BLAS would only scale C; keep that behaviour without touching a or b.
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
		return
	}
	C.saescope_sgemm(ta, tb, C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.int(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}
