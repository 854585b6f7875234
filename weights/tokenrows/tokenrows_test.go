package tokenrows_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights/tokenrows"
	"github.com/saescope/saescope/weights/tokenrows/tokenrowstest"
)

var lim = tokenrows.Limits{Vocab: 50257, MaxSeq: 1024}

// rows3 are three rows of five ids, with the largest id of the vocabulary
// and ids that need more than 16 bits.
var rows3 = [][]int32{
	{50256, 464, 2068, 7586, 21831},
	{50256, 0, 50256, 65535 - 30000, 11},
	{50256, 818, 16450, 1, 50000},
}

func read(t *testing.T, name string, data []byte) ([][]int32, error) {
	t.Helper()
	p := tokenrowstest.Write(t, filepath.Join(t.TempDir(), name), data)
	return tokenrows.Read(context.Background(), p, lim)
}

// Every dtype and layout NumPy and safetensors write gives the rows back
// in order.
func TestReadFormats(t *testing.T) {
	cases := []struct {
		name string
		data []byte
	}{
		{"a.npy", tokenrowstest.NPY(rows3, "<i8", false)},
		{"b.npy", tokenrowstest.NPY(rows3, "<i4", false)},
		{"c.npy", tokenrowstest.NPY(rows3, ">i8", false)},
		{"d.npy", tokenrowstest.NPY(rows3, "<u4", false)},
		{"e.npy", tokenrowstest.NPY(rows3, "<i8", true)},
		{"f.NPY", tokenrowstest.NPY(rows3, ">i4", true)},
		{"g.safetensors", tokenrowstest.Safetensors(rows3, "tokens", "I64")},
		{"h.safetensors", tokenrowstest.Safetensors(rows3, "input_ids", "I32")},
		{"i.json", tokenrowstest.JSON(rows3)},
		{"j.json", []byte(" [ [50256,464,2068,7586,21831],\n[50256, 0, 50256, 35535, 11], [50256,818,16450,1,50000] ]\n")},
	}
	for _, c := range cases {
		got, err := read(t, c.name, c.data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.EqualFunc(got, rows3, slices.Equal) {
			t.Errorf("%s: %v, want %v", c.name, got, rows3)
		}
	}
}

// A .npy file in format 2.0 (a 4-byte header length) reads the same.
func TestReadNPYFormat2(t *testing.T) {
	v1 := tokenrowstest.NPY(rows3, "<i8", false)
	hlen := binary.LittleEndian.Uint16(v1[8:10])
	v2 := append([]byte("\x93NUMPY\x02\x00"), binary.LittleEndian.AppendUint32(nil, uint32(hlen))...)
	v2 = append(v2, v1[10:]...)
	got, err := read(t, "v2.npy", v2)
	if err != nil || !slices.EqualFunc(got, rows3, slices.Equal) {
		t.Errorf("format 2.0: %v %v", got, err)
	}
}

// Bad input is a clear error naming what is wrong, never a panic or a
// huge allocation.
func TestReadRefuses(t *testing.T) {
	good := tokenrowstest.NPY(rows3, "<i8", false)
	huge := tokenrowstest.NPY([][]int32{{1, 2}}, "<i8", false)
	huge = patchNPY(t, huge, "(1, 2)", "(9999999, 999)")
	hugeST := tokenrowstest.Safetensors([][]int32{{1, 2}}, "tokens", "I64")
	hugeST = []byte(strings.Replace(string(hugeST), "[1,2]", "[99999999,9999]", 1))
	long := make([][]int32, 1)
	long[0] = make([]int32, 1025)
	oov := [][]int32{{50256, 1}, {50256, 50257}}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty.npy", nil, "the file is empty"},
		{"empty.json", nil, "the file is empty"},
		{"empty.safetensors", nil, "safetensors"},
		{"float.npy", tokenrowstest.NPY(rows3, "<f4", false), "array of floats (dtype <f4)"},
		{"float.safetensors", tokenrowstest.Safetensors(rows3, "tokens", "F32"), "dtype F32"},
		{"float.json", []byte("[[50256, 1.5]]"), "row 0, position 1: 1.5 is not an integer"},
		{"oov.npy", tokenrowstest.NPY(oov, "<i8", false), "row 1, position 1: id 50257 outside the vocabulary"},
		{"oov.safetensors", tokenrowstest.Safetensors(oov, "t", "I64"), "row 1, position 1: id 50257"},
		{"oov.json", tokenrowstest.JSON(oov), "row 1, position 1: id 50257"},
		{"neg.npy", tokenrowstest.NPY([][]int32{{50256, -3}}, "<i4", false), "row 0, position 1: id -3"},
		{"ragged.json", []byte("[[50256, 1, 2], [50256, 1]]"), "row 1 has 2 ids, row 0 has 3"},
		{"emptyrow.json", []byte("[[]]"), "row 0 is empty"},
		{"norows.json", []byte("[]"), "no rows"},
		{"flat.json", []byte("[1, 2, 3]"), "row 0 is the number 1, not a list"},
		{"object.json", []byte(`{"tokens": [[1]]}`), "starts with an object"},
		{"trailing.json", []byte("[[1]] [[2]]"), "text after"},
		{"cut.json", []byte("[[50256, 1], [50256"), "row 1"},
		{"truncated.npy", good[:len(good)-5], "truncated: shape (3, 5) of <i8 needs 120 bytes of data, the file holds 115"},
		{"extra.npy", append(slices.Clone(good), 0, 0, 0, 0, 0, 0, 0, 0), "8 bytes after the array"},
		{"header.npy", good[:30], "truncated .npy header"},
		{"magic.npy", []byte("PK\x03\x04 not numpy at all"), "not a .npy file"},
		{"huge.npy", huge, "holds more than 67108864 tokens"},
		{"huge.safetensors", hugeST, "safetensors"},
		{"1d.npy", patchNPY(t, good, "(3, 5)", "(15,)"), "shape [15] has 1 dimensions, want 2"},
		{"long.npy", tokenrowstest.NPY(long, "<i8", false), "longer than the model's context of 1024"},
		{"long.json", tokenrowstest.JSON(long), "row 0 is longer than the model's context of 1024"},
		{"struct.npy", patchNPY(t, good, "'<i8'", "[('a','<i8')]"), "structured dtype"},
		{"rows.txt", []byte("1 2 3"), `unknown extension ".txt"`},
		{"two.safetensors", twoTensors(), "holds 2 tensors"},
	}
	for _, c := range cases {
		_, err := read(t, c.name, c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: the error does not name the file: %v", c.name, err)
		}
	}
	// a FIFO or a folder is refused without blocking
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d.npy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := tokenrows.Read(context.Background(), filepath.Join(dir, "d.npy"), lim); err == nil {
		t.Error("a folder read as token rows")
	}
}

