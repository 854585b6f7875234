// Package train fits a standard ReLU sparse autoencoder (SAELens'
// "standard" architecture: f = ReLU((x - b_dec)·W_enc + b_enc),
// x̂ = f·W_dec + b_dec) to activations by Adam on the squared
// reconstruction error plus an L1 penalty, or a TopK one (SAELens "topk":
// only the K largest pre-activations of each token kept, ReLU'd, no
// penalty), with decoder rows kept at unit norm. It is small and single-threaded: it trains the demo workspace's
// SAE (weights/demo), not GPT-2 small's.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// Options are the training settings.
type Options struct {
	DSae   int     // number of features
	L1     float64 // penalty on Σ_f f(x), in units of the data's standard deviation (‖x - mean‖ per token, RMS)
	LR     float64 // Adam learning rate
	Batch  int     // tokens per step
	Epochs int
	Seed   uint64
	// K > 0 trains a TopK SAE keeping K features per token (L1 must then
	// be 0); 0 trains a ReLU SAE with the L1 penalty.
	K int
}

// Fit is how well an SAE explains its data.
type Fit struct {
	L0   float64 // mean number of active features per token
	FVU  float64 // fraction of variance unexplained: Σ‖x̂ - x‖² / Σ‖x - mean‖²
	Dead int     // features active on no token
}

// SAE trains an SAE on n activations of width d (x, row-major [n, d]) for
// the hook h and returns it with its fit on x. progress, if not nil, is
// called after each epoch.
func SAE(ctx context.Context, x []float32, n, d int, h hookname.Hook, o Options, progress func(epoch int, f Fit)) (*sae.SAE, Fit, error) {
	if n <= 0 || d <= 0 || len(x) != n*d {
		return nil, Fit{}, fmt.Errorf("train: %d values for %d activations of width %d", len(x), n, d)
	}
	if o.DSae <= 0 || o.Batch <= 0 || o.Epochs <= 0 || o.LR <= 0 || o.L1 < 0 {
		return nil, Fit{}, errors.New("train: d_sae, batch, epochs and learning rate must be positive, L1 not negative")
	}
	if o.K < 0 || o.K > o.DSae || (o.K > 0 && o.L1 != 0) {
		return nil, Fit{}, fmt.Errorf("train: TopK k %d must be in [1, d_sae=%d] with no L1 penalty (L1 %g), or 0 for a ReLU SAE", o.K, o.DSae, o.L1)
	}
	k := o.DSae
	rng := rand.New(rand.NewPCG(o.Seed, 0x7a1))
	mean := make([]float32, d)
	for t := 0; t < n; t++ {
		for j := 0; j < d; j++ {
			mean[j] += x[t*d+j] / float32(n)
		}
	}
	var variance float64 // per token
	for t := 0; t < n; t++ {
		for j := 0; j < d; j++ {
			v := float64(x[t*d+j] - mean[j])
			variance += v * v
		}
	}
	variance /= float64(n)
	if variance == 0 {
		return nil, Fit{}, errors.New("train: the activations do not vary")
	}

	// Parameters: decoder rows random unit vectors, encoder their
	// transpose, b_dec the mean, b_enc 0.
	p := newParams(d, k)
	for f := 0; f < k; f++ {
		row := p.wDec[f*d : (f+1)*d]
		for j := range row {
			row[j] = float32(rng.NormFloat64())
		}
		normalize(row)
		for j := 0; j < d; j++ {
			p.wEnc[j*k+f] = row[j]
		}
	}
	copy(p.bDec, mean)
	g := newParams(d, k)
	adam := newAdam(p)
	l1 := float32(o.L1 * math.Sqrt(variance))

	m := min(o.Batch, n)
	s := newScratch(m, d, k)
	s.topK = o.K
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	var fit Fit
	for epoch := 1; epoch <= o.Epochs; epoch++ {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for b0 := 0; b0+m <= n; b0 += m {
			if err := ctx.Err(); err != nil {
				return nil, Fit{}, err
			}
			for i := 0; i < m; i++ {
				copy(s.x[i*d:(i+1)*d], x[order[b0+i]*d:(order[b0+i]+1)*d])
			}
			s.step(p, g, l1)
			adam.update(p, g, float32(o.LR))
			for f := 0; f < k; f++ {
				normalize(p.wDec[f*d : (f+1)*d])
			}
		}
		fit = measure(p, x, n, d, k, o.K, variance)
		if progress != nil {
			progress(epoch, fit)
		}
	}
	out := &sae.SAE{Path: "trained", Format: sae.FormatSAELens, Hook: h, DIn: d, DSae: k,
		WEnc:             weights.Tensor{Shape: []int{d, k}, Data: p.wEnc},
		WDec:             weights.Tensor{Shape: []int{k, d}, Data: p.wDec},
		BEnc:             weights.Tensor{Shape: []int{k}, Data: p.bEnc},
		BDec:             weights.Tensor{Shape: []int{d}, Data: p.bDec},
		ApplyBDecToInput: true}
	if o.K > 0 {
		out.Arch, out.K = sae.TopK, o.K
	}
	return out, fit, nil
}

