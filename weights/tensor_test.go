package weights

import (
	"math"
	"strings"
	"testing"
)

func TestCheckFinite(t *testing.T) {
	ok := Tensor{Shape: []int{2, 3}, Data: []float32{0, -1, 3e38, -3e38, math.SmallestNonzeroFloat32, 1}}
	if err := ok.CheckFinite("W_enc"); err != nil {
		t.Fatalf("finite tensor refused: %v", err)
	}
	for _, c := range []struct {
		v    float32
		at   int
		want string
	}{
		{float32(math.NaN()), 4, "tensor W_enc: element [1, 1] is NaN"},
		{float32(math.Inf(1)), 2, "tensor W_enc: element [0, 2] is +Inf"},
		{float32(math.Inf(-1)), 5, "tensor W_enc: element [1, 2] is -Inf"},
	} {
		bad := Tensor{Shape: []int{2, 3}, Data: append([]float32{}, ok.Data...)}
		bad.Data[c.at] = c.v
		bad.Data[5] = c.v // a later bad element is not the one reported, unless it is the first
		if c.at == 5 {
			bad.Data[5] = c.v
		}
		err := bad.CheckFinite("W_enc")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v at %d: got %v, want %q", c.v, c.at, err, c.want)
		}
	}
	scalar := Tensor{Data: []float32{float32(math.NaN())}}
	if err := scalar.CheckFinite("s"); err == nil || !strings.Contains(err.Error(), "element [] is NaN") {
		t.Errorf("scalar: %v", err)
	}
}
