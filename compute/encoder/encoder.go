// Package encoder runs a sparse autoencoder on a compute.Backend: encode
// f = relu((x - b_dec)·W_enc + b_enc), decode x̂ = f·W_dec + b_dec, and the
// model patch that splices the reconstruction in at the SAE's hook.
package encoder

import (
	"fmt"

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
	wDec compute.Tensor // [d_sae, d_in]
	bEnc compute.Tensor // [1, d_sae]
	bDec compute.Tensor // [1, d_in]
	// bEff folds the input centring into the bias:
	// (x - b_dec)·W_enc + b_enc = x·W_enc + (b_enc - b_dec·W_enc).
	bEff compute.Tensor
}

// New uploads s to be.
func New(be compute.Backend, s *sae.SAE) (*Encoder, error) {
	if (s.Arch != "" && s.Arch != sae.Standard) || (s.Norm != "" && s.Norm != sae.NormNone) || s.Transcoder {
		return nil, fmt.Errorf("SAE %s: %s SAEs are read but not yet run by this version", s.Path, s.Describe())
	}
	e := &Encoder{SAE: s, be: be}
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
	eff := make([]float32, s.DSae)
	copy(eff, s.BEnc.Data)
	if s.ApplyBDecToInput {
		acc := make([]float64, s.DSae)
		for i, bd := range s.BDec.Data {
			row := s.WEnc.Data[i*s.DSae : (i+1)*s.DSae]
			for j, w := range row {
				acc[j] += float64(bd) * float64(w)
			}
		}
		for j := range eff {
			eff[j] = float32(float64(s.BEnc.Data[j]) - acc[j])
		}
	}
	e.bEff = be.Alloc(1, s.DSae)
	be.Write(e.bEff, eff)
	return e, nil
}

// Close frees the SAE's weights on the backend (device memory on a GPU);
// the encoder cannot be used after.
func (e *Encoder) Close() {
	for _, t := range []*compute.Tensor{&e.wEnc, &e.wDec, &e.bEnc, &e.bDec, &e.bEff} {
		if *t != nil {
			e.be.Free(*t)
			*t = nil
		}
	}
}

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
	if x.Cols() != e.SAE.DIn || dst.Cols() != e.SAE.DSae || dst.Rows() != x.Rows() {
		return fmt.Errorf("SAE encode: input %dx%d, output %dx%d for a %d→%d SAE", x.Rows(), x.Cols(), dst.Rows(), dst.Cols(), e.SAE.DIn, e.SAE.DSae)
	}
	e.be.SAEEncode(dst, x, e.wEnc, e.bEff, nil)
	return nil
}

// Decode sets dst ([rows, d_in]) to f·W_dec + b_dec.
func (e *Encoder) Decode(dst, f compute.Tensor) error {
	if f.Cols() != e.SAE.DSae || dst.Cols() != e.SAE.DIn || dst.Rows() != f.Rows() {
		return fmt.Errorf("SAE decode: input %dx%d, output %dx%d for a %d→%d SAE", f.Rows(), f.Cols(), dst.Rows(), dst.Cols(), e.SAE.DSae, e.SAE.DIn)
	}
	e.be.MatMul(dst, f, e.wDec, e.bDec)
	return nil
}

// ReconstructPatch returns a model patch that replaces the activation at
// the SAE's hook by its reconstruction (its feature buffer lives for one
// call).
func (e *Encoder) ReconstructPatch() model.Patch {
	return func(be compute.Backend, h hookname.Hook, act compute.Tensor, _, _ int) error {
		feats := be.Alloc(act.Rows(), e.SAE.DSae)
		defer be.Free(feats)
		if err := e.Encode(feats, act); err != nil {
			return err
		}
		return e.Decode(act, feats)
	}
}
