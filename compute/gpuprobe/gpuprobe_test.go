package gpuprobe

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProbe runs the probe: on machines without a GPU it must say why,
// never crash, and answer the same twice.
func TestProbe(t *testing.T) {
	a, b := Probe(), Probe()
	if a.String() != b.String() {
		t.Errorf("two probes differ: %q, %q", a, b)
	}
	if !a.OK() && a.Err == nil {
		t.Error("no device and no reason")
	}
	t.Log(a)
}

// TestImportsOnlyWhatCuImports keeps the package's imports inside
// gorgonia.org/cu's, which compute/cuda/guard's init order relies on.
func TestImportsOnlyWhatCuImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{"C": true, "errors": true, "fmt": true, "os": true, "strings": true, "sync": true, "syscall": true, "unsafe": true, "runtime/cgo": true}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("gpuprobe imports %s, which gorgonia.org/cu does not (see compute/cuda/guard)", p)
		}
	}
}
