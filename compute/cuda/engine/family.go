package engine

import (
	"fmt"

	"github.com/saescope/saescope/compute"
)

// The SAE families' per-row steps on the device (compute.FamilyOps), so
// that an encoder's activations never leave it between the matrix products
// of a scan. Each is one launch of a kernel of kernels.cu.

// TopKRows implements compute.FamilyOps: one block per row, an exact radix
// select on the float bits (see topk_rows in kernels.cu).
func (b *Backend) TopKRows(x compute.Tensor, k int) {
	m := mat(x)
	if m.n() == 0 {
		return
	}
	k = max(0, min(k, m.cols)) // k ≥ cols keeps every entry through ReLU
	defer b.enter()()
	g, bl := perRow(m.rows, m.cols)
	b.dev.Launch(TopKRows, g, bl, p(m.p), i32(m.rows), i32(m.cols), i32(k))
}

// JumpReLU implements compute.FamilyOps.
func (b *Backend) JumpReLU(x, threshold compute.Tensor) {
	m, th := mat(x), mat(threshold)
	if m.n() == 0 {
		return
	}
	if th.n() != m.cols {
		panic(fmt.Sprintf("cuda backend: JumpReLU of %d columns with %d thresholds", m.cols, th.n()))
	}
	defer b.enter()()
	g, bl := elementwise(m.n())
	b.dev.Launch(JumpReLU, g, bl, p(m.p), p(th.p), i64(m.rows), i32(m.cols))
}

// Gate implements compute.FamilyOps.
func (b *Backend) Gate(mag, gate compute.Tensor) {
	m, gt := mat(mag), mat(gate)
	if m.rows != gt.rows || m.cols != gt.cols {
		panic(fmt.Sprintf("cuda backend: gate of %dx%d magnitudes by %dx%d gates", m.rows, m.cols, gt.rows, gt.cols))
	}
	if m.n() == 0 {
		return
	}
	defer b.enter()()
	g, bl := elementwise(m.n())
	b.dev.Launch(Gate, g, bl, p(m.p), p(gt.p), i64(m.n()))
}

// Modes of normalize_rows (NORM_LAYER, NORM_RESCALE in kernels.cu).
const (
	normLayer   = 1
	normRescale = 2
)

// NormalizeRows implements compute.FamilyOps (one block per row, float64
// sums).
func (b *Backend) NormalizeRows(dst, x, stats compute.Tensor, norm compute.RowNorm, eps float32) {
	d, m, st := mat(dst), mat(x), mat(stats)
	if d.rows != m.rows || d.cols != m.cols || st.rows != m.rows || st.cols != 2 {
		panic(fmt.Sprintf("cuda backend: normalize %dx%d into %dx%d with %dx%d stats", m.rows, m.cols, d.rows, d.cols, st.rows, st.cols))
	}
	var mode int
	switch norm {
	case compute.RowLayerNorm:
		mode = normLayer
	case compute.RowRescale:
		mode = normRescale
	default:
		panic(fmt.Sprintf("cuda backend: row normalisation %d", norm))
	}
	if m.n() == 0 {
		return
	}
	defer b.enter()()
	g, bl := perRow(m.rows, m.cols)
	b.dev.Launch(NormalizeRows, g, bl, p(d.p), p(st.p), p(m.p), i32(m.rows), i32(m.cols), i32(mode), f32(eps))
}

// DenormalizeRows implements compute.FamilyOps.
func (b *Backend) DenormalizeRows(x, stats compute.Tensor) {
	m, st := mat(x), mat(stats)
	if st.rows != m.rows || st.cols != 2 {
		panic(fmt.Sprintf("cuda backend: denormalize %dx%d with %dx%d stats", m.rows, m.cols, st.rows, st.cols))
	}
	if m.n() == 0 {
		return
	}
	defer b.enter()()
	g, bl := elementwise(m.n())
	b.dev.Launch(DenormalizeRows, g, bl, p(m.p), p(st.p), i64(m.rows), i32(m.cols))
}

var _ compute.FamilyOps = (*Backend)(nil)
