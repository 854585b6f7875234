package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/saescope/saescope/weights"
)

const (
	fixtureModel     = "../../testdata/fixtures/tiny-gpt2/model.safetensors"
	fixtureReference = "../../testdata/fixtures/reference.safetensors"
)

// rawFile builds a safetensors file by hand: the 8-byte length of header,
// header verbatim, then data.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// writeTemp stores b in a fresh file and returns its path.
func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func u16s(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

func f32s(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func sum64(xs []float32) float64 {
	var s float64
	for _, x := range xs {
		s += float64(x)
	}
	return s
}

func TestFixtureModel(t *testing.T) {
	f, err := Open(fixtureModel)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	wte, err := f.Float32("wte.weight")
	if err != nil {
		t.Fatal(err)
	}
	if err := wte.CheckShape("wte.weight", 50257, 32); err != nil {
		t.Fatal(err)
	}
	want := []float32{-0.01117185689508915, -0.04965901002287865, 0.016307370737195015, -0.08816877752542496}
	if !slices.Equal(wte.Data[:4], want) {
		t.Errorf("wte.weight[:4] = %v, want %v", wte.Data[:4], want)
	}
	if s := sum64(wte.Data); math.Abs(s-163.10165688599625) > 1e-3 {
		t.Errorf("sum(wte.weight) = %v, want 163.10165688599625", s)
	}

	wpe, err := f.Float32("wpe.weight")
	if err != nil {
		t.Fatal(err)
	}
	if err := wpe.CheckShape("wpe.weight", 128, 32); err != nil {
		t.Fatal(err)
	}
	if s := sum64(wpe.Data); math.Abs(s-1.2995516197661345) > 1e-3 {
		t.Errorf("sum(wpe.weight) = %v, want 1.2995516197661345", s)
	}

	names := f.Names()
	if len(names) != 28 || !slices.IsSorted(names) {
		t.Errorf("Names() = %d names, sorted %v; want 28 sorted", len(names), slices.IsSorted(names))
	}
	if m := f.Metadata(); len(m) != 1 || m["format"] != "pt" {
		t.Errorf("Metadata() = %v, want map[format:pt]", m)
	}
	in, ok := f.Info("h.0.attn.c_attn.weight")
	if !ok || in.DType != F32 || !slices.Equal(in.Shape, []int{32, 96}) || in.End-in.Begin != 32*96*4 {
		t.Errorf("Info(h.0.attn.c_attn.weight) = %+v, %v", in, ok)
	}
	if _, ok := f.Info("nope"); ok {
		t.Error("Info(nope) found a tensor")
	}
	all, err := f.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 28 {
		t.Errorf("Tensors() returned %d tensors, want 28", len(all))
	}
	if _, err := f.Float32("nope"); err == nil || !strings.Contains(err.Error(), `no tensor "nope"`) {
		t.Errorf("Float32(nope) error = %v", err)
	}
	// On a little-endian machine the aligned F32 data is a view of the mapping.
	if littleEndian && uintptr(unsafe.Pointer(&wte.Data[0]))%4 != 0 {
		t.Error("view is not aligned")
	}
}

func TestFixtureReference(t *testing.T) {
	f, err := Open(fixtureReference)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tokens, shape, err := f.Int64("tokens")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{3, 24}) || len(tokens) != 72 {
		t.Fatalf("tokens shape %v, %d values; want [3 24]", shape, len(tokens))
	}
	if tokens[0] != 50256 {
		t.Errorf("tokens[0] = %d, want 50256", tokens[0])
	}
	_, err = f.Float32("tokens")
	if err == nil || !strings.Contains(err.Error(), "I64") || !strings.Contains(err.Error(), `"tokens"`) {
		t.Errorf("Float32(tokens) error = %v, want one naming I64 and tokens", err)
	}
	if _, _, err := f.Int64("loss"); err == nil || !strings.Contains(err.Error(), "F32") {
		t.Errorf("Int64(loss) error = %v, want one naming F32", err)
	}
	all, err := f.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all["tokens"]; ok {
		t.Error("Tensors() included the I64 tensor")
	}
	if _, ok := all["loss"]; !ok {
		t.Error("Tensors() left out loss")
	}
}

func TestRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rt.safetensors")
	in := map[string]weights.Tensor{
		"a":      {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		"b.bias": {Shape: []int{3}, Data: []float32{-1, float32(math.Inf(1)), 1e-40}},
		"scalar": {Shape: []int{}, Data: []float32{42}},
		"empty":  {Shape: []int{0, 5}, Data: nil},
		"odd":    {Shape: []int{1}, Data: []float32{7}},
	}
	meta := map[string]string{"format": "pt", "note": "<&>"}
	if err := Write(p, in, meta); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(raw); (8+n)%8 != 0 {
		t.Errorf("data section starts at %d, not a multiple of 8", 8+n)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1 (temp file left behind?)", len(ents))
	}

	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Metadata(); !mapsEqual(got, meta) {
		t.Errorf("Metadata() = %v, want %v", got, meta)
	}
	if got, want := f.Names(), []string{"a", "b.bias", "empty", "odd", "scalar"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for name, want := range in {
		got, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Shape, want.Shape) || len(got.Data) != len(want.Data) || (len(want.Data) > 0 && !slices.Equal(got.Data, want.Data)) {
			t.Errorf("%s: got %v %v, want %v %v", name, got.Shape, got.Data, want.Shape, want.Data)
		}
	}
	a, _ := f.Float32("a")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_ = a // a.Data must not be read after Close.
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Float32("a"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Float32 after Close: %v", err)
	}
	if _, _, err := f.Int64("a"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Int64 after Close: %v", err)
	}

	// Overwriting an open file leaves the open mapping intact.
	f2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	a2, _ := f2.Float32("a")
	if err := Write(p, map[string]weights.Tensor{"a": {Shape: []int{1}, Data: []float32{9}}}, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a2.Data, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("old view changed after rewrite: %v", a2.Data)
	}
	f3, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f3.Close()
	if m := f3.Metadata(); len(m) != 0 {
		t.Errorf("Metadata() = %v, want empty", m)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "w.safetensors")
	for _, tc := range []struct {
		tensors map[string]weights.Tensor
		want    string
	}{
		{map[string]weights.Tensor{"a": {Shape: []int{2, 2}, Data: []float32{1, 2, 3}}}, "shape [2 2] holds 4 elements but data has 3"},
		{map[string]weights.Tensor{"__metadata__": {Shape: []int{1}, Data: []float32{1}}}, "reserved"},
		{map[string]weights.Tensor{"a": {Shape: []int{-1}, Data: nil}}, "negative dimension"},
	} {
		err := Write(p, tc.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Write error = %v, want %q", err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed writes left %d files", len(ents))
	}
	if err := Write(filepath.Join(dir, "missing", "x.safetensors"), nil, nil); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}

func TestHalfPrecision(t *testing.T) {
	f16 := []uint16{0x3C00, 0xC100, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x7C00, 0xFC00, 0x8000, 0x3555, 0x7E00}
	f16want := []float32{1, -2.5, 65504, 5.9604645e-08, 6.097555e-05, 6.1035156e-05, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0.33325195}
	bf16 := []uint16{0x3F80, 0xC020, 0x7F80, 0xFF80, 0x0001, 0x4049, 0x7FC0}
	bf16want := []float32{1, -2.5, float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x10000), 3.140625}
	f64 := []float64{1.5, -1e300, 0.1, 5e-324}
	f64want := []float32{1.5, float32(math.Inf(-1)), 0.1, 0}
	var f64b []byte
	for _, v := range f64 {
		f64b = binary.LittleEndian.AppendUint64(f64b, math.Float64bits(v))
	}
	i32b := binary.LittleEndian.AppendUint32(nil, uint32(0xFFFFFFFF)) // -1
	u8b := []byte{200}

	data := slices.Concat(u16s(f16...), u16s(bf16...), f64b, i32b, u8b)
	o1 := 2 * len(f16)
	o2 := o1 + 2*len(bf16)
	o3 := o2 + len(f64b)
	o4 := o3 + 4
	header := fmt.Sprintf(`{"h":{"dtype":"F16","shape":[%d],"data_offsets":[0,%d]},`+
		`"b":{"dtype":"BF16","shape":[%d],"data_offsets":[%d,%d]},`+
		`"d":{"dtype":"F64","shape":[2,2],"data_offsets":[%d,%d]},`+
		`"i":{"dtype":"I32","shape":[1],"data_offsets":[%d,%d]},`+
		`"u":{"dtype":"U8","shape":[1],"data_offsets":[%d,%d]},`+
		`"q":{"dtype":"Q4_K","shape":[3],"data_offsets":[%d,%d]}}`,
		len(f16), o1, len(bf16), o1, o2, o2, o3, o3, o4, o4, o4+1, o4+1, o4+1)
	f, err := Open(writeTemp(t, rawFile(header, data)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	check := func(name string, want []float32, nanLast bool) {
		t.Helper()
		got, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		n := len(got.Data)
		if nanLast {
			if !math.IsNaN(float64(got.Data[n-1])) {
				t.Errorf("%s: last value %v, want NaN", name, got.Data[n-1])
			}
			n--
		}
		for i := range n {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s[%d] = %v (%#x), want %v (%#x)", name, i, got.Data[i], math.Float32bits(got.Data[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	check("h", f16want, true)
	check("b", bf16want, true)
	check("d", f64want, false)
	if d, _ := f.Float32("d"); !slices.Equal(d.Shape, []int{2, 2}) {
		t.Errorf("d shape %v", d.Shape)
	}
	if v, _, err := f.Int64("i"); err != nil || v[0] != -1 {
		t.Errorf("Int64(i) = %v, %v; want [-1]", v, err)
	}
	if v, _, err := f.Int64("u"); err != nil || v[0] != 200 {
		t.Errorf("Int64(u) = %v, %v; want [200]", v, err)
	}
	// An unknown dtype opens fine and is reported only when read.
	if in, ok := f.Info("q"); !ok || in.DType != "Q4_K" {
		t.Errorf("Info(q) = %+v, %v", in, ok)
	}
	if _, err := f.Float32("q"); err == nil || !strings.Contains(err.Error(), "Q4_K") || !strings.Contains(err.Error(), `"q"`) {
		t.Errorf("Float32(q) error = %v, want one naming Q4_K and q", err)
	}
	if _, _, err := f.Int64("q"); err == nil || !strings.Contains(err.Error(), "Q4_K") {
		t.Errorf("Int64(q) error = %v", err)
	}
	all, err := f.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Errorf("Tensors() returned %d tensors, want h, b, d", len(all))
	}
}

func TestAlignment(t *testing.T) {
	vals := []float32{1.5, -2, 3.25}
	header := `{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}} ` // 8+56 = 64
	if (8+len(header))%8 != 0 {
		t.Fatalf("header length %d breaks the test's alignment assumption", len(header))
	}
	buf := rawFile(header, f32s(vals...))
	f, err := Parse(buf)
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.Float32("x")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Data, vals) {
		t.Errorf("aligned: %v, want %v", x.Data, vals)
	}
	if littleEndian && unsafe.Pointer(&x.Data[0]) != unsafe.Pointer(&buf[8+len(header)]) {
		t.Error("aligned F32 tensor was copied, want a view")
	}

	// One more space in the header puts the data at an odd address.
	buf2 := rawFile(header+" ", f32s(vals...))
	f2, err := Parse(buf2)
	if err != nil {
		t.Fatal(err)
	}
	x2, err := f2.Float32("x")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x2.Data, vals) {
		t.Errorf("unaligned: %v, want %v", x2.Data, vals)
	}
	if unsafe.Pointer(&x2.Data[0]) == unsafe.Pointer(&buf2[8+len(header)+1]) {
		t.Error("unaligned F32 tensor is a view")
	}
	if uintptr(unsafe.Pointer(&x2.Data[0]))%4 != 0 {
		t.Error("copy is unaligned")
	}
}

func TestBadFiles(t *testing.T) {
	good := rawFile(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`, make([]byte, 16))
	huge := binary.LittleEndian.AppendUint64(nil, 1<<40)
	huge = append(huge, "{}"...)
	entry := func(body string) []byte { return rawFile(`{"t":`+body+`}`, make([]byte, 16)) }

	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "file is 0 bytes, shorter than the 8-byte header length"},
		{"5 bytes", []byte{1, 2, 3, 4, 5}, "file is 5 bytes"},
		{"zero header", rawFile("", make([]byte, 8)), "header length is 0"},
		{"huge N", huge, "header length 1099511627776 exceeds the limit"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), "header length 1000 runs past end of file (10 bytes)"},
		{"truncated data", good[:len(good)-7], `tensor "a": data_offsets [0,16] past end of data (9 bytes)`},
		{"offsets past end", rawFile(`{"a":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}}`, make([]byte, 16)), `tensor "a": data_offsets [0,400] past end of data (16 bytes)`},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}`, make([]byte, 24)), `tensor "b": data_offsets [8,24] overlap tensor "a" [0,16]`},
		{"shape mismatch", rawFile(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}`, make([]byte, 16)), `tensor "a": data_offsets [0,12] hold 12 bytes, but F32 shape [2 2] needs 16`},
		{"invalid JSON", rawFile(`{"a": `, nil), "header: not valid JSON"},
		{"invalid JSON 2", rawFile(`{"a" 1}`, nil), "header: not valid JSON"},
		{"trailing JSON", rawFile(`{} {}`, nil), "trailing"},
		{"not an object", rawFile(`[1,2]`, nil), "header: not a JSON object"},
		{"null header", rawFile(`null`, nil), "header: not a JSON object"},
		{"duplicate", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), `duplicate key "a"`},
		{"entry not object", entry(`[1]`), `tensor "t": entry is not a JSON object`},
		{"entry null", entry(`null`), `tensor "t": entry is not a JSON object`},
		{"missing dtype", entry(`{"shape":[4],"data_offsets":[0,16]}`), `tensor "t": missing "dtype"`},
		{"missing shape", entry(`{"dtype":"F32","data_offsets":[0,16]}`), `tensor "t": missing "shape"`},
		{"missing offsets", entry(`{"dtype":"F32","shape":[4]}`), `tensor "t": missing "data_offsets"`},
		{"wrong-case key", entry(`{"DTYPE":"F32","shape":[4],"data_offsets":[0,16]}`), `tensor "t": missing "dtype"`},
		{"dtype not string", entry(`{"dtype":4,"shape":[4],"data_offsets":[0,16]}`), `tensor "t": dtype must be a string`},
		{"empty dtype", entry(`{"dtype":"","shape":[4],"data_offsets":[0,16]}`), `tensor "t": empty dtype`},
		{"shape not array", entry(`{"dtype":"F32","shape":"4","data_offsets":[0,16]}`), `tensor "t": shape must be an array of integers`},
		{"shape float", entry(`{"dtype":"F32","shape":[4.5],"data_offsets":[0,16]}`), `tensor "t": shape must be an array of integers`},
		{"negative dim", entry(`{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}`), `tensor "t": negative dimension -4`},
		{"shape overflow", entry(`{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}`), `tensor "t": shape [4294967296 4294967296] overflows`},
		{"byte overflow", entry(`{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,16]}`), `overflows the byte count`},
		{"offsets one", entry(`{"dtype":"F32","shape":[4],"data_offsets":[16]}`), `tensor "t": data_offsets [16] must be [begin, end]`},
		{"offsets strings", entry(`{"dtype":"F32","shape":[4],"data_offsets":["0","16"]}`), `tensor "t": data_offsets must be an array of two integers`},
		{"begin after end", entry(`{"dtype":"F32","shape":[0],"data_offsets":[16,0]}`), `tensor "t": data_offsets [16,0] must have 0 <= begin <= end`},
		{"negative begin", entry(`{"dtype":"F32","shape":[4],"data_offsets":[-16,0]}`), `must have 0 <= begin <= end`},
		{"metadata not map", rawFile(`{"__metadata__":{"k":1}}`, nil), "__metadata__ must be an object of strings"},
		{"metadata array", rawFile(`{"__metadata__":["k"]}`, nil), "__metadata__ must be an object of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(how string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error, want %q", how, tc.want)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: error %q, want it to contain %q", how, err, tc.want)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s: error %q does not wrap ErrInvalid", how, err)
				}
			}
			_, err := Parse(tc.file)
			check("Parse", err)
			if err != nil && !strings.HasPrefix(err.Error(), "safetensors <buffer>: ") {
				t.Errorf("Parse error %q does not name the buffer", err)
			}
			_, _, _, err = ParseHeader(int64(len(tc.file)), tc.file)
			check("ParseHeader", err)
			p := writeTemp(t, tc.file)
			_, err = Open(p)
			check("Open", err)
			if err != nil && !strings.Contains(err.Error(), p) {
				t.Errorf("Open error %q does not name the file", err)
			}
		})
	}
}

func TestGoodEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"empty object", rawFile(`{}`, nil)},
		{"padded header", rawFile(`{}      `, nil)},
		{"null metadata", rawFile(`{"__metadata__":null}`, nil)},
		{"empty tensors share offsets", rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"c":{"dtype":"F32","shape":[2,0,3],"data_offsets":[16,16]}}`, make([]byte, 16))},
		{"gap and trailing bytes", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 32))},
		{"extra entry fields", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":[1]}}`, make([]byte, 4))},
		{"zero dim with huge other", rawFile(`{"a":{"dtype":"F32","shape":[0,9223372036854775807,9223372036854775807],"data_offsets":[0,0]}}`, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Tensors(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseHeaderPrefix(t *testing.T) {
	raw, err := os.ReadFile(fixtureReference)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(binary.LittleEndian.Uint64(raw))
	infos, meta, start, err := ParseHeader(int64(len(raw)), raw[:8+n])
	if err != nil {
		t.Fatal(err)
	}
	if start != 8+n || len(infos) != 35 || meta != nil {
		t.Errorf("ParseHeader: %d infos, start %d, meta %v", len(infos), start, meta)
	}
	if !slices.IsSortedFunc(infos, func(a, b Info) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("infos not sorted by name")
	}
	if _, _, _, err := ParseHeader(int64(len(raw)), raw[:100]); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("short prefix: error %v, want a non-ErrInvalid error", err)
	}
}

func TestConcurrentReads(t *testing.T) {
	f, err := Open(fixtureModel)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, name := range f.Names() {
				tt, err := f.Float32(name)
				if err != nil {
					t.Error(err)
					return
				}
				_ = sum64(tt.Data)
			}
		}()
	}
	wg.Wait()
	// Close racing with reads: readers see either data or a "closed" error.
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				tt, err := f.Float32("h.0.ln_1.weight")
				if err != nil {
					if !strings.Contains(err.Error(), "closed") {
						t.Error(err)
					}
					return
				}
				_ = len(tt.Data)
			}
		}()
	}
	if err := f.Close(); err != nil {
		t.Error(err)
	}
	wg.Wait()
}

// TestUnknownDTypeHugeShape: an unknown dtype's shape is not checked against
// its byte range, so readers must reject it before allocating (found by
// FuzzParseHeader: Int64 used to allocate first and hung on a huge shape).
func TestUnknownDTypeHugeShape(t *testing.T) {
	f, err := Parse(rawFile(`{"x":{"dtype":"XX","shape":[4611686018427387903],"data_offsets":[0,1]}}`, []byte{0}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Int64("x"); err == nil || !strings.Contains(err.Error(), "XX") {
		t.Errorf("Int64 error = %v", err)
	}
	if _, err := f.Float32("x"); err == nil || !strings.Contains(err.Error(), "XX") {
		t.Errorf("Float32 error = %v", err)
	}
	if all, err := f.Tensors(); err != nil || len(all) != 0 {
		t.Errorf("Tensors() = %v, %v", all, err)
	}
}

func TestErrorNamesOddPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "100%d.safetensors")
	if err := os.WriteFile(p, rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p)
	want := "safetensors " + p + `: tensor "a": data_offsets [0,16] past end of data (0 bytes)`
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil || errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want a not-exist error", err)
	}
}
