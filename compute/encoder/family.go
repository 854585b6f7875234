package encoder

import (
	"math"
	"runtime"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/parallel"
	"github.com/saescope/saescope/weights/sae"
)

// This file runs what differs between SAE families, row by row on host
// memory: the activation functions after the encoder's matrix product
// (TopK, JumpReLU, Gated) and the input normalisations. On the CPU the rows
// are the backend's own memory (compute.HostData); on a backend with
// compute.FamilyOps (the CUDA engine) the encoder calls those instead, and
// nothing crosses to the host; on any other backend the rows are read back,
// changed and written again.

// onHost runs fn on t's values: in place on a host backend, else on a copy
// written back afterwards.
func onHost(be compute.Backend, t compute.Tensor, fn func(v []float32)) {
	if h, ok := be.(compute.HostData); ok {
		fn(h.HostData(t))
		return
	}
	v := make([]float32, t.Rows()*t.Cols())
	be.Read(t, v)
	fn(v)
	be.Write(t, v)
}

// eachRow runs fn on each row of v (rows of cols values), in parallel
// over ranges of rows; scratch is a buffer of cols values private to the
// range.
func eachRow(v []float32, cols int, fn func(row, scratch []float32)) {
	rows := len(v) / cols
	parallel.Ranges(runtime.GOMAXPROCS(0), rows, func(_, lo, hi int) {
		scratch := make([]float32, 0, cols)
		for r := lo; r < hi; r++ {
			fn(v[r*cols:(r+1)*cols], scratch)
		}
	})
}

// topK adds bias (when not nil) to h, then keeps the k largest entries of
// h, through ReLU, and zeroes the rest. Among equal values at the k-th
// place the lower indices are kept.
func topK(h, bias []float32, k int, scratch []float32) {
	if k >= len(h) {
		for i, v := range h {
			if bias != nil {
				v += bias[i]
			}
			h[i] = max(v, 0)
		}
		return
	}
	s := candidates(h, bias, k, scratch)
	kth := selectKth(s, k) // the k-th largest value
	above := 0             // every entry above kth is a candidate
	for _, v := range s {
		if v > kth {
			above++
		}
	}
	ties := k - above // entries equal to kth that are kept
	for i, v := range h {
		switch {
		case v > kth:
			h[i] = max(v, 0)
		case v == kth && ties > 0:
			h[i] = max(v, 0)
			ties--
		case v != v:
			// NaN (an encoder that overflowed) is kept, for the scan to
			// report, not silently dropped
		default:
			h[i] = 0
		}
	}
}

// candidates adds bias (when not nil) to h and returns, in scratch, the
// entries of h (k < len(h)) that may be among its k largest: those at least t, the smallest of the maxima of
// at most k blocks of h. When at least k entries reach t, the
// k-th largest does too, so it is the candidates' k-th largest; otherwise
// (fewer than k blocks, NaN) the candidates are all of h. For a TopK
// SAE's 32 of 32,768 features a few dozen entries go to the quickselect,
// which took the whole row (2.8× faster).
func candidates(h, bias []float32, k int, scratch []float32) []float32 {
	n := len(h)
	size := (n + k - 1) / k
	t := float32(math.Inf(1))
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		m := float32(math.Inf(-1))
		if bias != nil {
			b := bias[lo:hi]
			blk := h[lo:hi]
			b = b[:len(blk)]
			for i, v := range blk {
				v += b[i]
				blk[i] = v
				if v > m { // NaN is never a block's maximum
					m = v
				}
			}
		} else {
			for _, v := range h[lo:hi] {
				if v > m {
					m = v
				}
			}
		}
		if m < t {
			t = m
		}
	}
	s := scratch[:0]
	for _, v := range h {
		if v >= t {
			s = append(s, v)
		}
	}
	if len(s) < k {
		return append(scratch[:0], h...)
	}
	return s
}

// selectKth returns the k-th largest value of s (1 ≤ k ≤ len(s)),
// reordering s (quickselect, median-of-three pivots; NaN-free input).
func selectKth(s []float32, k int) float32 {
	lo, hi, want := 0, len(s)-1, k-1 // want: index in descending order
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three to the end as the pivot
		if s[mid] > s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] > s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[mid] > s[hi] {
			s[mid], s[hi] = s[hi], s[mid]
		}
		p := s[hi]
		// three-way partition, descending: > p | == p | < p
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch {
			case s[i] > p:
				s[lt], s[i] = s[i], s[lt]
				lt++
				i++
			case s[i] < p:
				s[i], s[gt] = s[gt], s[i]
				gt--
			default:
				i++
			}
		}
		switch {
		case want < lt:
			hi = lt - 1
		case want > gt:
			lo = gt + 1
		default:
			return p
		}
	}
	return s[lo]
}

