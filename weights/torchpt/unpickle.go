package torchpt

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// ErrForbiddenGlobal is wrapped by the error returned when a pickle names a
// Python global (a function or class) outside the small whitelist a PyTorch
// state dict needs. Such a file is refused before anything is built from it.
var ErrForbiddenGlobal = errors.New("pickle refers to forbidden global")

// ErrInvalid is wrapped by every error that comes from the file's content:
// not a torch.save file, corrupt or truncated data, a malformed pickle, or a
// layout this package does not read (big-endian data, non-contiguous tensors,
// the pre-1.6 tar format, TorchScript archives).
var ErrInvalid = errors.New("invalid torch file")

// formatError is an ErrInvalid with its own message.
type formatError struct {
	msg       string
	truncated bool // the input ended early; more bytes might parse
}

// Error returns the message.
func (e *formatError) Error() string { return e.msg }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *formatError) Unwrap() error { return ErrInvalid }

func invalidf(format string, args ...any) error {
	return &formatError{msg: fmt.Sprintf(format, args...)}
}

func isTruncated(err error) bool {
	var fe *formatError
	return errors.As(err, &fe) && fe.truncated
}

func forbidden(module, name string) error {
	return fmt.Errorf("%w %q", ErrForbiddenGlobal, module+"."+name)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// globalKind classifies the whitelisted globals.
type globalKind uint8

const (
	gkOrderedDict globalKind = iota + 1
	gkRebuild                // a tensor or parameter rebuild function
	gkStorage                // a typed storage class, only used inside persistent ids
)

// allowedGlobals is the whole whitelist: everything else is refused, both by
// the pre-scan and by the FindClass hook given to gopickle.
var allowedGlobals = map[[2]string]globalKind{
	{"collections", "OrderedDict"}:                    gkOrderedDict,
	{"torch._utils", "_rebuild_tensor"}:               gkRebuild,
	{"torch._utils", "_rebuild_tensor_v2"}:            gkRebuild,
	{"torch._utils", "_rebuild_parameter"}:            gkRebuild,
	{"torch._utils", "_rebuild_parameter_with_state"}: gkRebuild,
	{"torch", "FloatStorage"}:                         gkStorage,
	{"torch", "HalfStorage"}:                          gkStorage,
	{"torch", "BFloat16Storage"}:                      gkStorage,
	{"torch", "DoubleStorage"}:                        gkStorage,
	{"torch", "LongStorage"}:                          gkStorage,
	{"torch", "IntStorage"}:                           gkStorage,
	{"torch", "ShortStorage"}:                         gkStorage,
	{"torch", "CharStorage"}:                          gkStorage,
	{"torch", "ByteStorage"}:                          gkStorage,
	{"torch", "BoolStorage"}:                          gkStorage,
}

// dtype is a storage's element type.
type dtype uint8

const (
	dtFloat32 dtype = iota
	dtFloat16
	dtBFloat16
	dtFloat64
	dtInt64
	dtInt32
	dtInt16
	dtInt8
	dtUint8
	dtBool
)

var dtypes = [...]struct {
	name  string
	size  int
	float bool
}{
	dtFloat32:  {"float32", 4, true},
	dtFloat16:  {"float16", 2, true},
	dtBFloat16: {"bfloat16", 2, true},
	dtFloat64:  {"float64", 8, true},
	dtInt64:    {"int64", 8, false},
	dtInt32:    {"int32", 4, false},
	dtInt16:    {"int16", 2, false},
	dtInt8:     {"int8", 1, false},
	dtUint8:    {"uint8", 1, false},
	dtBool:     {"bool", 1, false},
}

var storageDtypes = map[string]dtype{
	"FloatStorage":    dtFloat32,
	"HalfStorage":     dtFloat16,
	"BFloat16Storage": dtBFloat16,
	"DoubleStorage":   dtFloat64,
	"LongStorage":     dtInt64,
	"IntStorage":      dtInt32,
	"ShortStorage":    dtInt16,
	"CharStorage":     dtInt8,
	"ByteStorage":     dtUint8,
	"BoolStorage":     dtBool,
}

// storageClass stands for torch.<T>Storage. It is neither callable nor
// constructible: it only appears inside persistent ids.
type storageClass struct{ dt dtype }

// rebuildFunc stands for torch._utils._rebuild_tensor{,_v2} and
// _rebuild_parameter{,_with_state}.
type rebuildFunc struct{ name string }

// rootStorage is one serialized storage: a zip entry data/<key>, or one
// block of the legacy format.
type rootStorage struct {
	key      string
	dt       dtype
	declared int // element count written in the persistent id

	resolved bool
	err      error
	data     io.ReaderAt // the storage's bytes, once resolved (stored entries)
	deflated *zip.File   // or the compressed zip entry holding them
	nbytes   int64
}

// storageRef is what a persistent id turns into: a whole root storage, or
// (legacy format only) a view of part of one.
type storageRef struct {
	root  *rootStorage
	view  bool
	base  int // view: first element within root
	numel int // view: element count
}

// tensorRef is what a rebuild function returns; it is decoded once the whole
// pickle has been read and the tensor's name is known.
type tensorRef struct {
	storage *storageRef
	offset  int
	shape   []int
	stride  []int
}

// The types handed to gopickle refuse BUILD state: torch pickles never set
// state on them (the scanner already refuses this; this is a second guard).

// PySetState implements types.PyStateSettable by refusing.
func (*storageClass) PySetState(any) error { return invalidf("BUILD on a storage class") }

// PySetState implements types.PyStateSettable by refusing.
func (*rebuildFunc) PySetState(any) error { return invalidf("BUILD on a function") }

// PySetState implements types.PyStateSettable by refusing.
func (*storageRef) PySetState(any) error { return invalidf("BUILD on a storage") }

// PySetState implements types.PyStateSettable by refusing.
func (*tensorRef) PySetState(any) error { return invalidf("BUILD on a tensor") }

// findClass is the FindClass hook: the whitelist, nothing else.
func findClass(module, name string) (any, error) {
	switch allowedGlobals[[2]string{module, name}] {
	case gkOrderedDict:
		return &types.OrderedDictClass{}, nil
	case gkRebuild:
		return &rebuildFunc{name: name}, nil
	case gkStorage:
		return &storageClass{dt: storageDtypes[name]}, nil
	}
	return nil, forbidden(truncate(module, maxNameBytes), truncate(name, maxNameBytes))
}

const maxDims = 64

func intArg(v any, what string) (int, error) {
	i, ok := v.(int)
	if !ok {
		return 0, invalidf("%s is %s, not an int", what, typeName(v))
	}
	return i, nil
}

func intTuple(v any, what string) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, invalidf("%s is %s, not a tuple", what, typeName(v))
	}
	if t.Len() > maxDims {
		return nil, invalidf("%s has %d dimensions", what, t.Len())
	}
	out := make([]int, t.Len())
	for i := range out {
		n, err := intArg(t.Get(i), what+" element")
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// Call implements types.Callable: it checks the arguments and returns a
// *tensorRef, without reading any data.
func (f *rebuildFunc) Call(args ...any) (any, error) {
	switch f.name {
	case "_rebuild_parameter", "_rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state])
		if len(args) != 3 && len(args) != 4 {
			return nil, invalidf("%s takes 3 or 4 arguments, got %d", f.name, len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, invalidf("%s: data is %s, not a tensor", f.name, typeName(args[0]))
		}
		return t, nil
	}
	// _rebuild_tensor(storage, storage_offset, size, stride)
	// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
	//                    backward_hooks[, metadata])
	if f.name == "_rebuild_tensor" && len(args) != 4 ||
		f.name == "_rebuild_tensor_v2" && len(args) != 6 && len(args) != 7 {
		return nil, invalidf("%s: unexpected %d arguments", f.name, len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, invalidf("%s: storage is %s, not a storage", f.name, typeName(args[0]))
	}
	off, err := intArg(args[1], "storage_offset")
	if err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, invalidf("negative storage_offset %d", off)
	}
	shape, err := intTuple(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(stride) != len(shape) {
		return nil, invalidf("size %v and stride %v differ in length", shape, stride)
	}
	for _, d := range shape {
		if d < 0 {
			return nil, invalidf("negative dimension in size %v", shape)
		}
	}
	return &tensorRef{storage: st, offset: off, shape: shape, stride: stride}, nil
}

// persistentLoader resolves persistent ids to storages. The zip format's ids
// are ('storage', class, key, location, numel); the legacy format adds a
// sixth element, the view metadata (None or (view_key, offset, view_size)).
type persistentLoader struct {
	legacy bool
	roots  map[string]*rootStorage
	views  map[string]*storageRef
}

func newPersistentLoader(legacy bool) *persistentLoader {
	return &persistentLoader{legacy: legacy, roots: map[string]*rootStorage{}, views: map[string]*storageRef{}}
}

func (p *persistentLoader) load(pid any) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || t.Len() == 0 {
		return nil, invalidf("persistent id is %s, not a tuple", typeName(pid))
	}
	if kind, _ := t.Get(0).(string); kind != "storage" {
		return nil, invalidf("persistent id of an unsupported kind (want 'storage')")
	}
	want := 5
	if p.legacy {
		want = 6
	}
	if t.Len() != want {
		return nil, invalidf("storage persistent id has %d elements, want %d", t.Len(), want)
	}
	cls, ok := t.Get(1).(*storageClass)
	if !ok {
		return nil, invalidf("storage persistent id: element 1 is %s, not a storage class", typeName(t.Get(1)))
	}
	key, ok := t.Get(2).(string)
	if !ok {
		return nil, invalidf("storage persistent id: key is %s, not a str", typeName(t.Get(2)))
	}
	if _, ok := t.Get(3).(string); !ok {
		return nil, invalidf("storage persistent id: location is %s, not a str", typeName(t.Get(3)))
	}
	numel, err := intArg(t.Get(4), "storage size")
	if err != nil {
		return nil, err
	}
	if numel < 0 {
		return nil, invalidf("storage %q: negative size %d", truncate(key, 64), numel)
	}
	root := p.roots[key]
	if root == nil {
		root = &rootStorage{key: key, dt: cls.dt, declared: numel}
		p.roots[key] = root
	} else if root.dt != cls.dt || root.declared != numel {
		return nil, invalidf("storage %q is declared twice with different types or sizes", truncate(key, 64))
	}
	ref := &storageRef{root: root}
	if !p.legacy || t.Get(5) == nil {
		return ref, nil
	}
	vm, ok := t.Get(5).(*types.Tuple)
	if !ok || vm.Len() != 3 {
		return nil, invalidf("storage %q: malformed view metadata", truncate(key, 64))
	}
	vkey, ok := vm.Get(0).(string)
	if !ok {
		return nil, invalidf("storage %q: view key is %s, not a str", truncate(key, 64), typeName(vm.Get(0)))
	}
	base, err := intArg(vm.Get(1), "view offset")
	if err != nil {
		return nil, err
	}
	size, err := intArg(vm.Get(2), "view size")
	if err != nil {
		return nil, err
	}
	if base < 0 || size < 0 || base > numel || size > numel-base {
		return nil, invalidf("storage view %q: [%d, +%d) lies outside its storage of %d elements", truncate(vkey, 64), base, size, numel)
	}
	if v := p.views[vkey]; v != nil {
		if v.root != root || v.base != base || v.numel != size {
			return nil, invalidf("storage view %q is declared twice differently", truncate(vkey, 64))
		}
		return v, nil
	}
	v := &storageRef{root: root, view: true, base: base, numel: size}
	p.views[vkey] = v
	return v, nil
}

// unpickle validates the pickle at the start of buf with scanPickle and then
// decodes it with gopickle, using the whitelist and the persistent-id hook
// (nil: persistent ids are refused). It returns the value and the number of
// bytes the pickle took.
func unpickle(buf []byte, pl func(any) (any, error)) (v any, end int, err error) {
	end, err = scanPickle(buf)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, invalidf("malformed pickle (decoder panic: %s)", truncate(fmt.Sprint(r), 200))
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(buf[:end]))
	u.FindClass = findClass
	if pl == nil {
		pl = func(any) (any, error) { return nil, invalidf("unexpected persistent id") }
	}
	u.PersistentLoad = pl
	v, err = u.Load()
	if err != nil {
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrForbiddenGlobal) {
			return nil, 0, err
		}
		return nil, 0, invalidf("malformed pickle: %s", truncate(err.Error(), 300))
	}
	return v, end, nil
}

// typeName describes a decoded pickle value without printing it.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case string:
		return "a str"
	case int:
		return "an int"
	case bool:
		return "a bool"
	case float64:
		return "a float"
	case *types.Tuple:
		return "a tuple"
	case *types.List:
		return "a list"
	case *types.Dict, *types.OrderedDict:
		return "a dict"
	case *tensorRef:
		return "a tensor"
	case *storageRef:
		return "a storage"
	}
	return fmt.Sprintf("a %T", v)
}
