package attribution

import (
	"fmt"
	"math"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/weights/sae"
)

// splice is one SAE spliced into the pass: its hook's activation x becomes
// x̂(x) + e with the error e = x − x̂ held constant, so that the forward is
// unchanged and the backward flows through the SAE's features only.
type splice struct {
	enc *encoder.Encoder
	// f are the feature activations [T, d_sae]; grad receives ∂m/∂f.
	f, grad []float32
	// x is the input and y the decoder's output before the normalisation
	// is undone ([T, d_out]), kept for SAEs that normalise their input.
	x, y []float32
	// seeds are added to ∂m/∂f (each index row·d_sae + feature, the row
	// counted over the copies of a batched backward): the metric is one
	// of this SAE's features.
	seeds []int
	// keepError asks for the error e = x − x̂ at the output hook ([T,
	// d_out], in err) and, in each backward, errAttr[r] = e[r]·∂m/∂out[r].
	keepError    bool
	err, errAttr []float32
}

// forward encodes the SAE's input act ([T, d_in] on the backend) and keeps
// what the backward needs.
func (s *splice) forward(be compute.Backend, act compute.Tensor) error {
	w := s.enc.SAE
	T := act.Rows()
	ft := be.Alloc(T, w.DSae)
	defer be.Free(ft)
	if err := s.enc.Encode(ft, act); err != nil {
		return fmt.Errorf("SAE %s: %w", w.Name(), err)
	}
	s.f = make([]float32, T*w.DSae)
	be.Read(ft, s.f)
	if !s.enc.Normalizes() && !s.keepError {
		return nil
	}
	if s.enc.Normalizes() {
		s.x = make([]float32, T*w.DIn)
		be.Read(act, s.x)
	}
	yt := be.Alloc(T, w.OutDim())
	defer be.Free(yt)
	if err := s.enc.Decode(yt, ft); err != nil {
		return fmt.Errorf("SAE %s: %w", w.Name(), err)
	}
	s.y = make([]float32, T*w.OutDim())
	be.Read(yt, s.y)
	return nil
}

// output records the SAE's error at its output hook (act, [T, d_out]),
// e = act − x̂, x̂ the reconstruction with its normalisation undone.
func (s *splice) output(be compute.Backend, act compute.Tensor) {
	if !s.keepError {
		return
	}
	dOut := s.enc.SAE.OutDim()
	s.err = make([]float32, len(s.y))
	be.Read(act, s.err)
	for r := 0; r < len(s.y)/dOut; r++ {
		shift, scale := 0.0, 1.0
		if s.x != nil {
			shift, scale, _ = s.stats(r)
		}
		for j := r * dOut; j < (r+1)*dOut; j++ {
			s.err[j] = float32(float64(s.err[j]) - (float64(s.y[j])/scale + shift))
		}
	}
}

// stats returns row r's normalisation (rowStats of its input).
func (s *splice) stats(r int) (shift, scale, sigma float64) {
	d := s.enc.SAE.DIn
	return rowStats(s.enc.SAE.Norm, s.x[r*d:(r+1)*d])
}

// rowStats returns the normalisation of an SAE input row x, x̂ = (x −
// shift)·scale, as the encoder computes it, and σ (LayerNorm's unbiased
// std), in float64.
func rowStats(norm sae.Normalization, x []float32) (shift, scale, sigma float64) {
	d := len(x)
	switch norm {
	case sae.NormLayerNorm:
		var sum float64
		for _, v := range x {
			sum += float64(v)
		}
		shift = sum / float64(d)
		var ss float64
		for _, v := range x {
			c := float64(v) - shift
			ss += c * c
		}
		if d > 1 {
			sigma = math.Sqrt(ss / float64(d-1))
		}
		return shift, 1 / (sigma + sae.LayerNormEps), sigma
	case sae.NormConstantRescale:
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		if ss > 0 {
			return 0, math.Sqrt(float64(d)) / math.Sqrt(ss), 0
		}
	}
	return 0, 1, 0
}

// backward takes the gradient at the SAE's output (gOut, [R, d_out], R
// a multiple of T: R/T copies of the prompt's gradient in a batched
// backward), sets s.grad = ∂m/∂f ([R, d_sae]) and returns the gradient at
// its input ([R, d_in]), through the active features (and the
// normalisation's statistics): the error term passes none.
func (s *splice) backward(mm *products, gOut []float32) []float32 {
	w := s.enc.SAE
	T := len(s.f) / w.DSae
	dIn, dOut, n := w.DIn, w.OutDim(), w.DSae
	R := len(gOut) / dOut
	norm := s.enc.Normalizes()
	if zero(gOut) {
		// nothing after the SAE matters: ∂m/∂f is the seeds, if any
		s.grad = make([]float32, R*n)
		if s.err != nil {
			s.errAttr = make([]float32, R)
		}
		if len(s.seeds) == 0 {
			return make([]float32, R*dIn)
		}
		for _, i := range s.seeds {
			s.grad[i]++
		}
		dn := s.throughEncoder(mm, R)
		if norm {
			s.normBackward(dn, gOut)
		}
		return dn
	}
	gy := gOut
	if norm {
		gy = make([]float32, len(gOut))
		for r := 0; r < R; r++ {
			_, scale, _ := s.stats(r % T)
			for j := 0; j < dOut; j++ {
				gy[r*dOut+j] = float32(float64(gOut[r*dOut+j]) / scale)
			}
		}
	}
	if s.err != nil {
		s.errAttr = make([]float32, R)
		for r := 0; r < R; r++ {
			e := s.err[(r%T)*dOut : (r%T+1)*dOut]
			var a float64
			for j, v := range gOut[r*dOut : (r+1)*dOut] {
				a += float64(e[j]) * float64(v)
			}
			s.errAttr[r] = float32(a)
		}
	}
	// ∂m/∂f = gy·W_decᵀ
	s.grad = mm.transB(gy, R, s.enc.WDec(), n)
	for _, i := range s.seeds {
		s.grad[i]++
	}
	dn := s.throughEncoder(mm, R)
	if !norm {
		return dn
	}
	s.normBackward(dn, gOut)
	return dn
}

