//go:build !unix

package safetensors

import (
	"fmt"

	"github.com/saescope/saescope/internal/regularfile"
)

// Open reads the file at path into memory and validates its header. (On
// Unix systems Open memory-maps the file instead.) F32 tensors are returned
// as views of the file's bytes, valid until Close.
func Open(path string) (*File, error) {
	st, err := regularfile.Check(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	data, err := regularfile.ReadFile(path, st.Size())
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return parse(path, data, nil)
}
