// Package cpu is the CPU Backend of SAE Scope: tensors are
// gorgonia.org/tensor dense matrices, matrix products go through OpenBLAS
// when the shared library is installed (found at run time) and through
// gonum's pure-Go BLAS otherwise, and the elementwise kernels are parallel
// Go loops over rows.
package cpu

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/tensor"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights"
)

// BLAS names a matrix-product implementation.
type BLAS string

// The BLAS choices.
const (
	BLASAuto     BLAS = "auto"     // OpenBLAS when installed, else gonum
	BLASOpenBLAS BLAS = "openblas" // fail when OpenBLAS is not installed
	BLASGonum    BLAS = "gonum"    // pure Go, gorgonia.org/tensor's default
)

// Backend is the CPU implementation of compute.Backend. It is safe for
// concurrent use as long as concurrent calls write different tensors.
type Backend struct {
	name string
	gemm sgemmer
	// attn is how CausalAttention computes: a C kernel (the best
	// attentionVariant, chosen by New) or the BLAS in tiles (the zero
	// value; tests choose each path the CPU runs).
	attn attnPath
	// serial says the backend is a lane (Lane): its ops run on the
	// calling goroutine, not split over the cores.
	serial bool
	// laneRows is the fewest token rows a lane may get (Lanes); 0 for
	// minLaneRows.
	laneRows int
}

// attnPath is a way to compute attention: the products through the BLAS in
// tiles, or the C kernel for AVX2 or AVX-512 (saescope_attention_head).
type attnPath int

const (
	attnTiles attnPath = iota
	attnAVX2
	attnAVX512
)

// Check says whether b names a BLAS choice ("" is auto).
func (b BLAS) Check() error {
	switch b {
	case BLASAuto, "", BLASOpenBLAS, BLASGonum:
		return nil
	}
	return fmt.Errorf("unknown BLAS %q (auto, openblas or gonum)", string(b))
}

// New returns a CPU backend with the chosen BLAS.
func New(choice BLAS) (*Backend, error) {
	if err := choice.Check(); err != nil {
		return nil, fmt.Errorf("cpu backend: %w", err)
	}
	switch choice {
	case BLASOpenBLAS:
		if loadOpenBLAS() == "" {
			return nil, fmt.Errorf("cpu backend: OpenBLAS not found (install libopenblas0, e.g. apt-get install libopenblas-dev)")
		}
		setBLASThreadsAll()
		return newBackend("cpu/openblas", openBLAS{}), nil
	case BLASGonum:
		return newBackend("cpu/gonum", gonumBLAS{}), nil
	}
	// auto
	if lib := loadOpenBLAS(); lib != "" {
		setBLASThreadsAll()
		return newBackend("cpu/openblas", openBLAS{}), nil
	}
	return newBackend("cpu/gonum", gonumBLAS{}), nil
}

// newBackend is a backend on gemm with the best attention path the CPU runs.
func newBackend(name string, gemm sgemmer) *Backend {
	return &Backend{name: name, gemm: gemm, attn: attentionVariant()}
}

// Name implements compute.Backend.
func (b *Backend) Name() string { return b.name }

// Info implements compute.DeviceInfo: the kernel family OpenBLAS runs
// ("SkylakeX kernels"; none with gonum or a library that does not say) and
// the attention kernel ("AVX-512 attention"; none with the BLAS tiles),
// joined by a comma, or "".
func (b *Backend) Info() string {
	var parts []string
	if _, ok := b.gemm.(openBLAS); ok {
		if c := blasCore(); c != "" {
			parts = append(parts, c+" kernels")
		}
	}
	if b.attn != attnTiles {
		parts = append(parts, b.attn.String()+" attention")
	}
	return strings.Join(parts, ", ")
}

// Mat is a CPU tensor: a gorgonia.org/tensor Dense of float32 whose shape
// is the matrix's [rows, cols] and whose backing slice, row-major, is its
// storage. An uploaded weight's backing is the weight's own slice (for a
// safetensors checkpoint, read-only memory mapped from the file); a row
// view's is a sub-slice of its parent's.
type Mat struct {
	dense *tensor.Dense
	// last is the most recent RowsView of this matrix, returned again for
	// the same rows: a scan views the same rows of the same buffers every
	// batch, and building a Dense costs eight allocations.
	last atomic.Pointer[rowsView]
}

