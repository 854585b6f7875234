//go:build unix

package store

import (
	"fmt"
	"syscall"

	"github.com/saescope/saescope/internal/regularfile"
)

// mapFile maps the regular file at path read-only (a directory, device or
// FIFO is refused, without blocking, by regularfile.Open).
func mapFile(path string) ([]byte, func() error, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size == 0 {
		return nil, nil, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	if size != int64(int(size)) {
		return nil, nil, fmt.Errorf("file too large to map (%d bytes)", size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap: %w", err)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
