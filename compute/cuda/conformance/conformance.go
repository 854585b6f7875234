// Package conformance checks a compute.Backend against the CPU backend and
// the parity fixtures. The same checks run on the CUDA kernel emulator in
// every build (compute/cuda/kernels tests) and on a real GPU under the cuda
// build tag (compute/cuda tests), so what the GPU session runs has already
// been exercised here, minus the device itself.
package conformance

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// Sparse is the device-side sparse read-back of the CUDA backend (what the
// scan uses instead of reading dense feature rows).
type Sparse interface {
	SparseRows(t compute.Tensor, ptr []uint64, ids []uint32, vals []float32) ([]uint64, []uint32, []float32)
	RowSumSquares(t compute.Tensor, dst []float64)
}

// Diff is the largest absolute and scaled (|got-want|/max(1,|want|))
// difference between two arrays.
type Diff struct {
	MaxAbs, MaxScaled float64
	At                int
	N                 int
}

func (d Diff) String() string {
	return fmt.Sprintf("max |Δ| %.3g (scaled %.3g) at %d of %d", d.MaxAbs, d.MaxScaled, d.At, d.N)
}

// Compare returns the differences of got from want (NaN counts as infinite).
func Compare(got, want []float32) Diff {
	d := Diff{N: len(want)}
	if len(got) != len(want) {
		return Diff{MaxAbs: math.Inf(1), MaxScaled: math.Inf(1), N: len(want)}
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		a := math.Abs(g - w)
		if math.IsNaN(a) {
			if math.IsNaN(g) && math.IsNaN(w) {
				continue
			}
			a = math.Inf(1)
		}
		s := a / math.Max(1, math.Abs(w))
		if a > d.MaxAbs {
			d.MaxAbs, d.At = a, i
		}
		d.MaxScaled = math.Max(d.MaxScaled, s)
	}
	return d
}

// expect fails t when the scaled difference exceeds tol.
func expect(t testing.TB, what string, got, want []float32, tol float64) Diff {
	t.Helper()
	d := Compare(got, want)
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return d
	}
	if d.MaxScaled > tol || math.IsInf(d.MaxAbs, 0) {
		t.Errorf("%s: %v (got %g, want %g), tolerance %g", what, d, got[d.At], want[d.At], tol)
	}
	return d
}

// pair holds a tensor on the backend under test and its CPU twin.
type pair struct {
	be, ref compute.Backend
}