// params holds the SAE's parameters (or their gradients) row-major.
type params struct {
	wEnc, wDec, bEnc, bDec []float32
}

func newParams(d, k int) *params {
	return &params{wEnc: make([]float32, d*k), wDec: make([]float32, k*d), bEnc: make([]float32, k), bDec: make([]float32, d)}
}

func (p *params) slices() [][]float32 { return [][]float32{p.wEnc, p.wDec, p.bEnc, p.bDec} }

// scratch holds one step's activations.
type scratch struct {
	m, d, k int
	x, xc   []float32 // [m, d]: input, input - b_dec
	pre     []float32 // [m, k]: pre-activations, then their gradient
	f       []float32 // [m, k]
	e       []float32 // [m, d]: x̂ - x, then the gradient of x̂
	dpre    []float32 // [m, k]: gradient of the pre-activations
	topK    int       // K of a TopK SAE, 0 for ReLU
}

func newScratch(m, d, k int) *scratch {
	return &scratch{m: m, d: d, k: k, x: make([]float32, m*d), xc: make([]float32, m*d),
		pre: make([]float32, m*k), f: make([]float32, m*k), e: make([]float32, m*d), dpre: make([]float32, m*k)}
}

func gen(rows, cols int, data []float32) blas32.General {
	return blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: data}
}

// step sets g to the gradient of mean‖x̂ - x‖² + l1·mean Σ f on s.x.
func (s *scratch) step(p, g *params, l1 float32) {
	m, d, k := s.m, s.d, s.k
	for i := 0; i < m; i++ {
		for j := 0; j < d; j++ {
			s.xc[i*d+j] = s.x[i*d+j] - p.bDec[j]
		}
	}
	encode(s.xc, p, m, d, k, s.topK, s.pre, s.f)
	// e = f·W_dec + b_dec - x
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, gen(m, k, s.f), gen(k, d, p.wDec), 0, gen(m, d, s.e))
	inv := 2 / float32(m)
	for i := 0; i < m; i++ {
		for j := 0; j < d; j++ {
			s.e[i*d+j] = (s.e[i*d+j] + p.bDec[j] - s.x[i*d+j]) * inv // dL/dx̂
		}
	}
	// W_dec and the output side of b_dec.
	blas32.Gemm(blas.Trans, blas.NoTrans, 1, gen(m, k, s.f), gen(m, d, s.e), 0, gen(k, d, g.wDec))
	clear(g.bDec)
	for i := 0; i < m; i++ {
		for j := 0; j < d; j++ {
			g.bDec[j] += s.e[i*d+j]
		}
	}
	// dL/dpre = (dx̂·W_decᵀ + l1/m)·[f > 0] (f > 0: pre > 0, and among
	// the top K for TopK), into pre.
	mask := s.pre
	for i := range mask {
		if s.f[i] > 0 {
			mask[i] = 1
		} else {
			mask[i] = 0
		}
	}
	dpre := s.dpre
	blas32.Gemm(blas.NoTrans, blas.Trans, 1, gen(m, d, s.e), gen(k, d, p.wDec), 0, gen(m, k, dpre))
	l1m := l1 / float32(m)
	clear(g.bEnc)
	for i := range dpre {
		dpre[i] = (dpre[i] + l1m) * mask[i]
		g.bEnc[i%k] += dpre[i]
	}
	blas32.Gemm(blas.Trans, blas.NoTrans, 1, gen(m, d, s.xc), gen(m, k, dpre), 0, gen(d, k, g.wEnc))
	// The input side of b_dec: xc = x - b_dec.
	for j := 0; j < d; j++ {
		var v float32
		for f := 0; f < k; f++ {
			v += g.bEnc[f] * p.wEnc[j*k+f]
		}
		g.bDec[j] -= v
	}
}

