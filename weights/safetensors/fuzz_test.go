package safetensors

import (
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"slices"
	"testing"

	"github.com/saescope/saescope/weights"
)

// TestMain lowers the fuzzer's default minimization budget from 60s to 2s per
// input unless -fuzzminimizetime is given. Minimizing a mutant of the
// fixture-header seed (2,368 bytes) takes a quadratic number of runs, so with
// the default a short run such as -fuzztime 20s spends nearly all its time
// minimizing instead of fuzzing.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		if err := flag.Set("test.fuzzminimizetime", "2s"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// FuzzParseHeader feeds arbitrary bytes to Parse and ParseHeader: neither may
// panic, every error must wrap ErrInvalid, both must agree, and every tensor
// of a file that parses must be readable without panicking.
func FuzzParseHeader(f *testing.F) {
	for _, path := range []string{fixtureModel, fixtureReference} {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		n := binary.LittleEndian.Uint64(raw)
		f.Add(raw[:8+n]) // the header alone: data missing
		// The header with a zero-filled data section of the right size.
		infos, _, _, err := ParseHeader(int64(len(raw)), raw[:8+n])
		if err != nil {
			f.Fatal(err)
		}
		var end int64
		for _, in := range infos {
			end = max(end, in.End)
		}
		if end < 1<<16 {
			f.Add(slices.Concat(raw[:8+n], make([]byte, end)))
		}
	}
	p := f.TempDir() + "/seed.safetensors"
	if err := Write(p, map[string]weights.Tensor{
		"a": {Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		"b": {Shape: []int{}, Data: []float32{5}},
	}, map[string]string{"format": "pt"}); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	for _, s := range []struct{ h, d string }{
		{`{}`, ""},
		{`{"__metadata__":{"a":"b"}}`, ""},
		{`{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}`, "\x00\x3c\x01\x00\x80\x3f"},
		{`{"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"i":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}`, "0123456789abcdef"},
		{`{"u":{"dtype":"U64","shape":[1],"data_offsets":[0,8]},"x":{"dtype":"XX","shape":[9],"data_offsets":[8,9]}}`, "\xff\xff\xff\xff\xff\xff\xff\xff!"},
		{`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, "abcdef"},
		{`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, "abcd"},
		{`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{}}`, "abcd"},
		{`{"a":[`, ""},
	} {
		f.Add(rawFile(s.h, []byte(s.d)))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'})

	f.Fuzz(func(t *testing.T, data []byte) {
		infos, meta, start, herr := ParseHeader(int64(len(data)), data)
		file, err := Parse(data)
		if (err == nil) != (herr == nil) {
			t.Fatalf("Parse error %v but ParseHeader error %v", err, herr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			return
		}
		if start < 9 || start > int64(len(data)) {
			t.Fatalf("data section starts at %d in %d bytes", start, len(data))
		}
		if len(meta) != len(file.Metadata()) {
			t.Fatalf("metadata differs")
		}
		if names := file.Names(); len(names) != len(infos) || !slices.IsSorted(names) {
			t.Fatalf("Names() = %v for %d infos", names, len(infos))
		}
		for _, in := range infos {
			if in.Begin < 0 || in.End < in.Begin || start+in.End > int64(len(data)) {
				t.Fatalf("tensor %q: range [%d,%d] outside %d-byte data section", in.Name, in.Begin, in.End, int64(len(data))-start)
			}
			if tt, err := file.Float32(in.Name); err == nil {
				if len(tt.Data) != weights.NumElements(tt.Shape) {
					t.Fatalf("tensor %q: %d values for shape %v", in.Name, len(tt.Data), tt.Shape)
				}
				for range tt.Data {
				}
			}
			if v, shape, err := file.Int64(in.Name); err == nil && len(v) != weights.NumElements(shape) {
				t.Fatalf("tensor %q: %d ints for shape %v", in.Name, len(v), shape)
			}
		}
		if _, err := file.Tensors(); err != nil {
			t.Fatal(err)
		}
		if err := file.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
