// Package perf measures the engine on full-size GPT-2 small with random
// weights made in memory: the machine's SGEMM rate, the feature scan
// (forward stopped at a hook, then the SAE encode) and the full forward to
// logits. The app's bench subcommand prints its Report.
package perf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// Options choose the workload.
type Options struct {
	Batch, Seq int    // scan batch shape (default 32×128)
	Hook       string // scan hook (default blocks.9.hook_resid_pre)
	DSae       int    // SAE width (default 6144)
	// Family is the SAE's architecture: "relu" (default), "topk",
	// "jumprelu" or "gated" (sae.Architecture names); K the features a
	// TopK SAE keeps per token (default 32, as OpenAI's v5 SAEs).
	Family   string
	K        int
	Reps     int  // timed repetitions of each measurement (default 2)
	SkipFull bool // skip the full forward to logits
	// L0 is the features per token that the random SAE is calibrated to
	// fire (default 60) on a device backend, where the scan is also timed
	// with its sparse read-back, whose volume follows L0.
	L0       float64
	Progress func(string)
}

// Report holds the measured figures.
type Report struct {
	Backend         string  `json:"backend"`
	Batch           int     `json:"batch"`
	Seq             int     `json:"seq"`
	Hook            string  `json:"hook"`
	DSae            int     `json:"d_sae"`
	Family          string  `json:"family"`
	K               int     `json:"k,omitempty"`
	SGEMMGFLOPS     float64 `json:"sgemm_gflops"`
	ScanTokensPerS  float64 `json:"scan_tokens_per_s"`
	ScanGFLOPS      float64 `json:"scan_gflops"`
	ScanFraction    float64 `json:"scan_fraction_of_sgemm"`
	FullTokensPerS  float64 `json:"full_tokens_per_s"`
	FullGFLOPS      float64 `json:"full_gflops"`
	ScanSecondsPerB float64 `json:"scan_seconds_per_batch"`
	// ReadBackTokensPerS is the scan rate when each batch also brings its
	// features' positive entries and the activations' squared norms back
	// to the host (compute.SparseReader), as a scan does; 0 on the CPU,
	// whose results are read in place.
	ReadBackTokensPerS float64 `json:"scan_read_back_tokens_per_s,omitempty"`
	// ReadBackL0 is the mean number of entries read back per token.
	ReadBackL0 float64 `json:"scan_read_back_l0,omitempty"`
}

func (o *Options) defaults() {
	if o.Batch == 0 {
		o.Batch = 32
	}
	if o.Seq == 0 {
		o.Seq = 128
	}
	if o.Hook == "" {
		o.Hook = "blocks.9.hook_resid_pre"
	}
	if o.DSae == 0 {
		o.DSae = 6144
	}
	if o.Reps == 0 {
		o.Reps = 2
	}
	if o.Family == "" || o.Family == "relu" {
		o.Family = string(sae.Standard)
	}
	if o.K == 0 {
		o.K = 32
	}
	if o.L0 == 0 {
		o.L0 = 60
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
}

// SGEMM times an m×k by k×n product on be and returns GFLOPS (best of reps).
func SGEMM(be compute.Backend, m, k, n, reps int) float64 {
	a, b, c := be.Alloc(m, k), be.Alloc(k, n), be.Alloc(m, n)
	defer func() { be.Free(a); be.Free(b); be.Free(c) }()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]float32, max(m*k, k*n))
	for i := range buf {
		buf[i] = rng.Float32() - 0.5
	}
	be.Write(a, buf[:m*k])
	be.Write(b, buf[:k*n])
	be.MatMul(c, a, b, nil) // warm up
	best := time.Duration(1 << 62)
	for r := 0; r < reps; r++ {
		t0 := time.Now()
		be.MatMul(c, a, b, nil)
		be.Read(be.RowsView(c, 0, 1), buf[:n]) // wait for asynchronous backends
		best = min(best, time.Since(t0))
	}
	return 2 * float64(m) * float64(k) * float64(n) / best.Seconds() / 1e9
}

// ForwardFLOPs counts the multiply-adds (×2) per token of layers whole
// blocks at sequence length seq, attention computed over the full square.
func ForwardFLOPs(cfg gpt2.Config, layers, seq int) float64 {
	d, m := float64(cfg.DModel), float64(cfg.DMLP())
	perLayer := 2*(d*3*d+d*d+2*d*m) + 4*float64(seq)*d
	return float64(layers) * perLayer
}

