package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// hostileFile lays out a store file around header (no section data): what
// a damaged or crafted store looks like to parse.
func hostileFile(header []byte) []byte {
	var f bytes.Buffer
	f.Write(magic[:])
	binary.Write(&f, binary.LittleEndian, uint64(len(header)))
	f.Write(header)
	for f.Len()%8 != 0 {
		f.WriteByte(0)
	}
	f.Write(make([]byte, 64))
	f.Write(trailer[:])
	binary.Write(&f, binary.LittleEndian, uint64(f.Len()+8))
	return f.Bytes()
}

// validFile returns a small valid store's bytes and its header.
func validFile(t testing.TB) ([]byte, Meta) {
	path := filepath.Join(t.TempDir(), "s.saestore")
	if err := bigStore(256, 3).Write(path); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, s.Meta
}

// Header lengths and section offsets or counts near the int64 limit, whose
// sums wrap around, are refused as corrupt instead of slicing past the
// file (a panic).
func TestParseRefusesOverflowingLayout(t *testing.T) {
	data, meta := validFile(t)
	if _, err := parse(data); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{}
	long := bytes.Clone(data)
	binary.LittleEndian.PutUint64(long[8:16], math.MaxInt64-7)
	cases["header length 2^63-8"] = long
	for _, c := range []struct {
		name          string
		offset, count int64
	}{
		{"offset 2^63-8", math.MaxInt64 - 7, 4},
		{"count 2^62", meta.Sections[0].Offset, 1 << 62},
		{"count 2^61+1", meta.Sections[0].Offset, 1<<61 + 1},
		{"negative offset", -8, 4},
	} {
		m := meta
		m.Sections = append([]section(nil), meta.Sections...)
		m.Sections[0].Offset, m.Sections[0].Count = c.offset, c.count
		h, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		cases[c.name] = hostileFile(h)
	}
	for name, file := range cases {
		_, err := parse(file)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzParse: no byte string makes parse panic (parse validates what it
// accepts).
func FuzzParse(f *testing.F) {
	data, meta := validFile(f)
	f.Add(data)
	m := meta
	m.Sections = append([]section(nil), meta.Sections...)
	m.Sections[0].Offset = math.MaxInt64 - 7
	h, _ := json.Marshal(m)
	f.Add(hostileFile(h))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parse(b)
	})
}
