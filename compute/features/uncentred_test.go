package features_test

import (
	"context"
	"math"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// An SAE trained on uncentred activations is fed the raw hook values: its
// activations are relu((x_raw − b_dec)·W_enc + b_enc), computed here on
// the host in float64 from an uncentred pass, and differ from what the
// centred values give; its reconstruction losses run uncentred too (the
// clean loss is the centred one: LayerNorm removes the mean).
func TestUncentredSAE(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	tokens, shape := ref.Ints(t, "tokens")
	B, T := shape[0], shape[1]
	ctx := context.Background()
	enc := s.SAEs["sae0"]
	sae := enc.SAE
	centredActs, err := features.Activations(ctx, s.Model, enc, tokens, B, T)
	if err != nil {
		t.Fatal(err)
	}
	centredLoss, err := features.Reconstruction(ctx, s.Model, enc, tokens, B, T)
	if err != nil {
		t.Fatal(err)
	}
	sae.Uncentred = true
	defer func() { sae.Uncentred = false }()
	got, err := features.Activations(ctx, s.Model, enc, tokens, B, T)
	if err != nil {
		t.Fatal(err)
	}
	var raw []float32
	h := sae.Hook
	s.Model.Lock()
	_, err = s.Model.Run(ctx, tokens, B, T, model.Hooks{StopAfter: &h, Uncentred: true, Observe: func(hk hookname.Hook, act compute.Tensor) error {
		if hk == h {
			raw = make([]float32, act.Rows()*act.Cols())
			s.Backend.Read(act, raw)
		}
		return nil
	}})
	s.Model.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	din, dsae := sae.DIn, sae.DSae
	worst, moved := 0.0, 0.0
	for r := 0; r < B*T; r++ {
		for f := 0; f < dsae; f++ {
			acc := float64(sae.BEnc.Data[f])
			for j := 0; j < din; j++ {
				acc += (float64(raw[r*din+j]) - float64(sae.BDec.Data[j])) * float64(sae.WEnc.Data[j*dsae+f])
			}
			want := math.Max(acc, 0)
			worst = max(worst, math.Abs(float64(got[r*dsae+f])-want))
			moved = max(moved, math.Abs(float64(got[r*dsae+f]-centredActs[r*dsae+f])))
		}
	}
	if worst > 1e-4 {
		t.Errorf("uncentred SAE activations differ from the host's by %.3g", worst)
	}
	if moved < 1e-3 {
		t.Errorf("uncentred activations equal the centred ones (largest change %.3g): the flag did nothing", moved)
	}
	loss, err := features.Reconstruction(ctx, s.Model, enc, tokens, B, T)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(loss.Clean-centredLoss.Clean) > 1e-4 || math.Abs(loss.Zero-centredLoss.Zero) > 1e-4 || math.IsNaN(loss.Recons) || loss.Recons == centredLoss.Recons {
		t.Errorf("uncentred losses %+v, centred %+v", loss, centredLoss)
	}
}
