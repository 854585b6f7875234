package demo

import (
	"context"
	"flag"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/train"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/safetensors"
	"github.com/saescope/saescope/weights/tokenizer"
)

// The demo's SAELens SAE is trained (compute/train) on the demo model's
// blocks.0.hook_mlp_out over the shipped corpus. Remake it with
//
//	go test ./weights/demo -run TestRegenerateTrainedSAE -regen-trained-sae
var regen = flag.Bool("regen-trained-sae", false, "retrain the demo's SAELens SAE into assets/demo")

const trainedSAE = "tiny-gpt2-saelens-mlp_out-0"

// trainOptions are the settings the shipped SAE was made with.
var trainOptions = train.Options{DSae: 256, L1: 0.3, LR: 2e-3, Batch: 1024, Epochs: 30, Seed: 1}

// demoActivations returns the demo model's activations at h on the first
// rows rows of the shipped corpus, BOS positions left out.
func demoActivations(t *testing.T, h hookname.Hook, rows int) (x []float32, d int) {
	t.Helper()
	p, err := Materialize(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ck, err := gpt2.Load(p.Model)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(be, ck)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := corpus.LoadFS(ctx, assets.CorpusFS(), assets.CorpusDir, tok, corpus.Options{SeqLen: 128, Rows: rows}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Lock()
	defer m.Unlock()
	for _, row := range c.Rows {
		_, err := m.Run(ctx, row, 1, len(row), model.Hooks{StopAfter: &h, Observe: func(hk hookname.Hook, act compute.Tensor) error {
			if hk != h {
				return nil
			}
			d = act.Cols()
			buf := make([]float32, act.Rows()*d)
			be.Read(act, buf)
			x = append(x, buf[d:]...) // without BOS
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return x, d
}

func TestRegenerateTrainedSAE(t *testing.T) {
	if !*regen {
		t.Skip("run with -regen-trained-sae to retrain the demo's SAE")
	}
	h := hookname.Hook{Layer: 0, Point: hookname.MLPOut}
	x, d := demoActivations(t, h, 1000)
	n := len(x) / d
	s, fit, err := train.SAE(context.Background(), x, n, d, h, trainOptions, func(epoch int, f train.Fit) {
		t.Logf("epoch %d: L0 %.2f, FVU %.4f, %d dead", epoch, f.L0, f.FVU, f.Dead)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d activations of width %d: %+v", n, d, fit)
	out := filepath.Join("..", "..", "assets", "demo", trainedSAE, "sae_weights.safetensors")
	err = safetensors.Write(out, map[string]weights.Tensor{"W_enc": s.WEnc, "W_dec": s.WDec, "b_enc": s.BEnc, "b_dec": s.BDec},
		map[string]string{"made_by": "SAE Scope compute/train (weights/demo/trained_test.go)"})
	if err != nil {
		t.Fatal(err)
	}
}

// The shipped SAE is the trained one: sparse and faithful on corpus rows
// (the random SAE it replaced fired on about half its features).
func TestDemoSAEIsTrained(t *testing.T) {
	p, err := Materialize(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := hookname.Hook{Layer: 0, Point: hookname.MLPOut}
	x, d := demoActivations(t, h, 60)
	s, err := sae.Load(filepath.Join(filepath.Dir(p.Model), trainedSAE), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encoder.New(be, s)
	if err != nil {
		t.Fatal(err)
	}
	n := len(x) / d
	xt := be.Alloc(n, d)
	be.Write(xt, x)
	f := be.Alloc(n, s.DSae)
	xh := be.Alloc(n, d)
	if err := enc.Encode(f, xt); err != nil {
		t.Fatal(err)
	}
	if err := enc.Decode(xh, f); err != nil {
		t.Fatal(err)
	}
	fv, rec := make([]float32, n*s.DSae), make([]float32, n*d)
	be.Read(f, fv)
	be.Read(xh, rec)
	l0 := 0
	for _, v := range fv {
		if v > 0 {
			l0++
		}
	}
	mean := make([]float64, d)
	for i, v := range x {
		mean[i%d] += float64(v) / float64(n)
	}
	var sse, sst float64
	for i, v := range x {
		e, c := float64(rec[i]-v), float64(v)-mean[i%d]
		sse, sst = sse+e*e, sst+c*c
	}
	L0, fvu := float64(l0)/float64(n), sse/sst
	t.Logf("trained demo SAE on %d activations: L0 %.2f, FVU %.4f", n, L0, fvu)
	if L0 > 32 || fvu > 0.3 {
		t.Errorf("the demo's SAELens SAE does not look trained: L0 %.2f (want ≤ 32 of %d), FVU %.3f (want ≤ 0.3)", L0, s.DSae, fvu)
	}
}
