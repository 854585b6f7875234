//go:build !unix

package store

import "os"

// lockTemp does nothing here: a temporary file is told stale by its age
// alone.
func lockTemp(*os.File) error { return nil }

// tryLockTemp reports true: age alone decides.
func tryLockTemp(*os.File) bool { return true }
