// Package torchpt reads state dicts saved with PyTorch's torch.save without
// executing anything from the file.
//
// A torch.save file is a Python pickle plus raw tensor storages: a zip
// archive (<stem>/data.pkl, <stem>/data/<key>, PyTorch >= 1.6) or, for older
// files, a stream of pickles followed by the storages (the "legacy" format).
// A pickle is a small program that may call any Python function, so it is
// never run as such here. Each pickle is first walked opcode by opcode by a
// validator that bounds every length, stack, memo and container against the
// input, allows only the opcodes a state dict needs, and refuses every global
// outside a short whitelist (collections.OrderedDict, torch._utils'
// _rebuild_tensor{,_v2} and _rebuild_parameter{,_with_state}, and the typed
// torch.<T>Storage classes); only then is it decoded with gopickle, whose
// FindClass hook enforces the same whitelist. Tensors are then read from the
// storages with every offset, size and stride checked against the data.
//
// Float32, float16, bfloat16 and float64 tensors are returned as float32.
// Integer and bool tensors (buffers such as a causal mask) are skipped.
package torchpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
	"github.com/saescope/saescope/internal/regularfile"
	"github.com/saescope/saescope/weights"
)

// File is a torch.save state dict whose pickle has been read and checked:
// every tensor's shape, stride and offset fit its storage, and every storage
// entry holds exactly the elements its header declares. No tensor data has
// been read yet: Float32 decodes one tensor when asked, reading only the
// bytes that tensor covers. Opening a file takes the memory of its pickle
// (data.pkl, at most 16 MiB; about 20 KB for GPT-2 small) and of the
// objects it decodes to (measured at about 20 times the pickle's size in
// total allocations); each decoded tensor then takes its own size plus a
// 1 MiB read buffer (and a deflate window for a compressed storage),
// whatever else the archive holds or announces.
type File struct {
	name   string
	refs   map[string]*tensorRef // every tensor, float or not
	values map[string]any        // scalar settings beside them
	names  []string              // the float tensors, sorted
	src    source
	closer io.Closer
}

// Open reads and checks the pickle of the torch.save file at path. The file
// must be a regular file. Close releases it.
func Open(path string) (*File, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("torchpt %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("torchpt %s: %w", path, err)
	}
	tf, err := OpenReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	tf.closer = f
	return tf, nil
}

// OpenReader is Open for a file already open or in memory: r holds size
// bytes, and name (usually the path) is used in error messages. r must stay
// readable until the last Float32 call.
func OpenReader(r io.ReaderAt, size int64, name string) (tf *File, err error) {
	defer func() {
		// The reader is written not to panic; this is the last guard.
		if p := recover(); p != nil {
			tf, err = nil, fmt.Errorf("torchpt %s: %w", name, invalidf("internal error on malformed input: %s", truncate(fmt.Sprint(p), 200)))
		}
	}()
	refs, values, src, err := open(r, size)
	if err != nil {
		return nil, fmt.Errorf("torchpt %s: %w", name, err)
	}
	tf = &File{name: name, refs: refs, values: values, src: src}
	for n, t := range refs {
		if dtypes[t.storage.root.dt].float {
			tf.names = append(tf.names, n)
		}
	}
	sort.Strings(tf.names)
	return tf, nil
}

// FloatNames lists the file's floating-point tensors, sorted. Integer and bool
// tensors (buffers such as a causal mask) are left out.
func (f *File) FloatNames() []string { return append([]string(nil), f.names...) }

// Shape returns the shape of the floating-point tensor name, without
// reading its data.
func (f *File) Shape(name string) ([]int, bool) {
	t, ok := f.refs[name]
	if !ok || !dtypes[t.storage.root.dt].float {
		return nil, false
	}
	return append([]int{}, t.shape...), true
}

