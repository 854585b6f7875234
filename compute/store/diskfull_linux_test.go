package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/saescope/saescope/internal/fulldisk"
)

// smallDisk returns a folder on a tmpfs of size bytes for the test.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	fulldisk.Mount(t, dir, size)
	return dir
}

// On a full disk Write fails with ENOSPC in its message, leaves no
// temporary file, and the store already there still opens unchanged.
func TestWriteOnFullDisk(t *testing.T) {
	dir := smallDisk(t, "1m")
	path := filepath.Join(dir, "s.saestore")
	small := bigStore(1024, 1)
	if err := small.Write(path); err != nil {
		t.Fatal(err)
	}
	err := bigStore(1<<16, 2).Write(path)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing past the end of the disk: %v, want an error wrapping ENOSPC", err)
	}
	t.Logf("error: %v", err)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "s.saestore" {
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files left on the full disk: %v", names)
	}
	back, err := Open(path)
	if err != nil {
		t.Fatalf("the store written before no longer opens: %v", err)
	}
	defer back.Close()
	if len(back.TokFeat) != len(small.TokFeat) {
		t.Errorf("the store written before changed: %d activations, want %d", len(back.TokFeat), len(small.TokFeat))
	}
}
