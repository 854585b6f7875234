package demo

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
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

// The demo's SAEs are trained (compute/train) on the demo model's
// activations over the shipped corpus. Remake them (after the model, see
// packaging/make-demo.sh) with
//
//	go test ./weights/demo -run TestRegenerateTrainedSAE -regen-trained-sae
var regen = flag.Bool("regen-trained-sae", false, "retrain the demo's SAEs into assets/demo")

// demoSAE is one of the demo's SAEs: its folder, hook and training settings.
type demoSAE struct {
	dir  string
	hook hookname.Hook
	opt  train.Options
}

// demoSAEs are the shipped SAEs, in the order Materialize lists them: a
// TopK one on the residual stream between the blocks and a ReLU one on the
// first MLP's output.
var demoSAEs = []demoSAE{
	{"tiny-gpt2-saelens-topk-resid_pre-1", hookname.Hook{Layer: 1, Point: hookname.ResidPre},
		train.Options{DSae: 512, K: 16, LR: 2e-3, Batch: 1024, Epochs: 12, Seed: 1}},
	{"tiny-gpt2-saelens-mlp_out-0", hookname.Hook{Layer: 0, Point: hookname.MLPOut},
		train.Options{DSae: 512, L1: 0.3, LR: 2e-3, Batch: 1024, Epochs: 12, Seed: 2}},
}

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
		t.Skip("run with -regen-trained-sae to retrain the demo's SAEs")
	}
	for _, ds := range demoSAEs {
		x, d := demoActivations(t, ds.hook, 1000)
		n := len(x) / d
		s, fit, err := train.SAE(context.Background(), x, n, d, ds.hook, ds.opt, func(epoch int, f train.Fit) {
			t.Logf("%s epoch %d: L0 %.2f, FVU %.4f, %d dead", ds.dir, epoch, f.L0, f.FVU, f.Dead)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d activations of width %d: %+v", ds.dir, n, d, fit)
		dir := filepath.Join("..", "..", "assets", "demo", ds.dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := map[string]any{"architecture": "standard", "d_in": d, "d_sae": s.DSae, "dtype": "float32", "device": "cpu",
			"model_name": "saescope-demo-gpt2", "hook_name": ds.hook.String(), "hook_layer": ds.hook.Layer, "hook_head_index": nil,
			"activation_fn_str": "relu", "apply_b_dec_to_input": true, "finetuning_scaling_factor": false,
			"context_size": 128, "prepend_bos": true, "normalize_activations": "none"}
		if ds.opt.K > 0 {
			cfg["architecture"], cfg["activation_fn_str"], cfg["activation_fn_kwargs"] = "topk", "topk", map[string]int{"k": ds.opt.K}
		}
		raw, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cfg.json"), append(raw, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		err = safetensors.Write(filepath.Join(dir, "sae_weights.safetensors"), map[string]weights.Tensor{"W_enc": s.WEnc, "W_dec": s.WDec, "b_enc": s.BEnc, "b_dec": s.BDec},
			map[string]string{"made_by": "SAE Scope compute/train (weights/demo/trained_test.go)",
				"training": fmt.Sprintf("%+v on 1000 rows of the shipped corpus", ds.opt)})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// The shipped SAEs are trained: sparse and faithful on corpus rows (a
// random SAE fires on about half its features).
func TestDemoSAEIsTrained(t *testing.T) {
	p, err := Materialize(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range demoSAEs {
		t.Run(ds.dir, func(t *testing.T) { checkTrained(t, filepath.Join(filepath.Dir(p.Model), ds.dir), ds.hook) })
	}
}

func checkTrained(t *testing.T, dir string, h hookname.Hook) {
	x, d := demoActivations(t, h, 60)
	s, err := sae.Load(dir, "")
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
		t.Errorf("the demo's SAE %s does not look trained: L0 %.2f (want ≤ 32 of %d), FVU %.3f (want ≤ 0.3)", h, L0, s.DSae, fvu)
	}
}