// encode sets pre = xc·W_enc + b_enc and f = ReLU(pre) for m rows, with
// topK > 0 only the topK largest pre-activations of each row kept (ties
// to the lower index).
func encode(xc []float32, p *params, m, d, k, topK int, pre, f []float32) {
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, gen(m, d, xc), gen(d, k, p.wEnc), 0, gen(m, k, pre))
	for i := range pre[:m*k] {
		pre[i] += p.bEnc[i%k]
		f[i] = max(pre[i], 0)
	}
	if topK <= 0 || topK >= k {
		return
	}
	sorted := make([]float32, k)
	for r := 0; r < m; r++ {
		row := pre[r*k : (r+1)*k]
		copy(sorted, row)
		slices.Sort(sorted)
		th := sorted[k-topK]
		kept := 0
		for _, v := range row {
			if v > th {
				kept++
			}
		}
		ties := topK - kept // values equal to th that may be kept
		for j, v := range row {
			switch {
			case v > th:
			case v == th && ties > 0:
				ties--
			default:
				f[r*k+j] = 0
			}
		}
	}
}

// measure returns the fit of p on all of x.
func measure(p *params, x []float32, n, d, k, topK int, variance float64) Fit {
	const chunk = 4096
	xc := make([]float32, chunk*d)
	pre, f := make([]float32, chunk*k), make([]float32, chunk*k)
	xh := make([]float32, chunk*d)
	active := make([]bool, k)
	var l0 int
	var sse float64
	for t0 := 0; t0 < n; t0 += chunk {
		m := min(chunk, n-t0)
		for i := 0; i < m*d; i++ {
			xc[i] = x[t0*d+i] - p.bDec[i%d]
		}
		encode(xc, p, m, d, k, topK, pre, f)
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, gen(m, k, f[:m*k]), gen(k, d, p.wDec), 0, gen(m, d, xh[:m*d]))
		for i, v := range f[:m*k] {
			if v > 0 {
				l0++
				active[i%k] = true
			}
		}
		for i := 0; i < m*d; i++ {
			e := float64(xh[i] + p.bDec[i%d] - x[t0*d+i])
			sse += e * e
		}
	}
	fit := Fit{L0: float64(l0) / float64(n), FVU: sse / (variance * float64(n))}
	for _, a := range active {
		if !a {
			fit.Dead++
		}
	}
	return fit
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}

// adam is the Adam optimizer's state (β₁ 0.9, β₂ 0.999).
type adam struct {
	m1, m2 [][]float32
	t      int
}

func newAdam(p *params) *adam {
	a := &adam{}
	for _, s := range p.slices() {
		a.m1 = append(a.m1, make([]float32, len(s)))
		a.m2 = append(a.m2, make([]float32, len(s)))
	}
	return a
}

func (a *adam) update(p, g *params, lr float32) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	c1 := float32(1 - math.Pow(b1, float64(a.t)))
	c2 := float32(1 - math.Pow(b2, float64(a.t)))
	ps, gs := p.slices(), g.slices()
	for i := range ps {
		m1, m2 := a.m1[i], a.m2[i]
		for j, gv := range gs[i] {
			m1[j] = b1*m1[j] + (1-b1)*gv
			m2[j] = b2*m2[j] + (1-b2)*gv*gv
			ps[i][j] -= lr * (m1[j] / c1) / (float32(math.Sqrt(float64(m2[j]/c2))) + eps)
		}
	}
}
