package conformance

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights"
)

// Timed wraps a backend and measures the time of each kind of operation,
// waiting for the device after each call (so it slows the pass down, but
// says where the time goes). Sync is called after each operation when the
// wrapped backend has one.
type Timed struct {
	compute.Backend
	mu    sync.Mutex
	total map[string]time.Duration
	count map[string]int
}

// NewTimed wraps be.
func NewTimed(be compute.Backend) *Timed {
	return &Timed{Backend: be, total: map[string]time.Duration{}, count: map[string]int{}}
}

// Reset clears the measurements.
func (t *Timed) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.total)
	clear(t.count)
}

func (t *Timed) time(name string, fn func()) {
	t0 := time.Now()
	fn()
	if s, ok := t.Backend.(interface{ Sync() }); ok {
		s.Sync()
	}
	dt := time.Since(t0)
	t.mu.Lock()
	t.total[name] += dt
	t.count[name]++
	t.mu.Unlock()
}

// Report lists the operations by total time.
func (t *Timed) Report() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, 0, len(t.total))
	var all time.Duration
	for n, d := range t.total {
		names = append(names, n)
		all += d
	}
	sort.Slice(names, func(i, j int) bool { return t.total[names[i]] > t.total[names[j]] })
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "  %-16s %5d calls %9.2f ms %5.1f%%\n", n, t.count[n], float64(t.total[n].Microseconds())/1000, 100*t.total[n].Seconds()/all.Seconds())
	}
	fmt.Fprintf(&b, "  %-16s %5s       %9.2f ms", "total", "", float64(all.Microseconds())/1000)
	return b.String()
}

// The compute.Backend methods, timed.

func (t *Timed) Upload(w weights.Tensor) (r compute.Tensor, err error) {
	t.time("Upload", func() { r, err = t.Backend.Upload(w) })
	return r, err
}
func (t *Timed) Read(x compute.Tensor, dst []float32) {
	t.time("Read", func() { t.Backend.Read(x, dst) })
}
func (t *Timed) Write(x compute.Tensor, src []float32) {
	t.time("Write", func() { t.Backend.Write(x, src) })
}
func (t *Timed) Gather(dst, table compute.Tensor, ids []int32) {
	t.time("Gather", func() { t.Backend.Gather(dst, table, ids) })
}
func (t *Timed) MatMul(dst, a, b, bias compute.Tensor) {
	t.time("MatMul", func() { t.Backend.MatMul(dst, a, b, bias) })
}
func (t *Timed) MatMulTransB(dst, a, b compute.Tensor) {
	t.time("MatMulTransB", func() { t.Backend.MatMulTransB(dst, a, b) })
}
func (t *Timed) Add(dst, a, b compute.Tensor)     { t.time("Add", func() { t.Backend.Add(dst, a, b) }) }
func (t *Timed) Copy(dst, src compute.Tensor)     { t.time("Copy", func() { t.Backend.Copy(dst, src) }) }
func (t *Timed) Fill(x compute.Tensor, v float32) { t.time("Fill", func() { t.Backend.Fill(x, v) }) }
func (t *Timed) FillRows(dst, v compute.Tensor) {
	t.time("FillRows", func() { t.Backend.FillRows(dst, v) })
}
func (t *Timed) MeanRows(dst, x compute.Tensor) {
	t.time("MeanRows", func() { t.Backend.MeanRows(dst, x) })
}
func (t *Timed) CenterRows(x compute.Tensor) {
	t.time("CenterRows", func() { t.Backend.CenterRows(x) })
}
func (t *Timed) LayerNorm(dst, x, w, b compute.Tensor, eps float32) {
	t.time("LayerNorm", func() { t.Backend.LayerNorm(dst, x, w, b, eps) })
}
func (t *Timed) GeluNew(x compute.Tensor) { t.time("GeluNew", func() { t.Backend.GeluNew(x) }) }
func (t *Timed) CausalAttention(dst, qkv compute.Tensor, batch, seq, heads int) {
	t.time("CausalAttention", func() { t.Backend.CausalAttention(dst, qkv, batch, seq, heads) })
}
func (t *Timed) SAEEncode(dst, x, wEnc, bEnc, bDec compute.Tensor) {
	t.time("SAEEncode", func() { t.Backend.SAEEncode(dst, x, wEnc, bEnc, bDec) })
}
func (t *Timed) CrossEntropy(loss []float32, logits compute.Tensor, targets []int32) {
	t.time("CrossEntropy", func() { t.Backend.CrossEntropy(loss, logits, targets) })
}
func (t *Timed) SoftmaxStats(entropyBits, maxProb []float32, logits compute.Tensor) {
	t.time("SoftmaxStats", func() { t.Backend.SoftmaxStats(entropyBits, maxProb, logits) })
}

// The compute.FamilyOps methods, timed; the wrapped backend must have them
// (the CUDA engine does: NewTimed wraps only it).

func (t *Timed) TopKRows(x compute.Tensor, k int) {
	t.time("TopKRows", func() { t.Backend.(compute.FamilyOps).TopKRows(x, k) })
}
func (t *Timed) JumpReLU(x, threshold compute.Tensor) {
	t.time("JumpReLU", func() { t.Backend.(compute.FamilyOps).JumpReLU(x, threshold) })
}
func (t *Timed) Gate(mag, gate compute.Tensor) {
	t.time("Gate", func() { t.Backend.(compute.FamilyOps).Gate(mag, gate) })
}
func (t *Timed) NormalizeRows(dst, x, stats compute.Tensor, norm compute.RowNorm, eps float32) {
	t.time("NormalizeRows", func() { t.Backend.(compute.FamilyOps).NormalizeRows(dst, x, stats, norm, eps) })
}
func (t *Timed) DenormalizeRows(x, stats compute.Tensor) {
	t.time("DenormalizeRows", func() { t.Backend.(compute.FamilyOps).DenormalizeRows(x, stats) })
}