func (p pair) upload(t testing.TB, rows, cols int, data []float32) (compute.Tensor, compute.Tensor) {
	t.Helper()
	w := weights.Tensor{Shape: []int{rows, cols}, Data: data}
	a, err := p.be.Upload(w)
	if err != nil {
		t.Fatal(err)
	}
	c := append([]float32(nil), data...)
	b, err := p.ref.Upload(weights.Tensor{Shape: []int{rows, cols}, Data: c})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func (p pair) alloc(rows, cols int) (compute.Tensor, compute.Tensor) {
	return p.be.Alloc(rows, cols), p.ref.Alloc(rows, cols)
}

func read(be compute.Backend, x compute.Tensor) []float32 {
	out := make([]float32, x.Rows()*x.Cols())
	be.Read(x, out)
	return out
}

func (p pair) check(t testing.TB, what string, a, b compute.Tensor, tol float64) Diff {
	t.Helper()
	return expect(t, what, read(p.be, a), read(p.ref, b), tol)
}

func randn(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// Shapes chooses the sizes the checks use.
type Shapes int

const (
	// Small shapes only: quick enough for the emulator.
	Small Shapes = iota
	// Full adds GPT-2 small's shapes (a GPU).
	Full
)

// Ops checks every primitive of be against the CPU backend on random data.
func Ops(t *testing.T, be compute.Backend, shapes Shapes) {
	ref, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	p := pair{be, ref}
	rng := rand.New(rand.NewPCG(7, 9))
	const tol = 1e-4

	t.Run("alloc-read-write-views", func(t *testing.T) {
		x := be.Alloc(5, 7)
		if got := read(be, x); Compare(got, make([]float32, 35)).MaxAbs != 0 {
			t.Errorf("Alloc not zeroed: %v", got)
		}
		data := randn(rng, 35, 1)
		be.Write(x, data)
		expect(t, "write/read", read(be, x), data, 0)
		v := be.RowsView(x, 2, 4)
		if v.Rows() != 2 || v.Cols() != 7 {
			t.Errorf("view shape %dx%d", v.Rows(), v.Cols())
		}
		expect(t, "view read", read(be, v), data[14:28], 0)
		be.Write(v, make([]float32, 14))
		want := append([]float32(nil), data...)
		clear(want[14:28])
		expect(t, "view write", read(be, x), want, 0)
		be.Fill(v, 2.5)
		for i := 14; i < 28; i++ {
			want[i] = 2.5
		}
		expect(t, "fill view", read(be, x), want, 0)
		y := be.Alloc(5, 7)
		be.Copy(y, x)
		expect(t, "copy", read(be, y), want, 0)
		be.Free(v) // a view: no effect
		expect(t, "after freeing a view", read(be, x), want, 0)
		be.Free(x)
		be.Free(y)
		e := be.Alloc(0, 768)
		be.Free(e)
		if _, err := be.Upload(weights.Tensor{Shape: []int{2, 2, 2}, Data: make([]float32, 8)}); err == nil {
			t.Error("3-D upload accepted")
		}
		u, err := be.Upload(weights.Tensor{Shape: []int{6}, Data: data[:6]})
		if err != nil {
			t.Fatal(err)
		}
		if u.Rows() != 1 || u.Cols() != 6 {
			t.Errorf("1-D upload is %dx%d", u.Rows(), u.Cols())
		}
		expect(t, "1-D upload", read(be, u), data[:6], 0)
	})

	t.Run("gather", func(t *testing.T) {
		for _, sh := range [][2]int{{50, 17}, {300, 768}} {
			tab, tabR := p.upload(t, sh[0], sh[1], randn(rng, sh[0]*sh[1], 1))
			ids := make([]int32, 13)
			for i := range ids {
				ids[i] = int32(rng.IntN(sh[0]))
			}
			d, dR := p.alloc(16, sh[1])
			be.Gather(d, tab, ids)
			ref.Gather(dR, tabR, ids)
			p.check(t, fmt.Sprint("gather ", sh), d, dR, 0)
		}
	})

	type mm struct{ m, k, n int }
	mms := []mm{{1, 1, 1}, {5, 7, 3}, {33, 64, 50}, {17, 32, 96}}
	if shapes == Full {
		mms = append(mms, mm{512, 768, 2304}, mm{512, 3072, 768}, mm{64, 768, 50257})
	}
	t.Run("matmul", func(t *testing.T) {
		for _, s := range mms {
			a, aR := p.upload(t, s.m, s.k, randn(rng, s.m*s.k, 1))
			w, wR := p.upload(t, s.k, s.n, randn(rng, s.k*s.n, 0.1))
			bias, biasR := p.upload(t, 1, s.n, randn(rng, s.n, 1))
			d, dR := p.alloc(s.m, s.n)
			be.Fill(d, float32(math.NaN())) // beta = 0 must ignore what is there
			be.MatMul(d, a, w, nil)
			ref.MatMul(dR, aR, wR, nil)
			p.check(t, fmt.Sprint("matmul ", s), d, dR, tol)
			be.MatMul(d, a, w, bias)
			ref.MatMul(dR, aR, wR, biasR)
			p.check(t, fmt.Sprint("matmul+bias ", s), d, dR, tol)
			// Row views as operands and destination.
			if s.m > 2 {
				av, avR := be.RowsView(a, 1, s.m-1), ref.RowsView(aR, 1, s.m-1)
				dv, dvR := be.RowsView(d, 1, s.m-1), ref.RowsView(dR, 1, s.m-1)
				be.MatMul(dv, av, w, bias)
				ref.MatMul(dvR, avR, wR, biasR)
				p.check(t, fmt.Sprint("matmul on views ", s), d, dR, tol)
			}
			// a·bᵀ with b = [n, k].
			bt, btR := p.upload(t, s.n, s.k, randn(rng, s.n*s.k, 0.1))
			be.MatMulTransB(d, a, bt)
			ref.MatMulTransB(dR, aR, btR)
			p.check(t, fmt.Sprint("matmul a·bᵀ ", s), d, dR, tol)
			for _, x := range []compute.Tensor{a, w, bias, d, bt} {
				be.Free(x)
			}
		}
	})

	t.Run("elementwise", func(t *testing.T) {
		for _, sh := range [][2]int{{1, 1}, {3, 5}, {37, 70}, {130, 768}} {
			r, c := sh[0], sh[1]
			data := randn(rng, r*c, 3)
			// Large and special inputs for gelu.
			for i, v := range []float32{0, -0, 10, -10, 30, -30, 1e-3, -5.5} {
				if i < len(data) {
					data[i] = v
				}
			}
			a, aR := p.upload(t, r, c, data)
			b, bR := p.upload(t, r, c, randn(rng, r*c, 1))
			d, dR := p.alloc(r, c)
			be.Add(d, a, b)
			ref.Add(dR, aR, bR)
			p.check(t, fmt.Sprint("add ", sh), d, dR, 0)
			be.Add(a, a, b) // dst aliases a
			ref.Add(aR, aR, bR)
			p.check(t, fmt.Sprint("add in place ", sh), a, aR, 0)
			be.Write(a, data)
			ref.Write(aR, data)
			be.GeluNew(a)
			ref.GeluNew(aR)
			p.check(t, fmt.Sprint("gelu_new ", sh), a, aR, 1e-5)
			row, rowR := p.upload(t, 1, c, randn(rng, c, 1))
			be.FillRows(d, row)
			ref.FillRows(dR, rowR)
			p.check(t, fmt.Sprint("fill rows ", sh), d, dR, 0)
			be.Fill(d, -1.25)
			ref.Fill(dR, -1.25)
			p.check(t, fmt.Sprint("fill ", sh), d, dR, 0)
			be.Write(a, data)
			ref.Write(aR, data)
			m, mR := p.alloc(1, c)
			be.MeanRows(m, a)
			ref.MeanRows(mR, aR)
			p.check(t, fmt.Sprint("mean rows ", sh), m, mR, 1e-6)
			be.CenterRows(a)
			ref.CenterRows(aR)
			p.check(t, fmt.Sprint("center rows ", sh), a, aR, 1e-5)
			w, wR := p.upload(t, 1, c, randn(rng, c, 1))
			bb, bbR := p.upload(t, 1, c, randn(rng, c, 1))
			be.Write(a, data)
			ref.Write(aR, data)
			be.LayerNorm(d, a, w, bb, 1e-5)
			ref.LayerNorm(dR, aR, wR, bbR, 1e-5)
			p.check(t, fmt.Sprint("layernorm ", sh), d, dR, 1e-4)
			for _, x := range []compute.Tensor{a, b, d, row, m, w, bb} {
				be.Free(x)
			}
		}
		// LayerNorm of a constant row: variance 0, output = b.
		a, aR := p.upload(t, 2, 32, func() []float32 {
			v := make([]float32, 64)
			for i := range v {
				v[i] = 3
			}
			return v
		}())
		w, wR := p.upload(t, 1, 32, randn(rng, 32, 1))
		bb, bbR := p.upload(t, 1, 32, randn(rng, 32, 1))
		d, dR := p.alloc(2, 32)
		be.LayerNorm(d, a, w, bb, 1e-5)
		ref.LayerNorm(dR, aR, wR, bbR, 1e-5)
		p.check(t, "layernorm of a constant row", d, dR, 1e-5)
	})

	// The fused residual write and bias + gelu_new (where the backend has
	// them): against the CPU's, and against the backend's own separate
	// steps to the bit, as the model's fused passes need.
	t.Run("fused", func(t *testing.T) {
		adder, okA := be.(compute.ResidualAdder)
		gelu, okG := be.(compute.BiasGeluer)
		if !okA && !okG {
			t.Skipf("%s has no fused kernels", be.Name())
		}
		refAdder, refGelu := compute.Backend(ref).(compute.ResidualAdder), compute.Backend(ref).(compute.BiasGeluer)
		for _, sh := range [][3]int{{1, 1, 3}, {3, 5, 4}, {37, 70, 9}, {130, 768, 64}} {
			r, c, k := sh[0], sh[1], sh[2]
			x, xR := p.upload(t, r, k, randn(rng, r*k, 1))
			wt, wtR := p.upload(t, k, c, randn(rng, k*c, 0.5))
			bias, biasR := p.upload(t, 1, c, randn(rng, c, 1))
			residData := randn(rng, r*c, 2)
			lw, lwR := p.upload(t, 1, c, randn(rng, c, 1))
			lb, lbR := p.upload(t, 1, c, randn(rng, c, 1))
			for _, centre := range []bool{false, true} {
				for _, withLN := range []bool{false, true} {
					for _, withBias := range []bool{false, true} {
						what := fmt.Sprintf("residual write %v centre %v ln %v bias %v", sh, centre, withLN, withBias)
						if !okA {
							continue
						}
						var bs, bsR compute.Tensor
						if withBias {
							bs, bsR = bias, biasR
						}
						// fused, on the backend and the CPU
						resid, residR := p.upload(t, r, c, residData)
						delta, deltaR := p.alloc(r, c)
						ln, lnR := p.alloc(r, c)
						be.MatMul(delta, x, wt, nil)
						ref.MatMul(deltaR, xR, wtR, nil)
						var lnT, lnTR compute.Tensor
						if withLN {
							lnT, lnTR = ln, lnR
						}
						adder.AddResidual(resid, delta, bs, centre, lnT, lw, lb, 1e-5)
						refAdder.AddResidual(residR, deltaR, bsR, centre, lnTR, lwR, lbR, 1e-5)
						p.check(t, what+": residual", resid, residR, 1e-4)
						if withLN {
							p.check(t, what+": layernorm", ln, lnR, 1e-4)
						}
						// separate steps on the backend, compared bit for bit
						resid2 := p.be.Alloc(r, c)
						be.Write(resid2, residData)
						delta2, ln2 := be.Alloc(r, c), be.Alloc(r, c)
						be.MatMul(delta2, x, wt, bs)
						if centre {
							be.CenterRows(delta2)
						}
						be.Add(resid2, resid2, delta2)
						expect(t, what+": fused against separate", read(be, resid), read(be, resid2), 0)
						expect(t, what+": delta fused against separate", read(be, delta), read(be, delta2), 0)
						if withLN {
							be.LayerNorm(ln2, resid2, lw, lb, 1e-5)
							expect(t, what+": layernorm fused against separate", read(be, ln), read(be, ln2), 0)
						}
						for _, tt := range []compute.Tensor{resid, delta, ln, resid2, delta2, ln2} {
							be.Free(tt)
						}
					}
				}
			}
			if okG {
				h, hR := p.alloc(r, c)
				be.MatMul(h, x, wt, nil)
				ref.MatMul(hR, xR, wtR, nil)
				gelu.BiasGeluNew(h, bias)
				refGelu.BiasGeluNew(hR, biasR)
				p.check(t, fmt.Sprint("bias + gelu_new ", sh), h, hR, 1e-4)
				h2 := be.Alloc(r, c)
				be.MatMul(h2, x, wt, bias)
				be.GeluNew(h2)
				expect(t, fmt.Sprint("bias + gelu_new fused against separate ", sh), read(be, h), read(be, h2), 0)
				be.Free(h)
				be.Free(h2)
			}
			for _, tt := range []compute.Tensor{x, wt, bias, lw, lb} {
				be.Free(tt)
			}
		}
	})

	type att struct{ batch, seq, heads, dh int }
	atts := []att{{1, 1, 1, 8}, {2, 17, 2, 8}, {1, 40, 3, 16}, {2, 33, 2, 64}, {1, 20, 1, 128}, {1, 5, 2, 40}}
	if shapes == Full {
		atts = append(atts, att{4, 128, 12, 64}, att{1, 1024, 12, 64}, att{3, 200, 4, 96})
	}
	t.Run("causal-attention", func(t *testing.T) {
		for _, s := range atts {
			d := s.heads * s.dh
			rows := s.batch * s.seq
			qkv, qkvR := p.upload(t, rows, 3*d, randn(rng, rows*3*d, 1))
			z, zR := p.alloc(rows, d)
			be.CausalAttention(z, qkv, s.batch, s.seq, s.heads)
			ref.CausalAttention(zR, qkvR, s.batch, s.seq, s.heads)
			p.check(t, fmt.Sprintf("attention batch %d seq %d heads %d d_head %d", s.batch, s.seq, s.heads, s.dh), z, zR, 1e-4)
			be.Free(qkv)
			be.Free(z)
		}
	})

	type enc struct{ rows, din, dsae int }
	encs := []enc{{3, 8, 40}, {40, 32, 256}}
	if shapes == Full {
		encs = append(encs, enc{512, 768, 6144})
	}
	t.Run("sae-encode", func(t *testing.T) {
		for _, s := range encs {
			x, xR := p.upload(t, s.rows, s.din, randn(rng, s.rows*s.din, 1))
			w, wR := p.upload(t, s.din, s.dsae, randn(rng, s.din*s.dsae, 0.2))
			bEnc, bEncR := p.upload(t, 1, s.dsae, randn(rng, s.dsae, 0.5))
			bDec, bDecR := p.upload(t, 1, s.din, randn(rng, s.din, 0.5))
			f, fR := p.alloc(s.rows, s.dsae)
			be.SAEEncode(f, x, w, bEnc, bDec)
			ref.SAEEncode(fR, xR, wR, bEncR, bDecR)
			p.check(t, fmt.Sprint("encode with b_dec ", s), f, fR, tol)
			be.SAEEncode(f, x, w, bEnc, nil)
			ref.SAEEncode(fR, xR, wR, bEncR, nil)
			p.check(t, fmt.Sprint("encode ", s), f, fR, tol)
			p.check(t, "encode leaves x alone", x, xR, 0)
			for _, tt := range []compute.Tensor{x, w, bEnc, bDec, f} {
				be.Free(tt)
			}
		}
	})

	t.Run("losses-and-softmax-stats", func(t *testing.T) {
		for _, sh := range [][2]int{{1, 10}, {7, 1000}, {3, 50257}} {
			r, c := sh[0], sh[1]
			data := randn(rng, r*c, 4)
			data[0] = 40 // a peaked row
			lg, lgR := p.upload(t, r, c, data)
			targets := make([]int32, r)
			for i := range targets {
				targets[i] = int32(rng.IntN(c))
			}
			loss, lossR := make([]float32, r), make([]float32, r)
			be.CrossEntropy(loss, lg, targets)
			ref.CrossEntropy(lossR, lgR, targets)
			expect(t, fmt.Sprint("cross-entropy ", sh), loss, lossR, 1e-5)
			e, mp, eR, mpR := make([]float32, r), make([]float32, r), make([]float32, r), make([]float32, r)
			be.SoftmaxStats(e, mp, lg)
			ref.SoftmaxStats(eR, mpR, lgR)
			expect(t, fmt.Sprint("entropy ", sh), e, eR, 1e-5)
			expect(t, fmt.Sprint("max prob ", sh), mp, mpR, 1e-5)
			be.Free(lg)
		}
	})
}

// SparseReadBack checks SparseRows and RowSumSquares against the host.
func SparseReadBack(t *testing.T, be compute.Backend, sp Sparse, shapes Shapes) {
	rng := rand.New(rand.NewPCG(3, 5))
	sizes := [][2]int{{1, 1}, {4, 7}, {9, 300}, {65, 256}}
	if shapes == Full {
		sizes = append(sizes, [2]int{4096, 6144})
	}
	var ptr []uint64
	var ids []uint32
	var vals []float32
	for _, sh := range sizes {
		r, c := sh[0], sh[1]
		data := randn(rng, r*c, 1)
		for i := range data {
			// About 5% positive, some exact zeros and a dead row.
			if rng.Float64() > 0.05 {
				data[i] = -float32(rng.Float64())
			}
			if i%11 == 0 {
				data[i] = 0
			}
		}
		if r > 2 {
			for j := 0; j < c; j++ {
				data[c+j] = 0
			}
		}
		x, err := be.Upload(weights.Tensor{Shape: []int{r, c}, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		ptr, ids, vals = sp.SparseRows(x, ptr, ids, vals)
		if len(ptr) != r+1 || ptr[0] != 0 {
			t.Fatalf("%v: ptr of %d entries starting %v", sh, len(ptr), ptr[:min(1, len(ptr))])
		}
		bad := 0
		for i := 0; i < r; i++ {
			var wantIDs []uint32
			var wantVals []float32
			for j, v := range data[i*c : (i+1)*c] {
				if v > 0 {
					wantIDs = append(wantIDs, uint32(j))
					wantVals = append(wantVals, v)
				}
			}
			gi, gv := ids[ptr[i]:ptr[i+1]], vals[ptr[i]:ptr[i+1]]
			if fmt.Sprint(gi) != fmt.Sprint(wantIDs) || fmt.Sprint(gv) != fmt.Sprint(wantVals) {
				if bad < 3 {
					t.Errorf("%v row %d: ids %v vals %v, want %v %v", sh, i, gi, gv, wantIDs, wantVals)
				}
				bad++
			}
		}
		if int(ptr[r]) != len(ids) || len(ids) != len(vals) {
			t.Errorf("%v: %d ids, %d vals, ptr ends at %d", sh, len(ids), len(vals), ptr[r])
		}
		ss := make([]float64, r)
		sp.RowSumSquares(x, ss)
		for i := 0; i < r; i++ {
			var want float64
			for _, v := range data[i*c : (i+1)*c] {
				want += float64(v) * float64(v)
			}
			if math.Abs(ss[i]-want) > 1e-12*math.Max(1, want) {
				t.Errorf("%v row %d: sum of squares %v, want %v", sh, i, ss[i], want)
				break
			}
		}
		be.Free(x)
	}
}

// HookDiff is the difference of one activation between two backends.
type HookDiff struct {
	Hook string
	Diff Diff
	// MaxRef is the largest |value| of the reference, for scale.
	MaxRef float64
}

// FullSizeReport compares a backend with the CPU on GPT-2 small.
type FullSizeReport struct {
	Backend  string
	Batch    int
	Seq      int
	Hooks    []HookDiff
	Features HookDiff // SAE features at the SAE's hook
	// ActivePairs counts the (token, feature) pairs active (> 0) on the
	// CPU; ActiveMismatch those active on exactly one of the two backends.
	ActiveMismatch, ActivePairs int
	Loss, LossRef               float64
}

// Worst returns the largest absolute difference over every hook.
func (r *FullSizeReport) Worst() float64 {
	w := r.Features.Diff.MaxAbs
	for _, h := range r.Hooks {
		w = math.Max(w, h.Diff.MaxAbs)
	}
	return w
}

// FullSize runs a random full-size GPT-2 small (weights/gpt2.Random, seed
// 1) and a random 768×dSae SAE at hook on be and on the CPU, for batch
// sequences of seq random tokens (BOS first), and reports the differences
// at every hook of the full forward pass, in the features and in the loss.
func FullSize(ctx context.Context, be compute.Backend, batch, seq, dSae int, hook string) (*FullSizeReport, error) {
	ref, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		return nil, err
	}
	cfg := gpt2.SmallConfig()
	h, err := hookname.Parse(hook, cfg.NLayer)
	if err != nil {
		return nil, err
	}
	ck := gpt2.Random(cfg, 1)
	s := sae.Random(cfg.DModel, dSae, h, -0.5, 2)
	rng := rand.New(rand.NewPCG(11, 12))
	tokens := make([]int32, batch*seq)
	for i := range tokens {
		if i%seq == 0 {
			tokens[i] = 50256
		} else {
			tokens[i] = int32(rng.IntN(cfg.VocabSize))
		}
	}
	type result struct {
		hooks map[string][]float32
		order []string
		feats []float32
		loss  float64
	}
	run := func(b compute.Backend) (*result, error) {
		m, err := model.New(b, ck)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		enc, err := encoder.New(b, s)
		if err != nil {
			return nil, err
		}
		defer enc.Close()
		res := &result{hooks: map[string][]float32{}}
		m.Lock()
		defer m.Unlock()
		out, err := m.Run(ctx, tokens, batch, seq, model.Hooks{Observe: func(hk hookname.Hook, act compute.Tensor) error {
			res.hooks[hk.String()] = read(b, act)
			res.order = append(res.order, hk.String())
			if hk == h {
				f := b.Alloc(act.Rows(), dSae)
				defer b.Free(f)
				if err := enc.Encode(f, act); err != nil {
					return err
				}
				res.feats = read(b, f)
			}
			return nil
		}})
		if err != nil {
			return nil, err
		}
		tl, err := m.TokenLoss(out, tokens)
		if err != nil {
			return nil, err
		}
		res.loss = model.MeanLoss(tl)
		return res, nil
	}
	got, err := run(be)
	if err != nil {
		return nil, err
	}
	want, err := run(ref)
	if err != nil {
		return nil, err
	}
	rep := &FullSizeReport{Backend: be.Name(), Batch: batch, Seq: seq, Loss: got.loss, LossRef: want.loss}
	maxAbs := func(v []float32) float64 {
		var m float64
		for _, x := range v {
			m = math.Max(m, math.Abs(float64(x)))
		}
		return m
	}
	for _, name := range want.order {
		rep.Hooks = append(rep.Hooks, HookDiff{Hook: name, Diff: Compare(got.hooks[name], want.hooks[name]), MaxRef: maxAbs(want.hooks[name])})
	}
	rep.Features = HookDiff{Hook: h.String() + " → SAE features", Diff: Compare(got.feats, want.feats), MaxRef: maxAbs(want.feats)}
	for i := range want.feats {
		if (got.feats[i] > 0) != (want.feats[i] > 0) {
			rep.ActiveMismatch++
		}
		if want.feats[i] > 0 {
			rep.ActivePairs++
		}
	}
	return rep, nil
}

// Log prints a FullSizeReport.
func (r *FullSizeReport) Log(t testing.TB) {
	t.Logf("%s vs CPU, random GPT-2 small, %d×%d tokens:", r.Backend, r.Batch, r.Seq)
	for _, h := range r.Hooks {
		t.Logf("  %-34s %v  (max |ref| %.3g)", h.Hook, h.Diff, h.MaxRef)
	}
	t.Logf("  %-34s %v  (max |ref| %.3g)", r.Features.Hook, r.Features.Diff, r.Features.MaxRef)
	t.Logf("  active (token, feature) pairs: %d on the CPU, %d differ in being active", r.ActivePairs, r.ActiveMismatch)
	t.Logf("  mean loss %.6f vs CPU %.6f (|Δ| %.3g)", r.Loss, r.LossRef, math.Abs(r.Loss-r.LossRef))
	t.Logf("  worst absolute difference: %.3g", r.Worst())
}