// rowsView is a view of rows [lo, lo+v.Rows()) of its parent.
type rowsView struct {
	lo int
	v  *Mat
}

// Rows implements compute.Tensor.
func (m *Mat) Rows() int { return m.dense.Shape()[0] }

// Cols implements compute.Tensor.
func (m *Mat) Cols() int { return m.dense.Shape()[1] }

// Data returns the Dense's backing slice (row-major), for code that runs on
// the CPU.
func (m *Mat) Data() []float32 { return m.dense.Float32s() }

// Dense returns the gorgonia tensor that holds the matrix. Its shape must
// not be changed: views and kernels read it.
func (m *Mat) Dense() *tensor.Dense { return m.dense }

// NewMat wraps data (len rows·cols) as a rows×cols Dense without copying.
// It panics when the length is not rows·cols: callers size data themselves
// (Upload checks a weight's shape first).
func NewMat(data []float32, rows, cols int) *Mat {
	if len(data) != rows*cols {
		panic(fmt.Sprintf("cpu.NewMat: %d values for %dx%d", len(data), rows, cols))
	}
	return &Mat{dense: tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(data))}
}

func mat(t compute.Tensor) *Mat { return t.(*Mat) }

// Alloc implements compute.Backend: a zeroed Dense allocated by gorgonia.
func (b *Backend) Alloc(rows, cols int) compute.Tensor {
	return &Mat{dense: tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(rows, cols))}
}

// Upload implements compute.Backend: the Dense's backing is w.Data itself.
func (b *Backend) Upload(w weights.Tensor) (compute.Tensor, error) {
	var rows, cols int
	switch len(w.Shape) {
	case 1:
		rows, cols = 1, w.Shape[0]
	case 2:
		rows, cols = w.Shape[0], w.Shape[1]
	default:
		return nil, fmt.Errorf("cpu backend: upload of a %d-D tensor %v (want 1-D or 2-D)", len(w.Shape), w.Shape)
	}
	if rows < 0 || cols < 0 || len(w.Data) != rows*cols {
		return nil, fmt.Errorf("cpu backend: upload of a %v tensor with %d values", w.Shape, len(w.Data))
	}
	return NewMat(w.Data, rows, cols), nil
}

// Read implements compute.Backend.
func (b *Backend) Read(t compute.Tensor, dst []float32) { copy(dst, mat(t).Data()) }

// Write implements compute.Backend.
func (b *Backend) Write(t compute.Tensor, src []float32) { copy(mat(t).Data(), src) }

// RowsView implements compute.Backend: a Dense over the rows' part of t's
// backing. Asking again for the rows of the previous view of t returns that
// view, without allocating.
func (b *Backend) RowsView(t compute.Tensor, lo, hi int) compute.Tensor {
	m := mat(t)
	if last := m.last.Load(); last != nil && last.lo == lo && last.v.Rows() == hi-lo {
		return last.v
	}
	rows, cols := m.Rows(), m.Cols()
	if lo < 0 || hi < lo || hi > rows {
		panic(fmt.Sprintf("cpu backend: rows [%d, %d) of a %dx%d tensor", lo, hi, rows, cols))
	}
	v := NewMat(m.Data()[lo*cols:hi*cols], hi-lo, cols)
	m.last.Store(&rowsView{lo: lo, v: v})
	return v
}

// Free implements compute.Backend (the garbage collector owns CPU memory).
func (b *Backend) Free(compute.Tensor) {}

// hostMat is a Mat's backing slice and shape, read from its Dense once per
// operation.
type hostMat struct {
	data       []float32
	rows, cols int
}

func host(t compute.Tensor) hostMat {
	m := t.(*Mat)
	s := m.dense.Shape()
	return hostMat{data: m.dense.Float32s(), rows: s[0], cols: s[1]}
}

// Gather implements compute.Backend.
func (b *Backend) Gather(dst, table compute.Tensor, ids []int32) {
	d, t := host(dst), host(table)
	// split over the cores: the rows of a vocabulary-sized table are
	// scattered, and each row's copy waits on memory
	b.parallel(len(ids), t.cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			id := int(ids[i])
			copy(d.data[i*d.cols:(i+1)*d.cols], t.data[id*t.cols:(id+1)*t.cols])
		}
	})
}

// MatMul implements compute.Backend.
func (b *Backend) MatMul(dst, a, w, bias compute.Tensor) {
	var bv []float32
	if bias != nil {
		bv = host(bias).data
	}
	b.matMul(host(dst), host(a), host(w), bv)
}

