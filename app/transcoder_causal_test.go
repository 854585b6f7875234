package main

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

const fixTranscoder = "../testdata/fixtures/v2/saelens-transcoder-mlp-0"

// steer and patch on the v2 fixtures' MLP transcoder (it reads
// blocks.0.ln2.hook_normalized, its output replaces blocks.0.hook_mlp_out).
// steer --add/--clamp/--ablate: the last logits equal a pass with a host
// function adding, at hook_mlp_out, c·W_dec[f] or (c − f(x_in))·W_dec[f],
// f computed here in float64 from the plain pass's ln2.hook_normalized
// (1e-4), and the greedy ids are those of whole passes with it; --pos
// steers one position. patch: the effects equal intervene.PatchWith
// called directly (whose own tests check it against host-patched passes).
func TestSteerAndPatchTranscoder(t *testing.T) {
	ck, err := gpt2.Load(fixModel)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(be, ck)
	if err != nil {
		t.Fatal(err)
	}
	w, err := sae.Load(fixTranscoder, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.Transcoder || w.ApplyBDecToInput || w.Arch != sae.Standard || w.Norm != sae.NormNone {
		t.Fatalf("the host encode below is a ReLU transcoder's without b_dec on its input, the fixture is %s", w.Describe())
	}
	prompt := []int32{50256, 464, 2068, 7586, 21831, 18045, 625, 262}
	ids := func(v []int32) string {
		s := make([]int64, len(v))
		for i, x := range v {
			s[i] = int64(x)
		}
		return idsArg(s)
	}
	// logits of every position of seq with coef[p]·W_dec[f] added at
	// hook_mlp_out, and f of every position from the plain pass
	d, n := w.DIn, w.DSae
	pass := func(seq []int32, f int, coef func(p int, fx float64) float64) [][]float32 {
		var in []float32
		_, err := m.Run(context.Background(), seq, 1, len(seq), model.Hooks{Observe: func(h hookname.Hook, a compute.Tensor) error {
			if h == w.Hook {
				in = make([]float32, a.Rows()*a.Cols())
				be.Read(a, in)
			}
			return nil
		}})
		if err != nil || in == nil {
			t.Fatalf("plain pass: %v", err)
		}
		k := make([]float64, len(seq))
		for p := range k {
			v := float64(w.BEnc.Data[f])
			for j := 0; j < d; j++ {
				v += float64(in[p*d+j]) * float64(w.WEnc.Data[j*n+f])
			}
			k[p] = coef(p, math.Max(0, v))
		}
		dOut := w.OutDim()
		out, err := m.Run(context.Background(), seq, 1, len(seq), model.Hooks{Patches: map[string]model.Patch{w.Output().String(): model.HostFunc(
			func(_ hookname.Hook, data []float32, _, _, width int) error {
				for p, c := range k {
					for j := 0; j < dOut; j++ {
						data[p*width+j] = float32(float64(data[p*width+j]) + c*float64(w.WDec.Data[f*dOut+j]))
					}
				}
				return nil
			})}})
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]int, len(seq))
		for i := range rows {
			rows[i] = i
		}
		lg, err := m.Logits(out.Resid, rows)
		if err != nil {
			t.Fatal(err)
		}
		return lg
	}
	type run struct {
		Generated  []int32   `json:"generated"`
		LogitsLast []float64 `json:"logits_last"`
	}
	const feat, gen = 5, 5
	last := len(prompt) - 1
	for _, c := range []struct {
		name string
		args []string
		coef func(p int, fx float64) float64
	}{
		{"add", []string{"--add", "3"}, func(int, float64) float64 { return 3 }},
		{"clamp", []string{"--clamp", "20"}, func(_ int, fx float64) float64 { return 20 - fx }},
		{"ablate", []string{"--ablate"}, func(_ int, fx float64) float64 { return -fx }},
		{"clamp at the last prompt token", []string{"--clamp", "20", "--pos", "-1"}, func(p int, fx float64) float64 {
			if p != last {
				return 0
			}
			return 20 - fx
		}},
	} {
		out, errs, code := runCLI(t, append([]string{"steer", "--model", fixModel, "--sae", fixTranscoder, "--feature", "5",
			"--tokens", ids(prompt), "--generate", "5", "--logits", "--blas", "gonum"}, c.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, errs)
		}
		var got struct {
			Plain, Steered run
			KL             float64 `json:"kl"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Steered.Generated) != gen {
			t.Fatalf("%s: %d tokens generated, want %d", c.name, len(got.Steered.Generated), gen)
		}
		seq := append(append([]int32{}, prompt...), got.Steered.Generated[:gen-1]...)
		want := pass(seq, feat, c.coef)
		for i, v := range want[last] {
			if math.Abs(got.Steered.LogitsLast[i]-float64(v)) > 1e-4*math.Max(1, math.Abs(float64(v))) {
				t.Fatalf("%s: logits_last[%d] = %g, the host-patched pass %g", c.name, i, got.Steered.LogitsLast[i], v)
			}
		}
		for i, id := range got.Steered.Generated {
			lg := want[last+i]
			best := 0
			for j, v := range lg {
				if v > lg[best] {
					best = j
				}
			}
			if int32(best) != id {
				t.Errorf("%s: generated token %d is %d, the host-patched pass's argmax %d", c.name, i, id, best)
			}
		}
		if !(got.KL > 1e-6) {
			t.Errorf("%s: KL %g: the steering changed nothing", c.name, got.KL)
		}
	}

	enc, err := encoder.New(be, w)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	clean, corrupt := prompt, []int32{50256, 464, 2068, 7586, 21831, 3290, 625, 262}
	res := runPatchCLI(t, "--sae", fixTranscoder, "--clean", ids(clean), "--corrupt", ids(corrupt), "--metric", "13,11")
	want, err := intervene.PatchWith(context.Background(), m, enc, clean, corrupt, intervene.LogitDiff(13, 11), intervene.PatchOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Effect) != n || len(res.Patched) != want.Active || want.Active == 0 {
		t.Fatalf("%d effects, %d patched; want %d, %d", len(res.Effect), len(res.Patched), n, want.Active)
	}
	moved := 0
	for i, v := range want.Effect {
		if math.Abs(res.Effect[i]-v) > 1e-6*math.Max(1, math.Abs(v)) {
			t.Fatalf("effect[%d] = %g, the library's %g", i, res.Effect[i], v)
		}
		if math.Abs(v) > 1e-3 {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no transcoder feature moves the metric by 1e-3: the comparison checks little")
	}
}
