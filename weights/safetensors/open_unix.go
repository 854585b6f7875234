//go:build unix

package safetensors

import (
	"fmt"
	"io"
	"math"
	"syscall"

	"github.com/saescope/saescope/internal/regularfile"
)

// Open memory-maps the file at path read-only and validates its header.
// Tensor data is not read until asked for, and F32 tensors are returned as
// views of the mapping, so opening a large checkpoint is cheap. The mapping
// stays valid until Close even if the file is replaced (Write renames a new
// file into place); truncating the file in place while it is open makes
// reads of the lost pages crash the program. Only a regular file is read:
// a device (a link to /dev/zero) or a FIFO is refused before reading.
func Open(path string) (*File, error) {
	fh, err := regularfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	if size < 8 {
		data, err := io.ReadAll(io.LimitReader(fh, 8))
		if err != nil {
			return nil, fmt.Errorf("safetensors %s: read: %w", path, err)
		}
		return parse(path, data, nil)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("safetensors %s: file of %d bytes is too large to map", path, size)
	}
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Some file systems cannot map files; read them instead.
		data = make([]byte, size)
		if _, rerr := io.ReadFull(fh, data); rerr != nil {
			return nil, fmt.Errorf("safetensors %s: mmap: %v; read: %w", path, err, rerr)
		}
		return parse(path, data, nil)
	}
	f, err := parse(path, data, syscall.Munmap)
	if err != nil {
		syscall.Munmap(data)
		return nil, err
	}
	return f, nil
}
