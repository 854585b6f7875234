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

	"github.com/zeebo/xxh3"
)

// hostileFile lays out a store file around header (no section data): what
// a damaged or crafted store looks like to parse.
func hostileFile(header []byte) []byte {
	var f bytes.Buffer
	f.Write(magic[:])
	binary.Write(&f, binary.LittleEndian, uint64(len(header)))
	binary.Write(&f, binary.LittleEndian, xxh3.Hash(header))
	f.Write(header)
	for f.Len()%8 != 0 {
		f.WriteByte(0)
	}
	f.Write(make([]byte, 64))
	f.Write(trailer[:])
	binary.Write(&f, binary.LittleEndian, uint64(f.Len()+8))
	return f.Bytes()
}

// validFile returns a small valid store's bytes (every section filled)
// and its header.
func validFile(t testing.TB) ([]byte, Meta) {
	path := filepath.Join(t.TempDir(), "s.saestore")
	if err := integrityStore().Write(path); err != nil {
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
	if _, err := parse(data, "s.saestore"); err != nil {
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
		_, err := parse(file, "s.saestore")
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzParse: no byte string makes parse, or a query of what it accepts,
// panic; and a valid store with a byte changed either answers every query
// as before or fails with ErrCorrupt (or ErrOldVersion: the magic of
// version 1).
func FuzzParse(f *testing.F) {
	data, meta := validFile(f)
	f.Add(data, uint(0), byte(0))
	f.Add(data, uint(len(data)/2), byte(1))
	m := meta
	m.Sections = append([]section(nil), meta.Sections...)
	m.Sections[0].Offset = math.MaxInt64 - 7
	h, _ := json.Marshal(m)
	f.Add(hostileFile(h), uint(0), byte(0))
	s, err := parse(data, "s.saestore")
	if err != nil {
		f.Fatal(err)
	}
	want, err := answers(s)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, at uint, xor byte) {
		if s, err := parse(b, "s.saestore"); err == nil {
			_, _ = answers(s) // must not panic
		}
		// The valid store with one byte changed.
		b = bytes.Clone(data)
		b[at%uint(len(b))] ^= xor
		s, err := parse(b, "s.saestore")
		if err == nil {
			var got uint64
			if got, err = answers(s); err == nil && got != want {
				t.Fatalf("byte %d ^ %#x: the store opens and answers differently", at%uint(len(b)), xor)
			}
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrOldVersion) { // both: rebuild
			t.Fatalf("byte %d ^ %#x: %v, want ErrCorrupt", at%uint(len(b)), xor, err)
		}
	})
}

// Context windows: a negative one is an error, one longer than a row (up
// to the largest int) is cut at the row's ends, for top contexts and
// interval samples alike.
func TestContextWindows(t *testing.T) {
	s := bigStore(1024, 4)
	seq := s.SeqLen()
	f := 3
	for _, w := range [][2]int{{-5, 0}, {0, -5}, {-1, -1}} {
		if _, err := s.TopContexts(f, 5, w[0], w[1]); err == nil {
			t.Errorf("top contexts with window %v accepted", w)
		}
		if _, err := s.IntervalSamples(f, w[0], w[1]); err == nil {
			t.Errorf("interval samples with window %v accepted", w)
		}
	}
	for _, w := range [][2]int{{0, 0}, {3, 1}, {seq, seq}, {math.MaxInt, math.MaxInt}} {
		cs, err := s.TopContexts(f, 5, w[0], w[1])
		if err != nil {
			t.Fatalf("window %v: %v", w, err)
		}
		gs, err := s.IntervalSamples(f, w[0], w[1])
		if err != nil {
			t.Fatalf("window %v: %v", w, err)
		}
		for _, g := range gs {
			cs = append(cs, g.Contexts...)
		}
		if len(cs) == 0 {
			t.Fatal("no contexts")
		}
		for _, c := range cs {
			wantStart, wantEnd := max(0, c.Pos-min(w[0], seq)), min(seq, c.Pos+1+min(w[1], seq))
			if c.Start != wantStart || c.Start+len(c.Tokens) != wantEnd || len(c.Acts) != len(c.Tokens) || c.Acts[c.Target()] != c.Value {
				t.Errorf("window %v, token %d:%d: tokens [%d, %d), want [%d, %d); value %v at target, %v",
					w, c.Row, c.Pos, c.Start, c.Start+len(c.Tokens), wantStart, wantEnd, c.Acts[c.Target()], c.Value)
			}
		}
	}
}
