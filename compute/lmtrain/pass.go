package lmtrain

import (
	"context"
	"fmt"
	"math"
	"runtime"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/parallel"
)

// logitRows is how many rows of logits one chunk of the loss holds.
const logitRows = 256

// Gonum is gonum's pure-Go matrix product, the default Sgemmer.
func Gonum() cpu.Sgemmer { return gonum.Implementation{} }

// blockTape holds what one block's backward needs.
type blockTape struct {
	x, xhat1, ln1, qkv, z, xmid, xhat2, ln2, h, g []float32
}

// pass is the forward of a batch of sequences with what its backward
// needs. Row r of every [N, ·] buffer is sequence r/T, position r%T.
type pass struct {
	p      *Params
	gemm   cpu.Sgemmer
	B, T   int
	rows   []int32 // embedding rows of the inputs
	blocks []blockTape
	xf     []float32 // final residual
	xhatf  []float32
	lnf    []float32
}

func rowsPar(n int, fn func(lo, hi int)) {
	parallel.Ranges(runtime.GOMAXPROCS(0), n, func(_, lo, hi int) { fn(lo, hi) })
}

// layerNorm sets xhat = (x − mean)/sqrt(var + eps) and y = xhat·w + b, row
// by row.
func layerNorm(y, xhat, x, w, b []float32, d int, eps float64) {
	rowsPar(len(x)/d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*d : (r+1)*d]
			var mean float64
			for _, v := range xr {
				mean += float64(v)
			}
			mean /= float64(d)
			var variance float64
			for _, v := range xr {
				c := float64(v) - mean
				variance += c * c
			}
			rstd := 1 / math.Sqrt(variance/float64(d)+eps)
			for j, v := range xr {
				n := float32((float64(v) - mean) * rstd)
				xhat[r*d+j] = n
				y[r*d+j] = n*w[j] + b[j]
			}
		}
	})
}

// lnParamGrads adds Σ dy·x̂ to dw and Σ dy to db over rows.
func lnParamGrads(dw, db, xhat, dy []float32, d int) {
	for r := 0; r < len(dy)/d; r++ {
		for j := 0; j < d; j++ {
			g := dy[r*d+j]
			dw[j] += g * xhat[r*d+j]
			db[j] += g
		}
	}
}

// biasGrad adds the column sums of dy ([n, len(db)]) to db.
func biasGrad(db, dy []float32) {
	c := len(db)
	for r := 0; r < len(dy)/c; r++ {
		for j, g := range dy[r*c : (r+1)*c] {
			db[j] += g
		}
	}
}

// linear sets y = x·w + b for x [n, in], w [in, out].
func (ps *pass) linear(y, x, w, b []float32, n, in, out int) {
	for r := 0; r < n; r++ {
		copy(y[r*out:(r+1)*out], b)
	}
	ps.gemm.Sgemm(blas.NoTrans, blas.NoTrans, n, out, in, 1, x, in, w, out, 1, y, out)
}

// linearBackward adds xᵀ·dy to dw and the column sums of dy to db, and
// returns dx = dy·wᵀ.
func (ps *pass) linearBackward(dw, db, x, w, dy []float32, n, in, out int) []float32 {
	ps.gemm.Sgemm(blas.Trans, blas.NoTrans, in, out, n, 1, x, in, dy, out, 1, dw, out)
	biasGrad(db, dy)
	dx := make([]float32, n*in)
	ps.gemm.Sgemm(blas.NoTrans, blas.Trans, n, in, out, 1, dy, out, w, out, 0, dx, in)
	return dx
}

