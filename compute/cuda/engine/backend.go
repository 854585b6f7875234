package engine

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights"
)

// Backend implements compute.Backend on a Device. Tensors live in device
// memory; Read, CrossEntropy, SoftmaxStats, SparseRows and RowSumSquares
// are the only calls that wait for the device. It is safe for concurrent
// use: calls are serialized.
type Backend struct {
	dev  Device
	name string

	mu sync.Mutex
	// Scratch device buffers, grown on demand and reused.
	ids, tmp, counts, offsets, spIDs, spVals, out1, out2 scratch
	hostCounts                                           []int32
}

type scratch struct {
	p     Ptr
	bytes int
}

// New returns a backend named name on dev.
func New(dev Device, name string) *Backend {
	return &Backend{dev: dev, name: name}
}

// Name implements compute.Backend.
func (b *Backend) Name() string { return b.name }

// Device returns the device the backend runs on.
func (b *Backend) Device() Device { return b.dev }

// Mat is a device tensor: a row-major matrix at a device address. Row
// views share their parent's memory.
type Mat struct {
	p          Ptr
	rows, cols int
	owned      bool
}

// Rows implements compute.Tensor.
func (m *Mat) Rows() int { return m.rows }

// Cols implements compute.Tensor.
func (m *Mat) Cols() int { return m.cols }

// Ptr returns the device address of the first element.
func (m *Mat) Ptr() Ptr { return m.p }

func (m *Mat) n() int { return m.rows * m.cols }

func mat(t compute.Tensor) *Mat {
	if t == nil {
		return nil
	}
	m, ok := t.(*Mat)
	if !ok {
		panic(fmt.Sprintf("cuda backend: tensor of type %T is not a device tensor", t))
	}
	return m
}

// ptrOf returns t's address, or 0 for a nil tensor.
func ptrOf(t compute.Tensor) Ptr {
	if t == nil {
		return 0
	}
	return mat(t).p
}

// enter serializes a call and binds the device to the calling thread.
func (b *Backend) enter() func() {
	b.mu.Lock()
	unbind := b.dev.Bind()
	return func() {
		unbind()
		b.mu.Unlock()
	}
}

// Parameter slots for Launch.
func p(x Ptr) uint64 { return uint64(x) }
func i32(n int) uint64 {
	if n < math.MinInt32 || n > math.MaxInt32 {
		panic(fmt.Sprintf("cuda backend: %d does not fit a 32-bit kernel parameter", n))
	}
	return uint64(uint32(int32(n)))
}
func i64(n int) uint64     { return uint64(int64(n)) }
func f32(v float32) uint64 { return uint64(math.Float32bits(v)) }

// Launch shapes.
func elementwise(n int) (Dim3, Dim3) {
	const threads = 256
	blocks := (n + threads - 1) / threads
	blocks = max(1, min(blocks, 1<<16))
	return Dim3{blocks, 1, 1}, Dim3{threads, 1, 1}
}

// perRow gives one block per row (rows beyond 2^20 are strided) with 32 to
// 256 threads, a multiple of 32.
func perRow(rows, cols int) (Dim3, Dim3) {
	threads := min(256, max(32, (cols+31)/32*32))
	return Dim3{max(1, min(rows, 1<<20)), 1, 1}, Dim3{threads, 1, 1}
}

// grow makes s hold at least bytes (contents are not kept).
func (b *Backend) grow(s *scratch, bytes int) Ptr {
	if s.bytes >= bytes && s.p != 0 {
		return s.p
	}
	if s.p != 0 {
		b.dev.Free(s.p)
		s.p, s.bytes = 0, 0
	}
	want := max(bytes+bytes/4, 1<<12)
	ptr, err := b.dev.Alloc(want)
	if err != nil {
		panic(fmt.Sprintf("cuda backend: scratch of %d bytes: %v", want, err))
	}
	s.p, s.bytes = ptr, want
	return ptr
}

// Alloc implements compute.Backend: a zeroed rows×cols tensor.
func (b *Backend) Alloc(rows, cols int) compute.Tensor {
	defer b.enter()()
	return b.alloc(rows, cols, true)
}

