// Package encoder runs a sparse autoencoder of any family (sae.Architecture)
// on a compute.Backend: the input normalisation, the encoder's matrix
// product and the family's activation (Encode), the decoder (Decode), the
// whole reconstruction with the normalisation undone (Reconstruct), and
// the model patches that splice the reconstruction in where the SAE writes.
package encoder

import (
	"fmt"
	"math"
	"sync"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// Encoder is an SAE whose weights live on a backend.
type Encoder struct {
	SAE  *sae.SAE
	be   compute.Backend
	wEnc compute.Tensor // [d_in, d_sae]
	wDec compute.Tensor // [d_sae, d_out]
	bEnc compute.Tensor // [1, d_sae]
	bDec compute.Tensor // [1, d_out]
	// bEff folds the input centring into the bias:
	// (x - b_dec)·W_enc + b_enc = x·W_enc + (b_enc - b_dec·W_enc).
	// For a Gated SAE it is the gate's bias, b_gate - b_dec·W_enc.
	bEff compute.Tensor
	// wMag and bMagEff are a Gated SAE's magnitude path: W_enc ⊙ exp(r_mag)
	// and b_mag - b_dec·W_mag.
	wMag, bMagEff compute.Tensor
	threshold     []float32 // JumpReLU, on the host
	// fo is the backend's compute.FamilyOps, when it has them: the family
	// steps then run in the backend's memory (thresholdT holds JumpReLU's
	// thresholds there), else on the host (family.go).
	fo         compute.FamilyOps
	thresholdT compute.Tensor

	dirsOnce sync.Once
	dirs     []float32 // ResidualDirections' result, [d_sae, d_model]
	bias     []float32 // b_dec's direction, [d_model]
	dirsErr  error
}

// ResidualDirections returns every feature's direction in the residual
// stream, [d_sae, d_model] row-major, and that of b_dec: W_dec[f] for an
// SAE whose output is the residual stream or is added to it (resid_*,
// attn_out, mlp_out, a transcoder's MLP output), W_dec[f]·W_O for
// attn.hook_z, W_dec[f]·W_out for mlp.hook_post, centred over d_model as
// the model's writes are (unless the SAE is uncentred). Logit weights,
// unembedding statistics and decoder-cosine neighbours use them. They are
// computed once (the model is locked meanwhile).
func (e *Encoder) ResidualDirections(m *model.Model) (dirs, bias []float32, err error) {
	e.dirsOnce.Do(func() {
		s := e.SAE
		out := s.Output()
		centre := !s.Uncentred && (out.Point == hookname.AttnZ || out.Point == hookname.MLPPost)
		m.Lock()
		defer m.Unlock()
		if e.dirs, e.dirsErr = m.WriteDirections(out, s.WDec.Data, s.DSae, centre); e.dirsErr != nil {
			return
		}
		e.bias, e.dirsErr = m.WriteDirections(out, s.BDec.Data, 1, centre)
	})
	return e.dirs, e.bias, e.dirsErr
}

// New uploads s to be.
func New(be compute.Backend, s *sae.SAE) (*Encoder, error) {
	switch s.Arch {
	case "", sae.Standard, sae.TopK, sae.JumpReLU, sae.Gated:
	default:
		return nil, fmt.Errorf("SAE %s: architecture %q is not run by this version", s.Path, s.Arch)
	}
	switch s.Norm {
	case "", sae.NormNone, sae.NormLayerNorm, sae.NormConstantRescale, sae.NormExpectedAverage:
	default:
		return nil, fmt.Errorf("SAE %s: normalisation %q is not run by this version", s.Path, s.Norm)
	}
	e := &Encoder{SAE: s, be: be}
	e.fo, _ = be.(compute.FamilyOps)
	var err error
	for _, u := range []struct {
		dst *compute.Tensor
		w   weights.Tensor
	}{{&e.wEnc, s.WEnc}, {&e.wDec, s.WDec}, {&e.bEnc, s.BEnc}, {&e.bDec, s.BDec}} {
		if *u.dst, err = be.Upload(u.w); err != nil {
			e.Close() // what was uploaded before the error
			return nil, fmt.Errorf("upload SAE %s: %w", s.Path, err)
		}
	}
	bias := s.BEnc.Data
	if s.Arch == sae.Gated {
		bias = s.BGate.Data
	}
	e.bEff = e.upload(e.foldBDec(s.WEnc.Data, bias))
	switch s.Arch {
	case sae.Gated:
		wMag := weights.Tensor{Shape: append([]int(nil), s.WEnc.Shape...), Data: make([]float32, len(s.WEnc.Data))}
		for i := 0; i < s.DIn; i++ {
			for f := 0; f < s.DSae; f++ {
				wMag.Data[i*s.DSae+f] = float32(float64(s.WEnc.Data[i*s.DSae+f]) * math.Exp(float64(s.RMag.Data[f])))
			}
		}
		if e.wMag, err = be.Upload(wMag); err != nil {
			e.Close()
			return nil, fmt.Errorf("upload SAE %s: %w", s.Path, err)
		}
		e.bMagEff = e.upload(e.foldBDec(wMag.Data, s.BMag.Data))
	case sae.JumpReLU:
		e.threshold = s.Threshold.Data
		if len(s.Threshold.Data) != s.DSae {
			e.Close()
			return nil, fmt.Errorf("SAE %s: %d JumpReLU thresholds for %d features", s.Path, len(s.Threshold.Data), s.DSae)
		}
		if e.fo != nil {
			if e.thresholdT, err = be.Upload(weights.Tensor{Shape: []int{1, s.DSae}, Data: s.Threshold.Data}); err != nil {
				e.Close()
				return nil, fmt.Errorf("upload SAE %s: %w", s.Path, err)
			}
		}
	}
	return e, nil
}

// foldBDec returns bias − b_dec·w (w is [d_in, d_sae]) when the SAE
// subtracts b_dec from its input, else bias, in float64.
func (e *Encoder) foldBDec(w, bias []float32) []float32 {
	s := e.SAE
	eff := make([]float32, s.DSae)
	copy(eff, bias)
	if !s.ApplyBDecToInput {
		return eff
	}
	acc := make([]float64, s.DSae)
	for i, bd := range s.BDec.Data[:s.DIn] {
		row := w[i*s.DSae : (i+1)*s.DSae]
		for j, v := range row {
			acc[j] += float64(bd) * float64(v)
		}
	}
	for j := range eff {
		eff[j] = float32(float64(bias[j]) - acc[j])
	}
	return eff
}

// upload puts a [1, n] row on the backend.
func (e *Encoder) upload(v []float32) compute.Tensor {
	t := e.be.Alloc(1, len(v))
	e.be.Write(t, v)
	return t
}

// Close frees the SAE's weights on the backend (device memory on a GPU);
// the encoder cannot be used after.
func (e *Encoder) Close() {
	for _, t := range []*compute.Tensor{&e.wEnc, &e.wDec, &e.bEnc, &e.bDec, &e.bEff, &e.wMag, &e.bMagEff, &e.thresholdT} {
		if *t != nil {
			e.be.Free(*t)
			*t = nil
		}
	}
}

// Backend returns the backend the SAE's weights live on.
func (e *Encoder) Backend() compute.Backend { return e.be }

// DIn returns the input width.
func (e *Encoder) DIn() int { return e.SAE.DIn }

// DSae returns the number of features.
func (e *Encoder) DSae() int { return e.SAE.DSae }

// Hook returns the SAE's hook point.
func (e *Encoder) Hook() hookname.Hook { return e.SAE.Hook }

// WDec returns the decoder matrix on the backend.
func (e *Encoder) WDec() compute.Tensor { return e.wDec }

// BDec returns the decoder bias on the backend ([1, d_in]).
func (e *Encoder) BDec() compute.Tensor { return e.bDec }

// Encode sets dst ([rows, d_sae]) to the feature activations of x ([rows, d_in]).
func (e *Encoder) Encode(dst, x compute.Tensor) error {
	st, err := e.encode(dst, x)
	st.release(e.be)
	return err
}

// encode is Encode, returning what the input normalisation did (release
// it when done).
func (e *Encoder) encode(dst, x compute.Tensor) (rowNorm, error) {
	s, be := e.SAE, e.be
	if x.Cols() != s.DIn || dst.Cols() != s.DSae || dst.Rows() != x.Rows() {
		return rowNorm{}, fmt.Errorf("SAE encode: input %dx%d, output %dx%d for a %d→%d SAE", x.Rows(), x.Cols(), dst.Rows(), dst.Cols(), s.DIn, s.DSae)
	}
	var st rowNorm
	in := x
	if needsNorm(s.Norm) {
		in = be.Alloc(x.Rows(), s.DIn)
		defer be.Free(in)
		if e.fo != nil {
			st.stats = be.Alloc(x.Rows(), 2)
			e.fo.NormalizeRows(in, x, st.stats, rowNormOf(s.Norm), sae.LayerNormEps)
		} else {
			raw := make([]float32, x.Rows()*s.DIn)
			be.Read(x, raw)
			onHost(be, in, func(v []float32) { st = normalize(s.Norm, v, raw, s.DIn) })
		}
	}
	switch s.Arch {
	case "", sae.Standard:
		be.SAEEncode(dst, in, e.wEnc, e.bEff, nil)
	case sae.TopK:
		if e.fo != nil {
			be.MatMul(dst, in, e.wEnc, e.bEff)
			e.fo.TopKRows(dst, s.K)
			break
		}
		e.rowStep(dst, in, func(row, bias, scratch []float32) { topK(row, bias, s.K, scratch) })
	case sae.JumpReLU:
		if e.fo != nil {
			be.MatMul(dst, in, e.wEnc, e.bEff)
			e.fo.JumpReLU(dst, e.thresholdT)
			break
		}
		e.rowStep(dst, in, func(row, bias, _ []float32) { jumpReLU(row, bias, e.threshold) })
	case sae.Gated:
		g := be.Alloc(x.Rows(), s.DSae)
		defer be.Free(g)
		be.MatMul(g, in, e.wEnc, e.bEff)
		be.MatMul(dst, in, e.wMag, e.bMagEff)
		if e.fo != nil {
			e.fo.Gate(dst, g)
			break
		}
		gv := make([]float32, x.Rows()*s.DSae)
		be.Read(g, gv)
		onHost(be, dst, func(v []float32) {
			rows := x.Rows()
			parallelRows(rows, func(r int) { gate(v[r*s.DSae:(r+1)*s.DSae], gv[r*s.DSae:(r+1)*s.DSae]) })
		})
	}
	return st, nil
}

// rowStep sets dst to in·W_enc + b_eff and runs step (a family's
// activation function) on each row. On a host backend the product is taken
// without its bias and step adds it to the row it works on (bias is
// b_eff), so the pre-activations, as wide as the SAE, are read once
// instead of twice; the sums are the same float32 additions as MatMul's,
// so the bits are too. Elsewhere the bias comes with the product, bias is
// nil, and the rows are changed on a host copy.
func (e *Encoder) rowStep(dst, in compute.Tensor, step func(row, bias, scratch []float32)) {
	be, d := e.be, e.SAE.DSae
	if h, ok := be.(compute.HostData); ok {
		be.MatMul(dst, in, e.wEnc, nil)
		bias := h.HostData(e.bEff)
		eachRow(h.HostData(dst), d, func(row, scratch []float32) { step(row, bias, scratch) })
		return
	}
	be.MatMul(dst, in, e.wEnc, e.bEff)
	onHost(be, dst, func(v []float32) {
		eachRow(v, d, func(row, scratch []float32) { step(row, nil, scratch) })
	})
}

// Decode sets dst ([rows, d_out]) to f·W_dec + b_dec, in the SAE's
// normalised space (Reconstruct undoes the normalisation).
func (e *Encoder) Decode(dst, f compute.Tensor) error {
	s := e.SAE
	if f.Cols() != s.DSae || dst.Cols() != s.OutDim() || dst.Rows() != f.Rows() {
		return fmt.Errorf("SAE decode: input %dx%d, output %dx%d for a %d→%d SAE", f.Rows(), f.Cols(), dst.Rows(), dst.Cols(), s.DSae, s.OutDim())
	}
	e.be.MatMul(dst, f, e.wDec, e.bDec)
	return nil
}

// Reconstruct sets dst ([rows, d_out]) to the SAE's reconstruction of x
// ([rows, d_in]), its normalisation undone, and feats ([rows, d_sae]) to
// the features it used.
func (e *Encoder) Reconstruct(dst, feats, x compute.Tensor) error {
	st, err := e.encode(feats, x)
	defer st.release(e.be)
	if err != nil {
		return err
	}
	if err := e.Decode(dst, feats); err != nil {
		return err
	}
	if needsNorm(e.SAE.Norm) {
		st.undo(e.be, dst, e.SAE.OutDim())
	}
	return nil
}

// ReconstructPatch returns a model patch that replaces the activation at
// the SAE's hook by its reconstruction (its feature buffer lives for one
// call). For a transcoder, whose output goes to another hook, use
// Splice.
func (e *Encoder) ReconstructPatch() model.Patch {
	return func(be compute.Backend, h hookname.Hook, act compute.Tensor, _, _ int) error {
		feats := be.Alloc(act.Rows(), e.SAE.DSae)
		defer be.Free(feats)
		return e.Reconstruct(act, feats, act)
	}
}

// Splice returns the hooks that splice the SAE's reconstruction into a
// pass: the patch at the hook it writes, and, for a transcoder, an
// observer of the hook it reads (called by the pass before the patch;
// chain it with the pass's own observer). The returned release frees the
// buffer they share.
func (e *Encoder) Splice(be compute.Backend) (patches map[string]model.Patch, observe func(hookname.Hook, compute.Tensor) error, release func()) {
	s := e.SAE
	out := s.Output()
	if !s.Transcoder {
		return map[string]model.Patch{out.String(): e.ReconstructPatch()}, nil, func() {}
	}
	var in compute.Tensor
	observe = func(h hookname.Hook, act compute.Tensor) error {
		if h != s.Hook {
			return nil
		}
		if in == nil || in.Rows() != act.Rows() {
			if in != nil {
				be.Free(in)
			}
			in = be.Alloc(act.Rows(), act.Cols())
		}
		be.Copy(in, act)
		return nil
	}
	patch := func(be compute.Backend, h hookname.Hook, act compute.Tensor, _, _ int) error {
		if in == nil || in.Rows() != act.Rows() {
			return fmt.Errorf("transcoder %s: %s was not read before %s", s.Path, s.Hook, h)
		}
		feats := be.Alloc(act.Rows(), s.DSae)
		defer be.Free(feats)
		return e.Reconstruct(act, feats, in)
	}
	release = func() {
		if in != nil {
			be.Free(in)
			in = nil
		}
	}
	return map[string]model.Patch{out.String(): patch}, observe, release
}