// exp32 is e^x in float32 for x ≤ 0 (softmax terms): e^x = 2^n·e^f with
// n = round(x/ln 2), |f| ≤ ln2/2 and e^f a degree-6 Taylor polynomial
// (relative error below 3e-7); 0 below −87.
func exp32(x float32) float32 {
	if x < -87 {
		return 0
	}
	const log2e, ln2hi, ln2lo = 1.44269504088896341, 0.693359375, -2.12194440e-4
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	f := x - n*ln2hi - n*ln2lo
	p := 1 + f*(1+f*(0.5+f*(1.0/6+f*(1.0/24+f*(1.0/120+f*(1.0/720))))))
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// gelu is gelu_new, the tanh approximation.
func gelu(x float32) float32 {
	v := float64(x)
	return float32(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
}

// forward runs the model on B sequences of T tokens (GPT-2 ids) and keeps
// the activations.
func (ps *pass) forward(ctx context.Context, tokens []int32) error {
	p := ps.p
	cfg := p.Config
	d, m, T, N := cfg.DModel, cfg.DMLP(), ps.T, len(tokens)
	if T > cfg.NPositions {
		return fmt.Errorf("forward: %d positions, the model has %d", T, cfg.NPositions)
	}
	ps.rows = make([]int32, N)
	x := make([]float32, N*d)
	for r, id := range tokens {
		if id < 0 || int(id) >= p.Vocab.Size {
			return fmt.Errorf("forward: token id %d outside [0, %d)", id, p.Vocab.Size)
		}
		e := int(p.Vocab.Row(id))
		ps.rows[r] = int32(e)
		pos := r % T
		for j := 0; j < d; j++ {
			x[r*d+j] = p.WTE[e*d+j] + p.WPE[pos*d+j]
		}
	}
	eps := cfg.LayerNormEps
	ps.blocks = make([]blockTape, len(p.Layers))
	for li := range p.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		L := &p.Layers[li]
		bt := &ps.blocks[li]
		bt.x = x
		bt.xhat1, bt.ln1 = make([]float32, N*d), make([]float32, N*d)
		layerNorm(bt.ln1, bt.xhat1, x, L.LN1W, L.LN1B, d, eps)
		bt.qkv = make([]float32, N*3*d)
		ps.linear(bt.qkv, bt.ln1, L.QKVW, L.QKVB, N, d, 3*d)
		bt.z = make([]float32, N*d)
		parallel.Ranges(runtime.GOMAXPROCS(0), ps.B, func(_, lo, hi int) {
			for b := lo; b < hi; b++ {
				attribution.CausalAttention(bt.z[b*T*d:(b+1)*T*d], bt.qkv[b*T*3*d:(b+1)*T*3*d], T, d, cfg.NHead)
			}
		})
		a := make([]float32, N*d)
		ps.linear(a, bt.z, L.OW, L.OB, N, d, d)
		xmid := make([]float32, N*d)
		for i := range xmid {
			xmid[i] = x[i] + a[i]
		}
		bt.xmid = xmid
		bt.xhat2, bt.ln2 = make([]float32, N*d), make([]float32, N*d)
		layerNorm(bt.ln2, bt.xhat2, xmid, L.LN2W, L.LN2B, d, eps)
		bt.h = make([]float32, N*m)
		ps.linear(bt.h, bt.ln2, L.FCW, L.FCB, N, d, m)
		bt.g = make([]float32, N*m)
		rowsPar(len(bt.h), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				bt.g[i] = gelu(bt.h[i])
			}
		})
		out := make([]float32, N*d)
		ps.linear(out, bt.g, L.ProjW, L.ProjB, N, m, d)
		x = make([]float32, N*d)
		for i := range x {
			x[i] = xmid[i] + out[i]
		}
	}
	ps.xf = x
	ps.xhatf, ps.lnf = make([]float32, N*d), make([]float32, N*d)
	layerNorm(ps.lnf, ps.xhatf, x, p.LNFW, p.LNFB, d, eps)
	return nil
}