func (b *Backend) alloc(rows, cols int, zero bool) *Mat {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("cuda backend: alloc %dx%d", rows, cols))
	}
	m := &Mat{rows: rows, cols: cols, owned: true}
	n := rows * cols
	if n == 0 {
		return m
	}
	ptr, err := b.dev.Alloc(4 * n)
	if err != nil {
		panic(fmt.Sprintf("cuda backend: allocate %dx%d float32 (%.1f MiB): %v", rows, cols, float64(4*n)/(1<<20), err))
	}
	m.p = ptr
	if zero {
		b.dev.Memset32(ptr, 0, n)
	}
	return m
}

// Upload implements compute.Backend.
func (b *Backend) Upload(w weights.Tensor) (compute.Tensor, error) {
	var rows, cols int
	switch len(w.Shape) {
	case 1:
		rows, cols = 1, w.Shape[0]
	case 2:
		rows, cols = w.Shape[0], w.Shape[1]
	default:
		return nil, fmt.Errorf("cuda backend: upload of a %d-D tensor %v (want 1-D or 2-D)", len(w.Shape), w.Shape)
	}
	if len(w.Data) != rows*cols {
		return nil, fmt.Errorf("cuda backend: upload of %v with %d values", w.Shape, len(w.Data))
	}
	defer b.enter()()
	n := rows * cols
	m := &Mat{rows: rows, cols: cols, owned: true}
	if n == 0 {
		return m, nil
	}
	ptr, err := b.dev.Alloc(4 * n)
	if err != nil {
		return nil, fmt.Errorf("cuda backend: upload %v (%.1f MiB): %w", w.Shape, float64(4*n)/(1<<20), err)
	}
	m.p = ptr
	b.dev.HtoD(ptr, unsafe.Pointer(&w.Data[0]), 4*n)
	return m, nil
}

// Read implements compute.Backend.
func (b *Backend) Read(t compute.Tensor, dst []float32) {
	m := mat(t)
	n := min(len(dst), m.n())
	if n == 0 {
		return
	}
	defer b.enter()()
	b.dev.DtoH(unsafe.Pointer(&dst[0]), m.p, 4*n)
}

// Write implements compute.Backend.
func (b *Backend) Write(t compute.Tensor, src []float32) {
	m := mat(t)
	n := min(len(src), m.n())
	if n == 0 {
		return
	}
	defer b.enter()()
	b.dev.HtoD(m.p, unsafe.Pointer(&src[0]), 4*n)
}

// RowsView implements compute.Backend.
func (b *Backend) RowsView(t compute.Tensor, lo, hi int) compute.Tensor {
	m := mat(t)
	if lo < 0 || hi < lo || hi > m.rows {
		panic(fmt.Sprintf("cuda backend: rows [%d, %d) of a %dx%d tensor", lo, hi, m.rows, m.cols))
	}
	v := &Mat{rows: hi - lo, cols: m.cols}
	if m.p != 0 {
		v.p = m.p + Ptr(4*lo*m.cols)
	}
	return v
}

// Free implements compute.Backend; views are not freed.
func (b *Backend) Free(t compute.Tensor) {
	m := mat(t)
	if !m.owned || m.p == 0 {
		return
	}
	defer b.enter()()
	b.dev.Free(m.p)
	m.p = 0
}

// Gather implements compute.Backend.
func (b *Backend) Gather(dst, table compute.Tensor, ids []int32) {
	d, t := mat(dst), mat(table)
	if len(ids) == 0 || d.cols == 0 {
		return
	}
	if len(ids) > d.rows || d.cols != t.cols {
		panic(fmt.Sprintf("cuda backend: gather %d rows of %dx%d into %dx%d", len(ids), t.rows, t.cols, d.rows, d.cols))
	}
	defer b.enter()()
	ip := b.grow(&b.ids, 4*len(ids))
	b.dev.HtoD(ip, unsafe.Pointer(&ids[0]), 4*len(ids))
	g, bl := perRow(len(ids), d.cols)
	b.dev.Launch(GatherRows, g, bl, p(d.p), p(t.p), p(ip), i32(len(ids)), i32(d.cols))
}