// Float32 decodes the tensor name to float32, reading only its bytes
// (inflating a compressed storage only up to the tensor's end).
func (f *File) Float32(name string) (out weights.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("torchpt %s: %w", f.name, invalidf("internal error on malformed input: %s", truncate(fmt.Sprint(p), 200)))
		}
	}()
	t, ok := f.refs[name]
	if !ok || !dtypes[t.storage.root.dt].float {
		return weights.Tensor{}, fmt.Errorf("torchpt %s: no floating-point tensor %q", f.name, truncate(name, 200))
	}
	start, n := t.span()
	data, err := decode(t.storage.root, start, n)
	if err != nil {
		return weights.Tensor{}, fmt.Errorf("torchpt %s: tensor %q: %w", f.name, truncate(name, 200), err)
	}
	return weights.Tensor{Shape: append([]int{}, t.shape...), Data: data}, nil
}

// Value returns the scalar (a string, int, float64 or bool) stored under
// name beside the tensors, with nested dicts' keys joined by ".", as
// openai/sparse_autoencoder's "activation" and "activation_state_dict.k".
func (f *File) Value(name string) (any, bool) {
	v, ok := f.values[name]
	return v, ok
}

// Close releases the file Open opened (nothing for OpenReader).
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Load reads every floating-point tensor of the state dict saved in the
// torch.save file at path: a top-level dict or OrderedDict of name ->
// tensor. A dict nested under the key "state_dict" (when the top level
// holds no tensors itself) is used in its place; other nested dicts are
// flattened with "." between the keys. Non-tensor values and integer or
// bool tensors are left out; tensors that share their bytes (tied weights)
// share one decoded copy. To read only some tensors, use Open. Errors wrap
// ErrForbiddenGlobal, ErrInvalid or the error from opening the file.
func Load(path string) (map[string]weights.Tensor, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.all()
}

// LoadReader is Load for a file already open or in memory: r holds size
// bytes, and name (usually the path) is used in error messages.
func LoadReader(r io.ReaderAt, size int64, name string) (map[string]weights.Tensor, error) {
	f, err := OpenReader(r, size, name)
	if err != nil {
		return nil, err
	}
	return f.all()
}

func (f *File) all() (map[string]weights.Tensor, error) {
	type span struct {
		root     *rootStorage
		start, n int64
	}
	decoded := map[span][]float32{} // tied weights share one copy
	out := make(map[string]weights.Tensor, len(f.names))
	for _, name := range f.names {
		t := f.refs[name]
		start, n := t.span()
		k := span{t.storage.root, start, int64(n)}
		data, ok := decoded[k]
		if !ok {
			tt, err := f.Float32(name)
			if err != nil {
				return nil, err
			}
			data = tt.Data
			decoded[k] = data
		}
		out[name] = weights.Tensor{Shape: append([]int{}, t.shape...), Data: data}
	}
	return out, nil
}

// source locates root storages' bytes.
type source interface {
	resolve(root *rootStorage) error
}

func open(r io.ReaderAt, size int64) (map[string]*tensorRef, map[string]any, source, error) {
	if size <= 0 {
		return nil, nil, nil, invalidf("empty file")
	}
	head := make([]byte, min(size, 512))
	if err := readFull(r, head, 0); err != nil {
		return nil, nil, nil, err
	}
	var (
		obj any
		src source
		err error
	)
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		obj, src, err = openZip(r, size)
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return nil, nil, nil, invalidf("legacy tar torch format not supported, re-save with torch>=1.6")
	default:
		obj, src, err = openLegacy(r, size)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	refs, values, err := collect(obj)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := check(refs, src); err != nil {
		return nil, nil, nil, err
	}
	return refs, values, src, nil
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return invalidf("reading %d bytes at offset %d: %v", len(p), off, err)
}

// ---- zip format (PyTorch >= 1.6) ----

type zipSource struct {
	r     io.ReaderAt
	size  int64
	stem  string
	files map[string]*zip.File
}

