package weights

import (
	"math"
	"testing"
)

// TestHalfToFloat32 checks every binary16 value against math.Ldexp.
func TestHalfToFloat32(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got := HalfToFloat32(uint16(h))
		exp, mant := (h>>10)&0x1f, h&0x3ff
		var want float64
		switch {
		case exp == 0x1f && mant != 0:
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%#04x: %v, want NaN", h, got)
			}
			continue
		case exp == 0x1f:
			want = math.Inf(1)
		case exp == 0:
			want = math.Ldexp(float64(mant), -24)
		default:
			want = math.Ldexp(float64(mant|0x400), exp-25)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if float64(got) != want || math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Fatalf("%#04x: %v, want %v", h, got, want)
		}
	}
}

// Every half float converts to float32 and back unchanged, and rounding a
// float32 picks the nearest half (ties to even).
func TestFloat32ToHalf(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := HalfToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := Float32ToHalf(f); back != uint16(h) {
			t.Fatalf("half %#04x -> %g -> %#04x", h, f, back)
		}
	}
	for _, v := range []float32{0.1, 0.2, 0.5, 2, 1e-6, 3.14159, 65519, -7.3, 6e-8} {
		h := Float32ToHalf(v)
		got := float64(HalfToFloat32(h))
		// No other half is nearer.
		for _, n := range []uint16{h - 1, h + 1} {
			alt := float64(HalfToFloat32(n))
			if !math.IsNaN(alt) && math.Abs(alt-float64(v)) < math.Abs(got-float64(v)) {
				t.Errorf("Float16(%g) = %g, but %g is nearer", v, got, alt)
			}
		}
	}
	if !math.IsInf(float64(HalfToFloat32(Float32ToHalf(1e6))), 1) {
		t.Error("overflow is not +inf")
	}
}
