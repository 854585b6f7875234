package torchpt

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights"
)

const fixture = "../../testdata/fixtures/tiny-gpt2_256_resid_pre_1.pt"

func TestFixture(t *testing.T) {
	got, err := Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		shape []int
		sum   float64
		first []float32
	}{
		"W_enc": {[]int{32, 256}, 3.20733618340455, []float32{-0.023738231509923935, -0.1406097710132599, -0.021445678547024727, 0.04198729619383812}},
		"W_dec": {[]int{256, 32}, 9.423854241198569, []float32{-0.03579769283533096, 0.04769511893391609, -0.2533101737499237, 0.011651434004306793}},
		"b_enc": {[]int{256}, -13.574601801112294, []float32{0.002910606563091278, 0.010376494377851486, -0.1580405980348587, 0.010616756975650787}},
		"b_dec": {[]int{32}, -0.3698019568109885, []float32{0.08823084086179733, 0.004967094864696264, -0.001092703896574676, 0.03430197387933731}},
	}
	if len(got) != len(want) {
		t.Errorf("got %d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if err := g.CheckShape(name, w.shape...); err != nil {
			t.Error(err)
		}
		if len(g.Data) != weights.NumElements(w.shape) {
			t.Errorf("%s: %d values for shape %v", name, len(g.Data), w.shape)
			continue
		}
		var sum float64
		for _, v := range g.Data {
			sum += float64(v)
		}
		if math.Abs(sum-w.sum) > 1e-4 {
			t.Errorf("%s: sum %v, want %v", name, sum, w.sum)
		}
		for i, v := range w.first {
			if g.Data[i] != v {
				t.Errorf("%s[%d] = %v, want %v", name, i, g.Data[i], v)
			}
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.pt"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "torchpt ") {
		t.Fatalf("got %v", err)
	}
}

func loadBytes(t *testing.T, b []byte) (map[string]weights.Tensor, error) {
	t.Helper()
	return LoadReader(bytes.NewReader(b), int64(len(b)), "test.pt")
}