func openZip(r io.ReaderAt, size int64) (any, source, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		return nil, nil, invalidf("not a valid zip archive: %v", err)
	}
	files := make(map[string]*zip.File, len(zr.File))
	var pkl []*zip.File
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			return nil, nil, invalidf("zip archive has two entries named %q", truncate(f.Name, 100))
		}
		files[f.Name] = f
		if stem, ok := strings.CutSuffix(f.Name, "/data.pkl"); ok && stem != "" && !strings.Contains(stem, "/") {
			pkl = append(pkl, f)
		}
	}
	switch len(pkl) {
	case 0:
		return nil, nil, invalidf("zip archive has no <name>/data.pkl entry: not a torch.save file")
	case 1:
	default:
		return nil, nil, invalidf("zip archive has %d data.pkl entries", len(pkl))
	}
	stem := strings.TrimSuffix(pkl[0].Name, "/data.pkl")
	if files[stem+"/constants.pkl"] != nil {
		return nil, nil, invalidf("a TorchScript archive (torch.jit.save) is not a state dict; save model.state_dict() with torch.save")
	}
	if f := files[stem+"/byteorder"]; f != nil {
		b, err := readEntry(f, 64)
		if err != nil {
			return nil, nil, err
		}
		switch bo := strings.TrimSpace(string(b)); bo {
		case "little":
		case "big":
			return nil, nil, invalidf("storages are big-endian (saved on a big-endian machine); not supported")
		default:
			return nil, nil, invalidf("unknown byteorder %q", truncate(bo, 20))
		}
	}
	buf, err := readEntry(pkl[0], maxPickleBytes)
	if err != nil {
		return nil, nil, err
	}
	pl := newPersistentLoader(false)
	obj, end, err := unpickle(buf, pl.load)
	if err != nil {
		return nil, nil, prefixErr(pkl[0].Name, err)
	}
	if end != len(buf) {
		return nil, nil, invalidf("%s: %d bytes after the pickle's end", pkl[0].Name, len(buf)-end)
	}
	return obj, &zipSource{r: r, size: size, stem: stem, files: files}, nil
}

// readEntry reads a small zip entry whole, refusing one over max bytes.
func readEntry(f *zip.File, max int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, invalidf("%s is %d bytes, more than the %d allowed", truncate(f.Name, 100), f.UncompressedSize64, max)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, invalidf("%s: %v", truncate(f.Name, 100), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, invalidf("%s: %v", truncate(f.Name, 100), err)
	}
	if int64(len(b)) > max {
		return nil, invalidf("%s is more than the %d bytes allowed", truncate(f.Name, 100), max)
	}
	return b, nil
}

func (z *zipSource) resolve(root *rootStorage) error {
	name := z.stem + "/data/" + root.key
	f := z.files[name]
	if f == nil {
		return invalidf("data.pkl refers to storage %q but the archive has no entry %q", truncate(root.key, 64), truncate(name, 100))
	}
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil {
			return invalidf("%s: %v", truncate(name, 100), err)
		}
		if f.CompressedSize64 != f.UncompressedSize64 || off < 0 || off > z.size || f.CompressedSize64 > uint64(z.size-off) {
			return invalidf("%s: entry sizes do not fit the file", truncate(name, 100))
		}
		root.data = io.NewSectionReader(z.r, off, int64(f.CompressedSize64))
		root.nbytes = int64(f.CompressedSize64)
		return nil
	}
	// A compressed storage (torch never writes one, but a re-zipped file
	// may have it) is not inflated here: decode inflates it as a stream up
	// to the end of the tensor it reads, so a small archive announcing
	// gigabytes costs only the bytes a tensor of the checkpoint's own
	// shape needs. Its announced size must still be plausible for deflate.
	if f.CompressedSize64 > uint64(z.size) || f.UncompressedSize64 > 1100*f.CompressedSize64+1024 || f.UncompressedSize64 > math.MaxInt64/2 {
		return invalidf("%s: implausible entry sizes", truncate(name, 100))
	}
	root.deflated = f
	root.nbytes = int64(f.UncompressedSize64)
	return nil
}

