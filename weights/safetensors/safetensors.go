// Package safetensors reads and writes the safetensors weight format used by
// HuggingFace checkpoints and SAELens sparse autoencoders.
//
// A file is an 8-byte little-endian header length N, then N bytes of JSON
// header, then the data section:
//
//	{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//	 "__metadata__": {"key": "value"}}
//
// data_offsets are relative to the start of the data section (byte 8+N).
//
// Open memory-maps a file read-only (on Unix; elsewhere it reads it into
// memory) and validates the whole header before returning, so a *File only
// ever describes tensors that lie inside the file, do not overlap and whose
// byte length matches their shape. Every validation failure wraps ErrInvalid
// and names the file, the tensor and the problem; no input makes the parser
// panic.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"sync"
	"unsafe"

	"github.com/saescope/saescope/weights"
)

// ErrInvalid is wrapped by every error that reports a malformed file or
// header, so callers can test for it with errors.Is.
var ErrInvalid = errors.New("invalid safetensors file")

// MaxHeaderSize is the largest header length accepted (100 MB), as in the
// reference implementation. It bounds the memory a hostile file can make the
// parser allocate.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key that holds string metadata.
const metadataKey = "__metadata__"

// bufferName names in-memory buffers in error messages.
const bufferName = "<buffer>"

// DType is a tensor element type exactly as the header spells it, such as
// "F32", "F16", "BF16", "F64", "I64" or "I32". Unknown dtypes are kept: they
// are only reported when the tensor is read.
type DType string

// Element types with a known size. Others may appear in a header.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	F64  DType = "F64"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U64  DType = "U64"
	U32  DType = "U32"
	U16  DType = "U16"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size returns the size of one element in bytes, or 0 when the dtype is not
// one this package knows.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case I8, U8, Bool, "F8_E5M2", "F8_E4M3", "F8_E8M0":
		return 1
	}
	return 0
}

// Info describes one tensor of a file. Begin and End are the tensor's byte
// range relative to the start of the data section, as written in the header.
type Info struct {
	Name  string
	DType DType
	Shape []int
	Begin int64
	End   int64
}

// NumElements returns the number of elements of the tensor.
func (in Info) NumElements() int { return weights.NumElements(in.Shape) }

func (in Info) clone() Info {
	in.Shape = slices.Clone(in.Shape)
	return in
}

// File is an open, validated safetensors file. Its methods are safe for
// concurrent use, Close included; but slices returned by Float32 and Tensors
// may alias the file's memory mapping and become invalid after Close.
type File struct {
	name      string
	infos     map[string]Info
	names     []string
	meta      map[string]string
	dataStart int64

	mu    sync.RWMutex
	data  []byte             // the whole file; nil once closed
	unmap func([]byte) error // releases data; nil for ordinary memory
}

// invalidError is a validation error: it reads as its message and unwraps to
// both ErrInvalid and the underlying cause (e.g. a *json.SyntaxError).
type invalidError struct{ err error }

