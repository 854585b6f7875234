package sae

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/safetensors"
)

// writeDunefsky makes a transcoder_circuits folder (sae.json,
// sae.safetensors).
func writeDunefsky(t *testing.T, cfg map[string]any, tensors map[string]weights.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sae.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, "sae.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func randTensor(rng *rand.Rand, scale float64, shape ...int) weights.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	t := weights.Tensor{Shape: shape, Data: make([]float32, n)}
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * scale)
	}
	return t
}

// dunefskyCfg is sae.json as transcoder_circuits' LanguageModelSAERunnerConfig
// writes it for a layer-L MLP transcoder (d_out null: d_in).
func dunefskyCfg(layer, dIn, expansion int) map[string]any {
	return map[string]any{
		"model_name": "gpt2-small", "hook_point": "blocks." + strconv.Itoa(layer) + ".ln2.hook_normalized", "hook_point_layer": layer,
		"hook_point_head_index": nil, "d_in": dIn, "expansion_factor": expansion, "is_transcoder": true,
		"out_hook_point": "blocks." + strconv.Itoa(layer) + ".hook_mlp_out", "out_hook_point_layer": layer, "d_out": nil,
		"b_dec_init_method": "mean", "l1_coefficient": 1.4e-4, "context_size": 128,
	}
}

// TestDunefskyTranscoder checks the loaded transcoder's features and
// output against transcoder_circuits' forward computed in float64 from the
// file's own tensors: f = ReLU((x − b_dec)·W_enc + b_enc), out = f·W_dec +
// b_dec_out. Tolerance 1e-4 absolute on values of order 1–10 (the loaded
// b_enc has b_dec folded in and is rounded to float32 once).
func TestDunefskyTranscoder(t *testing.T) {
	const dIn, expansion, layer = 6, 4, 3
	dSae := dIn * expansion
	rng := rand.New(rand.NewPCG(16, 3))
	ts := map[string]weights.Tensor{
		"W_enc":     randTensor(rng, 0.5, dIn, dSae),
		"b_enc":     randTensor(rng, 0.3, dSae),
		"W_dec":     randTensor(rng, 0.5, dSae, dIn),
		"b_dec":     randTensor(rng, 2, dIn), // large, so that leaving it out shows
		"b_dec_out": randTensor(rng, 1, dIn),
	}
	dir := writeDunefsky(t, dunefskyCfg(layer, dIn, expansion), ts)
	s, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Format != FormatDunefsky || !s.Transcoder || s.Arch != Standard || s.Norm != NormNone || s.ApplyBDecToInput ||
		s.Hook != (hookname.Hook{Layer: layer, Point: hookname.LN2Normalized}) ||
		s.Output() != (hookname.Hook{Layer: layer, Point: hookname.MLPOut}) || s.DIn != dIn || s.DSae != dSae || s.OutDim() != dIn {
		t.Fatalf("loaded %+v", s)
	}
	if err := s.CheckModel(dIn, 4*dIn, layer+1); err != nil {
		t.Errorf("CheckModel: %v", err)
	}

	maxDiff, maxNaive := 0.0, 0.0
	for n := range 20 {
		x := make([]float64, dIn)
		for i := range x {
			x[i] = rng.NormFloat64() * 1.5
		}
		// reference: transcoder_circuits, in float64 from the file's tensors
		ref := make([]float64, dSae)
		naive := make([]float64, dSae) // b_dec not subtracted
		for j := range dSae {
			h, hn := float64(ts["b_enc"].Data[j]), float64(ts["b_enc"].Data[j])
			for i := range dIn {
				w := float64(ts["W_enc"].Data[i*dSae+j])
				h += (x[i] - float64(ts["b_dec"].Data[i])) * w
				hn += x[i] * w
			}
			ref[j], naive[j] = math.Max(h, 0), math.Max(hn, 0)
		}
		refOut := make([]float64, dIn)
		for k := range dIn {
			refOut[k] = float64(ts["b_dec_out"].Data[k])
			for j := range dSae {
				refOut[k] += ref[j] * float64(ts["W_dec"].Data[j*dIn+k])
			}
		}
		// the loaded SAE's forward, as the SAE struct's doc defines it
		got := make([]float64, dSae)
		for j := range dSae {
			h := float64(s.BEnc.Data[j])
			for i := range dIn {
				in := x[i]
				if s.ApplyBDecToInput {
					in -= float64(s.BDec.Data[i])
				}
				h += in * float64(s.WEnc.Data[i*dSae+j])
			}
			got[j] = math.Max(h, 0)
			maxDiff = math.Max(maxDiff, math.Abs(got[j]-ref[j]))
			maxNaive = math.Max(maxNaive, math.Abs(naive[j]-ref[j]))
		}
		for k := range dIn {
			o := float64(s.BDec.Data[k])
			for j := range dSae {
				o += got[j] * float64(s.WDec.Data[j*dIn+k])
			}
			if d := math.Abs(o - refOut[k]); d > 1e-4 {
				t.Errorf("x %d: output %d = %v, reference %v", n, k, o, refOut[k])
			}
		}
	}
	if maxDiff > 1e-4 {
		t.Errorf("features differ from the reference by up to %g (tolerance 1e-4)", maxDiff)
	}
	if maxNaive < 0.1 {
		t.Fatalf("the test cannot tell b_dec's subtraction apart (naive features differ by only %g)", maxNaive)
	}
}

