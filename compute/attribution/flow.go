package attribution

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// LayerFlow splits a blocks.{L+1}.hook_resid_pre feature's pre-activation
// at one position into what block L adds to the residual stream there:
// resid_pre{L+1} = resid_pre{L} + attn_out{L} + mlp_out{L}, each SAE's
// input being its reconstruction (features and decoder bias) plus its
// error, so h = Σ components·g + Bias, g = ∂h/∂x (the target SAE's
// pre-activation direction: W_enc[:, t], or a Gated SAE's magnitude
// direction). For a target SAE without input normalisation the split is
// exact (Unexplained is rounding); with it, first-order.
type LayerFlow struct {
	// Layer is L; Pos the position (counted from the start); Feature the
	// target feature.
	Layer, Pos, Feature int
	// Act is the target's activation f; PreAct its pre-activation h.
	Act, PreAct float64
	// Resid and MLP are the shares of resid_pre{L} and mlp_out{L}.
	Resid, MLP FlowShares
	// Attention is attn_out{L}'s share.
	Attention float64
	// Bias is the target SAE's own bias term (b_enc − b_dec·W_enc[:, t]);
	// Unexplained is PreAct minus every share and Bias.
	Bias, Unexplained float64
}

// FlowShares is one upstream SAE's part of a LayerFlow.
type FlowShares struct {
	// Features[i] is f_i·(W_dec[i]·g) (the decoder row through the SAE's
	// output normalisation, if any), [d_sae]; nil when there is no SAE at
	// the hook, and then Error is the hook's whole share.
	Features []float64
	// Total is the sum of Features; Bias the decoder bias' share; Error
	// the SAE error's (x − x̂).
	Total, Bias, Error float64
}

// Sum returns the hook's whole share: Total + Bias + Error.
func (s FlowShares) Sum() float64 { return s.Total + s.Bias + s.Error }