// prefixErr prefixes err with where it happened, except for a forbidden
// global, whose message stays exactly "pickle refers to forbidden global ...".
func prefixErr(where string, err error) error {
	if errors.Is(err, ErrForbiddenGlobal) {
		return err
	}
	return fmt.Errorf("%s: %w", where, err)
}

// ---- legacy format (PyTorch < 1.6) ----

// legacyMagic is torch's MAGIC_NUMBER; legacyProtocol its PROTOCOL_VERSION.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

const legacyProtocol = 1001

type legacySource struct {
	blocks map[string]*rootStorage // roots laid out in the file
}

func (l *legacySource) resolve(root *rootStorage) error {
	if l.blocks[root.key] != root {
		return invalidf("storage %q is not in the file's list of storages", truncate(root.key, 64))
	}
	return nil // already resolved when laid out
}

// openLegacy reads the legacy format: pickles of the magic number, the
// protocol version, sys_info and the object, then a pickled list of storage
// keys, then each storage as an int64 element count and its raw bytes.
func openLegacy(r io.ReaderAt, size int64) (any, source, error) {
	n := min(size, 1<<20)
	for {
		buf := make([]byte, n)
		if err := readFull(r, buf, 0); err != nil {
			return nil, nil, err
		}
		obj, src, err := parseLegacy(r, size, buf)
		if err != nil && isTruncated(err) && n < size && n < maxPickleBytes {
			n = min(n*4, size, maxPickleBytes)
			continue
		}
		return obj, src, err
	}
}

func parseLegacy(r io.ReaderAt, size int64, buf []byte) (any, source, error) {
	magic, pos, err := unpickle(buf, nil)
	if err != nil {
		if errors.Is(err, ErrForbiddenGlobal) || isTruncated(err) && int64(len(buf)) < size {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("not a PyTorch file (neither a zip archive nor a legacy torch.save stream): %w", err)
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, nil, invalidf("not a PyTorch file (neither a zip archive nor a legacy torch.save stream: it is a pickle of %s)", typeName(magic))
	}
	next := func(pl func(any) (any, error)) (any, error) {
		v, n, err := unpickle(buf[pos:], pl)
		if err != nil {
			return nil, err
		}
		pos += n
		return v, nil
	}
	proto, err := next(nil)
	if err != nil {
		return nil, nil, prefixErr("legacy format, protocol version", err)
	}
	if p, ok := proto.(int); !ok || p != legacyProtocol {
		return nil, nil, invalidf("legacy format: unsupported protocol version (want %d)", legacyProtocol)
	}
	info, err := next(nil)
	if err != nil {
		return nil, nil, prefixErr("legacy format, sys_info", err)
	}
	if d, ok := info.(*types.Dict); ok {
		for _, e := range *d {
			if k, _ := e.Key.(string); k == "little_endian" && e.Value == false {
				return nil, nil, invalidf("storages are big-endian (saved on a big-endian machine); not supported")
			}
		}
	}
	pl := newPersistentLoader(true)
	obj, err := next(pl.load)
	if err != nil {
		return nil, nil, prefixErr("legacy format, object", err)
	}
	keysObj, err := next(nil)
	if err != nil {
		return nil, nil, prefixErr("legacy format, storage keys", err)
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, nil, invalidf("legacy format: storage keys are %s, not a list", typeName(keysObj))
	}
	src := &legacySource{blocks: map[string]*rootStorage{}}
	off := int64(pos)
	var hdr [8]byte
	for _, k := range *keys {
		key, ok := k.(string)
		if !ok {
			return nil, nil, invalidf("legacy format: a storage key is %s, not a str", typeName(k))
		}
		root := pl.roots[key]
		if root == nil {
			return nil, nil, invalidf("legacy format: storage %q is listed but never used", truncate(key, 64))
		}
		if src.blocks[key] != nil {
			return nil, nil, invalidf("legacy format: storage %q is listed twice", truncate(key, 64))
		}
		if size-off < 8 {
			return nil, nil, invalidf("legacy format: file ends before storage %q", truncate(key, 64))
		}
		if err := readFull(r, hdr[:], off); err != nil {
			return nil, nil, err
		}
		off += 8
		numel := binary.LittleEndian.Uint64(hdr[:])
		es := uint64(dtypes[root.dt].size)
		if numel > uint64(size-off)/es {
			return nil, nil, invalidf("legacy format: storage %q has %d elements but the file ends first", truncate(key, 64), numel)
		}
		nb := int64(numel * es)
		root.data = io.NewSectionReader(r, off, nb)
		root.nbytes = nb
		root.resolved = true
		if err := checkDeclared(root); err != nil {
			return nil, nil, err
		}
		src.blocks[key] = root
		off += nb
	}
	return obj, src, nil
}

// ---- state dict ----

const maxNesting = 16

type dictEntry struct{ key, value any }

func dictEntries(v any) ([]dictEntry, bool) {
	switch d := v.(type) {
	case *types.Dict:
		out := make([]dictEntry, len(*d))
		for i, e := range *d {
			out[i] = dictEntry{e.Key, e.Value}
		}
		return out, true
	case *types.OrderedDict:
		out := make([]dictEntry, 0, d.Len())
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			out = append(out, dictEntry{e.Key, e.Value})
		}
		return out, true
	}
	return nil, false
}