// TestDunefskyOutputBiasOnly: an export whose b_dec is the output bias
// says apply_b_dec_to_input false and has no b_dec_out.
func TestDunefskyOutputBiasOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := dunefskyCfg(0, 4, 2)
	cfg["apply_b_dec_to_input"] = false
	ts := map[string]weights.Tensor{"W_enc": randTensor(rng, 1, 4, 8), "b_enc": randTensor(rng, 1, 8), "W_dec": randTensor(rng, 1, 8, 4), "b_dec": randTensor(rng, 1, 4)}
	s, err := Load(writeDunefsky(t, cfg, ts), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ApplyBDecToInput || !s.Transcoder || s.BDec.Data[2] != ts["b_dec"].Data[2] || s.BEnc.Data[5] != ts["b_enc"].Data[5] {
		t.Errorf("loaded %+v", s)
	}
}

func TestBadDunefsky(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	good := func() map[string]weights.Tensor {
		return map[string]weights.Tensor{"W_enc": randTensor(rng, 1, 4, 8), "b_enc": randTensor(rng, 1, 8), "W_dec": randTensor(rng, 1, 8, 4),
			"b_dec": randTensor(rng, 1, 4), "b_dec_out": randTensor(rng, 1, 4)}
	}
	with := func(edit func(cfg map[string]any, ts map[string]weights.Tensor)) string {
		cfg, ts := dunefskyCfg(2, 4, 2), good()
		edit(cfg, ts)
		return writeDunefsky(t, cfg, ts)
	}
	for _, c := range []struct {
		name, dir, want string
	}{
		{"no b_dec_out", with(func(_ map[string]any, ts map[string]weights.Tensor) { delete(ts, "b_dec_out") }), "without b_dec_out"},
		{"b_dec_out shape", with(func(_ map[string]any, ts map[string]weights.Tensor) { ts["b_dec_out"] = randTensor(rng, 1, 5) }), "b_dec_out"},
		{"b_dec shape", with(func(_ map[string]any, ts map[string]weights.Tensor) { ts["b_dec"] = randTensor(rng, 1, 8) }), "b_dec"},
		{"no W_enc", with(func(_ map[string]any, ts map[string]weights.Tensor) { delete(ts, "W_enc") }), "missing W_enc"},
		{"W_dec rows", with(func(_ map[string]any, ts map[string]weights.Tensor) { ts["W_dec"] = randTensor(rng, 1, 7, 4) }), "W_dec has shape"},
		{"NaN", with(func(_ map[string]any, ts map[string]weights.Tensor) { ts["W_dec"].Data[3] = float32(math.NaN()) }), "W_dec"},
		{"no hook", with(func(cfg map[string]any, _ map[string]weights.Tensor) { delete(cfg, "hook_point") }), "names no hook (hook_point): give it with --hook"},
		{"unknown hook", with(func(cfg map[string]any, _ map[string]weights.Tensor) { cfg["hook_point"] = "blocks.2.hook_nothing" }), "hook_point"},
		{"out hook other layer", with(func(cfg map[string]any, _ map[string]weights.Tensor) { cfg["out_hook_point"] = "blocks.3.hook_mlp_out" }), "same block"},
		{"transcoder without out hook", with(func(cfg map[string]any, _ map[string]weights.Tensor) { delete(cfg, "out_hook_point") }), "is_transcoder true"},
		{"d_in", with(func(cfg map[string]any, _ map[string]weights.Tensor) { cfg["d_in"] = 5 }), "d_in 5"},
		{"expansion", with(func(cfg map[string]any, _ map[string]weights.Tensor) { cfg["expansion_factor"] = 3 }), "expansion_factor 3"},
		{"d_out", with(func(cfg map[string]any, _ map[string]weights.Tensor) { cfg["d_out"] = 6 }), "d_out 6"},
		{"head index", with(func(cfg map[string]any, _ map[string]weights.Tensor) { cfg["hook_point_head_index"] = 1 }), "hook_point_head_index"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Load(c.dir, "")
			if err == nil {
				s.Close()
				t.Fatalf("loaded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sae.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, ""); err == nil || !strings.Contains(err.Error(), "sae.json") {
		t.Errorf("bad sae.json: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sae.json"), []byte(`{"hook_point": "blocks.0.hook_resid_pre"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, ""); err == nil || !strings.Contains(err.Error(), "sae.safetensors") {
		t.Errorf("no sae.safetensors: %v", err)
	}
}