func mustLoad(t *testing.T, b []byte) map[string]weights.Tensor {
	t.Helper()
	m, err := loadBytes(t, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkTensor(t *testing.T, m map[string]weights.Tensor, name string, shape []int, data []float32) {
	t.Helper()
	g, ok := m[name]
	if !ok {
		t.Errorf("%s missing (have %d tensors)", name, len(m))
		return
	}
	if err := g.CheckShape(name, shape...); err != nil {
		t.Error(err)
	}
	if len(g.Data) != len(data) {
		t.Errorf("%s: %d values, want %d", name, len(g.Data), len(data))
		return
	}
	for i := range data {
		if math.Float32bits(g.Data[i]) != math.Float32bits(data[i]) {
			t.Errorf("%s[%d] = %v, want %v", name, i, g.Data[i], data[i])
		}
	}
}

// handMadeZip holds float16 (with a storage offset), bfloat16, float64,
// float32 tensors sharing one storage, an nn.Parameter, a scalar, an empty
// tensor and an int64 buffer.
func handMadeZip(t testing.TB) []byte {
	p := new(pk)
	p.proto(2).orderedDict().mark()
	p.str("half").tensor(tspec{class: "HalfStorage", key: "0", numel: 8, offset: 2, shape: []int{2, 3}})
	p.str("bf16").tensor(tspec{class: "BFloat16Storage", key: "1", numel: 2, shape: []int{2}})
	p.str("f64").tensor(tspec{class: "DoubleStorage", key: "2", numel: 3, offset: 1, shape: []int{1, 2}, stride: []int{99, 1}})
	p.str("shared.a").tensor(tspec{class: "FloatStorage", key: "3", numel: 4, shape: []int{2}})
	p.str("shared.b").tensor(tspec{class: "FloatStorage", key: "3", numel: 4, offset: 2, shape: []int{2}})
	p.str("tied").tensor(tspec{class: "FloatStorage", key: "3", numel: 4, shape: []int{2}})
	p.str("param").global("torch._utils", "_rebuild_parameter")
	p.mark().tensor(tspec{class: "FloatStorage", key: "4", numel: 1, shape: []int{}}).raw(0x88).orderedDict().tuple().reduce()
	p.str("empty").tensor(tspec{class: "FloatStorage", key: "5", numel: 0, shape: []int{0, 7}, stride: []int{1, 1}})
	p.str("steps").tensor(tspec{class: "LongStorage", key: "6", numel: 1, shape: []int{}})
	p.str("not a tensor").int(3)
	p.raw('u')
	// state_dict()'s _metadata attribute, restored with BUILD
	p.raw('}').mark().str("_metadata").orderedDict().raw('u').raw('b')
	p.stop()
	return torchZip(t, p.Bytes(),
		entry{"0", u16bytes(0xffff, 0xffff, 0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000)},
		entry{"1", u16bytes(0x3f80, 0xc0a0)},
		entry{"2", f64bytes(7, 0.1, -2.5)},
		entry{"3", f32bytes(1, 2, 3, 4)},
		entry{"4", f32bytes(42)},
		entry{"5", nil},
		entry{"6", i64bytes(1000)},
	)
}

func TestHandMade(t *testing.T) {
	m := mustLoad(t, handMadeZip(t))
	checkTensor(t, m, "half", []int{2, 3}, []float32{1, -2, 0.5, 65504, float32(math.Ldexp(1, -24)), float32(math.Copysign(0, -1))})
	checkTensor(t, m, "bf16", []int{2}, []float32{1, -5})
	checkTensor(t, m, "f64", []int{1, 2}, []float32{0.1, -2.5})
	checkTensor(t, m, "shared.a", []int{2}, []float32{1, 2})
	checkTensor(t, m, "shared.b", []int{2}, []float32{3, 4})
	checkTensor(t, m, "param", []int{}, []float32{42})
	checkTensor(t, m, "empty", []int{0, 7}, []float32{})
	if _, ok := m["steps"]; ok {
		t.Error("int64 tensor returned")
	}
	checkTensor(t, m, "tied", []int{2}, []float32{1, 2})
	if &m["tied"].Data[0] != &m["shared.a"].Data[0] {
		t.Error("tied tensors do not share their data")
	}
	if len(m) != 8 {
		t.Errorf("got %d tensors", len(m))
	}
}

func TestNesting(t *testing.T) {
	sd := func(p *pk) {
		p.raw('}').mark()
		p.str("w").tensor(tspec{class: "FloatStorage", key: "0", numel: 2, shape: []int{2}})
		p.raw('u')
	}
	p := new(pk)
	p.proto(2).raw('}').mark().str("state_dict")
	sd(p)
	p.str("epoch").int(3).raw('u').stop()
	m := mustLoad(t, torchZip(t, p.Bytes(), entry{"0", f32bytes(5, 6)}))
	checkTensor(t, m, "w", []int{2}, []float32{5, 6})

	p = new(pk)
	p.proto(2).raw('}').mark().str("encoder")
	sd(p)
	p.str("b").tensor(tspec{class: "FloatStorage", key: "0", numel: 2, shape: []int{1}})
	p.raw('u').stop()
	m = mustLoad(t, torchZip(t, p.Bytes(), entry{"0", f32bytes(5, 6)}))
	checkTensor(t, m, "encoder.w", []int{2}, []float32{5, 6})
	checkTensor(t, m, "b", []int{1}, []float32{5})
}

// proto4Zip is a state dict written with protocol 4's opcodes: FRAME,
// SHORT_BINUNICODE, STACK_GLOBAL and MEMOIZE.
func proto4Zip(t testing.TB) []byte {
	body := new(pk)
	sg := func(mod, name string) {
		body.raw(0x8c, byte(len(mod))).WriteString(mod)
		body.raw(0x94, 0x8c, byte(len(name))).WriteString(name)
		body.raw(0x94, 0x93, 0x94)
	}
	sg("collections", "OrderedDict")
	body.raw(')', 'R', 0x94, '(')
	body.raw(0x8c, 1, 'w', 0x94)
	sg("torch._utils", "_rebuild_tensor_v2")
	body.raw('(', '(')
	body.raw(0x8c, 7).WriteString("storage")
	body.raw(0x94)
	sg("torch", "FloatStorage")
	body.raw(0x8c, 1, '0', 0x94, 0x8c, 3, 'c', 'p', 'u', 0x94, 'K', 3, 't', 0x94, 'Q')
	body.raw('K', 0, 'K', 3, 0x85, 0x94, 'K', 1, 0x85, 0x94, 0x89)
	body.raw('h', 2, ')', 'R', 0x94, 't', 0x94, 'R', 0x94, 'u', '.')
	p := new(pk)
	p.proto(4).raw(0x95)
	var n [8]byte
	n[0] = byte(body.Len())
	p.Write(n[:])
	p.Write(body.Bytes())
	return torchZip(t, p.Bytes(), entry{"0", f32bytes(-1, 0, 1)})
}

func TestProtocol4(t *testing.T) {
	checkTensor(t, mustLoad(t, proto4Zip(t)), "w", []int{3}, []float32{-1, 0, 1})
}

var legacyMagicPickle = []byte{0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'}

// legacyFile builds the pre-1.6 format: magic, protocol version, sys_info,
// the state dict, the storage keys, then each storage as int64 count + data.
func legacyFile(t testing.TB, littleEndian bool) []byte {
	var b bytes.Buffer
	b.Write(legacyMagicPickle)
	b.Write([]byte{0x80, 2, 'M', 0xe9, 0x03, '.'})
	le := byte(0x88)
	if !littleEndian {
		le = 0x89
	}
	p := new(pk)
	p.proto(2).raw('}').mark().str("protocol_version").int(1001).str("little_endian").raw(le)
	p.str("type_sizes").raw('}').mark().str("short").int(2).str("int").int(4).str("long").int(4).raw('u', 'u').stop()
	b.Write(p.Bytes())
	p = new(pk)
	p.proto(2).orderedDict().mark()
	p.str("w").tensor(tspec{class: "FloatStorage", key: "140", numel: 6, shape: []int{2, 3}, legacy: true})
	p.str("b").tensor(tspec{class: "DoubleStorage", key: "141", numel: 3, offset: 1, shape: []int{2}, legacy: true})
	// a tensor on a view (elements 2..5) of storage 140
	p.str("v").global("torch._utils", "_rebuild_tensor_v2").mark()
	p.mark().str("storage").global("torch", "FloatStorage").str("140").str("cpu").int(6)
	p.mark().str("150").int(2).int(4).tuple().tuple().raw('Q')
	p.int(1).ints(3).ints(1).raw(0x89).orderedDict().tuple().reduce()
	p.raw('u').stop()
	b.Write(p.Bytes())
	p = new(pk)
	p.proto(2).raw(']').mark().str("140").str("141").raw('e').stop()
	b.Write(p.Bytes())
	b.Write(i64bytes(6))
	b.Write(f32bytes(1, 2, 3, 4, 5, 6))
	b.Write(i64bytes(3))
	b.Write(f64bytes(7, 8, 9))
	return b.Bytes()
}

func TestLegacy(t *testing.T) {
	m := mustLoad(t, legacyFile(t, true))
	checkTensor(t, m, "w", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	checkTensor(t, m, "b", []int{2}, []float32{8, 9})
	checkTensor(t, m, "v", []int{3}, []float32{4, 5, 6})

	_, err := loadBytes(t, legacyFile(t, false))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "big-endian") {
		t.Errorf("big-endian legacy file: %v", err)
	}
}

func TestForbiddenGlobals(t *testing.T) {
	reduceCall := func(module, name string) []byte {
		return []byte("c" + module + "\n" + name + "\n(S'echo pwned'\ntR.")
	}
	stackGlobal := func(module, name string) []byte {
		p := new(pk)
		p.proto(4).raw(0x8c, byte(len(module))).WriteString(module)
		p.raw(0x8c, byte(len(name))).WriteString(name)
		p.raw(0x93).mark().str("echo pwned").tuple().reduce().stop()
		return p.Bytes()
	}
	inst := func(module, name string) []byte {
		return []byte("(S'echo pwned'\ni" + module + "\n" + name + "\n.")
	}
	cases := []struct{ module, name string }{
		{"os", "system"},
		{"builtins", "eval"},
		{"__builtin__", "eval"},
		{"builtins", "exec"},
		{"posix", "system"},
		{"nt", "system"},
		{"subprocess", "Popen"},
		{"builtins", "getattr"},
		{"__builtin__", "object"},      // gopickle resolves this one itself, before FindClass
		{"copy_reg", "_reconstructor"}, // likewise
		{"torch", "load"},
		{"torch", "_utils._rebuild_tensor_v2"},
	}
	for _, c := range cases {
		full := c.module + "." + c.name
		for form, pkl := range map[string][]byte{
			"REDUCE":       reduceCall(c.module, c.name),
			"STACK_GLOBAL": stackGlobal(c.module, c.name),
			"INST":         inst(c.module, c.name),
		} {
			for kind, file := range map[string][]byte{
				"zip": torchZip(t, pkl),
				"raw": pkl,
			} {
				_, err := loadBytes(t, file)
				if !errors.Is(err, ErrForbiddenGlobal) {
					t.Errorf("%s via %s in %s file: got %v", full, form, kind, err)
					continue
				}
				want := `torchpt test.pt: pickle refers to forbidden global "` + full + `"`
				if err.Error() != want {
					t.Errorf("message %q, want %q", err, want)
				}
			}
		}
	}

	// A forbidden global deep inside an otherwise valid state dict.
	p := new(pk)
	p.proto(2).orderedDict().mark()
	p.str("w").tensor(tspec{class: "FloatStorage", key: "0", numel: 1, shape: []int{1}})
	p.str("x").global("os", "system").mark().str("id").tuple().reduce()
	p.raw('u').stop()
	_, err := loadBytes(t, torchZip(t, p.Bytes(), entry{"0", f32bytes(1)}))
	if !errors.Is(err, ErrForbiddenGlobal) || !strings.Contains(err.Error(), `"os.system"`) {
		t.Errorf("nested: %v", err)
	}

	// ... and in a legacy file's object pickle.
	legacy := legacyFile(t, true)
	i := bytes.Index(legacy, []byte("ctorch._utils\n_rebuild_tensor_v2\n"))
	evil := append(append(append([]byte{}, legacy[:i]...), "cposix\nsystem\n"...), legacy[i+len("ctorch._utils\n_rebuild_tensor_v2\n"):]...)
	_, err = loadBytes(t, evil)
	if !errors.Is(err, ErrForbiddenGlobal) || !strings.Contains(err.Error(), `"posix.system"`) {
		t.Errorf("legacy: %v", err)
	}
}

func TestInvalidFiles(t *testing.T) {
	w := func(name string, ts tspec) []byte { return stateDict(item{name, ts}) }
	f4 := func(key string, numel int, shape ...int) tspec {
		return tspec{class: "FloatStorage", key: key, numel: numel, shape: shape}
	}
	valid := w("W", f4("0", 4, 2, 2))
	store := entry{"0", f32bytes(1, 2, 3, 4)}
	rnd := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(rnd)
	huge := func(op byte) []byte {
		return append([]byte{0x80, 4, op}, 0, 0, 0, 0, 0, 0, 0, 0x40)
	}
	deep := append([]byte{0x80, 2}, bytes.Repeat([]byte{'('}, 5000)...)
	var tarHeader [1024]byte
	copy(tarHeader[:], "archive/data.pkl")
	copy(tarHeader[257:], "ustar")

	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty file", nil, "empty file"},
		{"random bytes", rnd, "not a PyTorch file"},
		{"text file", []byte("hello, world\n"), "not a PyTorch file"},
		{"zip without data.pkl", makeZip(t, entry{"archive/data/0", f32bytes(1)}), "no <name>/data.pkl entry"},
		{"broken zip", append([]byte("PK\x03\x04"), rnd[:100]...), "not a valid zip archive"},
		{"missing storage entry", torchZip(t, w("W", f4("1", 4, 2, 2)), store), `archive has no entry "archive/data/1"`},
		{"storage too short for shape", torchZip(t, w("W", f4("0", 4, 3, 3)), store), `tensor "W": shape [3 3] at offset 0 needs 9 float32 elements, but storage "0" holds 4`},
		{"storage shorter than declared", torchZip(t, w("W", f4("0", 16, 2)), store), `storage "0": 16 bytes, too short for the 16 float32 elements`},
		{"offset past the end", torchZip(t, w("W", tspec{class: "FloatStorage", key: "0", numel: 4, offset: 3, shape: []int{2}}), store), `tensor "W": shape [2] at offset 3 needs 5`},
		{"non-contiguous stride", torchZip(t, w("W.T", tspec{class: "FloatStorage", key: "0", numel: 4, shape: []int{2, 2}, stride: []int{1, 2}}), store), `tensor "W.T": stride [1 2] is not contiguous row-major for shape [2 2]`},
		{"truncated pickle", torchZip(t, valid[:len(valid)/2], store), "truncated"},
		{"truncated zip", torchZip(t, valid, store)[:200], "not a valid zip archive"},
		{"bytes after STOP", torchZip(t, append(append([]byte{}, valid...), 'N'), store), "1 bytes after the pickle's end"},
		{"big-endian byteorder", makeZip(t, entry{"archive/data.pkl", valid}, entry{"archive/byteorder", []byte("big")}, entry{"archive/data/0", store.data}), "big-endian"},
		{"TorchScript", makeZip(t, entry{"m/data.pkl", valid}, entry{"m/constants.pkl", []byte{0x80, 2, 'N', '.'}}), "TorchScript"},
		{"legacy tar", tarHeader[:], "legacy tar torch format not supported, re-save with torch>=1.6"},
		{"pickle of a list", torchZip(t, []byte{0x80, 2, ']', '.'}), "holds a list, not a state dict"},
		{"pickle of a bare tensor", torchZip(t, new(pk).proto(2).tensor(f4("0", 4, 4)).stop().Bytes(), store), "holds a tensor, not a state dict"},
		{"not a magic number", []byte{0x80, 2, 'K', 1, '.'}, "not a PyTorch file"},
		{"undefined memo slot", torchZip(t, []byte{0x80, 2, 'h', 5, '.'}), "memo slot 5 read before it was written"},
		{"stack underflow", torchZip(t, []byte{0x80, 2, 'N', 'R', '.'}), "stack underflow"},
		{"TUPLE without MARK", torchZip(t, []byte{0x80, 2, 't', '.'}), "no MARK"},
		{"STOP on empty stack", torchZip(t, []byte{0x80, 2, '.'}), "stack underflow"},
		{"unknown opcode", torchZip(t, []byte{0x80, 2, 0xff, '.'}), "unknown opcode 0xff"},
		{"protocol 6", torchZip(t, []byte{0x80, 6, 'N', '.'}), "unsupported pickle protocol 6"},
		{"BINBYTES8 of 2^62 bytes", torchZip(t, huge(0x8e)), "truncated"},
		{"BINUNICODE8 of 2^62 bytes", torchZip(t, huge(0x8d)), "truncated"},
		{"FRAME of 2^62 bytes", torchZip(t, huge(0x95)), "truncated"},
		{"BINUNICODE of 4 GiB", torchZip(t, []byte{0x80, 2, 'X', 0xff, 0xff, 0xff, 0xff, 'a', '.'}), "truncated"},
		{"LONG4 of 2 GiB", torchZip(t, []byte{0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x7f, '.'}), "LONG4 with 2147483647 bytes"},
		{"LONG1 of no bytes", torchZip(t, []byte{0x80, 2, 0x8a, 0, '.'}), "LONG1 with no bytes"},
		{"marks nested too deep", torchZip(t, deep), "MARKs nested more than"},
		{"odd SETITEMS", torchZip(t, []byte{0x80, 2, '}', '(', 'N', 'u', '.'}), "odd number of items"},
		{"bytes as dict key", torchZip(t, []byte{0x80, 3, '}', 'C', 1, 'k', 'N', 's', '.'}), "bytes used as a dict key"},
		{"SETITEM on a list", torchZip(t, []byte{0x80, 2, ']', 'N', 'N', 's', '.'}), "not a dict"},
		{"REDUCE of a non-global", torchZip(t, []byte{0x80, 2, 'N', ')', 'R', '.'}), "REDUCE of a value that is not a global"},
		{"Python 2 OrderedDict", torchZip(t, []byte("\x80\x02ccollections\nOrderedDict\n]\x85R.")), "called with arguments"},
		{"storage class called", torchZip(t, []byte("\x80\x02ctorch\nFloatStorage\n)R.")), "a storage class is called"},
		{"BUILD on a tensor", torchZip(t, new(pk).proto(2).tensor(f4("0", 4, 4)).raw(0x7d, 0x62).stop().Bytes(), store), "BUILD is only supported"},
		{"NEWOBJ", torchZip(t, []byte("\x80\x02ccollections\nOrderedDict\n)\x81.")), "builds class instances"},
		{"INST of an allowed global", torchZip(t, []byte("(icollections\nOrderedDict\n.")), "builds class instances"},
		{"PERSID", torchZip(t, []byte("Pfoo\n.")), "PERSID"},
		{"persistent id not a tuple", torchZip(t, []byte{0x80, 2, 'N', 'Q', '.'}), "persistent id is None, not a tuple"},
		{"persistent id too short", torchZip(t, []byte("\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\ntQ.")), "storage persistent id has 2 elements, want 5"},
		{"persistent id without storage class", torchZip(t, []byte("\x80\x02(X\x07\x00\x00\x00storageNX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ.")), "not a storage class"},
		{"rebuild with wrong arguments", torchZip(t, []byte("\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(NNNNNNtR.")), "_rebuild_tensor_v2: storage is None, not a storage"},
		{"negative dimension", torchZip(t, w("W", tspec{class: "FloatStorage", key: "0", numel: 4, shape: []int{-2, 2}, stride: []int{2, 1}}), store), "negative dimension"},
		{"huge shape", torchZip(t, w("W", tspec{class: "FloatStorage", key: "0", numel: 4, shape: []int{1 << 30, 1 << 30, 1 << 30}, stride: []int{0, 0, 0}}), store), "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := loadBytes(t, c.file)
			if err == nil {
				t.Fatalf("no error; got %d tensors", len(m))
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if errors.Is(err, ErrForbiddenGlobal) {
				t.Errorf("error wraps ErrForbiddenGlobal: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "torchpt test.pt: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// A data.pkl whose header claims more than the cap is refused before it is
// read.
func TestPickleSizeCap(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Deflate, CompressedSize64: 4, UncompressedSize64: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte{3, 0, 0, 0})
	zw.Close()
	_, err = loadBytes(t, buf.Bytes())
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more than the 16777216 allowed") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hand.pt")
	if err := os.WriteFile(p, handMadeZip(t), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	checkTensor(t, m, "bf16", []int{2}, []float32{1, -5})
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || err.Error() != "torchpt "+p+": empty file" {
		t.Fatalf("got %v", err)
	}
}

// A storage entry compressed with deflate (torch never writes one, a
// re-zipped file may have it) is inflated.
func TestDeflatedStorage(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range []struct {
		name   string
		method uint16
		data   []byte
	}{
		{"archive/data.pkl", zip.Deflate, stateDict(item{"w", tspec{class: "FloatStorage", key: "0", numel: 3, shape: []int{3}}})},
		{"archive/data/0", zip.Deflate, f32bytes(1.5, 2.5, 3.5)},
	} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	zw.Close()
	checkTensor(t, mustLoad(t, buf.Bytes()), "w", []int{3}, []float32{1.5, 2.5, 3.5})
}

// A legacy file whose pickles exceed the first 1 MiB read is re-read with a
// larger buffer; one whose storage list leaves out a used storage is refused.
func TestLegacyEdges(t *testing.T) {
	base := legacyFile(t, true)
	i := bytes.Index(base, []byte("X\x01\x00\x00\x00w")) // the "w" key in the object pickle
	long := new(pk).str("pad").str(strings.Repeat("x", 3<<20)).Bytes()
	big := append(append(append([]byte{}, base[:i]...), long...), base[i:]...)
	m := mustLoad(t, big)
	checkTensor(t, m, "w", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})

	j := bytes.Index(base, []byte("X\x03\x00\x00\x00141e."))
	short := append(append(append([]byte{}, base[:j]...), 'e', '.'), base[j+len("X\x03\x00\x00\x00141e."):]...)
	_, err := loadBytes(t, short)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `storage "141" is not in the file's list of storages`) {
		t.Errorf("got %v", err)
	}
	_, err = loadBytes(t, base[:len(base)-4])
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `storage "141" has 3 elements but the file ends first`) {
		t.Errorf("got %v", err)
	}
}
