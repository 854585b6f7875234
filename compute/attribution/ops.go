package attribution

import (
	"math"
	"runtime"

	"github.com/saescope/saescope/compute/parallel"
)

// This file holds the backward of the element- and row-wise ops of the
// GPT-2 forward, on host memory, as llm.c writes them: LayerNorm,
// gelu_new, causal attention and the centring of residual writes; and the
// causal attention forward, whose softmax rows the backward recomputes with
// the same loop (causalScores). Sums are accumulated in float64.

// rows runs fn over [0, n) in parallel ranges.
func rows(n int, fn func(lo, hi int)) {
	parallel.Ranges(runtime.GOMAXPROCS(0), n, func(_, lo, hi int) { fn(lo, hi) })
}

// layerNormBackward adds to dx ([n, d]) the gradient with respect to x of
// y = (x − mean)/sqrt(var + eps)·w + b (biased variance, row by row),
// given dy; w nil is a gain of 1. dy and dx may hold several copies of
// x's rows (row r is x's row r mod its rows).
func layerNormBackward(dx, x, w, dy []float32, d int, eps float64) {
	n, tx := len(dy)/d, len(x)/d
	rows(n, func(lo, hi int) {
		xhat := make([]float64, d)
		dn := make([]float64, d)
		for r := lo; r < hi; r++ {
			xr, gr, out := x[(r%tx)*d:(r%tx+1)*d], dy[r*d:(r+1)*d], dx[r*d:(r+1)*d]
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
			variance /= float64(d)
			rstd := 1 / math.Sqrt(variance+eps)
			var sdn, sdnx float64
			for j, v := range xr {
				xhat[j] = (float64(v) - mean) * rstd
				g := float64(gr[j])
				if w != nil {
					g *= float64(w[j])
				}
				dn[j] = g
				sdn += g
				sdnx += g * xhat[j]
			}
			sdn /= float64(d)
			sdnx /= float64(d)
			for j := range out {
				out[j] += float32(rstd * (dn[j] - sdn - xhat[j]*sdnx))
			}
		}
	})
}

// geluBackward sets dx = dy·gelu_new'(h), gelu_new(h) = ½h(1 + tanh(√(2/π)(h + 0.044715h³))),
// dy and dx holding one or more copies of h's shape.
func geluBackward(dx, h, dy []float32) {
	c := math.Sqrt(2 / math.Pi)
	rows(len(dy), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(h[i%len(h)])
			t := math.Tanh(c * (x + 0.044715*x*x*x))
			g := 0.5*(1+t) + 0.5*x*(1-t*t)*c*(1+3*0.044715*x*x)
			dx[i] = float32(float64(dy[i]) * g)
		}
	})
}

// centreRows subtracts from each row of g ([n, d]) its mean: the backward
// of centring a write over d_model (a projection, its own transpose).
func centreRows(g []float32, d int) {
	rows(len(g)/d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := g[r*d : (r+1)*d]
			var s float64
			for _, v := range row {
				s += float64(v)
			}
			mean := s / float64(d)
			for j, v := range row {
				row[j] = float32(float64(v) - mean)
			}
		}
	})
}

// causalScores sets p[j], j ≤ t, to exp(s_j − max s) with s_j = q_t·k_j·scale
// over one head's causal window (q at column qo and k at column ko of qkv's
// rows, ld wide; dh elements each) and returns Σ_j p[j]: one row of the
// softmax before its normalisation, shared by the attention forward and
// backward so that both compute it with the same arithmetic.
func causalScores(p []float64, qkv []float32, t, ld, qo, ko, dh int, scale float64) float64 {
	q := qkv[t*ld+qo : t*ld+qo+dh]
	mx := math.Inf(-1)
	for j := 0; j <= t; j++ {
		k := qkv[j*ld+ko : j*ld+ko+dh]
		var s float64
		for e := range q {
			s += float64(q[e]) * float64(k[e])
		}
		p[j] = s * scale
		mx = math.Max(mx, p[j])
	}
	var sum float64
	for j := 0; j <= t; j++ {
		p[j] = math.Exp(p[j] - mx)
		sum += p[j]
	}
	return sum
}

