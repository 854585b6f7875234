package conformance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights"
)

// Families checks be's compute.FamilyOps — the SAE families' per-row
// steps — against host references written from their definitions (a
// stable sort for TopK, float64 sums for the normalisations): TopK exactly
// (ties at the k-th place, k = 1, k = width and beyond, negative-only and
// all-equal rows, wide rows), JumpReLU and Gate exactly, the normalisations
// and their inverse to float32 rounding. Full adds OpenAI's 131072-wide
// rows (a GPU).
func Families(t *testing.T, be compute.Backend, shapes Shapes) {
	fo, ok := be.(compute.FamilyOps)
	if !ok {
		t.Fatalf("%s has no compute.FamilyOps", be.Name())
	}
	rng := rand.New(rand.NewPCG(16, 3))

	type topkCase struct {
		name       string
		rows, cols int
		k          int
		gen        func(i int) float32
	}
	ints := func(lo, hi int) func(int) float32 { // many ties
		return func(int) float32 { return float32(lo + rng.IntN(hi-lo+1)) }
	}
	normal := func(int) float32 { return float32(rng.NormFloat64()) }
	relu := func(int) float32 { return max(0, float32(rng.NormFloat64())) }
	cases := []topkCase{
		{"ties", 5, 37, 7, ints(-3, 3)},
		{"k=1 ties", 4, 50, 1, ints(-2, 2)},
		{"k=1", 3, 300, 1, normal},
		{"k=width", 3, 40, 40, normal},
		{"k>width", 2, 40, 45, normal},
		{"k=0", 2, 40, 0, normal},
		{"k=width-1 ties", 3, 64, 63, ints(-1, 1)},
		{"negative only", 3, 100, 10, func(int) float32 { return -1 - float32(rng.Float64()) }},
		{"negative only, ties", 2, 100, 10, func(int) float32 { return -2 }},
		{"all equal", 3, 700, 5, func(int) float32 { return 0.75 }},
		{"fewer positives than k", 3, 200, 50, func(i int) float32 {
			if i%10 == 0 {
				return float32(rng.Float64())
			}
			return -float32(rng.Float64())
		}},
		{"zeros tie", 2, 200, 50, relu},
		{"subnormal and huge", 2, 97, 9, func(i int) float32 {
			return []float32{math.SmallestNonzeroFloat32, 3e38, -3e38, 1e-40, 1, 0, float32(math.Copysign(0, -1))}[rng.IntN(7)]
		}},
		{"wide", 2, 40000, 32, normal},
		{"wide, k=1", 1, 40000, 1, normal},
		{"wide ties", 2, 40000, 100, ints(-50, 50)},
		{"wide, ties at the end", 1, 40000, 3, func(i int) float32 { return []float32{0, 2}[btoi(i >= 39990)] }},
	}
	if shapes == Full {
		cases = append(cases,
			topkCase{"128k", 64, 131072, 32, normal},
			topkCase{"128k ties", 8, 131072, 256, ints(-200, 200)})
	}
	for _, c := range cases {
		data := make([]float32, c.rows*c.cols)
		for i := range data {
			data[i] = c.gen(i % c.cols)
		}
		x := upload(t, be, c.rows, c.cols, data)
		fo.TopKRows(x, c.k)
		got := read(be, x)
		be.Free(x)
		want := make([]float32, len(data))
		for r := 0; r < c.rows; r++ {
			topKReference(want[r*c.cols:(r+1)*c.cols], data[r*c.cols:(r+1)*c.cols], c.k)
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("TopKRows %s (%dx%d, k %d): at row %d column %d got %g, want %g (input %g)",
				c.name, c.rows, c.cols, c.k, i/c.cols, i%c.cols, got[i], want[i], data[i])
		}
	}

	// JumpReLU: thresholds include the values themselves (not kept).
	{
		rows, cols := 6, 53
		data := randn(rng, rows*cols, 1)
		th := randn(rng, cols, 0.5)
		th[3], th[4] = data[3], data[cols+4]
		x, tt := upload(t, be, rows, cols, data), upload(t, be, 1, cols, th)
		fo.JumpReLU(x, tt)
		got := read(be, x)
		be.Free(x)
		be.Free(tt)
		want := slices.Clone(data)
		for i, v := range want {
			if !(v > th[i%cols] && v > 0) {
				want[i] = 0
			}
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("JumpReLU: at %d got %g, want %g", i, got[i], want[i])
		}
	}

	// Gate: gates of 0 close.
	{
		rows, cols := 5, 41
		mag, gv := randn(rng, rows*cols, 1), randn(rng, rows*cols, 1)
		gv[7] = 0
		m, g := upload(t, be, rows, cols, mag), upload(t, be, rows, cols, gv)
		fo.Gate(m, g)
		got := read(be, m)
		be.Free(m)
		be.Free(g)
		want := slices.Clone(mag)
		for i := range want {
			if gv[i] > 0 {
				want[i] = max(want[i], 0)
			} else {
				want[i] = 0
			}
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("Gate: at %d got %g, want %g", i, got[i], want[i])
		}
	}

	// NormalizeRows and DenormalizeRows: rows with an offset, a zero row,
	// and one-column rows (σ = 0).
	const eps = 1e-5
	for _, norm := range []compute.RowNorm{compute.RowLayerNorm, compute.RowRescale} {
		for _, cols := range []int{1, 7, 768} {
			rows := 4
			data := randn(rng, rows*cols, 3)
			for j := 0; j < cols; j++ {
				data[j] += 5     // offset
				data[cols+j] = 0 // zero row
			}
			x := upload(t, be, rows, cols, data)
			dst, stats := be.Alloc(rows, cols), be.Alloc(rows, 2)
			fo.NormalizeRows(dst, x, stats, norm, eps)
			wantOut, wantStats := normalizeReference(data, cols, norm, eps)
			what := fmt.Sprintf("NormalizeRows %v, %d columns", norm, cols)
			expect(t, what, read(be, dst), wantOut, 1e-5)
			expect(t, what+": stats", read(be, stats), wantStats, 1e-6)
			fo.DenormalizeRows(dst, stats)
			expect(t, "DenormalizeRows of "+what, read(be, dst), data, 1e-5)
			fo.NormalizeRows(x, x, stats, norm, eps) // in place
			expect(t, what+" in place", read(be, x), wantOut, 1e-5)
			for _, u := range []compute.Tensor{x, dst, stats} {
				be.Free(u)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func upload(t testing.TB, be compute.Backend, rows, cols int, data []float32) compute.Tensor {
	t.Helper()
	x, err := be.Upload(weights.Tensor{Shape: []int{rows, cols}, Data: slices.Clone(data)})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// firstDiff returns the first index where got and want differ (as values:
// 0 and -0 are equal), or -1.
func firstDiff(got, want []float32) int {
	if len(got) != len(want) {
		return 0
	}
	for i := range got {
		if got[i] != want[i] {
			return i
		}
	}
	return -1
}

// topKReference writes to dst the k largest entries of h (lower index first
// among equals) through ReLU, every other entry 0: a stable sort.
func topKReference(dst, h []float32, k int) {
	idx := make([]int, len(h))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case h[a] > h[b]:
			return -1
		case h[a] < h[b]:
			return 1
		}
		return 0
	})
	clear(dst)
	for _, i := range idx[:max(0, min(k, len(h)))] {
		dst[i] = max(h[i], 0)
	}
}

// normalizeReference is compute.FamilyOps.NormalizeRows in float64.
func normalizeReference(x []float32, d int, norm compute.RowNorm, eps float64) (out, stats []float32) {
	rows := len(x) / d
	out, stats = make([]float32, len(x)), make([]float32, 2*rows)
	for r := 0; r < rows; r++ {
		in := x[r*d : (r+1)*d]
		shift, scale := 0.0, 1.0
		switch norm {
		case compute.RowLayerNorm:
			for _, v := range in {
				shift += float64(v)
			}
			shift /= float64(d)
			var ss float64
			for _, v := range in {
				ss += (float64(v) - shift) * (float64(v) - shift)
			}
			sd := 0.0
			if d > 1 {
				sd = math.Sqrt(ss / float64(d-1))
			}
			scale = 1 / (sd + eps)
		case compute.RowRescale:
			var ss float64
			for _, v := range in {
				ss += float64(v) * float64(v)
			}
			if ss > 0 {
				scale = math.Sqrt(float64(d)) / math.Sqrt(ss)
			}
		}
		for j, v := range in {
			out[r*d+j] = float32((float64(v) - shift) * scale)
		}
		stats[2*r], stats[2*r+1] = float32(shift), float32(scale)
	}
	return out, stats
}
