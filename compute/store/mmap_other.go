//go:build !unix

package store

import (
	"io"

	"github.com/saescope/saescope/internal/regularfile"
)

// mapFile reads the regular file at path whole (no mmap here).
func mapFile(path string) ([]byte, func() error, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
