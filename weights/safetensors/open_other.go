//go:build !unix

package safetensors

import (
	"fmt"
	"os"
)

// Open reads the file at path into memory and validates its header. (On
// Unix systems Open memory-maps the file instead.) F32 tensors are returned
// as views of the file's bytes, valid until Close.
func Open(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return parse(path, data, nil)
}