// addTo adds b to h, entry by entry.
func addTo(h, b []float32) {
	b = b[:len(h)]
	for i := range h {
		h[i] += b[i]
	}
}

// jumpReLU adds bias (when not nil) to h, then sets h[i] = h[i] where
// h[i] > threshold[i] (and > 0), else 0; a NaN stays, for the scan to
// report.
func jumpReLU(h, bias, threshold []float32) {
	if bias != nil {
		addTo(h, bias)
	}
	for i, v := range h {
		if !(v > threshold[i] && v > 0) && v == v {
			h[i] = 0
		}
	}
}

// gate sets mag[i] = ReLU(mag[i]) where gate[i] > 0, else 0; a NaN in
// either stays NaN, for the scan to report.
func gate(mag, gate []float32) {
	for i, g := range gate {
		switch {
		case g != g || mag[i] != mag[i]:
			mag[i] = float32(math.NaN())
		case g > 0:
			mag[i] = max(mag[i], 0)
		default:
			mag[i] = 0
		}
	}
}

// rowNorm is what a normalisation did to each row, to undo on the output:
// x̂ = (x − shift)·scale, so x = x̂/scale + shift. The host path keeps
// shift and scale here; the compute.FamilyOps path keeps them on the
// backend, in stats ([rows, 2]: shift, scale).
type rowNorm struct {
	shift, scale []float64
	stats        compute.Tensor
}

// undo undoes st on t (rows × d) in place, where st's numbers are.
func (st rowNorm) undo(be compute.Backend, t compute.Tensor, d int) {
	if st.stats != nil {
		be.(compute.FamilyOps).DenormalizeRows(t, st.stats)
		return
	}
	onHost(be, t, func(v []float32) { st.denormalize(v, d) })
}

// release frees what st holds on the backend.
func (st rowNorm) release(be compute.Backend) {
	if st.stats != nil {
		be.Free(st.stats)
	}
}

// rowNormOf maps a run-time normalisation (needsNorm) to its
// compute.FamilyOps mode.
func rowNormOf(n sae.Normalization) compute.RowNorm {
	if n == sae.NormLayerNorm {
		return compute.RowLayerNorm
	}
	return compute.RowRescale
}

// normalize writes the normalised rows of x into dst (both rows × d) as
// norm says and returns what it did.
func normalize(norm sae.Normalization, dst, x []float32, d int) rowNorm {
	rows := len(x) / d
	st := rowNorm{shift: make([]float64, rows), scale: make([]float64, rows)}
	parallel.Ranges(runtime.GOMAXPROCS(0), rows, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			in, out := x[r*d:(r+1)*d], dst[r*d:(r+1)*d]
			var shift, scale float64
			switch norm {
			case sae.NormLayerNorm: // SAELens: unbiased std, ε added to it
				var sum float64
				for _, v := range in {
					sum += float64(v)
				}
				shift = sum / float64(d)
				var ss float64
				for _, v := range in {
					c := float64(v) - shift
					ss += c * c
				}
				std := 0.0
				if d > 1 {
					std = math.Sqrt(ss / float64(d-1))
				}
				scale = 1 / (std + sae.LayerNormEps)
			case sae.NormConstantRescale: // x·√d/‖x‖
				var ss float64
				for _, v := range in {
					ss += float64(v) * float64(v)
				}
				scale = 1
				if ss > 0 {
					scale = math.Sqrt(float64(d)) / math.Sqrt(ss)
				}
			default:
				scale = 1
			}
			for j, v := range in {
				out[j] = float32((float64(v) - shift) * scale)
			}
			st.shift[r], st.scale[r] = shift, scale
		}
	})
	return st
}

// denormalize undoes st on v (rows × d) in place.
func (st rowNorm) denormalize(v []float32, d int) {
	for r := range st.shift {
		row := v[r*d : (r+1)*d]
		for j, x := range row {
			row[j] = float32(float64(x)/st.scale[r] + st.shift[r])
		}
	}
}

// needsNorm says whether a normalisation is done at run time
// (expected_average_only_in is folded into the weights at load).
func needsNorm(n sae.Normalization) bool {
	return n == sae.NormLayerNorm || n == sae.NormConstantRescale
}

// parallelRows runs fn for each of rows rows, in parallel over ranges.
func parallelRows(rows int, fn func(r int)) {
	parallel.Ranges(runtime.GOMAXPROCS(0), rows, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			fn(r)
		}
	})
}
