package intervene_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/weights/sae"
)

// layerNormSAE opens the v2 fixtures' TopK SAE, which normalises its input
// as SAELens' layer_norm does (x̂ = (x − μ)/(σ + 1e-5), σ the unbiased
// standard deviation; decoded (fW_dec + b_dec)·(σ + 1e-5) + μ).
func layerNormSAE(t *testing.T, s *fixture.Setup) *encoder.Encoder {
	t.Helper()
	sa, err := sae.Load(filepath.Join(fixture.Dir(), "v2", "saelens-topk-hook_resid_post-1"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close() })
	if sa.Norm != sae.NormLayerNorm {
		t.Fatalf("the fixture SAE normalises with %q, the test needs layer_norm", sa.Norm)
	}
	enc, err := encoder.New(s.Model.Backend(), sa)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Close)
	return enc
}

// sigmas is σ + 1e-5 of every row of acts (width d), computed here in
// float64: the factor the fixture README's decode multiplies by.
func sigmas(acts []float32, d int) []float64 {
	out := make([]float64, len(acts)/d)
	for r := range out {
		row := acts[r*d : (r+1)*d]
		var mu float64
		for _, v := range row {
			mu += float64(v)
		}
		mu /= float64(d)
		var ss float64
		for _, v := range row {
			ss += (float64(v) - mu) * (float64(v) - mu)
		}
		out[r] = math.Sqrt(ss/float64(d-1)) + 1e-5
	}
	return out
}

// Clamping a feature of a layer_norm SAE changes the activation by exactly
// that feature's part of the SAE's reconstruction, denormalised with the
// row's own σ: x + (c − f(x))·W_dec[f]·(σ + ε), the error kept. The add
// stays in the hook's units (c·W_dec[f]).
func TestClampOfNormalisingSAEIsInTheHooksUnits(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc := layerNormSAE(t, s)
	w := enc.SAE
	prompt := scopePrompt(ref)
	d := &direct{t: t, m: s.Model, tok: prompt, read: w.Hook}
	d.run()
	T, D := len(prompt), w.DIn
	be := s.Model.Backend()
	x := be.Alloc(T, D)
	defer be.Free(x)
	be.Write(x, d.acts)
	ft := be.Alloc(T, w.DSae)
	defer be.Free(ft)
	if err := enc.Encode(ft, x); err != nil {
		t.Fatal(err)
	}
	f := make([]float32, T*w.DSae)
	be.Read(ft, f)
	// a feature active somewhere and not everywhere
	feat := -1
	for i := 0; i < w.DSae && feat < 0; i++ {
		on := 0
		for r := 0; r < T; r++ {
			if f[r*w.DSae+i] > 0 {
				on++
			}
		}
		if on > 0 && on < T {
			feat = i
		}
	}
	if feat < 0 {
		t.Fatal("no feature active at some positions only")
	}
	sig := sigmas(d.acts, D)
	if sig[1] < 1.5 && sig[1] > 0.67 {
		t.Fatalf("σ %g too near 1 for the test to tell the units apart", sig[1])
	}
	for _, iv := range []intervene.Intervention{
		{Enc: enc, Feature: feat, Mode: intervene.Clamp, Coeff: 3},
		{Enc: enc, Feature: feat, Mode: intervene.Ablate},
		{Enc: enc, Feature: feat, Mode: intervene.Add, Coeff: 3},
	} {
		p, err := intervene.Patches([]intervene.Intervention{iv})
		if err != nil {
			t.Fatal(err)
		}
		got := be.Alloc(T, D)
		be.Write(got, d.acts)
		if err := p[w.Hook.String()](be, w.Hook, got, 1, T); err != nil {
			t.Fatal(err)
		}
		gv := make([]float32, T*D)
		be.Read(got, gv)
		be.Free(got)
		want := make([]float32, T*D)
		for r := 0; r < T; r++ {
			k := float64(iv.Coeff)
			if iv.Mode != intervene.Add {
				k = (float64(iv.Coeff) - float64(f[r*w.DSae+feat])) * sig[r]
			}
			for j := 0; j < D; j++ {
				want[r*D+j] = float32(float64(d.acts[r*D+j]) + k*float64(w.WDec.Data[feat*D+j]))
			}
		}
		fixture.Close(t, string(iv.Mode), gv, want, 1e-4)
	}
}

// Patching a layer_norm SAE's feature from the clean run into the
// corrupted one adds (f_clean − f_corrupt)·W_dec[i]·(σ_corrupt + ε) at
// each position: checked against host-patched passes for the features
// active at the last position.
func TestPatchOfNormalisingSAEMatchesHostPatch(t *testing.T) {
	pc := newPatchCase(t, "sae0") // the prompts; sae0's features unused
	enc := layerNormSAE(t, pc.s)
	w := enc.SAE
	T, D := len(pc.clean), w.DIn
	feats := func(tok []int32) ([]float32, []float32) {
		d := &direct{t: t, m: pc.s.Model, tok: tok, read: w.Hook}
		d.run()
		be := pc.s.Model.Backend()
		x := be.Alloc(T, D)
		defer be.Free(x)
		be.Write(x, d.acts)
		ft := be.Alloc(T, w.DSae)
		defer be.Free(ft)
		if err := enc.Encode(ft, x); err != nil {
			t.Fatal(err)
		}
		f := make([]float32, T*w.DSae)
		be.Read(ft, f)
		return d.acts, f
	}
	_, fc := feats(pc.clean)
	ax, fx := feats(pc.corr)
	sig := sigmas(ax, D)
	res, err := intervene.PatchWith(context.Background(), pc.s.Model, enc, pc.clean, pc.corr, intervene.LogitDiff(13, 11), intervene.PatchOptions{Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	base := &direct{t: t, m: pc.s.Model, tok: pc.corr}
	base.run()
	m0 := base.logitDiff(13, 11)
	var got, want []float32
	for i := 0; i < w.DSae && len(got) < 6; i++ {
		if fc[(T-1)*w.DSae+i] == 0 && fx[(T-1)*w.DSae+i] == 0 {
			continue
		}
		add := make([][]float64, T)
		for p := 0; p < T; p++ {
			k := (float64(fc[p*w.DSae+i]) - float64(fx[p*w.DSae+i])) * sig[p]
			add[p] = make([]float64, D)
			for j := range add[p] {
				add[p][j] = k * float64(w.WDec.Data[i*D+j])
			}
		}
		d := &direct{t: t, m: pc.s.Model, tok: pc.corr, hook: w.Hook, add: add}
		d.run()
		got = append(got, float32(res.Effect[i]))
		want = append(want, float32(d.logitDiff(13, 11)-m0))
	}
	if len(got) == 0 {
		t.Fatal("no feature active at the last position")
	}
	fixture.Close(t, "layer_norm patch effects", got, want, 1e-4)
	var big bool
	for _, v := range want {
		big = big || math.Abs(float64(v)) > 1e-3
	}
	if !big {
		t.Error("every effect is below 1e-3: the test cannot tell the units apart")
	}
}
