//go:build cgo && (linux || freebsd)

package gpuprobe

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef int (*pr_init_t)(unsigned int);
typedef int (*pr_count_t)(int*);
typedef int (*pr_version_t)(int*);
typedef int (*pr_get_t)(int*, int);
typedef int (*pr_name_t)(char*, int, int);
typedef int (*pr_attr_t)(int*, int, int);
typedef int (*pr_mem_t)(size_t*, int);
typedef int (*pr_errname_t)(int, const char**);

// Device attributes of cuda.h.
#define PR_ATTR_CC_MAJOR 75
#define PR_ATTR_CC_MINOR 76

typedef struct {
	int status;        // 0 ok; 1 no library; 2 missing symbol; 3 cuInit failed; 4 cuDeviceGetCount failed
	int cu_result;     // the CUresult of the failed call
	char message[512];
	int driver;
	int count;
} pr_result;

static void* pr_lib;

static void pr_errname(int code, char* out, size_t n) {
	pr_errname_t f = pr_lib ? (pr_errname_t)dlsym(pr_lib, "cuGetErrorName") : NULL;
	const char* s = NULL;
	if (f && f(code, &s) == 0 && s) snprintf(out, n, "%s (%d)", s, code);
	else snprintf(out, n, "CUresult %d", code);
}

static void pr_probe(pr_result* r) {
	memset(r, 0, sizeof *r);
	if (!pr_lib) pr_lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	if (!pr_lib) {
		const char* e = dlerror();
		r->status = 1;
		snprintf(r->message, sizeof r->message, "%s", e ? e : "libcuda.so.1 not found");
		return;
	}
	pr_init_t init = (pr_init_t)dlsym(pr_lib, "cuInit");
	pr_count_t count = (pr_count_t)dlsym(pr_lib, "cuDeviceGetCount");
	pr_version_t version = (pr_version_t)dlsym(pr_lib, "cuDriverGetVersion");
	if (!init || !count) {
		r->status = 2;
		snprintf(r->message, sizeof r->message, "libcuda.so.1 lacks cuInit or cuDeviceGetCount");
		return;
	}
	if (version) version(&r->driver);
	int rc = init(0);
	if (rc != 0) {
		r->status = 3;
		r->cu_result = rc;
		pr_errname(rc, r->message, sizeof r->message);
		return;
	}
	rc = count(&r->count);
	if (rc != 0) {
		r->status = 4;
		r->cu_result = rc;
		pr_errname(rc, r->message, sizeof r->message);
	}
}

static int pr_device(int ordinal, char* name, int n, int* major, int* minor, size_t* mem) {
	pr_get_t get = (pr_get_t)dlsym(pr_lib, "cuDeviceGet");
	pr_name_t getname = (pr_name_t)dlsym(pr_lib, "cuDeviceGetName");
	pr_attr_t attr = (pr_attr_t)dlsym(pr_lib, "cuDeviceGetAttribute");
	pr_mem_t total = (pr_mem_t)dlsym(pr_lib, "cuDeviceTotalMem_v2");
	int dev = 0;
	if (!get || get(&dev, ordinal) != 0) return -1;
	if (getname) getname(name, n, dev);
	if (attr) {
		attr(major, PR_ATTR_CC_MAJOR, dev);
		attr(minor, PR_ATTR_CC_MINOR, dev);
	}
	if (total) total(mem, dev);
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
)

func probe() Info {
	var r C.pr_result
	C.pr_probe(&r)
	info := Info{Driver: int(r.driver)}
	msg := C.GoString(&r.message[0])
	switch r.status {
	case 0:
	case 1:
		info.Err = fmt.Errorf("the NVIDIA driver library is not installed (%s)", msg)
		return info
	case 3:
		if r.cu_result == 100 { // CUDA_ERROR_NO_DEVICE
			info.Err = errors.New("the NVIDIA driver is installed but sees no device (cuInit: " + msg + ")")
		} else {
			info.Err = errors.New("cuInit failed: " + msg + " (is the kernel module loaded, and the driver recent enough?)")
		}
		return info
	default:
		info.Err = errors.New(msg)
		return info
	}
	if r.count == 0 {
		info.Err = errors.New("the NVIDIA driver reports 0 devices")
		return info
	}
	for i := 0; i < int(r.count); i++ {
		var name [256]C.char
		var major, minor C.int
		var mem C.size_t
		if C.pr_device(C.int(i), &name[0], 256, &major, &minor, &mem) != 0 {
			continue
		}
		info.Devices = append(info.Devices, Device{Name: C.GoString(&name[0]), ComputeMajor: int(major), ComputeMinor: int(minor), MemoryBytes: uint64(mem)})
	}
	if len(info.Devices) == 0 {
		info.Err = errors.New("no device could be queried")
	}
	return info
}