// MatMul implements compute.Backend: dst = a·w (+ bias). Row-major
// matrices are column-major transposes, so dstᵀ = wᵀ·aᵀ is one
// column-major SGEMM with the operands swapped.
func (b *Backend) MatMul(dst, a, w, bias compute.Tensor) {
	d, x, y := mat(dst), mat(a), mat(w)
	if x.cols != y.rows || d.rows != x.rows || d.cols != y.cols {
		panic(fmt.Sprintf("cuda backend: matmul %dx%d · %dx%d into %dx%d", x.rows, x.cols, y.rows, y.cols, d.rows, d.cols))
	}
	if d.n() == 0 {
		return
	}
	if bias != nil && mat(bias).n() != d.cols {
		panic(fmt.Sprintf("cuda backend: bias of %d values for %d columns", mat(bias).n(), d.cols))
	}
	defer b.enter()()
	if x.cols == 0 {
		b.dev.Memset32(d.p, 0, d.n())
	} else {
		b.dev.Sgemm(false, false, y.cols, x.rows, x.cols, 1, y.p, y.cols, x.p, x.cols, 0, d.p, d.cols)
	}
	// The bias after the product (not as its C with beta 1), so that the
	// fused AddResidual and BiasGeluNew, which add it in their own pass,
	// give the same bits.
	if bias != nil {
		g, bl := elementwise(d.n())
		b.dev.Launch(AddRow, g, bl, p(d.p), p(mat(bias).p), i64(d.rows), i32(d.cols))
	}
}

// AddResidual implements compute.ResidualAdder with one kernel (one block
// per row, the launch of CenterRows and LayerNorm, whose bits it keeps).
func (b *Backend) AddResidual(resid, delta, bias compute.Tensor, centre bool, ln, w, lnBias compute.Tensor, eps float32) {
	r, d := mat(resid), mat(delta)
	if r.rows != d.rows || r.cols != d.cols || (bias != nil && mat(bias).n() != d.cols) || (ln != nil && (mat(ln).rows != r.rows || mat(ln).cols != r.cols)) {
		panic(fmt.Sprintf("cuda backend: residual write of %dx%d into %dx%d", d.rows, d.cols, r.rows, r.cols))
	}
	if r.n() == 0 {
		return
	}
	defer b.enter()()
	c := 0
	if centre {
		c = 1
	}
	var lnp, wp, bp Ptr
	if ln != nil {
		lnp, wp, bp = mat(ln).p, ptrOf(w), ptrOf(lnBias)
	}
	g, bl := perRow(r.rows, r.cols)
	b.dev.Launch(AddResidual, g, bl, p(r.p), p(d.p), p(ptrOf(bias)), i32(c), p(lnp), p(wp), p(bp), i32(r.rows), i32(r.cols), f32(eps))
}

// BiasGeluNew implements compute.BiasGeluer: x = gelu_new(x + bias).
func (b *Backend) BiasGeluNew(x, bias compute.Tensor) {
	m := mat(x)
	if mat(bias).n() != m.cols {
		panic(fmt.Sprintf("cuda backend: bias of %d values for %d columns", mat(bias).n(), m.cols))
	}
	if m.n() == 0 {
		return
	}
	defer b.enter()()
	g, bl := elementwise(m.n())
	b.dev.Launch(BiasGeluNew, g, bl, p(m.p), p(mat(bias).p), i64(m.rows), i32(m.cols))
}

// MatMulTransB implements compute.Backend: dst = a·wᵀ, i.e. dstᵀ = w·aᵀ
// in column-major terms (w transposed from its column-major view).
func (b *Backend) MatMulTransB(dst, a, w compute.Tensor) {
	d, x, y := mat(dst), mat(a), mat(w)
	if x.cols != y.cols || d.rows != x.rows || d.cols != y.rows {
		panic(fmt.Sprintf("cuda backend: matmul %dx%d · (%dx%d)ᵀ into %dx%d", x.rows, x.cols, y.rows, y.cols, d.rows, d.cols))
	}
	if d.n() == 0 {
		return
	}
	defer b.enter()()
	if x.cols == 0 {
		b.dev.Memset32(d.p, 0, d.n())
		return
	}
	b.dev.Sgemm(true, false, y.rows, x.rows, x.cols, 1, y.p, y.cols, x.p, x.cols, 0, d.p, d.cols)
}