// Flow computes the LayerFlow of feature of target (an SAE at
// blocks.{L+1}.hook_resid_pre) at pos (negative from the end), with resid
// and mlp the SAEs at blocks.L.hook_resid_pre and blocks.L.hook_mlp_out
// (either may be nil). One forward pass; it holds the model's lock.
func Flow(ctx context.Context, m *model.Model, resid, mlp, target *encoder.Encoder, tokens []int32, feature, pos int) (fl *LayerFlow, err error) {
	T := len(tokens)
	if err := m.CheckTokens(tokens, 1, T); err != nil {
		return nil, err
	}
	if target == nil {
		return nil, errors.New("flow needs a target SAE")
	}
	th := target.SAE.Hook
	L := th.Layer - 1
	if th.Point != hookname.ResidPre || L < 0 || target.SAE.Transcoder {
		return nil, fmt.Errorf("flow splits a feature of a hook_resid_pre SAE after block 0, not of %s", th)
	}
	if feature < 0 || feature >= target.DSae() {
		return nil, fmt.Errorf("feature %d out of range: the SAE has features 0 to %d", feature, target.DSae()-1)
	}
	p := pos
	if p < 0 {
		p += T
	}
	if p < 0 || p >= T {
		return nil, fmt.Errorf("position %d outside a prompt of %d tokens", pos, T)
	}
	uncentred := target.SAE.Uncentred
	for _, u := range []struct {
		e    *encoder.Encoder
		want hookname.Point
	}{{resid, hookname.ResidPre}, {mlp, hookname.MLPOut}} {
		if u.e == nil {
			continue
		}
		if h := u.e.SAE.Hook; h != (hookname.Hook{Layer: L, Point: u.want}) || u.e.SAE.Transcoder {
			return nil, fmt.Errorf("flow into %s takes SAEs at blocks.%d.%s, not %s", th, L, u.want, u.e.SAE.Name())
		}
		if u.e.SAE.Uncentred != uncentred {
			return nil, errors.New("the SAEs disagree about centring (some were trained on the uncentred residual stream)")
		}
	}
	be := m.Backend()
	d := m.Config.DModel
	m.Lock()
	defer m.Unlock()
	defer compute.RecoverBackend(be, &err)
	at := func(pt hookname.Point) hookname.Hook { return hookname.Hook{Layer: L, Point: pt} }
	rows := map[hookname.Hook][]float32{at(hookname.ResidPre): nil, at(hookname.AttnOut): nil, at(hookname.MLPOut): nil, th: nil}
	stop := th
	_, err = m.Run(ctx, tokens, 1, T, model.Hooks{Uncentred: uncentred, StopAfter: &stop, Observe: func(h hookname.Hook, act compute.Tensor) error {
		if _, ok := rows[h]; ok {
			v := make([]float32, d)
			be.Read(be.RowsView(act, p, p+1), v)
			rows[h] = v
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	fl = &LayerFlow{Layer: L, Pos: p, Feature: feature}
	// the target: its activation, pre-activation and direction g = ∂h/∂x
	x := rows[th]
	tAct, err := encodeRow(be, target, x)
	if err != nil {
		return nil, err
	}
	fl.Act = float64(tAct[feature])
	col, bias := preActDirection(be, target, feature)
	w := target.SAE
	shift, scale, sigma := rowStats(w.Norm, x)
	var h, c float64 // h = n(x)·col + bias; c = Σ col_j (x_j − shift)
	var mcol float64
	for j, v := range x {
		h += (float64(v) - shift) * scale * col[j]
		c += col[j] * (float64(v) - shift)
		mcol += col[j]
	}
	mcol /= float64(d)
	fl.PreAct, fl.Bias = h+bias, bias
	g := make([]float64, d)
	for j, v := range x {
		switch w.Norm {
		case sae.NormLayerNorm:
			k := 0.0
			if sigma > 0 && d > 1 {
				k = -scale * scale * c / (float64(d-1) * sigma)
			}
			g[j] = scale*(col[j]-mcol) + (float64(v)-shift)*k
		case sae.NormConstantRescale:
			nrm := math.Sqrt(float64(d)) / scale // ‖x‖
			g[j] = scale*col[j] - scale*scale*c*float64(v)/(nrm*math.Sqrt(float64(d)))
		default:
			g[j] = col[j]
		}
	}
	dot := func(v []float32) float64 {
		var s float64
		for j, x := range v {
			s += float64(x) * g[j]
		}
		return s
	}
	fl.Attention = dot(rows[at(hookname.AttnOut)])
	if fl.Resid, err = shares(be, resid, rows[at(hookname.ResidPre)], dot); err != nil {
		return nil, err
	}
	if fl.MLP, err = shares(be, mlp, rows[at(hookname.MLPOut)], dot); err != nil {
		return nil, err
	}
	fl.Unexplained = fl.PreAct - fl.Resid.Sum() - fl.MLP.Sum() - fl.Attention - fl.Bias
	return fl, nil
}

// encodeRow returns e's features of one input row.
func encodeRow(be compute.Backend, e *encoder.Encoder, x []float32) ([]float32, error) {
	in := be.Alloc(1, len(x))
	defer be.Free(in)
	be.Write(in, x)
	f := be.Alloc(1, e.DSae())
	defer be.Free(f)
	if err := e.Encode(f, in); err != nil {
		return nil, err
	}
	out := make([]float32, e.DSae())
	be.Read(f, out)
	return out, nil
}

// preActDirection returns column t of e's EncodeMatrix and the bias of
// its pre-activation t, b − b_dec·column when the SAE subtracts b_dec
// from its input (b: b_enc, or a Gated SAE's b_mag), in float64.
func preActDirection(be compute.Backend, e *encoder.Encoder, t int) ([]float64, float64) {
	w := e.SAE
	one := make([]float32, w.DSae)
	one[t] = 1
	a := be.Alloc(1, w.DSae)
	defer be.Free(a)
	be.Write(a, one)
	dst := be.Alloc(1, w.DIn)
	defer be.Free(dst)
	be.MatMulTransB(dst, a, e.EncodeMatrix())
	col32 := make([]float32, w.DIn)
	be.Read(dst, col32)
	col := make([]float64, w.DIn)
	for j, v := range col32 {
		col[j] = float64(v)
	}
	b := float64(w.BEnc.Data[t])
	if w.Arch == sae.Gated {
		b = float64(w.BMag.Data[t])
	}
	if w.ApplyBDecToInput {
		for j, v := range w.BDec.Data[:w.DIn] {
			b -= float64(v) * col[j]
		}
	}
	return col, b
}

// shares splits one hook's row x into its SAE's features, decoder bias
// and error, each dotted with g (dot); without an SAE, x is all error.
func shares(be compute.Backend, e *encoder.Encoder, x []float32, dot func([]float32) float64) (FlowShares, error) {
	var s FlowShares
	if e == nil {
		s.Error = dot(x)
		return s, nil
	}
	w := e.SAE
	d := w.DIn
	f, err := encodeRow(be, e, x)
	if err != nil {
		return s, err
	}
	shift, scale, _ := rowStats(w.Norm, x)
	// x̂ = (Σ f_i W_dec[i] + b_dec)/scale + shift
	s.Features = make([]float64, w.DSae)
	row := make([]float32, d)
	xhat := make([]float64, d)
	for i, fi := range f {
		if fi == 0 {
			continue
		}
		dir := w.WDec.Data[i*d : (i+1)*d]
		for j, v := range dir {
			row[j] = float32(float64(v) / scale)
			xhat[j] += float64(fi) * float64(v) / scale
		}
		s.Features[i] = float64(fi) * dot(row)
		s.Total += s.Features[i]
	}
	for j, v := range w.BDec.Data[:d] {
		b := float64(v)/scale + shift
		row[j] = float32(b)
		xhat[j] += b
	}
	s.Bias = dot(row)
	for j, v := range x {
		row[j] = float32(float64(v) - xhat[j])
	}
	s.Error = dot(row)
	return s, nil
}