// loss returns the summed cross-entropy (nats) of predicting targets[r]
// at each row r with targets[r] ≥ 0 (rows with −1 are not scored) and how
// many rows were scored. With grad non-nil it also adds to grad.WTE the
// unembedding's gradient of scale·(summed loss) and returns the gradient of
// that with respect to ln_final's output.
func (ps *pass) loss(targets []int32, grad *Params, scale float32) (sum float64, n int, dlnf []float32) {
	p := ps.p
	d := p.Config.DModel
	V := p.Vocab.Rows()
	N := len(targets)
	shared := p.Vocab.Shared()
	logShared := math.Log(float64(shared))
	logits := make([]float32, logitRows*V)
	if grad != nil {
		dlnf = make([]float32, N*d)
	}
	lossRow := make([]float64, logitRows)
	for lo := 0; lo < N; lo += logitRows {
		hi := min(lo+logitRows, N)
		c := hi - lo
		lg := logits[:c*V]
		ps.gemm.Sgemm(blas.NoTrans, blas.Trans, c, V, d, 1, ps.lnf[lo*d:hi*d], d, p.WTE, d, 0, lg, V)
		rowsPar(c, func(a, b int) {
			for r := a; r < b; r++ {
				row := lg[r*V : (r+1)*V]
				t := targets[lo+r]
				lossRow[r] = 0
				if t < 0 {
					if grad != nil {
						clear(row)
					}
					continue
				}
				if shared > 0 {
					row[V-1] += float32(logShared)
				}
				mx := row[0]
				for _, v := range row {
					if v > mx {
						mx = v
					}
				}
				tr := p.Vocab.Row(t)
				target := float64(row[tr] - mx)
				var z float64
				for j, v := range row {
					e := exp32(v - mx)
					row[j] = e
					z += float64(e)
				}
				lossRow[r] = math.Log(z) - target
				if shared > 0 && int(tr) == V-1 {
					lossRow[r] += logShared // one of the tokens that share the row
				}
				if grad != nil {
					f := scale / float32(z)
					for j := range row {
						row[j] *= f
					}
					row[tr] -= scale
				}
			}
		})
		for r := 0; r < c; r++ {
			if targets[lo+r] >= 0 {
				sum += lossRow[r]
				n++
			}
		}
		if grad != nil {
			// dWTE += dlogitsᵀ·lnf; dlnf = dlogits·WTE.
			ps.gemm.Sgemm(blas.Trans, blas.NoTrans, V, d, c, 1, lg, V, ps.lnf[lo*d:hi*d], d, 1, grad.WTE, d)
			ps.gemm.Sgemm(blas.NoTrans, blas.NoTrans, c, d, V, 1, lg, V, p.WTE, d, 0, dlnf[lo*d:hi*d], d)
		}
	}
	return sum, n, dlnf
}

// backward adds to grad the gradient of every parameter given dlnf, the
// gradient of the loss with respect to ln_final's output.
func (ps *pass) backward(ctx context.Context, grad *Params, dlnf []float32) error {
	p := ps.p
	cfg := p.Config
	d, m, T, N := cfg.DModel, cfg.DMLP(), ps.T, len(ps.rows)
	eps := cfg.LayerNormEps
	lnParamGrads(grad.LNFW, grad.LNFB, ps.xhatf, dlnf, d)
	dx := make([]float32, N*d)
	attribution.LayerNormBackward(dx, ps.xf, p.LNFW, dlnf, d, eps)
	for li := len(p.Layers) - 1; li >= 0; li-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		L, G, bt := &p.Layers[li], &grad.Layers[li], &ps.blocks[li]
		// MLP: x = xmid + proj(gelu(fc(ln2(xmid)))).
		dg := ps.linearBackward(G.ProjW, G.ProjB, bt.g, L.ProjW, dx, N, m, d)
		dh := make([]float32, N*m)
		attribution.GeluNewBackward(dh, bt.h, dg)
		dln2 := ps.linearBackward(G.FCW, G.FCB, bt.ln2, L.FCW, dh, N, d, m)
		lnParamGrads(G.LN2W, G.LN2B, bt.xhat2, dln2, d)
		attribution.LayerNormBackward(dx, bt.xmid, L.LN2W, dln2, d, eps) // dx is now d/dxmid
		// Attention: xmid = x + o(attn(qkv(ln1(x)))).
		dz := ps.linearBackward(G.OW, G.OB, bt.z, L.OW, dx, N, d, d)
		dqkv := make([]float32, N*3*d)
		parallel.Ranges(runtime.GOMAXPROCS(0), ps.B, func(_, lo, hi int) {
			for b := lo; b < hi; b++ {
				attribution.CausalAttentionBackward(dqkv[b*T*3*d:(b+1)*T*3*d], bt.qkv[b*T*3*d:(b+1)*T*3*d], dz[b*T*d:(b+1)*T*d], T, d, cfg.NHead)
			}
		})
		dln1 := ps.linearBackward(G.QKVW, G.QKVB, bt.ln1, L.QKVW, dqkv, N, d, 3*d)
		lnParamGrads(G.LN1W, G.LN1B, bt.xhat1, dln1, d)
		attribution.LayerNormBackward(dx, bt.x, L.LN1W, dln1, d, eps)
	}
	for r, e := range ps.rows {
		pos := r % T
		for j := 0; j < d; j++ {
			grad.WTE[int(e)*d+j] += dx[r*d+j]
			grad.WPE[pos*d+j] += dx[r*d+j]
		}
	}
	return nil
}

