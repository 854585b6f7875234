package attribution

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// frozen runs the model with saes spliced in as the definition says,
// independently of Run: at each SAE's output hook the activation becomes
// denorm(decode(encode(in) + δ·e_(t,i))) + err, err being that hook's
// x − x̂ in the unperturbed run (normalisation statistics recomputed here
// in float64). It returns the metric.
type frozen struct {
	m    *model.Model
	be   compute.Backend
	saes []*encoder.Encoder
	errs map[string][]float64
	// errSAE's error at position errPos is scaled by errScale (when
	// errScale ≠ 0)
	errSAE, errPos int
	errScale       float64
}

// stats64 is the SAE's row normalisation, written again: x̂ = (x − shift)·scale.
func stats64(norm sae.Normalization, x []float32) (shift, scale float64) {
	d := len(x)
	switch norm {
	case sae.NormLayerNorm:
		for _, v := range x {
			shift += float64(v)
		}
		shift /= float64(d)
		var ss float64
		for _, v := range x {
			ss += (float64(v) - shift) * (float64(v) - shift)
		}
		return shift, 1 / (math.Sqrt(ss/float64(d-1)) + sae.LayerNormEps)
	case sae.NormConstantRescale:
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		return 0, math.Sqrt(float64(d)) / math.Sqrt(ss)
	}
	return 0, 1
}

func (fz *frozen) run(t *testing.T, tokens []int32, metric Metric, which, pos, feat int, delta float64) float64 {
	t.Helper()
	be, T := fz.be, len(tokens)
	base := fz.errs == nil
	if base {
		fz.errs = map[string][]float64{}
	}
	inputs := map[hookname.Hook][]float32{}
	var target float64
	patches := map[string]model.Patch{}
	for k, e := range fz.saes {
		k, e, w := k, e, e.SAE
		out := w.Output().String()
		patches[out] = func(_ compute.Backend, h hookname.Hook, act compute.Tensor, _, _ int) error {
			in := inputs[w.Hook]
			if !w.Transcoder {
				in = make([]float32, T*w.DIn)
				be.Read(act, in)
			}
			dOut, n := w.OutDim(), w.DSae
			x := be.Alloc(T, w.DIn)
			defer be.Free(x)
			be.Write(x, in)
			ft := be.Alloc(T, n)
			defer be.Free(ft)
			if err := e.Encode(ft, x); err != nil {
				return err
			}
			f := make([]float32, T*n)
			be.Read(ft, f)
			if metric.Kind == Feature && metric.SAE == k {
				p := metric.Pos
				if p < 0 {
					p += T
				}
				target = float64(f[p*n+metric.Feature])
			}
			cur := make([]float32, T*dOut)
			be.Read(act, cur)
			res := make([]float64, T*dOut)
			for r := 0; r < T; r++ {
				shift, scale := stats64(w.Norm, in[r*w.DIn:(r+1)*w.DIn])
				for j := 0; j < dOut; j++ {
					y := float64(w.BDec.Data[j])
					for i := 0; i < n; i++ {
						fi := float64(f[r*n+i])
						if k == which && r == pos && i == feat {
							fi += delta
						}
						y += fi * float64(w.WDec.Data[i*dOut+j])
					}
					res[r*dOut+j] = y/scale + shift
				}
			}
			if base {
				errs := make([]float64, len(res))
				for j := range res {
					errs[j] = float64(cur[j]) - res[j]
				}
				fz.errs[out] = errs
				return nil
			}
			for j := range res {
				e := fz.errs[out][j]
				if fz.errScale != 0 && k == fz.errSAE && j/dOut == fz.errPos {
					e *= fz.errScale
				}
				cur[j] = float32(res[j] + e)
			}
			be.Write(act, cur)
			return nil
		}
	}
	observe := func(h hookname.Hook, act compute.Tensor) error {
		for _, e := range fz.saes {
			if e.SAE.Transcoder && e.SAE.Hook == h {
				v := make([]float32, act.Rows()*act.Cols())
				be.Read(act, v)
				inputs[h] = v
			}
		}
		return nil
	}
	o, err := fz.m.Run(context.Background(), tokens, 1, T, model.Hooks{Patches: patches, Observe: observe, Uncentred: fz.saes[0].SAE.Uncentred})
	if err != nil {
		t.Fatal(err)
	}
	switch metric.Kind {
	case Feature:
		return target
	case Loss:
		per, err := fz.m.TokenLoss(o, tokens)
		if err != nil {
			t.Fatal(err)
		}
		return model.MeanLoss(per)
	}
	lg, err := fz.m.Logits(o.Resid, []int{T - 1})
	if err != nil {
		t.Fatal(err)
	}
	return float64(lg[0][metric.A]) - float64(lg[0][metric.B])
}

