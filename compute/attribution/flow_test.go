package attribution

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// Flow into sae0's feature 135 at the last position of tokens[0] (the
// flow fixture's target), from a random SAE at blocks.0.hook_resid_pre,
// attention and sae1 at blocks.0.hook_mlp_out: the shares and the bias
// add up to the pre-activation, which equals the encoder's activation
// (1e-4); removing each of the three components from the target's input
// and encoding again changes the activation by its share (1e-4); a
// feature's share is f_i·W_dec[i]·W_enc[:, t] in float64 from the SAE's
// weights (1e-5); with no SAE at mlp_out the hook's whole share is its
// error.
func TestLayerFlow(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	be := s.Backend
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	prompt := tokens[:T]
	d := s.Model.Config.DModel
	resid := randomSAE(t, be, hookname.Hook{Layer: 0, Point: hookname.ResidPre}, d, 64, "", 4)
	mlp, target := s.SAEs["sae1"], s.SAEs["sae0"]
	ctx := context.Background()
	fl, err := Flow(ctx, s.Model, resid, mlp, target, prompt, 135, -1)
	if err != nil {
		t.Fatal(err)
	}
	if fl.Act <= 0 {
		t.Fatalf("target inactive (%g)", fl.Act)
	}
	fixture.Close(t, "pre-activation vs activation", []float32{float32(fl.PreAct)}, []float32{float32(fl.Act)}, 1e-4)
	if math.Abs(fl.Unexplained) > 1e-4*math.Max(1, math.Abs(fl.PreAct)) {
		t.Errorf("unexplained %g of %g", fl.Unexplained, fl.PreAct)
	}
	// the components, from a separate run
	comps := map[hookname.Hook][]float32{}
	want := []hookname.Hook{{Layer: 0, Point: hookname.ResidPre}, {Layer: 0, Point: hookname.AttnOut}, {Layer: 0, Point: hookname.MLPOut}, {Layer: 1, Point: hookname.ResidPre}}
	_, err = s.Model.Run(ctx, prompt, 1, T, model.Hooks{Observe: func(h hookname.Hook, act compute.Tensor) error {
		for _, w := range want {
			if h == w {
				v := make([]float32, d)
				be.Read(be.RowsView(act, T-1, T), v)
				comps[h] = v
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	x := comps[want[3]]
	for k, share := range []float64{fl.Resid.Sum(), fl.Attention, fl.MLP.Sum()} {
		y := make([]float32, d)
		for j := range y {
			y[j] = x[j] - comps[want[k]][j]
		}
		f, err := encodeRow(be, target, y)
		if err != nil {
			t.Fatal(err)
		}
		wantF := math.Max(0, fl.PreAct-share)
		fixture.Close(t, "activation without "+want[k].String(), []float32{f[135]}, []float32{float32(wantF)}, 1e-4)
	}
	// one mlp_out feature's share, from the weights
	w, tw := mlp.SAE, target.SAE
	fm, err := encodeRow(be, mlp, comps[want[2]])
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for i, fi := range fm {
		if fi == 0 {
			continue
		}
		var dot float64
		for j := 0; j < d; j++ {
			dot += float64(w.WDec.Data[i*d+j]) * float64(tw.WEnc.Data[j*tw.DSae+135])
		}
		fixture.Close(t, "mlp_out feature share", []float32{float32(fl.MLP.Features[i])}, []float32{float32(float64(fi) * dot)}, 1e-5)
		checked++
	}
	if checked == 0 {
		t.Error("no mlp_out feature active at the position")
	}
	// no SAE at mlp_out: its share is all error
	plain, err := Flow(ctx, s.Model, resid, nil, target, prompt, 135, T-1)
	if err != nil {
		t.Fatal(err)
	}
	if plain.MLP.Features != nil || math.Abs(plain.MLP.Error-fl.MLP.Sum()) > 1e-4 {
		t.Errorf("without the mlp_out SAE: %+v, want its error %g", plain.MLP, fl.MLP.Sum())
	}
}

// Bad requests are refused with what is wrong.
func TestLayerFlowRefuses(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	tokens, shape := ref.Ints(t, "tokens")
	prompt := tokens[:shape[1]]
	mlp, target := s.SAEs["sae1"], s.SAEs["sae0"]
	for _, c := range []struct {
		resid, mlp, target *encoder.Encoder
		feature, pos       int
		want               string
	}{
		{nil, nil, mlp, 1, -1, "hook_resid_pre SAE after block 0"},
		{nil, target, target, 1, -1, "takes SAEs at blocks.0.hook_mlp_out"},
		{nil, mlp, target, 256, -1, "out of range"},
		{nil, mlp, target, 1, 24, "outside a prompt"},
		{nil, mlp, nil, 1, -1, "needs a target"},
	} {
		_, err := Flow(context.Background(), s.Model, c.resid, c.mlp, c.target, prompt, c.feature, c.pos)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Flow(%d, %d): %v, want an error saying %q", c.feature, c.pos, err, c.want)
		}
	}
}
