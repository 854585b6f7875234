// Package perf measures the engine on full-size GPT-2 small with random
// weights made in memory: the machine's SGEMM rate, the feature scan
// (forward stopped at a hook, then the SAE encode) and the full forward to
// logits. The app's bench subcommand prints its Report.
package perf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
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
	Family string
	K      int
	// Hooks, when set, are the hooks of several SAEs scanned together
	// (each d_model wide, one random SAE of the family at each), timed
	// against the single SAE at Hook.
	Hooks    []string
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
	Backend        string  `json:"backend"`
	Batch          int     `json:"batch"`
	Seq            int     `json:"seq"`
	Hook           string  `json:"hook"`
	DSae           int     `json:"d_sae"`
	Family         string  `json:"family"`
	K              int     `json:"k,omitempty"`
	SGEMMGFLOPS    float64 `json:"sgemm_gflops"`
	ScanTokensPerS float64 `json:"scan_tokens_per_s"`
	ScanGFLOPS     float64 `json:"scan_gflops"`
	ScanFraction   float64 `json:"scan_fraction_of_sgemm"`
	// ScanFractionPaired is the median, over the timed repetitions of the
	// reported scan, of its rate over an SGEMM timed just before it: on a
	// machine whose speed drifts (shared with other work) the ratio of
	// two figures measured seconds apart, where ScanFraction divides the
	// best scan by the best SGEMM of the whole run.
	ScanFractionPaired float64 `json:"scan_fraction_paired"`
	FullTokensPerS     float64 `json:"full_tokens_per_s"`
	FullGFLOPS         float64 `json:"full_gflops"`
	ScanSecondsPerB    float64 `json:"scan_seconds_per_batch"`
	// ReadBackTokensPerS is the scan rate when each batch also brings its
	// features' positive entries and the activations' squared norms back
	// to the host (compute.SparseReader), as a scan does; 0 on the CPU,
	// whose results are read in place.
	ReadBackTokensPerS float64 `json:"scan_read_back_tokens_per_s,omitempty"`
	// ReadBackL0 is the mean number of entries read back per token (and
	// per SAE).
	ReadBackL0 float64 `json:"scan_read_back_l0,omitempty"`
	// Hooks are the SAEs' hooks when several were scanned together
	// (Options.Hooks): ScanTokensPerS, ScanGFLOPS, ScanFraction and the
	// read-back figures are then those of the SAEs together, and
	// SingleTokensPerS (SingleReadBackTokensPerS) is the scan of one SAE
	// at Hook, timed in the same run, alternating with them.
	Hooks                    []string `json:"hooks,omitempty"`
	SingleTokensPerS         float64  `json:"single_scan_tokens_per_s,omitempty"`
	SingleReadBackTokensPerS float64  `json:"single_scan_read_back_tokens_per_s,omitempty"`
	// TogetherVsSingle is ScanTokensPerS / SingleTokensPerS.
	TogetherVsSingle float64 `json:"together_vs_single,omitempty"`
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

// MaxScanTokens bounds a scan benchmark's batch × sequence: its
// activations (the MLP's 3072 columns, the SAE's features, attention
// scores) grow with it, and 2^18 tokens of a 6144-feature SAE already
// take about 10 GB. MaxScanFeatures bounds batch × sequence × SAE
// features (2^31 float32s, 8 GB): the features of one batch, dense.
const (
	MaxScanTokens   = 1 << 18
	MaxScanFeatures = 1 << 31
)