// collect finds the state dict's tensors by name, and its scalar values
// (str, int, float, bool: settings some formats keep beside the tensors,
// such as openai/sparse_autoencoder's activation and k).
func collect(obj any) (map[string]*tensorRef, map[string]any, error) {
	entries, ok := dictEntries(obj)
	if !ok {
		return nil, nil, invalidf("the file holds %s, not a state dict (a dict of tensors)", typeName(obj))
	}
	direct := false
	var nested any
	for _, e := range entries {
		if _, ok := e.value.(*tensorRef); ok {
			direct = true
		}
		if k, _ := e.key.(string); k == "state_dict" {
			if _, ok := dictEntries(e.value); ok {
				nested = e.value
			}
		}
	}
	if !direct && nested != nil {
		obj = nested
	}
	out := map[string]*tensorRef{}
	values := map[string]any{}
	seen := map[any]bool{}
	var walk func(d any, prefix string, depth int)
	walk = func(d any, prefix string, depth int) {
		seen[d] = true
		entries, _ := dictEntries(d)
		for _, e := range entries {
			k, ok := e.key.(string)
			if !ok {
				continue
			}
			switch v := e.value.(type) {
			case *tensorRef:
				out[prefix+k] = v
			case string:
				values[prefix+k] = truncate(v, 1000)
			case int, float64, bool:
				values[prefix+k] = v
			case *types.Dict, *types.OrderedDict:
				if depth < maxNesting && !seen[v] {
					walk(v, prefix+k+".", depth+1)
				}
			}
		}
	}
	walk(obj, "", 0)
	return out, values, nil
}

// maxElements bounds a tensor's element count (far above any real tensor,
// far below overflow).
const maxElements = 1 << 50