// Run builds the random model and measures it on be.
func Run(ctx context.Context, be compute.Backend, opts Options) (*Report, error) {
	opts.defaults()
	cfg := gpt2.SmallConfig()
	h, err := hookname.Parse(opts.Hook, cfg.NLayer)
	if err != nil {
		return nil, err
	}
	if h.Width() != "d_model" {
		return nil, fmt.Errorf("bench: hook %s is not d_model wide", h)
	}
	rep := &Report{Backend: be.Name(), Batch: opts.Batch, Seq: opts.Seq, Hook: h.String(), DSae: opts.DSae, Family: opts.Family}

	opts.Progress("SGEMM 4096×768×3072")
	rep.SGEMMGFLOPS = SGEMM(be, 4096, 768, 3072, 3)

	opts.Progress("building a random full-size GPT-2 small")
	ck := gpt2.Random(cfg, 1)
	m, err := model.New(be, ck)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	B, T := opts.Batch, opts.Seq
	tokens := make([]int32, B*T)
	for i := range tokens {
		if i%T == 0 {
			tokens[i] = 50256
		} else {
			tokens[i] = int32(rng.IntN(cfg.VocabSize))
		}
	}
	s := sae.Random(cfg.DModel, opts.DSae, h, -0.5, 2)
	if err := setFamily(s, sae.Architecture(opts.Family), opts.K); err != nil {
		return nil, err
	}
	if s.Arch == sae.TopK {
		rep.K = s.K
	}
	sparse, readBack := compute.ReadsBackSparse(be)
	if readBack {
		opts.Progress(fmt.Sprintf("calibrating the SAE to fire about %g features per token", opts.L0))
		calRows := min(B, 4)
		if err := CalibrateBias(ctx, m, s, tokens[:calRows*T], calRows, T, opts.L0); err != nil {
			return nil, err
		}
	}
	enc, err := encoder.New(be, s)
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	feats := be.Alloc(B*T, opts.DSae)
	defer be.Free(feats)
	sink := make([]float32, opts.DSae)
	var ptr []uint64
	var ids []uint32
	var vals []float32
	sq := make([]float64, B*T)
	// scan runs one batch to the hook and the encode; withReadBack the
	// positive features and the squared norms come back too, as in
	// analysis.Scan, else one row (which waits for the device to finish).
	scan := func(withReadBack bool) error {
		m.Lock()
		defer m.Unlock()
		_, err := m.Run(ctx, tokens, B, T, model.Hooks{StopAfter: &h, Observe: func(hk hookname.Hook, act compute.Tensor) error {
			if hk != h {
				return nil
			}
			if err := enc.Encode(feats, act); err != nil {
				return err
			}
			if withReadBack {
				ptr, ids, vals = sparse.SparseRows(feats, ptr, ids, vals)
				sparse.RowSumSquares(act, sq)
			}
			return nil
		}})
		if !withReadBack {
			be.Read(be.RowsView(feats, 0, 1), sink)
		}
		return err
	}
	timeScan := func(withReadBack bool) (time.Duration, error) {
		if err := scan(withReadBack); err != nil { // warm-up allocates the buffers
			return 0, err
		}
		best := time.Duration(1 << 62)
		for r := 0; r < opts.Reps; r++ {
			t0 := time.Now()
			if err := scan(withReadBack); err != nil {
				return 0, err
			}
			best = min(best, time.Since(t0))
		}
		return best, nil
	}
	opts.Progress(fmt.Sprintf("scan: %d×%d tokens to %s + %d-feature encode", B, T, h, opts.DSae))
	best, err := timeScan(false)
	if err != nil {
		return nil, err
	}
	tokensN := float64(B * T)
	if readBack {
		opts.Progress("scan with the sparse read-back")
		rb, err := timeScan(true)
		if err != nil {
			return nil, err
		}
		rep.ReadBackTokensPerS = tokensN / rb.Seconds()
		rep.ReadBackL0 = float64(len(ids)) / tokensN
	}
	rep.ScanSecondsPerB = best.Seconds()
	rep.ScanTokensPerS = tokensN / best.Seconds()
	scanFlops := ForwardFLOPs(cfg, h.Layer, T) + 2*float64(cfg.DModel)*float64(opts.DSae)
	rep.ScanGFLOPS = scanFlops * rep.ScanTokensPerS / 1e9
	// The machine may be shared: measure SGEMM again after the scan and keep
	// the better figure, so that the fraction is not flattered by a slow
	// first measurement.
	rep.SGEMMGFLOPS = max(rep.SGEMMGFLOPS, SGEMM(be, 4096, 768, 3072, 3))
	rep.ScanFraction = rep.ScanGFLOPS / rep.SGEMMGFLOPS

	if !opts.SkipFull {
		opts.Progress("full forward to logits")
		full := func() error {
			m.Lock()
			defer m.Unlock()
			out, err := m.Run(ctx, tokens, B, T, model.Hooks{})
			if err != nil {
				return err
			}
			_, err = m.TokenLoss(out, tokens)
			return err
		}
		t0 := time.Now()
		if err := full(); err != nil {
			return nil, err
		}
		el := time.Since(t0)
		rep.FullTokensPerS = tokensN / el.Seconds()
		fullFlops := ForwardFLOPs(cfg, cfg.NLayer, T) + 2*float64(cfg.DModel)*float64(cfg.VocabSize)
		rep.FullGFLOPS = fullFlops * rep.FullTokensPerS / 1e9
	}
	return rep, nil
}

// setFamily turns the random ReLU SAE s into one of family arch: TopK
// keeping k features, JumpReLU with zero thresholds, Gated with zero gate
// and magnitude biases and r_mag (the same work per token as the real ones).
func setFamily(s *sae.SAE, arch sae.Architecture, k int) error {
	zeros := func() weights.Tensor {
		return weights.Tensor{Shape: []int{s.DSae}, Data: make([]float32, s.DSae)}
	}
	switch arch {
	case sae.Standard:
	case sae.TopK:
		if k < 1 || k > s.DSae {
			return fmt.Errorf("bench: k %d out of range [1, %d]", k, s.DSae)
		}
		s.K = k
	case sae.JumpReLU:
		s.Threshold = zeros()
	case sae.Gated:
		s.BGate, s.BMag, s.RMag = s.BEnc, zeros(), zeros()
	default:
		return fmt.Errorf("bench: family %q: use relu, topk, jumprelu or gated", arch)
	}
	s.Arch = arch
	return nil
}