// checkShape refuses a scan shape that is not positive, longer than the
// model's context, or beyond MaxScanTokens, before anything is allocated.
func (o *Options) checkShape(nCtx int) error {
	switch {
	case o.Batch < 1:
		return fmt.Errorf("bench: batch %d: at least 1 sequence", o.Batch)
	case o.Seq < 1 || o.Seq > nCtx:
		return fmt.Errorf("bench: sequence length %d: 1 to the model's context of %d", o.Seq, nCtx)
	case o.Batch > MaxScanTokens/o.Seq:
		return fmt.Errorf("bench: batch %d × sequence %d: more than %d tokens in one batch (the activations would not fit in memory)", o.Batch, o.Seq, MaxScanTokens)
	case o.DSae < 1:
		return fmt.Errorf("bench: %d SAE features: at least 1", o.DSae)
	case o.DSae > MaxScanFeatures/(o.Batch*o.Seq):
		return fmt.Errorf("bench: %d SAE features on batch %d × sequence %d: more than %d feature activations in one batch (they would not fit in memory)", o.DSae, o.Batch, o.Seq, MaxScanFeatures)
	case o.Reps < 1:
		return fmt.Errorf("bench: %d repetitions: at least 1", o.Reps)
	}
	return nil
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

// Run builds the random model and measures it on be. With Options.Hooks
// it times one scan of several SAEs together (the model run once to the
// deepest hook, each SAE encoding at its own) and, alternating with it in
// the same run, the single-SAE scan at Options.Hook.
func Run(ctx context.Context, be compute.Backend, opts Options) (*Report, error) {
	opts.defaults()
	cfg := gpt2.SmallConfig()
	if err := opts.checkShape(cfg.NPositions); err != nil {
		return nil, err
	}
	h, err := hookname.Parse(opts.Hook, cfg.NLayer)
	if err != nil {
		return nil, err
	}
	if h.Width() != "d_model" {
		return nil, fmt.Errorf("bench: hook %s is not d_model wide", h)
	}
	var many []hookname.Hook
	for _, name := range opts.Hooks {
		hk, err := hookname.Parse(name, cfg.NLayer)
		if err != nil {
			return nil, err
		}
		if hk.Width() != "d_model" {
			return nil, fmt.Errorf("bench: hook %s is not d_model wide", hk)
		}
		many = append(many, hk)
	}
	rep := &Report{Backend: compute.Describe(be), Batch: opts.Batch, Seq: opts.Seq, Hook: h.String(), DSae: opts.DSae, Family: opts.Family}

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
	sparse, readBack := compute.ReadsBackSparse(be)
	// newSet makes a random SAE of the family at each hook (calibrated to
	// fire about L0 features per token on a device backend).
	newSet := func(hooks []hookname.Hook) (*scanSet, error) {
		set := &scanSet{m: m, be: be, sparse: sparse, tokens: tokens, batch: B, seq: T, sq: make([]float64, B*T)}
		for i, hk := range hooks {
			s := sae.Random(cfg.DModel, opts.DSae, hk, -0.5, uint64(2+i))
			if err := setFamily(s, sae.Architecture(opts.Family), opts.K); err != nil {
				set.close()
				return nil, err
			}
			if s.Arch == sae.TopK {
				rep.K = s.K
			}
			if readBack {
				opts.Progress(fmt.Sprintf("calibrating the SAE at %s to fire about %g features per token", hk, opts.L0))
				calRows := min(B, 4)
				if err := CalibrateBias(ctx, m, s, tokens[:calRows*T], calRows, T, opts.L0); err != nil {
					set.close()
					return nil, err
				}
			}
			enc, err := encoder.New(be, s)
			if err != nil {
				set.close()
				return nil, err
			}
			set.encs = append(set.encs, enc)
			if set.stop.Order() < hk.Order() || i == 0 {
				set.stop = hk
			}
		}
		set.feats = be.Alloc(B*T, opts.DSae)
		return set, nil
	}
	single, err := newSet([]hookname.Hook{h})
	if err != nil {
		return nil, err
	}
	defer single.close()
	sets := []*scanSet{single}
	if len(many) > 0 {
		together, err := newSet(many)
		if err != nil {
			return nil, err
		}
		defer together.close()
		sets = append(sets, together)
		rep.Hooks = opts.Hooks
	}
	// Each set is timed Reps times, the sets alternating, so that a
	// machine shared with other work slows them alike; the best is kept.
	// pairs: the reported set's repetitions of the plain scan, each with
	// the SGEMM rate measured just before it
	type pair struct {
		scan  time.Duration
		sgemm float64
	}
	var pairs []pair
	timeScan := func(withReadBack bool) ([]time.Duration, error) {
		best := make([]time.Duration, len(sets))
		for i, set := range sets {
			best[i] = time.Duration(1 << 62)
			if err := set.scan(ctx, withReadBack); err != nil { // warm-up allocates the buffers
				return nil, err
			}
		}
		for r := 0; r < opts.Reps; r++ {
			for i, set := range sets {
				var g float64
				if !withReadBack && i == len(sets)-1 {
					g = SGEMM(be, 4096, 768, 3072, 2)
				}
				t0 := time.Now()
				if err := set.scan(ctx, withReadBack); err != nil {
					return nil, err
				}
				took := time.Since(t0)
				best[i] = min(best[i], took)
				if g > 0 {
					pairs = append(pairs, pair{took, g})
				}
			}
		}
		return best, nil
	}
	if len(many) > 0 {
		opts.Progress(fmt.Sprintf("scan: %d×%d tokens to %s + %d-feature encode, alternating with %d SAEs at %s together", B, T, h, opts.DSae, len(many), strings.Join(opts.Hooks, ", ")))
	} else {
		opts.Progress(fmt.Sprintf("scan: %d×%d tokens to %s + %d-feature encode", B, T, h, opts.DSae))
	}
	best, err := timeScan(false)
	if err != nil {
		return nil, err
	}
	tokensN := float64(B * T)
	last := sets[len(sets)-1]
	if readBack {
		opts.Progress("scan with the sparse read-back")
		rb, err := timeScan(true)
		if err != nil {
			return nil, err
		}
		rep.ReadBackTokensPerS = tokensN / rb[len(rb)-1].Seconds()
		rep.ReadBackL0 = float64(last.readBack) / tokensN / float64(len(last.encs))
		if len(sets) > 1 {
			rep.SingleReadBackTokensPerS = tokensN / rb[0].Seconds()
		}
	}
	rep.ScanSecondsPerB = best[len(best)-1].Seconds()
	rep.ScanTokensPerS = tokensN / rep.ScanSecondsPerB
	scanFlops := ForwardFLOPs(cfg, blocksThrough(last.stop), T) + float64(len(last.encs))*2*float64(cfg.DModel)*float64(opts.DSae)
	rep.ScanGFLOPS = scanFlops * rep.ScanTokensPerS / 1e9
	if len(sets) > 1 {
		rep.SingleTokensPerS = tokensN / best[0].Seconds()
		rep.TogetherVsSingle = rep.ScanTokensPerS / rep.SingleTokensPerS
	}
	// The machine may be shared: measure SGEMM again after the scan and keep
	// the better figure, so that the fraction is not flattered by a slow
	// first measurement.
	rep.SGEMMGFLOPS = max(rep.SGEMMGFLOPS, SGEMM(be, 4096, 768, 3072, 3))
	rep.ScanFraction = rep.ScanGFLOPS / rep.SGEMMGFLOPS
	fr := make([]float64, len(pairs))
	for i, p := range pairs {
		fr[i] = scanFlops * tokensN / p.scan.Seconds() / 1e9 / p.sgemm
	}
	rep.ScanFractionPaired = median(fr)

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

// blocksThrough is the number of blocks a pass stopped after h runs,
// counting h's own block whole unless h is its residual input.
func blocksThrough(h hookname.Hook) int {
	if h.Point == hookname.ResidPre {
		return h.Layer
	}
	return h.Layer + 1
}

// scanSet is the work of a timed scan: the model run on one batch to the
// deepest of the SAEs' hooks, each SAE encoding there into one buffer
// used in turn, as analysis.ScanMany does.
type scanSet struct {
	m          *model.Model
	be         compute.Backend
	sparse     compute.SparseReader
	tokens     []int32
	batch, seq int
	encs       []*encoder.Encoder
	stop       hookname.Hook
	feats      compute.Tensor
	sink       []float32
	ptr        []uint64
	ids        []uint32
	vals       []float32
	sq         []float64
	readBack   int // entries read back by the last scan, all SAEs together
}

// scan runs one batch; withReadBack the positive features and the
// squared norms come back after each encode, as in a scan on a device,
// else one row (which waits for the device to finish).
func (s *scanSet) scan(ctx context.Context, withReadBack bool) error {
	s.m.Lock()
	defer s.m.Unlock()
	s.readBack = 0
	at := make([]hookname.Hook, len(s.encs))
	for i, enc := range s.encs {
		at[i] = enc.SAE.Hook
	}
	_, err := s.m.Run(ctx, s.tokens, s.batch, s.seq, model.Hooks{StopAfter: &s.stop, ObserveAt: at, Observe: func(hk hookname.Hook, act compute.Tensor) error {
		for _, enc := range s.encs {
			if enc.SAE.Hook != hk {
				continue
			}
			if err := enc.Encode(s.feats, act); err != nil {
				return err
			}
			if withReadBack {
				s.ptr, s.ids, s.vals = s.sparse.SparseRows(s.feats, s.ptr, s.ids, s.vals)
				s.sparse.RowSumSquares(act, s.sq)
				s.readBack += len(s.ids)
			}
		}
		return nil
	}})
	if !withReadBack {
		if s.sink == nil {
			s.sink = make([]float32, s.feats.Cols())
		}
		s.be.Read(s.be.RowsView(s.feats, 0, 1), s.sink)
	}
	return err
}

// close frees the set's encoders and buffer.
func (s *scanSet) close() {
	for _, enc := range s.encs {
		enc.Close()
	}
	if s.feats != nil {
		s.be.Free(s.feats)
	}
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

// median of xs (0 for none); xs is sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