// patchNPY replaces old by new in the header of a .npy file made by
// tokenrowstest.NPY, keeping the header's length (its space padding
// shrinks or grows).
func patchNPY(t *testing.T, npy []byte, old, new string) []byte {
	t.Helper()
	hlen := int(binary.LittleEndian.Uint16(npy[8:10]))
	hdr := string(npy[10 : 10+hlen])
	if !strings.Contains(hdr, old) {
		t.Fatalf("no %q in %q", old, hdr)
	}
	hdr = strings.TrimRight(strings.Replace(hdr, old, new, 1), " \n")
	hdr += strings.Repeat(" ", hlen-1-len(hdr)) + "\n"
	return append(append(slices.Clone(npy[:10]), hdr...), npy[10+hlen:]...)
}

// twoTensors is a safetensors file with two integer tensors.
func twoTensors() []byte {
	hdr := `{"a":{"dtype":"I64","shape":[1,1],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1,1],"data_offsets":[8,16]}}`
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, make([]byte, 16)...)
}

// Content errors wrap ErrInvalid; a cancelled context stops a read.
func TestReadErrInvalidAndCancel(t *testing.T) {
	_, err := read(t, "f.npy", tokenrowstest.NPY(rows3, "<f8", false))
	if !errors.Is(err, tokenrows.ErrInvalid) {
		t.Errorf("float array: %v does not wrap ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := tokenrowstest.Write(t, filepath.Join(t.TempDir(), "r.npy"), tokenrowstest.NPY(rows3, "<i8", false))
	if _, err := tokenrows.Read(ctx, p, lim); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
}

func TestIsTokenRowsFile(t *testing.T) {
	for p, want := range map[string]bool{"a.npy": true, "B.SafeTensors": true, "x/rows.json": true, "c.jsonl": false, "d.txt": false, "e": false} {
		if got := tokenrows.IsTokenRowsFile(p); got != want {
			t.Errorf("%s: %t", p, got)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := tokenrows.Check(rows3, lim); err != nil {
		t.Error(err)
	}
	small := tokenrows.Limits{Vocab: 100, MaxSeq: 4}
	for _, c := range []struct {
		rows [][]int32
		want string
	}{
		{nil, "no rows"},
		{[][]int32{{1, 2}, {}}, "row 1 is empty"},
		{[][]int32{{1, 2}, {1}}, "row 1 has 1 ids, row 0 has 2"},
		{[][]int32{{1, 2, 3, 4, 5}}, "row 0 has 5 tokens, longer than the model's context of 4"},
		{[][]int32{{1, 2}, {3, 100}}, "row 1, position 1: id 100 outside the vocabulary [0, 100)"},
	} {
		if err := tokenrows.Check(c.rows, small); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.rows, err, c.want)
		}
	}
}