// matMul sets d = x·y, plus bias broadcast over rows when bias is not nil.
func (b *Backend) matMul(d, x, y hostMat, bias []float32) {
	b.gemm.Sgemm(blas.NoTrans, blas.NoTrans, x.rows, y.cols, x.cols, 1, x.data, x.cols, y.data, y.cols, 0, d.data, d.cols)
	if bias != nil {
		// added after the product (not copied into dst for it to add): so
		// the sums are those of the fused kernels, which take the bias
		// with the next elementwise step (BiasGeluNew, AddResidual,
		// CausalAttentionBias)
		b.addBias(d, bias)
	}
}

// addBias adds bias to each row of m, the rows split over the cores: the
// bias pass of MatMul.
func (b *Backend) addBias(m hostMat, bias []float32) {
	b.parallel(m.rows, m.cols, func(lo, hi int) {
		addBiasRows(m.data[lo*m.cols:hi*m.cols], bias, hi-lo, m.cols)
	})
}

// MatMulTransB implements compute.Backend.
func (b *Backend) MatMulTransB(dst, a, w compute.Tensor) {
	d, x, y := host(dst), host(a), host(w)
	b.gemm.Sgemm(blas.NoTrans, blas.Trans, x.rows, y.rows, x.cols, 1, x.data, x.cols, y.data, y.cols, 0, d.data, d.cols)
}

// Add implements compute.Backend.
func (b *Backend) Add(dst, a, c compute.Tensor) {
	d, x, y := host(dst).data, host(a).data, host(c).data
	b.parallel(len(d), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d[i] = x[i] + y[i]
		}
	})
}

// Copy implements compute.Backend.
func (b *Backend) Copy(dst, src compute.Tensor) { copy(host(dst).data, host(src).data) }

// Fill implements compute.Backend.
func (b *Backend) Fill(t compute.Tensor, v float32) {
	d := host(t).data
	for i := range d {
		d[i] = v
	}
}

// FillRows implements compute.Backend.
func (b *Backend) FillRows(dst, v compute.Tensor) {
	d, row := host(dst), host(v).data
	for i := 0; i < d.rows; i++ {
		copy(d.data[i*d.cols:(i+1)*d.cols], row)
	}
}

// MeanRows implements compute.Backend (accumulates in float64).
func (b *Backend) MeanRows(dst, x compute.Tensor) {
	d, m := host(dst).data, host(x)
	acc := make([]float64, m.cols)
	for i := 0; i < m.rows; i++ {
		for j, v := range m.data[i*m.cols : (i+1)*m.cols] {
			acc[j] += float64(v)
		}
	}
	for j := range acc {
		d[j] = float32(acc[j] / float64(m.rows))
	}
}

// CenterRows implements compute.Backend.
func (b *Backend) CenterRows(x compute.Tensor) {
	m := host(x)
	b.parallel(m.rows, m.cols, func(lo, hi int) {
		centerRows(m.data[lo*m.cols:hi*m.cols], hi-lo, m.cols)
	})
}