func (e *invalidError) Error() string   { return e.err.Error() }
func (e *invalidError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// invalidf formats a validation error for the named file; it supports %w.
func invalidf(name, format string, args ...any) error {
	return &invalidError{fmt.Errorf("safetensors %s: "+format, append([]any{name}, args...)...)}
}

// ParseHeader validates the header of a safetensors file of fileSize bytes
// whose first bytes are prefix. prefix must hold at least the 8-byte length
// and the whole header (more is ignored). It returns the tensors sorted by
// name, the metadata (nil when absent) and the offset of the data section in
// the file. It touches nothing but its arguments.
func ParseHeader(fileSize int64, prefix []byte) (infos []Info, meta map[string]string, dataStart int64, err error) {
	return parseHeader(bufferName, fileSize, prefix)
}

func parseHeader(name string, fileSize int64, prefix []byte) ([]Info, map[string]string, int64, error) {
	if fileSize < 8 {
		return nil, nil, 0, invalidf(name, "file is %d bytes, shorter than the 8-byte header length", fileSize)
	}
	if len(prefix) < 8 {
		return nil, nil, 0, fmt.Errorf("safetensors %s: prefix holds %d bytes, need at least 8", name, len(prefix))
	}
	n := binary.LittleEndian.Uint64(prefix[:8])
	switch {
	case n == 0:
		return nil, nil, 0, invalidf(name, "header length is 0")
	case n > MaxHeaderSize:
		return nil, nil, 0, invalidf(name, "header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	case int64(n) > fileSize-8:
		return nil, nil, 0, invalidf(name, "header length %d runs past end of file (%d bytes)", n, fileSize)
	}
	dataStart := 8 + int64(n)
	if int64(len(prefix)) < dataStart {
		return nil, nil, 0, fmt.Errorf("safetensors %s: prefix holds %d bytes, header needs the first %d", name, len(prefix), dataStart)
	}
	dataLen := fileSize - dataStart

	entries, order, err := splitObject(prefix[8:dataStart])
	if err != nil {
		return nil, nil, 0, invalidf(name, "header: %w", err)
	}

	var meta map[string]string
	infos := make([]Info, 0, len(order))
	for _, key := range order {
		raw := entries[key]
		if key == metadataKey {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, 0, invalidf(name, "%s must be an object of strings: %w", metadataKey, err)
			}
			continue
		}
		in, err := parseEntry(name, key, raw, dataLen)
		if err != nil {
			return nil, nil, 0, err
		}
		infos = append(infos, in)
	}

	// Overlap check: sort the non-empty ranges by begin; each must start at or
	// after the end of the one before. Empty ranges hold no bytes.
	byBegin := make([]*Info, 0, len(infos))
	for i := range infos {
		if infos[i].End > infos[i].Begin {
			byBegin = append(byBegin, &infos[i])
		}
	}
	sort.Slice(byBegin, func(i, j int) bool {
		a, b := byBegin[i], byBegin[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.Name < b.Name
	})
	for i := 1; i < len(byBegin); i++ {
		prev, cur := byBegin[i-1], byBegin[i]
		if cur.Begin < prev.End {
			return nil, nil, 0, invalidf(name, "tensor %q: data_offsets [%d,%d] overlap tensor %q [%d,%d]",
				cur.Name, cur.Begin, cur.End, prev.Name, prev.Begin, prev.End)
		}
	}

	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, meta, dataStart, nil
}

// splitObject decodes a JSON object into its raw member values, keeping the
// key order and rejecting duplicate keys and trailing data.
func splitObject(hdr []byte) (map[string]json.RawMessage, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("not a JSON object (starts with %s)", describeToken(tok))
	}
	entries := make(map[string]json.RawMessage)
	var order []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("not valid JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("not valid JSON: object key is %s", describeToken(tok))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("not valid JSON: value of %q: %w", key, err)
		}
		if _, dup := entries[key]; dup {
			return nil, nil, fmt.Errorf("duplicate key %q", key)
		}
		entries[key] = raw
		order = append(order, key)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, nil, fmt.Errorf("not valid JSON after the object: %w", err)
		}
		return nil, nil, fmt.Errorf("not valid JSON: trailing %s after the object", describeToken(tok))
	}
	return entries, order, nil
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(t))
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// parseEntry validates one tensor entry of the header.
func parseEntry(name, tensor string, raw json.RawMessage, dataLen int64) (Info, error) {
	in := Info{Name: tensor}
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || raw[0] != '{' {
		return in, invalidf(name, "tensor %q: entry is not a JSON object", tensor)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return in, invalidf(name, "tensor %q: entry: %w", tensor, err)
	}
	for _, f := range []string{"dtype", "shape", "data_offsets"} {
		if v, ok := fields[f]; !ok || string(v) == "null" {
			return in, invalidf(name, "tensor %q: missing %q", tensor, f)
		}
	}

	var dtype string
	if err := json.Unmarshal(fields["dtype"], &dtype); err != nil {
		return in, invalidf(name, "tensor %q: dtype must be a string: %w", tensor, err)
	}
	if dtype == "" {
		return in, invalidf(name, "tensor %q: empty dtype", tensor)
	}
	in.DType = DType(dtype)

	var shape []int64
	if err := json.Unmarshal(fields["shape"], &shape); err != nil {
		return in, invalidf(name, "tensor %q: shape must be an array of integers: %w", tensor, err)
	}
	in.Shape = make([]int, len(shape))
	for i, d := range shape {
		if d < 0 {
			return in, invalidf(name, "tensor %q: negative dimension %d in shape %v", tensor, d, shape)
		}
		if d > math.MaxInt {
			return in, invalidf(name, "tensor %q: dimension %d in shape %v is too large", tensor, d, shape)
		}
		in.Shape[i] = int(d)
	}
	elems := int64(1)
	if slices.Contains(shape, 0) {
		elems = 0
	} else {
		for _, d := range shape {
			if elems > math.MaxInt/d {
				return in, invalidf(name, "tensor %q: shape %v overflows the element count", tensor, shape)
			}
			elems *= d
		}
	}

	var offs []int64
	if err := json.Unmarshal(fields["data_offsets"], &offs); err != nil {
		return in, invalidf(name, "tensor %q: data_offsets must be an array of two integers: %w", tensor, err)
	}
	if len(offs) != 2 {
		return in, invalidf(name, "tensor %q: data_offsets %v must be [begin, end]", tensor, offs)
	}
	in.Begin, in.End = offs[0], offs[1]
	if in.Begin < 0 || in.End < in.Begin {
		return in, invalidf(name, "tensor %q: data_offsets [%d,%d] must have 0 <= begin <= end", tensor, in.Begin, in.End)
	}
	if in.End > dataLen {
		return in, invalidf(name, "tensor %q: data_offsets [%d,%d] past end of data (%d bytes)", tensor, in.Begin, in.End, dataLen)
	}
	if size := int64(in.DType.Size()); size > 0 {
		if elems > math.MaxInt64/size {
			return in, invalidf(name, "tensor %q: shape %v of %s overflows the byte count", tensor, shape, in.DType)
		}
		if want := elems * size; in.End-in.Begin != want {
			return in, invalidf(name, "tensor %q: data_offsets [%d,%d] hold %d bytes, but %s shape %v needs %d",
				tensor, in.Begin, in.End, in.End-in.Begin, in.DType, shape, want)
		}
	}
	return in, nil
}