// Add implements compute.Backend.
func (b *Backend) Add(dst, a, c compute.Tensor) {
	d, x, y := mat(dst), mat(a), mat(c)
	if x.n() != d.n() || y.n() != d.n() {
		panic(fmt.Sprintf("cuda backend: add %dx%d + %dx%d into %dx%d", x.rows, x.cols, y.rows, y.cols, d.rows, d.cols))
	}
	if d.n() == 0 {
		return
	}
	defer b.enter()()
	g, bl := elementwise(d.n())
	b.dev.Launch(Add, g, bl, p(d.p), p(x.p), p(y.p), i64(d.n()))
}

// Copy implements compute.Backend.
func (b *Backend) Copy(dst, src compute.Tensor) {
	d, s := mat(dst), mat(src)
	n := min(d.n(), s.n())
	if n == 0 {
		return
	}
	defer b.enter()()
	b.dev.DtoD(d.p, s.p, 4*n)
}

// Fill implements compute.Backend.
func (b *Backend) Fill(t compute.Tensor, v float32) {
	m := mat(t)
	if m.n() == 0 {
		return
	}
	defer b.enter()()
	b.dev.Memset32(m.p, math.Float32bits(v), m.n())
}

// FillRows implements compute.Backend.
func (b *Backend) FillRows(dst, v compute.Tensor) {
	d, row := mat(dst), mat(v)
	if d.n() == 0 {
		return
	}
	if row.n() != d.cols {
		panic(fmt.Sprintf("cuda backend: fill rows of %d columns with %d values", d.cols, row.n()))
	}
	defer b.enter()()
	g, bl := elementwise(d.n())
	b.dev.Launch(FillRows, g, bl, p(d.p), p(row.p), i64(d.rows), i32(d.cols))
}

// MeanRows implements compute.Backend (accumulates in float64).
func (b *Backend) MeanRows(dst, x compute.Tensor) {
	d, m := mat(dst), mat(x)
	if m.cols == 0 {
		return
	}
	defer b.enter()()
	if m.rows == 0 {
		b.dev.Memset32(d.p, math.Float32bits(float32(math.NaN())), m.cols)
		return
	}
	b.dev.Launch(MeanRows, Dim3{(m.cols + 31) / 32, 1, 1}, Dim3{MeanRowsThreads, 1, 1}, p(d.p), p(m.p), i32(m.rows), i32(m.cols))
}

// CenterRows implements compute.Backend.
func (b *Backend) CenterRows(x compute.Tensor) {
	m := mat(x)
	if m.n() == 0 {
		return
	}
	defer b.enter()()
	g, bl := perRow(m.rows, m.cols)
	b.dev.Launch(CenterRows, g, bl, p(m.p), i32(m.rows), i32(m.cols))
}

// LayerNorm implements compute.Backend.
func (b *Backend) LayerNorm(dst, x, w, bias compute.Tensor, eps float32) {
	d, m := mat(dst), mat(x)
	if m.n() == 0 {
		return
	}
	defer b.enter()()
	g, bl := perRow(m.rows, m.cols)
	b.dev.Launch(LayerNorm, g, bl, p(d.p), p(m.p), p(ptrOf(w)), p(ptrOf(bias)), i32(m.rows), i32(m.cols), f32(eps))
}

// GeluNew implements compute.Backend.
func (b *Backend) GeluNew(x compute.Tensor) {
	m := mat(x)
	if m.n() == 0 {
		return
	}
	defer b.enter()()
	g, bl := elementwise(m.n())
	b.dev.Launch(GeluNew, g, bl, p(m.p), i64(m.n()))
}

