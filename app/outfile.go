package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/saescope/saescope/compute/store"
)

// checkStoreOut refuses a store path given by flag (--out) that would
// overwrite one of the command's inputs (the same path, or the same file
// by os.SameFile) or an existing file that is not a store: a folder, a
// special file, or a regular file that does not begin as a store does
// (an empty file is allowed). An empty out or input is skipped.
func checkStoreOut(flag, out string, inputs ...string) error {
	if out == "" {
		return nil
	}
	oi, err := os.Stat(out)
	outAbs, _ := filepath.Abs(out)
	for _, in := range inputs {
		if in == "" {
			continue
		}
		inAbs, _ := filepath.Abs(in)
		same := outAbs != "" && outAbs == inAbs
		if !same && err == nil {
			if ii, ierr := os.Stat(in); ierr == nil {
				same = os.SameFile(oi, ii)
			}
		}
		if same {
			return fmt.Errorf("%s %s is an input of this command (%s): writing the store there would destroy it; give another path", flag, out, in)
		}
	}
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, out, err)
	}
	switch {
	case oi.IsDir():
		return fmt.Errorf("%s %s is a folder: give the store's file name", flag, out)
	case !oi.Mode().IsRegular():
		return fmt.Errorf("%s %s is not a regular file: a store is written to a regular file", flag, out)
	case oi.Size() == 0:
		return nil
	}
	ok, err := store.HasMagic(out)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if !ok {
		return fmt.Errorf("%s %s exists and is not a SAE Scope store: refusing to overwrite it; give another path (or delete it first)", flag, out)
	}
	return nil
}
