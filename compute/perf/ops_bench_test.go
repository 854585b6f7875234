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
	cfg := gpt2.SmallConfig()
	ck := gpt2.Random(cfg, 1)
	ot := &opTimer{Backend: be, spent: map[string]time.Duration{}}
	m, err := model.New(ot, ck)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	const B, T, dSae = 32, 128, 6144
	hook := hookname.Hook{Layer: 9, Point: hookname.ResidPre}
	enc, err := encoder.New(ot, sae.Random(cfg.DModel, dSae, hook, -0.5, 2))
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	feats := ot.Alloc(B*T, dSae)
	defer ot.Free(feats)
	tokens := make([]int32, B*T)
	for i := range tokens {
		tokens[i] = int32((i * 7919) % cfg.VocabSize)
		if i%T == 0 {
			tokens[i] = 50256
		}
	}
	scan := func() {
		_, err := m.Run(context.Background(), tokens, B, T, model.Hooks{StopAfter: &hook, ObserveAt: []hookname.Hook{hook},
			Observe: func(_ hookname.Hook, act compute.Tensor) error { return enc.Encode(feats, act) }})
		if err != nil {
			b.Fatal(err)
		}
	}
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
	const B, T, dSae = 32, 128, 6144
	if be.Lanes(B*T) < 2 {
		b.Skipf("%d rows run in one lane here (%d cores)", B*T, runtime.GOMAXPROCS(0))
	}
	cfg := gpt2.SmallConfig()
	ck := gpt2.Random(cfg, 1)
	hook := hookname.Hook{Layer: 9, Point: hookname.ResidPre}
	enc, err := encoder.New(be, sae.Random(cfg.DModel, dSae, hook, -0.5, 2))
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	feats := be.Alloc(B*T, dSae)
	tokens := make([]int32, B*T)
	for i := range tokens {
		tokens[i] = int32((i * 7919) % cfg.VocabSize)
		if i%T == 0 {
			tokens[i] = 50256
		}
	}
	// scanner returns a scan on a model of the weights on sb, whose first
	// run allocates its buffers
	scanner := func(sb compute.Backend) func() time.Duration {
		m, err := model.New(sb, ck)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(m.Close)
		return func() time.Duration {
			t0 := time.Now()
			_, err := m.Run(context.Background(), tokens, B, T, model.Hooks{StopAfter: &hook, ObserveAt: []hookname.Hook{hook},
				Observe: func(_ hookname.Hook, act compute.Tensor) error { return enc.Encode(feats, act) }})
			if err != nil {
				b.Fatal(err)
			}
			return time.Since(t0)
		}
	}
	laned, whole := scanner(be), scanner(be.WithLaneRows(math.MaxInt32))
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