// Parse validates a whole safetensors file held in data. The returned File
// aliases data (F32 tensors may be returned as views into it), so data must
// not be modified while the File or those views are in use. Close on it only
// drops the reference.
func Parse(data []byte) (*File, error) {
	return parse(bufferName, data, nil)
}

func parse(name string, data []byte, unmap func([]byte) error) (*File, error) {
	infos, meta, dataStart, err := parseHeader(name, int64(len(data)), data)
	if err != nil {
		return nil, err
	}
	f := &File{
		name:      name,
		infos:     make(map[string]Info, len(infos)),
		names:     make([]string, len(infos)),
		meta:      meta,
		dataStart: dataStart,
		data:      data,
		unmap:     unmap,
	}
	for i, in := range infos {
		f.infos[in.Name] = in
		f.names[i] = in.Name
	}
	return f, nil
}

// Names returns the tensor names in sorted order (metadata excluded).
func (f *File) Names() []string { return slices.Clone(f.names) }

// Info returns the description of the named tensor.
func (f *File) Info(name string) (Info, bool) {
	in, ok := f.infos[name]
	if !ok {
		return Info{}, false
	}
	return in.clone(), true
}

// Metadata returns a copy of the header's __metadata__ map (empty when the
// file has none).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

// bytesOf returns the raw bytes of the named tensor; the caller holds f.mu.
func (f *File) bytesOf(name string) (Info, []byte, error) {
	if f.data == nil {
		return Info{}, nil, fmt.Errorf("safetensors %s: file is closed", f.name)
	}
	in, ok := f.infos[name]
	if !ok {
		return Info{}, nil, fmt.Errorf("safetensors %s: no tensor %q", f.name, name)
	}
	start := f.dataStart + in.Begin
	return in, f.data[start : f.dataStart+in.End : f.dataStart+in.End], nil
}