// sum32 adds with four partial sums, for speed and a smaller rounding error.
func sum32(v []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += v[i]
		s1 += v[i+1]
		s2 += v[i+2]
		s3 += v[i+3]
	}
	for ; i < len(v); i++ {
		s0 += v[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// LayerNorm implements compute.Backend.
func (b *Backend) LayerNorm(dst, x, w, bias compute.Tensor, eps float32) {
	d, m := host(dst), host(x)
	wv, bv := host(w).data, host(bias).data
	b.parallel(m.rows, m.cols, func(lo, hi int) {
		layerNormRows(m.data[lo*m.cols:hi*m.cols], d.data[lo*m.cols:hi*m.cols], wv, bv, hi-lo, m.cols, eps)
	})
}

// GeluNew implements compute.Backend.
func (b *Backend) GeluNew(x compute.Tensor) {
	d := host(x).data
	b.parallel(len(d), 8, func(lo, hi int) { geluSlice(d[lo:hi]) })
}

// attnTile bounds one matrix product of attention: tiles of attnRows
// query rows by at most attnTile/(attnRows·d_head) key positions, so that
// rows × keys × d_head stays at 2^18 multiply-adds, the size up to which
// OpenBLAS runs a product on the calling thread alone. The heads are then
// shared by one goroutine per core, each running its products whole: on a
// busy machine OpenBLAS' own threads, woken for every small product, made
// a batch's attention 30 to 60 times slower (1–2 s instead of 33 ms).
const (
	attnRows = 32
	attnTile = 1 << 18
	qkTile   = 1024
)

// CausalAttention implements compute.Backend. Each (sequence, head) pair
// is two matrix products around a masked softmax, computed in blocks of
// query rows that skip the keys the causal mask hides: with cgo on AVX2 or
// AVX-512 CPUs in one C kernel per head (saescope_attention_head, 1.46×
// faster than the BLAS on GPT-2 small's heads at 128 positions, 2× at
// 1024: the products are too small for its packing to pay), else through
// the BLAS in tiles (5/8 of the full products at 128 positions).
func (b *Backend) CausalAttention(dst, qkv compute.Tensor, batch, seq, heads int) {
	b.causalAttention(host(dst), host(qkv), nil, batch, seq, heads)
}

// CausalAttentionBias implements compute.BiasAttender: the C kernel adds
// the bias to each head's q, k and v as it copies them (the pass over the
// 4096×2304 product that MatMul's bias would take is saved); the BLAS
// tiles add it to qkv first.
func (b *Backend) CausalAttentionBias(dst, qkv, bias compute.Tensor, batch, seq, heads int) {
	in, bv := host(qkv), host(bias).data
	if b.attn == attnTiles {
		b.addBias(in, bv)
		bv = nil
	}
	b.causalAttention(host(dst), in, bv, batch, seq, heads)
}

// causalAttention is CausalAttention with the bias of the qkv product
// (nil, or 3·d_model floats) added to q, k and v by the C kernel; the
// tiles take it already added.
func (b *Backend) causalAttention(z, in hostMat, bias []float32, batch, seq, heads int) {
	dm := z.cols
	dh := dm / heads
	ld := in.cols // 3·d
	scale := float32(1 / math.Sqrt(float64(dh)))
	keys := max(1, attnTile/(attnRows*dh)) // key positions per tile
	// Q·Kᵀ is a transposed product for OpenBLAS, whose small-matrix kernel
	// takes it only for outputs of at most ~1200 values: its tiles have
	// fewer rows (8 of 128 keys at d_head 64; 1.5× faster than 32 rows
	// through the general kernel and its packing)
	qkRows := max(1, min(attnRows, qkTile/keys))
	pairs := batch * heads
	workers := max(1, min(b.workers(), pairs))
	var next atomic.Int64
	done := make(chan struct{}, workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			kernel := b.attn != attnTiles && seq > 0 && dh > 0
			var scores []float32
			if kernel {
				scores = make([]float32, attentionScratch(seq, dh))
			} else {
				scores = make([]float32, seq*seq)
			}
			for {
				p := int(next.Add(1) - 1)
				if p >= pairs {
					return
				}
				bi, h := p/heads, p%heads
				base := bi * seq * ld
				q := in.data[base+h*dh:]
				k := in.data[base+dm+h*dh:]
				v := in.data[base+2*dm+h*dh:]
				out := z.data[bi*seq*dm+h*dh:]
				if kernel {
					var bq, bk, bv []float32
					if bias != nil {
						bq, bk, bv = bias[h*dh:(h+1)*dh], bias[dm+h*dh:dm+(h+1)*dh], bias[2*dm+h*dh:2*dm+(h+1)*dh]
					}
					attentionHead(b.attn, q, k, v, bq, bk, bv, ld, out, dm, seq, dh, scale, scores)
					continue
				}
				// scores[i][j] for j ≤ i: the rows' tiles reach the last row's key
				for r0 := 0; r0 < seq; r0 += qkRows {
					rows := min(qkRows, seq-r0)
					for c0 := 0; c0 < r0+rows; c0 += keys {
						cols := min(keys, r0+rows-c0)
						b.gemm.Sgemm(blas.NoTrans, blas.Trans, rows, cols, dh, scale, q[r0*ld:], ld, k[c0*ld:], ld, 0, scores[r0*seq+c0:], seq)
					}
				}
				causalSoftmax(scores, seq)
				for r0 := 0; r0 < seq; r0 += attnRows {
					rows := min(attnRows, seq-r0)
					beta := float32(0)
					for c0 := 0; c0 < r0+rows; c0 += keys {
						cols := min(keys, r0+rows-c0)
						b.gemm.Sgemm(blas.NoTrans, blas.NoTrans, rows, dh, cols, 1, scores[r0*seq+c0:], seq, v[c0*ld:], ld, beta, out[r0*dm:], dm)
						beta = 1
					}
				}
			}
		}()
	}
	for w := 0; w < workers; w++ {
		<-done
	}
}

// SAEEncode implements compute.Backend.
func (b *Backend) SAEEncode(dst, x, wEnc, bEnc, bDec compute.Tensor) {
	d, in := host(dst), host(x)
	src := in
	if bDec != nil {
		// (x - b_dec) in a scratch matrix; the caller's x is left untouched.
		bd := host(bDec).data
		tmp := hostMat{data: make([]float32, len(in.data)), rows: in.rows, cols: in.cols}
		b.parallel(in.rows, in.cols, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				r, o := in.data[i*in.cols:(i+1)*in.cols], tmp.data[i*in.cols:(i+1)*in.cols]
				for j := range r {
					o[j] = r[j] - bd[j]
				}
			}
		})
		src = tmp
	}
	// the product alone, then bias and ReLU in one vectorized pass, as the
	// CUDA backend does (copying the bias into the 4096×6144 output for the
	// product to add to cost a pass of its own, and the ReLU was a Go loop)
	b.gemm.Sgemm(blas.NoTrans, blas.NoTrans, src.rows, d.cols, src.cols, 1, src.data, src.cols, host(wEnc).data, d.cols, 0, d.data, d.cols)
	var bv []float32
	if bEnc != nil {
		bv = host(bEnc).data
	}
	b.parallel(d.rows, d.cols, func(lo, hi int) {
		biasReLURows(d.data[lo*d.cols:hi*d.cols], bv, hi-lo, d.cols)
	})
}

