package perf_test

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/perf"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// opTimer passes the CPU backend through, its fused kernels included, and
// adds up the wall time of each operation under a name. It runs every batch
// whole, not in lanes (Lanes), where two lanes' operations overlap in time.
type opTimer struct {
	*cpu.Backend
	mu    sync.Mutex
	spent map[string]time.Duration
}

// Lanes is 1: the pass runs whole, each operation on every core in turn.
func (o *opTimer) Lanes(int) int { return 1 }

func (o *opTimer) since(name string, t0 time.Time) {
	o.mu.Lock()
	o.spent[name] += time.Since(t0)
	o.mu.Unlock()
}

// productNames names the products of GPT-2 small by their inner and outer
// widths.
var productNames = map[[2]int]string{{768, 2304}: "qkv", {768, 768}: "attn_out", {768, 3072}: "mlp_in", {3072, 768}: "mlp_out"}

func (o *opTimer) MatMul(dst, a, w, bias compute.Tensor) {
	defer o.since(productNames[[2]int{a.Cols(), w.Cols()}], time.Now())
	o.Backend.MatMul(dst, a, w, bias)
}
func (o *opTimer) SAEEncode(dst, x, w, b, bDec compute.Tensor) {
	defer o.since("sae_encode", time.Now())
	o.Backend.SAEEncode(dst, x, w, b, bDec)
}
func (o *opTimer) CausalAttention(dst, qkv compute.Tensor, batch, seq, heads int) {
	defer o.since("attention", time.Now())
	o.Backend.CausalAttention(dst, qkv, batch, seq, heads)
}
func (o *opTimer) CausalAttentionBias(dst, qkv, bias compute.Tensor, batch, seq, heads int) {
	defer o.since("attention", time.Now()) // with the qkv product's bias
	o.Backend.CausalAttentionBias(dst, qkv, bias, batch, seq, heads)
}
func (o *opTimer) BiasGeluNew(x, bias compute.Tensor) {
	defer o.since("bias_gelu", time.Now())
	o.Backend.BiasGeluNew(x, bias)
}
func (o *opTimer) AddResidual(resid, delta, bias compute.Tensor, centre bool, ln, w, lnBias compute.Tensor, eps float32) {
	defer o.since("add_residual", time.Now())
	o.Backend.AddResidual(resid, delta, bias, centre, ln, w, lnBias, eps)
}
func (o *opTimer) LayerNorm(dst, x, w, b compute.Tensor, eps float32) {
	defer o.since("layernorm", time.Now())
	o.Backend.LayerNorm(dst, x, w, b, eps)
}
func (o *opTimer) Gather(dst, table compute.Tensor, ids []int32) {
	defer o.since("embed", time.Now())
	o.Backend.Gather(dst, table, ids)
}
func (o *opTimer) Add(dst, a, b compute.Tensor) {
	defer o.since("embed", time.Now()) // the positions added to the tokens'
	o.Backend.Add(dst, a, b)
}

// BenchmarkScanOps is `bench`'s scan (full-size random GPT-2 small to
// blocks.9.hook_resid_pre, a 6144-feature SAE, batch 32×128) on the CPU,
// run whole (not in lanes: BenchmarkScanLanes compares the two),
// with each operation timed: it reports milliseconds per scan for each
// product (by name), the SAE encode, attention, the fused elementwise
// passes and the rest, and the products' rate against the 4096×768×3072
// SGEMM measured between them (products_fraction_of_sgemm; the best of
// eight, as bench keeps its best). Run it with -benchtime 1x; it says where
// the time goes that scan_fraction_of_sgemm does not reach.
func BenchmarkScanOps(b *testing.B) {
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		b.Fatal(err)
	}
	ot := &opTimer{Backend: be, spent: map[string]time.Duration{}}
	w := newScanWork(b, ot)
	cfg, hook, B, T, dSae := w.cfg, w.hook, w.batch, w.seq, w.dSae
	scan := w.scanner(ot)
	for b.Loop() {
		scan() // warm-up: buffers
		clear(ot.spent)
		// the SGEMM reference is the best of several, measured between the
		// scans (the machine may be shared)
		const reps = 3
		sgemm := perf.SGEMM(be, 4096, 768, 3072, 2)
		var wall float64
		for range reps {
			t0 := time.Now()
			scan()
			wall += time.Since(t0).Seconds() / reps
			sgemm = max(sgemm, perf.SGEMM(be, 4096, 768, 3072, 2))
		}
		if ot.spent[""] != 0 {
			b.Fatalf("a product of a shape not named: %v", ot.spent[""])
		}
		ms := func(name string) float64 { return ot.spent[name].Seconds() * 1000 / reps }
		var products, timed float64
		for _, name := range []string{"qkv", "attn_out", "mlp_in", "mlp_out", "sae_encode"} {
			products += ms(name)
		}
		for name := range ot.spent {
			timed += ms(name)
			b.ReportMetric(ms(name), name+"-ms")
		}
		b.ReportMetric(wall*1000-timed, "other-ms")
		b.ReportMetric(wall*1000, "scan-ms")
		blocks := float64(hook.Layer)
		flops := float64(B*T) * (blocks*2*float64(cfg.DModel)*float64(3*cfg.DModel+cfg.DModel+2*cfg.DMLP()) + 2*float64(cfg.DModel*dSae))
		b.ReportMetric(flops/(products/1000)/1e9/sgemm, "products_fraction_of_sgemm")
		counted := (perf.ForwardFLOPs(cfg, int(blocks), T) + 2*float64(cfg.DModel*dSae)) * float64(B*T)
		b.ReportMetric(counted/wall/1e9/sgemm, "scan_fraction_of_sgemm")
	}
}