// FloatNames lists the tensors of a floating-point dtype (F32, F16, BF16,
// F64), sorted: those Float32 reads.
func (f *File) FloatNames() []string {
	var out []string
	for _, name := range f.names {
		if isFloat(f.infos[name].DType) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Shape returns the shape of the floating-point tensor name, from the
// header, without reading its data.
func (f *File) Shape(name string) ([]int, bool) {
	in, ok := f.infos[name]
	if !ok || !isFloat(in.DType) {
		return nil, false
	}
	return slices.Clone(in.Shape), true
}

func isFloat(d DType) bool {
	switch d {
	case F32, F16, BF16, F64:
		return true
	}
	return false
}

// Float32 returns the named tensor as float32 values.
//
// F32 tensors whose data is 4-byte aligned in memory (on a little-endian
// machine) are returned as a zero-copy view of the file: the caller must not
// write to it, and it becomes invalid once the File is closed (reading it
// then may crash the program). Unaligned F32 data is copied. F16, BF16 and
// F64 are converted into a new slice (F16 subnormals, infinities and NaNs are
// exact; F64 is rounded to nearest). Any other dtype is an error naming the
// dtype and the tensor.
func (f *File) Float32(name string) (weights.Tensor, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	in, b, err := f.bytesOf(name)
	if err != nil {
		return weights.Tensor{}, err
	}
	n := in.NumElements()
	t := weights.Tensor{Shape: slices.Clone(in.Shape)}
	switch in.DType {
	case F32:
		if n > 0 && littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
			t.Data = unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
		} else {
			t.Data = make([]float32, n)
			decodeF32(t.Data, b)
		}
	case F16:
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = weights.HalfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = weights.BFloat16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case F64:
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		return weights.Tensor{}, fmt.Errorf("safetensors %s: tensor %q has dtype %s, which cannot be read as float32 (want F32, F16, BF16 or F64)",
			f.name, name, in.DType)
	}
	return t, nil
}

// Int64 returns the named integer tensor as a new []int64 and its shape. It
// reads I64 (the dtype of token ids in reference outputs) and also I32, I16,
// I8, U32, U16, U8, BOOL and U64 (values above math.MaxInt64 are an error).
// Float dtypes are an error naming the dtype and the tensor.
func (f *File) Int64(name string) ([]int64, []int, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	in, b, err := f.bytesOf(name)
	if err != nil {
		return nil, nil, err
	}
	switch in.DType {
	case I64, U64, I32, U32, I16, U16, I8, U8, Bool:
	default:
		// Checked before allocating: an unknown dtype's shape is unchecked
		// against its byte range and may be huge.
		return nil, nil, fmt.Errorf("safetensors %s: tensor %q has dtype %s, which cannot be read as int64 (want I64 or another integer dtype)",
			f.name, name, in.DType)
	}
	out := make([]int64, in.NumElements())
	le := binary.LittleEndian
	switch in.DType {
	case I64:
		for i := range out {
			out[i] = int64(le.Uint64(b[8*i:]))
		}
	case U64:
		for i := range out {
			v := le.Uint64(b[8*i:])
			if v > math.MaxInt64 {
				return nil, nil, fmt.Errorf("safetensors %s: tensor %q: U64 value %d at index %d overflows int64", f.name, name, v, i)
			}
			out[i] = int64(v)
		}
	case I32:
		for i := range out {
			out[i] = int64(int32(le.Uint32(b[4*i:])))
		}
	case U32:
		for i := range out {
			out[i] = int64(le.Uint32(b[4*i:]))
		}
	case I16:
		for i := range out {
			out[i] = int64(int16(le.Uint16(b[2*i:])))
		}
	case U16:
		for i := range out {
			out[i] = int64(le.Uint16(b[2*i:]))
		}
	case I8:
		for i := range out {
			out[i] = int64(int8(b[i]))
		}
	case U8, Bool:
		for i := range out {
			out[i] = int64(b[i])
		}
	}
	return out, slices.Clone(in.Shape), nil
}

// Tensors returns every float tensor (F32, F16, BF16, F64) of the file, read
// with Float32; tensors of other dtypes are left out. F32 tensors may be
// views of the file that become invalid after Close.
func (f *File) Tensors() (map[string]weights.Tensor, error) {
	out := make(map[string]weights.Tensor)
	for _, name := range f.names {
		if !isFloat(f.infos[name].DType) {
			continue
		}
		t, err := f.Float32(name)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// Close releases the file's memory mapping. After Close every tensor view
// returned by Float32 or Tensors is invalid: reading one may crash the
// program, so copy what must outlive the File. Methods other than Names,
// Info and Metadata fail after Close. Closing twice is harmless.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, unmap := f.data, f.unmap
	f.data, f.unmap = nil, nil
	if data == nil || unmap == nil {
		return nil
	}
	if err := unmap(data); err != nil {
		return fmt.Errorf("safetensors %s: unmap: %w", f.name, err)
	}
	return nil
}