// targetsOf returns the next-token targets of B rows of T tokens: row r
// predicts tokens[r+1] within its sequence; the last position of each
// sequence is not scored (−1).
func targetsOf(tokens []int32, T int) []int32 {
	t := make([]int32, len(tokens))
	for r := range tokens {
		if r%T == T-1 {
			t[r] = -1
		} else {
			t[r] = tokens[r+1]
		}
	}
	return t
}

// LossAndGrad returns the mean next-token cross-entropy (nats) of B
// sequences of T tokens (tokens is B·T long) and, with grad non-nil, adds
// its gradient with respect to every parameter to grad (a zero Params of
// p's shape, see (*Params).ZeroGrad).
func LossAndGrad(ctx context.Context, p *Params, gemm cpu.Sgemmer, tokens []int32, T int, grad *Params) (float64, error) {
	if T < 2 || len(tokens)%T != 0 || len(tokens) == 0 {
		return 0, fmt.Errorf("loss: %d tokens are not whole sequences of %d ≥ 2", len(tokens), T)
	}
	ps := &pass{p: p, gemm: gemm, B: len(tokens) / T, T: T}
	if err := ps.forward(ctx, tokens); err != nil {
		return 0, err
	}
	targets := targetsOf(tokens, T)
	scored := len(tokens) - ps.B
	sum, _, dlnf := ps.loss(targets, grad, 1/float32(scored))
	if grad != nil {
		if err := ps.backward(ctx, grad, dlnf); err != nil {
			return 0, err
		}
	}
	return sum / float64(scored), nil
}

// ZeroGrad returns a zero gradient of p's shape.
func (p *Params) ZeroGrad() *Params { return p.zeroLike() }

// Logits returns the full-vocabulary logits ([T][Vocab.Size]) of one
// sequence, for checks against other forwards.
func Logits(ctx context.Context, p *Params, gemm cpu.Sgemmer, tokens []int32) ([][]float32, error) {
	T := len(tokens)
	ps := &pass{p: p, gemm: gemm, B: 1, T: T}
	if err := ps.forward(ctx, tokens); err != nil {
		return nil, err
	}
	d, V := p.Config.DModel, p.Vocab.Rows()
	lg := make([]float32, T*V)
	gemm.Sgemm(blas.NoTrans, blas.Trans, T, V, d, 1, ps.lnf, d, p.WTE, d, 0, lg, V)
	out := make([][]float32, T)
	for t := range out {
		out[t] = make([]float32, p.Vocab.Size)
		for id := range out[t] {
			out[t][id] = lg[t*V+int(p.Vocab.Row(int32(id)))]
		}
	}
	return out, nil
}