// BenchmarkScanLanes times `bench`'s scan (as BenchmarkScanOps) run in
// lanes, one group of sequences per core (compute.Laner), and run whole,
// each operation split over the cores, alternating five times: it reports
// the median milliseconds of each and their ratio. Run it with -benchtime
// 1x on a machine of two or more cores.
func BenchmarkScanLanes(b *testing.B) {
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		b.Fatal(err)
	}
	w := newScanWork(b, be)
	if be.Lanes(w.batch*w.seq) < 2 {
		b.Skipf("%d rows run in one lane here (%d cores)", w.batch*w.seq, runtime.GOMAXPROCS(0))
	}
	laned, whole := w.scanner(be), w.scanner(be.WithLaneRows(math.MaxInt32))
	for b.Loop() {
		laned()
		whole()
		var l, w []float64
		for range 5 {
			l = append(l, laned().Seconds()*1000)
			w = append(w, whole().Seconds()*1000)
		}
		slices.Sort(l)
		slices.Sort(w)
		b.ReportMetric(l[2], "lanes-ms")
		b.ReportMetric(w[2], "whole-ms")
		b.ReportMetric(l[2]/w[2], "lanes/whole")
	}
}

// scanWork is `bench`'s scan: full-size random GPT-2 small to
// blocks.9.hook_resid_pre, then a random 6144-feature SAE's encode, on a
// batch of 32×128 tokens.
type scanWork struct {
	b                *testing.B
	cfg              gpt2.Config
	ck               *gpt2.Checkpoint
	hook             hookname.Hook
	batch, seq, dSae int
	enc              *encoder.Encoder
	feats            compute.Tensor
	tokens           []int32
}

// newScanWork makes the weights, and the SAE and its output on be.
func newScanWork(b *testing.B, be compute.Backend) *scanWork {
	w := &scanWork{b: b, cfg: gpt2.SmallConfig(), hook: hookname.Hook{Layer: 9, Point: hookname.ResidPre}, batch: 32, seq: 128, dSae: 6144}
	w.ck = gpt2.Random(w.cfg, 1)
	enc, err := encoder.New(be, sae.Random(w.cfg.DModel, w.dSae, w.hook, -0.5, 2))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(enc.Close)
	w.enc = enc
	w.feats = be.Alloc(w.batch*w.seq, w.dSae)
	b.Cleanup(func() { be.Free(w.feats) })
	w.tokens = make([]int32, w.batch*w.seq)
	for i := range w.tokens {
		w.tokens[i] = int32((i * 7919) % w.cfg.VocabSize)
		if i%w.seq == 0 {
			w.tokens[i] = 50256
		}
	}
	return w
}

// scanner returns the scan on a model of the weights on be, timed; its
// first run allocates the model's buffers.
func (w *scanWork) scanner(be compute.Backend) func() time.Duration {
	m, err := model.New(be, w.ck)
	if err != nil {
		w.b.Fatal(err)
	}
	w.b.Cleanup(m.Close)
	return func() time.Duration {
		t0 := time.Now()
		_, err := m.Run(context.Background(), w.tokens, w.batch, w.seq, model.Hooks{StopAfter: &w.hook, ObserveAt: []hookname.Hook{w.hook},
			Observe: func(_ hookname.Hook, act compute.Tensor) error { return w.enc.Encode(w.feats, act) }})
		if err != nil {
			w.b.Fatal(err)
		}
		return time.Since(t0)
	}
}
