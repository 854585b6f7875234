package ui

import "testing"

func TestNOf(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 samples"}, {1, "1 sample"}, {2, "2 samples"}, {12345, "12,345 samples"}} {
		if got := nOf(c.n, "sample"); got != c.want {
			t.Errorf("nOf(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
