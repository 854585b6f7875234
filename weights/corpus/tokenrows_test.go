package corpus

import (
	"slices"
	"strings"
	"testing"
)

// Exact token rows keep their order; their hash depends on the ids alone
// (not on the file) and differs from any change of them, and from the
// hash of rows cut from text.
func TestFromTokenRows(t *testing.T) {
	rows := [][]int32{{50256, 3, 4}, {50256, 5, 6}}
	a, err := FromTokenRows("a.npy", rows)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromTokenRows("", [][]int32{{50256, 3, 4}, {50256, 5, 6}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash || !a.TokenRows || a.NoBOS || a.Path != "a.npy" || a.Options.SeqLen != 3 || a.Options.Rows != 2 || !a.Options.NoShuffle {
		t.Errorf("corpus %+v, hash of the same rows %s", a, b.Hash)
	}
	if !slices.EqualFunc(a.Rows, rows, slices.Equal) {
		t.Errorf("rows %v", a.Rows)
	}
	if _, err := a.WithoutBOS(); err == nil {
		t.Error("rows without BOS made from exact BOS rows")
	}
	for _, other := range [][][]int32{{{50256, 3, 4}, {50256, 5, 7}}, {{50256, 5, 6}, {50256, 3, 4}}, {{50256, 3, 4}}, {{50256, 3}, {50256, 4}, {50256, 5}}} {
		c, err := FromTokenRows("a.npy", other)
		if err != nil {
			t.Fatal(err)
		}
		if c.Hash == a.Hash {
			t.Errorf("rows %v hash as %v", other, rows)
		}
	}
	// the same ids cut from a stream have another hash
	if h := hashRows(Options{SeqLen: 3, Rows: 2, NoShuffle: true}, false, rows); h == a.Hash {
		t.Error("token rows hash as text rows")
	}
	nb, err := FromTokenRows("", [][]int32{{3, 4}, {5, 50256}})
	if err != nil || !nb.NoBOS {
		t.Fatalf("rows without BOS: %+v %v", nb, err)
	}
	if w, err := nb.WithoutBOS(); err != nil || w != nb {
		t.Errorf("WithoutBOS of rows without BOS: %v %v", w, err)
	}
	for _, c := range []struct {
		rows [][]int32
		want string
	}{
		{nil, "no rows"},
		{[][]int32{{}}, "row 0 is empty"},
		{[][]int32{{50256, 1}, {50256}}, "row 1 has 1 tokens, row 0 has 2"},
		{[][]int32{{50256, 1}, {7, 1}}, "row 1 starts with token 7 and row 0 with BOS (50256)"},
	} {
		if _, err := FromTokenRows("", c.rows); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.rows, err, c.want)
		}
	}
}