// numElements multiplies a shape out (shape has no negative dimension),
// refusing counts above maxElements.
func numElements(shape []int) (int, bool) {
	for _, d := range shape {
		if d == 0 {
			return 0, true
		}
	}
	n := 1
	for _, d := range shape {
		if n > maxElements/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// contiguous reports whether stride is shape's row-major layout (ignoring
// the strides of size-1 dimensions, as PyTorch does).
func contiguous(shape, stride []int) bool {
	if n, _ := numElements(shape); n == 0 {
		return true
	}
	want := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 {
			if stride[i] != want {
				return false
			}
			want *= shape[i]
		}
	}
	return true
}

// span returns t's first element within its root storage and its element
// count; check has made sure both fit.
func (t *tensorRef) span() (start int64, n int) {
	n, _ = numElements(t.shape)
	start = int64(t.offset)
	if t.storage.view {
		start += int64(t.storage.base)
	}
	return start, n
}

// check validates every tensor against its storage without reading any
// tensor data: shape, stride, offset, and that each storage holds exactly
// the elements its header declares (no more: bytes no tensor can reach are
// a sign of a crafted archive, and would let a small file announce
// gigabytes).
func check(refs map[string]*tensorRef, src source) error {
	names := make([]string, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := refs[name]
		qname := truncate(name, 200)
		n, ok := numElements(t.shape)
		if !ok {
			return invalidf("tensor %q: shape %v is too large", qname, t.shape)
		}
		if !contiguous(t.shape, t.stride) {
			return invalidf("tensor %q: stride %v is not contiguous row-major for shape %v; re-save it with .contiguous()", qname, t.stride, t.shape)
		}
		root := t.storage.root
		if !root.resolved {
			root.resolved = true
			root.err = src.resolve(root)
			if root.err == nil {
				root.err = checkDeclared(root)
			}
		}
		if root.err != nil {
			return root.err
		}
		info := dtypes[root.dt]
		avail := root.nbytes / int64(info.size)
		start, limit := int64(t.offset), avail
		if t.storage.view {
			start += int64(t.storage.base)
			limit = min(avail, int64(t.storage.base)+int64(t.storage.numel))
		}
		if start > limit || int64(n) > limit-start {
			return invalidf("tensor %q: shape %v at offset %d needs %d %s elements, but storage %q holds %d",
				qname, t.shape, t.offset, int64(t.offset)+int64(n), info.name, truncate(root.key, 64), limit-(start-int64(t.offset)))
		}
	}
	return nil
}

// checkDeclared refuses a storage whose bytes disagree with the element
// count its persistent id declares.
func checkDeclared(root *rootStorage) error {
	info := dtypes[root.dt]
	if root.declared > maxElements || int64(root.declared)*int64(info.size) > root.nbytes {
		return invalidf("storage %q: %d bytes, too short for the %d %s elements its header declares", truncate(root.key, 64), root.nbytes, root.declared, info.name)
	}
	if want := int64(root.declared) * int64(info.size); root.nbytes != want {
		return invalidf("storage %q: %d bytes, but its header declares %d %s elements (%d bytes)", truncate(root.key, 64), root.nbytes, root.declared, info.name, want)
	}
	return nil
}

// decode converts n elements of root, from element start on, to float32.
// It reads only those elements' bytes: a compressed storage is inflated as a
// stream, skipping what lies before the tensor and stopping at its end.
func decode(root *rootStorage, start int64, n int) ([]float32, error) {
	es := dtypes[root.dt].size
	var rd io.Reader
	if root.deflated != nil {
		rc, err := root.deflated.Open()
		if err != nil {
			return nil, invalidf("storage %q: %v", truncate(root.key, 64), err)
		}
		defer rc.Close()
		if _, err := io.CopyN(io.Discard, rc, start*int64(es)); err != nil {
			return nil, invalidf("storage %q: inflating to element %d: %v", truncate(root.key, 64), start, err)
		}
		rd = rc
	} else {
		rd = io.NewSectionReader(root.data, start*int64(es), int64(n)*int64(es))
	}
	out := make([]float32, n)
	const chunk = 1 << 20
	buf := make([]byte, min(n*es, chunk))
	for i := 0; i < n; {
		k := min(n-i, chunk/es)
		b := buf[:k*es]
		if _, err := io.ReadFull(rd, b); err != nil {
			return nil, invalidf("storage %q: reading %d bytes at element %d: %v", truncate(root.key, 64), len(b), start+int64(i), err)
		}
		o := out[i : i+k]
		switch root.dt {
		case dtFloat32:
			for j := range o {
				o[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
			}
		case dtFloat64:
			for j := range o {
				o[j] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*j:])))
			}
		case dtFloat16:
			for j := range o {
				o[j] = weights.HalfToFloat32(binary.LittleEndian.Uint16(b[2*j:]))
			}
		case dtBFloat16:
			for j := range o {
				o[j] = weights.BFloat16ToFloat32(binary.LittleEndian.Uint16(b[2*j:]))
			}
		}
		i += k
	}
	return out, nil
}