// CausalAttention implements compute.Backend with one fused kernel.
func (b *Backend) CausalAttention(dst, qkv compute.Tensor, batch, seq, heads int) {
	z, in := mat(dst), mat(qkv)
	dm := z.cols
	if heads <= 0 || dm%heads != 0 || in.cols != 3*dm || in.rows < batch*seq || z.rows < batch*seq {
		panic(fmt.Sprintf("cuda backend: attention of %dx%d into %dx%d with %d heads, %d×%d tokens", in.rows, in.cols, z.rows, z.cols, heads, batch, seq))
	}
	dh := dm / heads
	if dh > AttentionMaxDHead {
		panic(fmt.Sprintf("cuda backend: attention heads of width %d (the kernel handles up to %d)", dh, AttentionMaxDHead))
	}
	if batch*seq == 0 {
		return
	}
	defer b.enter()()
	scale := float32(1 / math.Sqrt(float64(dh)))
	grid := Dim3{batch * heads, (seq + AttentionRowsTile - 1) / AttentionRowsTile, 1}
	b.dev.Launch(Attention, grid, Dim3{AttentionThreads, 1, 1}, p(z.p), p(in.p), i32(seq), i32(heads), i32(dh), f32(scale))
}

// SAEEncode implements compute.Backend: the SGEMM, then bias and ReLU in
// one pass.
func (b *Backend) SAEEncode(dst, x, wEnc, bEnc, bDec compute.Tensor) {
	d, in, w := mat(dst), mat(x), mat(wEnc)
	if in.cols != w.rows || d.rows != in.rows || d.cols != w.cols {
		panic(fmt.Sprintf("cuda backend: SAE encode %dx%d · %dx%d into %dx%d", in.rows, in.cols, w.rows, w.cols, d.rows, d.cols))
	}
	if d.n() == 0 {
		return
	}
	defer b.enter()()
	src := in.p
	if bDec != nil && in.n() > 0 {
		// (x - b_dec) in scratch; the caller's x is left untouched.
		src = b.grow(&b.tmp, 4*in.n())
		g, bl := elementwise(in.n())
		b.dev.Launch(SubRow, g, bl, p(src), p(in.p), p(mat(bDec).p), i64(in.rows), i32(in.cols))
	}
	if in.cols == 0 {
		b.dev.Memset32(d.p, 0, d.n())
	} else {
		b.dev.Sgemm(false, false, w.cols, in.rows, in.cols, 1, w.p, w.cols, src, in.cols, 0, d.p, d.cols)
	}
	g, bl := elementwise(d.n())
	b.dev.Launch(BiasReLU, g, bl, p(d.p), p(ptrOf(bEnc)), i64(d.rows), i32(d.cols))
}

// CrossEntropy implements compute.Backend.
func (b *Backend) CrossEntropy(loss []float32, logits compute.Tensor, targets []int32) {
	m := mat(logits)
	if m.rows == 0 {
		return
	}
	if len(loss) < m.rows || len(targets) < m.rows {
		panic(fmt.Sprintf("cuda backend: cross-entropy of %d rows into %d losses with %d targets", m.rows, len(loss), len(targets)))
	}
	defer b.enter()()
	tp := b.grow(&b.ids, 4*m.rows)
	b.dev.HtoD(tp, unsafe.Pointer(&targets[0]), 4*m.rows)
	lp := b.grow(&b.out1, 4*m.rows)
	g, bl := perRow(m.rows, m.cols)
	b.dev.Launch(CrossEntropy, g, bl, p(lp), p(m.p), p(tp), i32(m.rows), i32(m.cols))
	b.dev.DtoH(unsafe.Pointer(&loss[0]), lp, 4*m.rows)
}

// SoftmaxStats implements compute.Backend.
func (b *Backend) SoftmaxStats(entropyBits, maxProb []float32, logits compute.Tensor) {
	m := mat(logits)
	if m.rows == 0 {
		return
	}
	defer b.enter()()
	ep := b.grow(&b.out1, 4*m.rows)
	mp := b.grow(&b.out2, 4*m.rows)
	g, bl := perRow(m.rows, m.cols)
	b.dev.Launch(SoftmaxStats, g, bl, p(ep), p(mp), p(m.p), i32(m.rows), i32(m.cols))
	b.dev.DtoH(unsafe.Pointer(&entropyBits[0]), ep, 4*m.rows)
	b.dev.DtoH(unsafe.Pointer(&maxProb[0]), mp, 4*m.rows)
}

