// Package guard stops a binary that links gorgonia.org/cu from dying
// obscurely on a machine without a usable GPU. Package cu's init calls
// cuInit and, when it fails, prints a one-line driver error and exits with
// status 1 — before main, before any flag is read. Go initializes packages
// in import-path order among those whose imports are ready (the Go 1.21+
// specification), so this package, whose path sorts before
// "gorgonia.org/cu" and whose imports are all imports of cu too, runs its
// init first, probes the device without cu (compute/gpuprobe), and when
// there is none:
//
//   - in a test binary (name ending in .test, or -test.* flags): prints why
//     every GPU test is skipped and exits 0 — or 1 when the environment
//     sets SAESCOPE_CUDA_REQUIRE=1 (the device script does, so that a
//     missing GPU there is a failure, not a skip);
//   - in the saescope-cuda program: runs the CPU build "saescope" found
//     next to it with the same arguments, or explains and exits 1.
//
// Import it (for its side effect) only from cuda-tagged code.
package guard

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/saescope/saescope/compute/gpuprobe"
)

// Initialized reports that the guard ran (for tests of the init order).
var Initialized bool

func init() {
	Initialized = true
	if os.Getenv("SAESCOPE_CUDA_GUARD") == "off" {
		return
	}
	info := gpuprobe.Probe()
	if info.OK() {
		return
	}
	exe := os.Args[0]
	base := exe[strings.LastIndex(exe, "/")+1:]
	test := strings.HasSuffix(base, ".test")
	for _, a := range os.Args[1:] {
		test = test || strings.HasPrefix(a, "-test.")
	}
	if test {
		fmt.Fprintf(os.Stderr, "%s: %s.\n", base, info)
		fmt.Fprintln(os.Stderr, "The CUDA tests cannot run here: this binary links gorgonia.org/cu, whose package init exits when cuInit fails, so no test can start. Every GPU test is skipped.")
		if os.Getenv("SAESCOPE_CUDA_REQUIRE") == "1" {
			fmt.Println("FAIL\t(SAESCOPE_CUDA_REQUIRE=1 and no usable GPU)")
			os.Exit(1)
		}
		fmt.Println("--- SKIP: every CUDA test (no usable GPU)")
		fmt.Println("PASS")
		os.Exit(0)
	}
	if self, err := os.Executable(); err == nil && os.Getenv("SAESCOPE_HANDOFF") == "" {
		cpu := self[:strings.LastIndex(self, "/")+1] + "saescope"
		if st, err := os.Stat(cpu); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			fmt.Fprintf(os.Stderr, "%s: %s; running the CPU build %s instead.\n", base, info, cpu)
			env := append(os.Environ(), "SAESCOPE_HANDOFF=cpu")
			err := syscall.Exec(cpu, append([]string{cpu}, os.Args[1:]...), env)
			fmt.Fprintf(os.Stderr, "%s: could not run %s: %v\n", base, cpu, err)
			os.Exit(1)
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %s.\nThis is the CUDA build of SAE Scope: it needs an NVIDIA GPU and driver. Run the CPU build (saescope) instead.\n", base, info)
	os.Exit(1)
}
