//go:build !cuda

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/gpuprobe"
)

// The ordinary build runs on the CPU only: it never links the CUDA driver
// (gorgonia.org/cu exits at start-up where there is no GPU). The GPU lives
// in a second build of the same program, saescope-cuda (go build -tags
// cuda), which cudaHandoff starts when it sits next to this executable and
// a GPU is usable.

// cudaBuildName is the file name of the CUDA build, looked for next to the
// running executable.
const cudaBuildName = "saescope-cuda"

// handoffCommands are the commands that run the model (and "" for the
// window): only they are worth a GPU probe and a re-exec.
var handoffCommands = map[string]bool{"": true, "bench": true, "analyze": true, "acts": true, "elicit": true, "recons": true}

// backendNames lists the --backend values this build accepts: the CUDA ones
// only when the CUDA build is installed beside it.
func backendNames() []string {
	if _, err := cudaSibling(); err == nil {
		return []string{"auto", "cpu", "cuda", "cuda-tf32"}
	}
	return []string{"auto", "cpu"}
}

// newBackend returns the backend called name ("auto", "cpu", "cuda",
// "cuda-tf32") with the CPU BLAS blas. Here auto means the CPU: a usable GPU
// was already handed to saescope-cuda by cudaHandoff at start-up.
func newBackend(name string, blas string) (compute.Backend, error) {
	switch name {
	case "", "auto", "cpu":
		return cpu.New(cpu.BLAS(blas))
	case "cuda", "cuda-tf32":
		sib, err := cudaSibling()
		if err != nil {
			return nil, fmt.Errorf("--backend %s: this is the CPU build of SAE Scope, and %v", name, err)
		}
		if info := gpuprobe.Probe(); !info.OK() {
			return nil, fmt.Errorf("--backend %s: %s", name, info)
		}
		return nil, fmt.Errorf("--backend %s: this is the CPU build; run %s (or call cudaHandoff at start-up)", name, sib)
	}
	return nil, fmt.Errorf("unknown backend %q (this build knows %s)", name, strings.Join(backendNames(), ", "))
}

// cudaSibling returns the path of saescope-cuda next to the executable.
func cudaSibling() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot locate the running program: %w", err)
	}
	if r, err := filepath.EvalSymlinks(self); err == nil {
		self = r
	}
	sib := filepath.Join(filepath.Dir(self), cudaBuildName)
	st, err := os.Stat(sib)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("the CUDA build %s is not installed next to it", sib)
	}
	return sib, nil
}

// backendArg returns the value of a --backend/-backend flag in args, or ""
// (flags after the first non-flag argument included: commands parse their
// own flags).
func backendArg(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		for _, p := range []string{"--backend", "-backend"} {
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
		}
	}
	return ""
}

// cudaHandoff re-executes saescope-cuda with the same arguments when the
// command runs the model, --backend is auto (or absent), cuda or
// cuda-tf32, a GPU is usable and saescope-cuda is installed next to this
// program. Call it first in main; it returns only when it does not hand
// over (or when exec fails, with the error). SAESCOPE_HANDOFF in the
// environment (set by either build when it re-executes the other) stops it,
// so the two never bounce.
func cudaHandoff(args []string) error {
	if os.Getenv("SAESCOPE_HANDOFF") != "" {
		return nil
	}
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd = args[0]
	}
	if !handoffCommands[cmd] {
		return nil
	}
	switch backendArg(args) {
	case "", "auto", "cuda", "cuda-tf32":
	default:
		return nil
	}
	sib, err := cudaSibling()
	if err != nil {
		return nil
	}
	if !gpuprobe.Probe().OK() {
		return nil
	}
	env := append(os.Environ(), "SAESCOPE_HANDOFF=cuda")
	err = syscall.Exec(sib, append([]string{sib}, args...), env)
	return fmt.Errorf("run the CUDA build %s: %w", sib, err)
}
