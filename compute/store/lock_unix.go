//go:build unix

package store

import (
	"os"
	"syscall"
)

// lockTemp takes an exclusive lock on a temporary file being written; the
// system drops it when the file is closed or the process dies.
func lockTemp(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }

// tryLockTemp reports whether the lock on f could be taken at once (no
// live writer holds it).
func tryLockTemp(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