// SparseRows returns the positive entries of t ([rows, cols]) in CSR form:
// row i's column ids, ascending, are ids[ptr[i]:ptr[i+1]] and its values
// vals[ptr[i]:ptr[i+1]]. Only the counts, the ids and the values cross from
// the device. The slices passed in are reused when large enough (pass nil
// the first time). This is what the scan reads instead of dense feature
// activations: SAE activations are ReLU outputs, so "positive" is
// "non-zero".
func (b *Backend) SparseRows(t compute.Tensor, ptr []uint64, ids []uint32, vals []float32) ([]uint64, []uint32, []float32) {
	m := mat(t)
	ptr = resize(ptr, m.rows+1)
	ptr[0] = 0
	if m.rows == 0 || m.cols == 0 {
		clear(ptr)
		return ptr, ids[:0], vals[:0]
	}
	defer b.enter()()
	cp := b.grow(&b.counts, 4*m.rows)
	g, bl := perRow(m.rows, m.cols)
	b.dev.Launch(CountPositive, g, bl, p(cp), p(m.p), i32(m.rows), i32(m.cols))
	b.hostCounts = resize(b.hostCounts, m.rows)
	b.dev.DtoH(unsafe.Pointer(&b.hostCounts[0]), cp, 4*m.rows)
	for i, c := range b.hostCounts {
		ptr[i+1] = ptr[i] + uint64(c)
	}
	total := int(ptr[m.rows])
	ids, vals = resize(ids, total), resize(vals, total)
	if total == 0 {
		return ptr, ids, vals
	}
	op := b.grow(&b.offsets, 8*(m.rows+1))
	b.dev.HtoD(op, unsafe.Pointer(&ptr[0]), 8*(m.rows+1))
	ip := b.grow(&b.spIDs, 4*total)
	vp := b.grow(&b.spVals, 4*total)
	b.dev.Launch(CompactPositive, g, bl, p(ip), p(vp), p(m.p), p(op), i32(m.rows), i32(m.cols))
	b.dev.DtoH(unsafe.Pointer(&ids[0]), ip, 4*total)
	b.dev.DtoH(unsafe.Pointer(&vals[0]), vp, 4*total)
	return ptr, ids, vals
}

// RowSumSquares sets dst[i] to the sum of squares of row i of t, accumulated
// in float64 (the scan's activation norms, without reading the rows back).
func (b *Backend) RowSumSquares(t compute.Tensor, dst []float64) {
	m := mat(t)
	if m.rows == 0 {
		return
	}
	if len(dst) < m.rows {
		panic(fmt.Sprintf("cuda backend: %d row sums into %d values", m.rows, len(dst)))
	}
	if m.cols == 0 {
		clear(dst[:m.rows])
		return
	}
	defer b.enter()()
	op := b.grow(&b.out1, 8*m.rows)
	g, bl := perRow(m.rows, m.cols)
	b.dev.Launch(RowSumSq, g, bl, p(op), p(m.p), i32(m.rows), i32(m.cols))
	b.dev.DtoH(unsafe.Pointer(&dst[0]), op, 8*m.rows)
}

// Sync waits until every queued operation is done (for timing).
func (b *Backend) Sync() {
	defer b.enter()()
	b.dev.Sync()
}

// Close releases the scratch buffers. Tensors must be freed by their users.
func (b *Backend) Close() {
	defer b.enter()()
	for _, s := range []*scratch{&b.ids, &b.tmp, &b.counts, &b.offsets, &b.spIDs, &b.spVals, &b.out1, &b.out2} {
		if s.p != 0 {
			b.dev.Free(s.p)
			s.p, s.bytes = 0, 0
		}
	}
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

var (
	_ compute.Backend       = (*Backend)(nil)
	_ compute.ResidualAdder = (*Backend)(nil)
	_ compute.BiasGeluer    = (*Backend)(nil)
)
