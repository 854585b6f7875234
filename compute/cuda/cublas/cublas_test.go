//go:build cgo && linux

package cublas

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLoad loads whichever cuBLAS the machine has (no GPU needed) and
// resolves the entry points the backend uses.
func TestLoad(t *testing.T) {
	path, err := Load("")
	if err != nil {
		t.Skipf("no cuBLAS on this machine: %v", err)
	}
	t.Logf("cuBLAS %s from %s", LibraryVersion(), path)
	if again, err := Load("/nonexistent"); err != nil || again != path {
		t.Errorf("second Load: %q, %v; want the library already loaded", again, err)
	}
	if LibraryVersion() == "" {
		t.Error("no version from cublasGetProperty")
	}
}

// TestCreate creates a handle: without a GPU it must fail with an error,
// not crash.
func TestCreate(t *testing.T) {
	if _, err := Load(""); err != nil {
		t.Skipf("no cuBLAS on this machine: %v", err)
	}
	h, err := New("", nil, false)
	if err != nil {
		t.Logf("no handle (expected without a GPU): %v", err)
		return
	}
	t.Logf("handle on cuBLAS %s", h.Version())
	h.Destroy()
}

func TestCandidates(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"libcublas.so.12", "libcublasLt.so.12"} {
		if err := os.WriteFile(filepath.Join(lib, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(DirEnv, "")
	c := candidates(dir)
	if len(c) == 0 || c[0][1] != filepath.Join(lib, "libcublas.so.12") || c[0][0] != filepath.Join(lib, "libcublasLt.so.12") {
		t.Fatalf("first candidate %v, want the files in %s", c[0], lib)
	}
	last := c[len(c)-1]
	if last[1] != "libcublas.so.11" {
		t.Errorf("last candidate %v, want the soname libcublas.so.11", last)
	}
}
