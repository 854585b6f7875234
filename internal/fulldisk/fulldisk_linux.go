// Package fulldisk gives tests a small disk to fill: a tmpfs of a chosen
// size mounted on a folder for one test. Mounting needs root; elsewhere
// the test is skipped with the reason.
package fulldisk

import (
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size (e.g. "64k", "1m") on dir, an empty folder
// of the test's, until the test ends; it skips t when it cannot.
func Mount(t testing.TB, dir, size string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
}
