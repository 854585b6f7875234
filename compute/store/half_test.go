package store

import (
	"math"
	"testing"
)

// Every half float converts to float32 and back unchanged, and rounding a
// float32 picks the nearest half (ties to even).
func TestFloat16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := Float32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := Float16(f); back != uint16(h) {
			t.Fatalf("half %#04x -> %g -> %#04x", h, f, back)
		}
	}
	for _, v := range []float32{0.1, 0.2, 0.5, 2, 1e-6, 3.14159, 65519, -7.3, 6e-8} {
		h := Float16(v)
		got := float64(Float32(h))
		// No other half is nearer.
		for _, n := range []uint16{h - 1, h + 1} {
			alt := float64(Float32(n))
			if !math.IsNaN(alt) && math.Abs(alt-float64(v)) < math.Abs(got-float64(v)) {
				t.Errorf("Float16(%g) = %g, but %g is nearer", v, got, alt)
			}
		}
	}
	if !math.IsInf(float64(Float32(Float16(1e6))), 1) {
		t.Error("overflow is not +inf")
	}
}