// attentionForward sets z ([T, d]) to one sequence's causal multi-head
// attention of qkv ([T, 3d]: q, k, v blocks, heads contiguous): per head,
// z_t = Σ_{j ≤ t} p_tj v_j with p the softmax of q·kᵀ/√d_head, in float64.
// It runs on the calling goroutine (callers parallelise over sequences).
func attentionForward(z, qkv []float32, T, d, heads int) {
	dh := d / heads
	ld := 3 * d
	scale := 1 / math.Sqrt(float64(dh))
	p := make([]float64, T)
	acc := make([]float64, dh)
	for h := 0; h < heads; h++ {
		qo, ko, vo := h*dh, d+h*dh, 2*d+h*dh
		for t := 0; t < T; t++ {
			sum := causalScores(p, qkv, t, ld, qo, ko, dh, scale)
			clear(acc)
			for j := 0; j <= t; j++ {
				v := qkv[j*ld+vo : j*ld+vo+dh]
				w := p[j] / sum
				for e := range acc {
					acc[e] += w * float64(v[e])
				}
			}
			for e := range acc {
				z[t*d+h*dh+e] = float32(acc[e])
			}
		}
	}
}

// attentionBackward sets dqkv ([T, 3d]: q, k, v blocks, heads contiguous)
// to the gradient of causal attention's output z ([T, d]) given dz, from
// the forward's qkv: per head, with p the softmax of q·kᵀ/√d_head over
// j ≤ t, dv_j = Σ_t p_tj dz_t, ds_tj = p_tj (dz_t·v_j − Σ_j' p_tj' dz_t·v_j'),
// dq_t = Σ_j ds_tj k_j/√d_head, dk_j = Σ_t ds_tj q_t/√d_head. dz and dqkv
// may hold several copies of the prompt's T rows (a batched backward).
func attentionBackward(dqkv, qkv, dz []float32, T, d, heads int) {
	dh := d / heads
	ld := 3 * d
	scale := 1 / math.Sqrt(float64(dh))
	for i := range dqkv {
		dqkv[i] = 0
	}
	copies := len(dz) / (T * d)
	parallel.Ranges(runtime.GOMAXPROCS(0), copies*heads, func(_, lo, hi int) {
		p := make([]float64, T)
		dp := make([]float64, T)
		dk := make([]float64, T*dh)
		dv := make([]float64, T*dh)
		for ch := lo; ch < hi; ch++ {
			h, c := ch%heads, ch/heads
			dz, dqkv := dz[c*T*d:(c+1)*T*d], dqkv[c*T*ld:(c+1)*T*ld]
			for i := range dk {
				dk[i], dv[i] = 0, 0
			}
			qo, ko, vo := h*dh, d+h*dh, 2*d+h*dh
			for t := 0; t < T; t++ {
				q := qkv[t*ld+qo : t*ld+qo+dh]
				g := dz[t*d+h*dh : t*d+h*dh+dh]
				sum := causalScores(p, qkv, t, ld, qo, ko, dh, scale)
				var pdp float64
				for j := 0; j <= t; j++ {
					p[j] /= sum
					v := qkv[j*ld+vo : j*ld+vo+dh]
					var s float64
					for e := range g {
						s += float64(g[e]) * float64(v[e])
					}
					dp[j] = s
					pdp += p[j] * s
				}
				dq := dqkv[t*ld+qo : t*ld+qo+dh]
				for j := 0; j <= t; j++ {
					ds := p[j] * (dp[j] - pdp) * scale
					k := qkv[j*ld+ko : j*ld+ko+dh]
					dkj, dvj := dk[j*dh:(j+1)*dh], dv[j*dh:(j+1)*dh]
					for e := range dq {
						dq[e] += float32(ds * float64(k[e]))
						dkj[e] += ds * float64(q[e])
						dvj[e] += p[j] * float64(g[e])
					}
				}
			}
			for j := 0; j < T; j++ {
				for e := 0; e < dh; e++ {
					dqkv[j*ld+ko+e] = float32(dk[j*dh+e])
					dqkv[j*ld+vo+e] = float32(dv[j*dh+e])
				}
			}
		}
	})
}