// normBackward adds to dn, the gradient at the normalised input ([T,
// d_in]), the derivative through the normalisation, in place: the
// gradient at the raw input. gOut is the gradient at the output.
func (s *splice) normBackward(dn, gOut []float32) {
	w := s.enc.SAE
	dIn, dOut := w.DIn, w.OutDim()
	// x̂ = (x − μ)·s encodes; out = y/s + μ decodes. Both depend on x
	// through μ and s (autograd's derivative of SAELens' normalisation).
	T := len(s.f) / w.DSae
	rows(len(dn)/dIn, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := r % T
			shift, scale, sigma := s.stats(t)
			x, g := s.x[t*dIn:(t+1)*dIn], dn[r*dIn:(r+1)*dIn]
			y, go_ := s.y[t*dOut:(t+1)*dOut], gOut[r*dOut:(r+1)*dOut]
			var a, sumG float64 // Σ gOut·y, Σ gOut
			for j, v := range go_ {
				a += float64(v) * float64(y[j])
				sumG += float64(v)
			}
			var c, mdn float64 // Σ dn·(x − μ), mean dn
			for j, v := range g {
				c += float64(v) * (float64(x[j]) - shift)
				mdn += float64(v)
			}
			mdn /= float64(dIn)
			switch w.Norm {
			case sae.NormLayerNorm:
				// ∂σ/∂x_k = (x_k − μ)/((d−1)σ); s = 1/(σ+ε); 1/s = σ+ε
				k := 0.0
				if sigma > 0 && dIn > 1 {
					k = (a - scale*scale*c) / (float64(dIn-1) * sigma)
				}
				for j := range g {
					xc := float64(x[j]) - shift
					g[j] = float32(scale*(float64(g[j])-mdn) + sumG/float64(dIn) + xc*k)
				}
			case sae.NormConstantRescale:
				// s = √d/‖x‖: ∂(1/s)/∂x_k = x_k/(‖x‖√d)
				var ss float64
				for _, v := range x {
					ss += float64(v) * float64(v)
				}
				if ss == 0 {
					continue
				}
				k := (a - scale*scale*c) / (math.Sqrt(ss) * math.Sqrt(float64(dIn)))
				for j := range g {
					g[j] = float32(scale*float64(g[j]) + float64(x[j])*k)
				}
			}
		}
	})
}

// throughEncoder returns (∂m/∂f ⊙ [f > 0])·Mᵀ ([R, d_in], R rows of
// s.grad), M being the EncodeMatrix: the gradient at the normalised input
// through the active features. On a host backend it sums the active
// features' columns of M (~1% of the features are active: the dense
// product would be ~100 times the work); elsewhere it is the backend's
// matrix product.
func (s *splice) throughEncoder(mm *products, R int) []float32 {
	w := s.enc.SAE
	n, dIn := w.DSae, w.DIn
	T := len(s.f) / n
	hd, ok := mm.be.(compute.HostData)
	if !ok {
		dh := make([]float32, R*n)
		for i := range dh {
			if s.f[i%(T*n)] > 0 {
				dh[i] = s.grad[i]
			}
		}
		return mm.transB(dh, R, s.enc.EncodeMatrix(), dIn)
	}
	type entry struct {
		r, f int32
		g    float32
	}
	var act []entry
	for r := 0; r < R; r++ {
		f, g := s.f[(r%T)*n:(r%T+1)*n], s.grad[r*n:(r+1)*n]
		for i, v := range f {
			if v > 0 && g[i] != 0 {
				act = append(act, entry{int32(r), int32(i), g[i]})
			}
		}
	}
	m := hd.HostData(s.enc.EncodeMatrix())
	dn := make([]float32, R*dIn)
	rows(dIn, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			row := m[j*n : (j+1)*n]
			for _, e := range act {
				dn[int(e.r)*dIn+j] += e.g * row[e.f]
			}
		}
	})
	return dn
}

// products runs the backward's matrix products on the backend: host
// gradients in, host gradients out, scratch tensors reused by shape.
type products struct {
	be      compute.Backend
	scratch map[[3]int]compute.Tensor
}

// tensor returns the scratch tensor of a role (0: input, 1: output) and
// shape.
func (p *products) tensor(role, r, c int) compute.Tensor {
	k := [3]int{role, r, c}
	if t, ok := p.scratch[k]; ok {
		return t
	}
	t := p.be.Alloc(r, c)
	p.scratch[k] = t
	return t
}

// transB returns g·wᵀ for g ([T, w.Cols()] on the host) and w ([out,
// w.Cols()] on the backend): [T, out].
func (p *products) transB(g []float32, T int, w compute.Tensor, out int) []float32 {
	a := p.tensor(0, T, w.Cols())
	p.be.Write(a, g)
	dst := p.tensor(1, T, out)
	p.be.MatMulTransB(dst, a, w)
	res := make([]float32, T*out)
	p.be.Read(dst, res)
	return res
}

func (p *products) free() {
	for _, t := range p.scratch {
		p.be.Free(t)
	}
	p.scratch = nil
}
