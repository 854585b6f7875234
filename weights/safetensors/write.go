package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/saescope/saescope/weights"
)

// headerEntry is one tensor's entry in a written header.
type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Write stores tensors as F32 in a safetensors file at path, with meta (may
// be nil) as the header's __metadata__. Tensors are laid out contiguously in
// name order. The header is padded with spaces so the data section starts at
// a multiple of 8 bytes, which keeps every tensor 4-byte aligned and lets
// Open return zero-copy views. The file is written to a temporary file in
// the same directory, synced and renamed over path, so readers never see a
// partial file and existing mappings of an older file stay valid.
func Write(path string, tensors map[string]weights.Tensor, meta map[string]string) error {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	slices.Sort(names)

	header := make(map[string]any, len(tensors)+1)
	var off int64
	for _, name := range names {
		t := tensors[name]
		if name == metadataKey {
			return fmt.Errorf("safetensors %s: tensor name %q is reserved", path, name)
		}
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors %s: tensor %q: negative dimension in shape %v", path, name, t.Shape)
			}
		}
		if n := weights.NumElements(t.Shape); n != len(t.Data) {
			return fmt.Errorf("safetensors %s: tensor %q: shape %v holds %d elements but data has %d", path, name, t.Shape, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		size := 4 * int64(len(t.Data))
		header[name] = headerEntry{DType: F32, Shape: shape, DataOffsets: [2]int64{off, off + size}}
		off += size
	}
	if len(meta) > 0 {
		header[metadataKey] = meta
	}
	var hb bytes.Buffer
	enc := json.NewEncoder(&hb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(header); err != nil {
		return fmt.Errorf("safetensors %s: encode header: %w", path, err)
	}
	hdr := bytes.TrimRight(hb.Bytes(), "\n")
	if pad := (8 - (8+len(hdr))%8) % 8; pad > 0 {
		hdr = append(hdr, bytes.Repeat([]byte{' '}, pad)...)
	}

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	w := bufio.NewWriterSize(tmp, 1<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	w.Write(n[:])
	w.Write(hdr)
	const chunk = 1 << 16 // floats per write
	buf := make([]byte, 4*chunk)
	for _, name := range names {
		data := tensors[name].Data
		for len(data) > 0 {
			k := min(len(data), chunk)
			encodeF32(buf, data[:k])
			if _, err := w.Write(buf[:4*k]); err != nil {
				return fmt.Errorf("safetensors %s: write: %w", tmp.Name(), err)
			}
			data = data[k:]
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("safetensors %s: write: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		ok = true
		return fmt.Errorf("safetensors: %w", err)
	}
	ok = true
	return nil
}