// loadV2 opens an SAE of the second fixture set.
func loadV2(t *testing.T, be compute.Backend, file, hook string) *encoder.Encoder {
	t.Helper()
	w, err := sae.Load(filepath.Join(fixture.Dir(), "v2", file), hook)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	e, err := encoder.New(be, w)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// uncentred marks e's SAE as trained on the uncentred residual stream.
func uncentred(e *encoder.Encoder) *encoder.Encoder {
	e.SAE.Uncentred = true
	return e
}

// randomSAE is a ReLU SAE with Gaussian weights at hook h of width d.
func randomSAE(t *testing.T, be compute.Backend, h hookname.Hook, d, n int, norm sae.Normalization, seed uint64) *encoder.Encoder {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	vec := func(k int, s float64) weights.Tensor {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * s)
		}
		return weights.Tensor{Shape: []int{k}, Data: v}
	}
	wEnc, wDec := vec(d*n, 1/math.Sqrt(float64(d))), vec(n*d, 1/math.Sqrt(float64(n)))
	wEnc.Shape, wDec.Shape = []int{d, n}, []int{n, d}
	w := &sae.SAE{Path: "random", Hook: h, DIn: d, DSae: n, WEnc: wEnc, WDec: wDec, BEnc: vec(n, 0.1), BDec: vec(d, 0.1),
		Arch: sae.Standard, Norm: norm, InputScale: 1, ApplyBDecToInput: true}
	e, err := encoder.New(be, w)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Gradients against central finite differences of the metric through an
