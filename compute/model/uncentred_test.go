package model_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
)

// An uncentred pass (from_pretrained_no_processing's residual stream)
// sees the raw embeddings (W_E and W_pos rows exactly), every residual
// write and sum is the centred pass' value plus its row's mean, MLP
// activations are unchanged, and so are the token losses.
func TestUncentredPass(t *testing.T) {
	tokens, B, T, m, be := fixtureModel(t)
	ck, err := gpt2.Load(filepath.Join(fixture.Dir(), "tiny-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	run := func(uncentred bool) (map[hookname.Hook][]float32, []float32) {
		seen := map[hookname.Hook][]float32{}
		out, err := m.Run(context.Background(), tokens, B, T, model.Hooks{Uncentred: uncentred, Observe: func(h hookname.Hook, act compute.Tensor) error {
			buf := make([]float32, act.Rows()*act.Cols())
			be.Read(act, buf)
			seen[h] = buf
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		tl, err := m.TokenLoss(out, tokens)
		if err != nil {
			t.Fatal(err)
		}
		var losses []float32
		for _, r := range tl {
			losses = append(losses, r...)
		}
		return seen, losses
	}
	centred, lossC := run(false)
	raw, lossR := run(true)
	d := m.Config.DModel
	for i, tok := range tokens {
		pos := i % T
		for j := 0; j < d; j++ {
			e := raw[hookname.Hook{Layer: -1, Point: hookname.Embed}][i*d+j]
			p := raw[hookname.Hook{Layer: -1, Point: hookname.PosEmbed}][i*d+j]
			if e != ck.WTE.Data[int(tok)*d+j] || p != ck.WPE.Data[pos*d+j] {
				t.Fatalf("token %d: raw embeddings %v, %v are not W_E and W_pos (%v, %v)", i, e, p, ck.WTE.Data[int(tok)*d+j], ck.WPE.Data[pos*d+j])
			}
		}
	}
	if len(raw) != len(centred) {
		t.Fatalf("%d hooks uncentred, %d centred", len(raw), len(centred))
	}
	worst := 0.0
	for h, c := range centred {
		r := raw[h]
		width := d
		if h.Point == hookname.MLPPost {
			width = m.Config.DMLP()
		}
		for row := 0; row < len(c)/width; row++ {
			var mean float64
			// MLP neurons, the heads' values and ln_2's normalisation are
			// not writes into the residual stream: they are the same
			if h.Point != hookname.MLPPost && h.Point != hookname.AttnZ && h.Point != hookname.LN2Normalized {
				for _, v := range r[row*width : (row+1)*width] {
					mean += float64(v)
				}
				mean /= float64(width)
			}
			for j := 0; j < width; j++ {
				worst = max(worst, math.Abs(float64(r[row*width+j])-mean-float64(c[row*width+j])))
			}
		}
	}
	if worst > 1e-4 {
		t.Errorf("uncentred minus its row mean differs from the centred pass by %.3g", worst)
	}
	for i := range lossC {
		if math.Abs(float64(lossC[i]-lossR[i])) > 1e-4 {
			t.Fatalf("loss %d: %v centred, %v uncentred", i, lossC[i], lossR[i])
		}
	}
	t.Logf("largest difference of centred and uncentred-minus-mean hooks: %.3g", worst)
}
