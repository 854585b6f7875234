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

// saescope_reload_openblas closes the library and opens name again with
// OPENBLAS_CORETYPE=want, which a DYNAMIC_ARCH build reads when it loads,
// then takes the variable out of the environment again (the caller only
// asks when it was not set).
static int saescope_reload_openblas(const char* name, const char* want) {
	if (p_handle) {
		dlclose(p_handle);
		p_handle = NULL;
		p_sgemm = NULL;
		p_set_threads = NULL;
	}
	setenv("OPENBLAS_CORETYPE", want, 1);
	int ok = saescope_open(name);
	unsetenv("OPENBLAS_CORETYPE");
	return ok;
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
		for _, name := range []string{"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0"} {
			cname := C.CString(name)
			ok := C.saescope_open(cname)
			if ok == 1 {
				openBLASName = name
				openBLASCore = C.GoString(C.saescope_corename())
				if want := betterCore(openBLASCore, C.GoString(C.saescope_cpu_core()), os.Getenv("OPENBLAS_CORETYPE") != ""); want != "" {
					cwant := C.CString(want)
					if C.saescope_reload_openblas(cname, cwant) == 1 {
						openBLASCore = C.GoString(C.saescope_corename())
					} else {
						openBLASName = ""
					}
					C.free(unsafe.Pointer(cwant))
				}
				C.free(unsafe.Pointer(cname))
				if openBLASName != "" {
					return
				}
				continue
			}
			C.free(unsafe.Pointer(cname))
		}
	})
	return openBLASName
}

// blasCore is the kernel family the loaded OpenBLAS uses ("" when none is
// loaded or the library does not say).
func blasCore() string {
	loadOpenBLAS()
	return openBLASCore
}

func setBLASThreads(n int) { C.saescope_set_threads(C.int(n)) }

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