// independent splicing of the same SAEs (frozen): for every SAE family
// and hook of the fixtures (ReLU at resid_pre and mlp_out, TopK with
// layer_norm at resid_post, JumpReLU, Gated, attn.hook_z, the MLP
// transcoder) and random SAEs at attn_out, resid_mid and mlp.hook_post
// (constant_norm_rescale), and uncentred ones (the model run without
// centring its residual writes), for the logit difference, the loss and a
// feature's activation. Central differences with δ = 1e-2 on the float32
// forward: |fd − grad| ≤ 1e-4 + 3e-3·|grad| (seen: at most 5e-5 + 1.6e-3·|grad|;
// rounding of the metric ~1e-6/δ, curvature ~δ²).
func TestGradientsFiniteDifferences(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	be := s.Backend
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	prompt := tokens[T : 2*T]
	L := func(l int, p hookname.Point) hookname.Hook { return hookname.Hook{Layer: l, Point: p} }
	d, dMLP := s.Model.Config.DModel, s.Model.Config.DMLP()
	topk := loadV2(t, be, "saelens-topk-hook_resid_post-1", "")
	configs := []struct {
		name    string
		saes    []*encoder.Encoder
		metrics []Metric
	}{
		{"relu mlp_out0, hook_z1, topk resid_post1", []*encoder.Encoder{s.SAEs["sae1"], loadV2(t, be, "saelens-attn-hook_z-1", ""), topk},
			[]Metric{{Kind: LogitDiff, A: 13, B: 11}, {Kind: Loss}, {Kind: Feature, SAE: 2, Feature: -1, Pos: -1}}},
		{"jumprelu mlp_out0, gated resid_pre1", []*encoder.Encoder{loadV2(t, be, "saelens-jumprelu-hook_mlp_out-0", ""), loadV2(t, be, "saelens-gated-hook_resid_pre-1", "")},
			[]Metric{{Kind: LogitDiff, A: 13, B: 11}, {Kind: Feature, SAE: 1, Feature: -1, Pos: -1}}},
		{"transcoder 0, relu resid_pre1", []*encoder.Encoder{loadV2(t, be, "saelens-transcoder-mlp-0", ""), s.SAEs["sae0"]},
			[]Metric{{Kind: LogitDiff, A: 13, B: 11}, {Kind: Feature, SAE: 1, Feature: -1, Pos: -1}}},
		{"uncentred random resid_pre1 and attn_out0", []*encoder.Encoder{
			uncentred(randomSAE(t, be, L(1, hookname.ResidPre), d, 64, "", 5)),
			uncentred(randomSAE(t, be, L(0, hookname.AttnOut), d, 64, "", 6))},
			[]Metric{{Kind: LogitDiff, A: 13, B: 11}, {Kind: Feature, SAE: 0, Feature: -1, Pos: -1}}},
		{"random attn_out0, resid_mid0 (rescale), mlp_post1", []*encoder.Encoder{
			randomSAE(t, be, L(0, hookname.AttnOut), d, 64, "", 1),
			randomSAE(t, be, L(0, hookname.ResidMid), d, 64, sae.NormConstantRescale, 2),
			randomSAE(t, be, L(1, hookname.MLPPost), dMLP, 96, "", 3)},
			[]Metric{{Kind: LogitDiff, A: 13, B: 11}, {Kind: Loss}}},
	}
	const delta = 1e-2
	for _, c := range configs {
		for _, metric := range c.metrics {
			if metric.Kind == Feature { // the target's SAE's most active feature at the last position
				r, err := Run(context.Background(), s.Model, c.saes, prompt, Metric{Kind: Loss})
				if err != nil {
					t.Fatal(err)
				}
				n := c.saes[metric.SAE].DSae()
				acts := r.Acts[metric.SAE][(T-1)*n : T*n]
				metric.Feature = 0
				for i, v := range acts {
					if v > acts[metric.Feature] {
						metric.Feature = i
					}
				}
			}
			t.Run(c.name+"/"+metric.String(), func(t *testing.T) {
				r, err := Run(context.Background(), s.Model, c.saes, prompt, metric)
				if err != nil {
					t.Fatal(err)
				}
				fz := &frozen{m: s.Model, be: be, saes: c.saes}
				m0 := fz.run(t, prompt, metric, -1, 0, 0, 0)
				fixture.Close(t, "metric", []float32{float32(r.Metric)}, []float32{float32(m0)}, 1e-5)
				checked, nonzero := 0, 0
				for k, e := range c.saes {
					n := e.DSae()
					// the largest gradients at active features, and at a
					// few others
					type cand struct{ pos, feat int }
					var cands []cand
					best := map[bool]cand{}
					for j, g := range r.Grads[k] {
						active := r.Acts[k][j] > 0
						b, ok := best[active]
						if !ok || math.Abs(float64(g)) > math.Abs(float64(r.Grads[k][b.pos*n+b.feat])) {
							best[active] = cand{j / n, j % n}
						}
					}
					for _, b := range best {
						cands = append(cands, b)
					}
					cands = append(cands, cand{T - 1, 0}, cand{T / 2, n / 2})
					for _, cd := range cands {
						g := float64(r.Grads[k][cd.pos*n+cd.feat])
						if metric.Kind == Feature && k == metric.SAE {
							continue // its own features: the seed, not a derivative
						}
						up := fz.run(t, prompt, metric, k, cd.pos, cd.feat, delta)
						down := fz.run(t, prompt, metric, k, cd.pos, cd.feat, -delta)
						fd := (up - down) / (2 * delta)
						if math.Abs(fd-g) > 1e-4+3e-3*math.Abs(g) {
							t.Errorf("SAE %d (%s), position %d, feature %d: grad %.6g, finite difference %.6g", k, e.SAE.Hook, cd.pos, cd.feat, g, fd)
						}
						checked++
						if math.Abs(g) > 1e-3 {
							nonzero++
						}
					}
				}
				if nonzero < 2 {
					t.Errorf("%d gradients checked, %d of them above 1e-3: the check says little", checked, nonzero)
				}
			})
		}
	}
}