// CrossEntropy implements compute.Backend.
func (b *Backend) CrossEntropy(loss []float32, logits compute.Tensor, targets []int32) {
	m := host(logits)
	b.parallel(m.rows, m.cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := m.data[i*m.cols : (i+1)*m.cols]
			loss[i] = logSumExp(row) - row[targets[i]]
		}
	})
}

func logSumExp(row []float32) float32 {
	mx, s, _ := expSums(row)
	return mx + float32(math.Log(s))
}

// SoftmaxStats implements compute.Backend. With m the row's maximum,
// s = Σ exp(x - m) and t = Σ exp(x - m)·(x - m), the entropy is
// log s - t/s nats and the largest probability 1/s: one exponential per
// logit (the CUDA kernel softmax_stats computes the same sums).
func (b *Backend) SoftmaxStats(entropyBits, maxProb []float32, logits compute.Tensor) {
	m := host(logits)
	b.parallel(m.rows, m.cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			_, s, t := expSums(m.data[i*m.cols : (i+1)*m.cols])
			entropyBits[i] = float32((math.Log(s) - t/s) / math.Ln2)
			maxProb[i] = float32(1 / s)
		}
	})
}

// expSumsGo is the pure-Go expSums (builds without cgo, and the reference
// the C kernel is tested against): sums in float64, in order.
func expSumsGo(row []float32) (mx float32, s, t float64) {
	mx = row[0]
	for _, v := range row {
		if v > mx {
			mx = v
		}
	}
	for _, v := range row {
		d := v - mx
		e := float64(expf(d))
		s += e
		t += e * float64(d)
	}
	return mx, s, t
}

// causalSoftmaxGo is the pure-Go causal softmax (builds without cgo, and
// the reference the C kernel is tested against).
func causalSoftmaxGo(scores []float32, seq int) {
	for i := 0; i < seq; i++ {
		row := scores[i*seq : (i+1)*seq]
		mx := row[0]
		for _, s := range row[1 : i+1] {
			if s > mx {
				mx = s
			}
		}
		var sum float32
		for j := 0; j <= i; j++ {
			e := expf(row[j] - mx)
			row[j] = e
			sum += e
		}
		inv := 1 / sum
		for j := 0; j <= i; j++ {
			row[j] *= inv
		}
		for j := i + 1; j < seq; j++ {
			row[j] = 0
		}
	}
}

// HostData implements compute.HostData.
func (b *Backend) HostData(t compute.Tensor) []float32 { return host(t).data }

// String names the path: "tiles", or the kernel's instruction set.
func (p attnPath) String() string {
	switch p {
	case attnAVX2:
		return "AVX2"
	case attnAVX512:
		return "AVX-512"
	}
	return "tiles"
}
