package torchpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// pk assembles pickle bytes opcode by opcode, the way torch.save writes them
// (protocol 2 unless a test writes a PROTO opcode itself).
type pk struct{ bytes.Buffer }

func (p *pk) raw(b ...byte) *pk { p.Write(b); return p }

func (p *pk) proto(v byte) *pk { return p.raw(0x80, v) }
func (p *pk) mark() *pk        { return p.raw('(') }
func (p *pk) tuple() *pk       { return p.raw('t') }
func (p *pk) reduce() *pk      { return p.raw('R') }
func (p *pk) stop() *pk        { return p.raw('.') }

func (p *pk) global(module, name string) *pk {
	p.WriteString("c" + module + "\n" + name + "\n")
	return p
}

func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

func (p *pk) int(v int) *pk {
	p.WriteByte('J')
	binary.Write(p, binary.LittleEndian, int32(v))
	return p
}

func (p *pk) ints(vs ...int) *pk {
	p.mark()
	for _, v := range vs {
		p.int(v)
	}
	return p.tuple()
}

func (p *pk) orderedDict() *pk {
	return p.global("collections", "OrderedDict").raw(')').reduce()
}

// tensor writes _rebuild_tensor_v2(storage, offset, shape, stride, False, OrderedDict())
// with a zip-format persistent id (5 elements) or a legacy one (6).
type tspec struct {
	class  string // e.g. "FloatStorage"
	key    string
	numel  int // storage size in elements
	offset int
	shape  []int
	stride []int // nil: contiguous
	legacy bool
}

func contiguousStride(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

func (p *pk) tensor(t tspec) *pk {
	stride := t.stride
	if stride == nil {
		stride = contiguousStride(t.shape)
	}
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.mark()
	p.mark().str("storage").global("torch", t.class).str(t.key).str("cpu").int(t.numel)
	if t.legacy {
		p.raw('N')
	}
	p.tuple().raw('Q')
	p.int(t.offset).ints(t.shape...).ints(stride...).raw(0x89).orderedDict()
	return p.tuple().reduce()
}

type item struct {
	name string
	t    tspec
}

// stateDict pickles an OrderedDict of tensors.
func stateDict(items ...item) []byte {
	p := new(pk)
	p.proto(2).orderedDict().mark()
	for _, it := range items {
		p.str(it.name).tensor(it.t)
	}
	p.raw('u').stop()
	return p.Bytes()
}

type entry struct {
	name string
	data []byte
}

// makeZip builds a torch.save-style archive; every entry is stored.
func makeZip(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// torchZip wraps a data.pkl and storages (key -> bytes) as archive/...
func torchZip(t testing.TB, pkl []byte, storages ...entry) []byte {
	es := []entry{{"archive/data.pkl", pkl}}
	for _, s := range storages {
		es = append(es, entry{"archive/data/" + s.name, s.data})
	}
	es = append(es, entry{"archive/version", []byte("3\n")})
	return makeZip(t, es...)
}

func f32bytes(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func f64bytes(vs ...float64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

func u16bytes(vs ...uint16) []byte {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func i64bytes(vs ...int64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}