// A Tape serves several metrics: each Gradient equals Run's for the same
// metric (bit for bit), whatever was asked before; with errors kept, each
// SAE's error attribution e·∂m/∂e at a position matches the central
// difference of the metric in the error's scale there, through the
// independent splicing (|fd − attr| ≤ 1e-4 + 3e-3·|attr|).
func TestTapeAndErrorAttribution(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	be := s.Backend
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	prompt := tokens[T : 2*T]
	saes := []*encoder.Encoder{loadV2(t, be, "saelens-transcoder-mlp-0", ""), loadV2(t, be, "saelens-topk-hook_resid_post-1", "")}
	ctx := context.Background()
	tp, err := NewTape(ctx, s.Model, saes, prompt, true)
	if err != nil {
		t.Fatal(err)
	}
	metrics := []Metric{{Kind: LogitDiff, A: 13, B: 11}, {Kind: Feature, SAE: 1, Feature: 3, Pos: -2}, {Kind: Loss}, {Kind: LogitDiff, A: 13, B: 11}}
	var first *Result
	for k, mt := range metrics {
		r, err := tp.Gradient(ctx, mt)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Run(ctx, s.Model, saes, prompt, mt)
		if err != nil {
			t.Fatal(err)
		}
		if r.Metric != want.Metric {
			t.Errorf("%s: tape metric %g, Run %g", mt, r.Metric, want.Metric)
		}
		for i := range saes {
			for j := range want.Grads[i] {
				if r.Grads[i][j] != want.Grads[i][j] {
					t.Fatalf("%s: SAE %d gradient %d: tape %g, Run %g", mt, i, j, r.Grads[i][j], want.Grads[i][j])
				}
			}
		}
		if len(r.ErrorAttr) != len(saes) || want.ErrorAttr != nil {
			t.Fatalf("error attributions: tape %d, Run %d", len(r.ErrorAttr), len(want.ErrorAttr))
		}
		if k == 0 {
			first = r
		}
	}
	fz := &frozen{m: s.Model, be: be, saes: saes}
	metric := metrics[0]
	fz.run(t, prompt, metric, -1, 0, 0, 0)
	const delta = 1e-2
	nonzero := 0
	for k := range saes {
		for _, pos := range []int{T - 1, T / 2} {
			a := float64(first.ErrorAttr[k][pos])
			fz.errSAE, fz.errPos = k, pos
			fz.errScale = 1 + delta
			up := fz.run(t, prompt, metric, -1, 0, 0, 0)
			fz.errScale = 1 - delta
			down := fz.run(t, prompt, metric, -1, 0, 0, 0)
			fz.errScale = 0
			fd := (up - down) / (2 * delta)
			if math.Abs(fd-a) > 1e-4+3e-3*math.Abs(a) {
				t.Errorf("SAE %d error at %d: attribution %.6g, finite difference %.6g", k, pos, a, fd)
			}
			if math.Abs(a) > 1e-3 {
				nonzero++
			}
		}
	}
	if nonzero < 2 {
		t.Errorf("only %d error attributions above 1e-3: the check says little", nonzero)
	}
}
