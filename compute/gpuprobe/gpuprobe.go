// Package gpuprobe tells whether an NVIDIA GPU is usable without linking
// the CUDA driver library: it opens libcuda.so.1 at run time (dlopen),
// calls cuInit and counts the devices. The ordinary (CPU) build of SAE
// Scope uses it to decide whether to hand over to its CUDA build, and the
// CUDA build uses it to fail clearly before gorgonia.org/cu's package init
// exits the process on machines without a GPU (see compute/cuda/guard).
//
// It imports only packages that gorgonia.org/cu imports too, which the
// init-order guarantee of compute/cuda/guard relies on.
package gpuprobe

import (
	"fmt"
	"strings"
	"sync"
)

// Device is one CUDA device.
type Device struct {
	Name                       string
	ComputeMajor, ComputeMinor int
	MemoryBytes                uint64
}

// Info is the result of a probe.
type Info struct {
	// Driver is the CUDA version the driver supports (e.g. 13000 for
	// 13.0), 0 when unknown.
	Driver  int
	Devices []Device
	// Err says why no device is usable (nil when Devices is not empty).
	Err error
}

// OK reports whether at least one device is usable.
func (i Info) OK() bool { return len(i.Devices) > 0 && i.Err == nil }

// String describes the probe's result in one line.
func (i Info) String() string {
	if !i.OK() {
		return "no usable NVIDIA GPU: " + i.Err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CUDA driver %d.%d, %d device(s):", i.Driver/1000, i.Driver%1000/10, len(i.Devices))
	for k, d := range i.Devices {
		fmt.Fprintf(&b, " [%d] %s (sm_%d%d, %.1f GiB)", k, d.Name, d.ComputeMajor, d.ComputeMinor, float64(d.MemoryBytes)/(1<<30))
	}
	return b.String()
}

var (
	once   sync.Once
	cached Info
)

// Probe returns the machine's CUDA devices. It runs once per process; later
// calls return the same result.
func Probe() Info {
	once.Do(func() { cached = probe() })
	return cached
}
