package sae

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/safetensors"
	"github.com/saescope/saescope/weights/torchpt"
)

const fixtureDir = "../../testdata/fixtures"

type tensorRef struct {
	Shape []int     `json:"shape"`
	Sum   float64   `json:"sum"`
	First []float32 `json:"first"`
}

type saeRef struct {
	Tag     string               `json:"tag"`
	File    string               `json:"file"`
	Format  string               `json:"format"`
	Hook    string               `json:"hook"`
	DSae    int                  `json:"d_sae"`
	Tensors map[string]tensorRef `json:"tensors"`
}

func TestLoadFixturesMatchReference(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		SAEs []saeRef `json:"saes"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.SAEs) != 2 {
		t.Fatalf("%d SAEs in reference.json", len(ref.SAEs))
	}
	for _, r := range ref.SAEs {
		s, err := Load(filepath.Join(fixtureDir, r.File), "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if string(s.Format) != r.Format || s.Hook.String() != r.Hook || s.DSae != r.DSae || s.DIn != 32 {
			t.Errorf("%s: format %s hook %s d_sae %d d_in %d", r.Tag, s.Format, s.Hook, s.DSae, s.DIn)
		}
		got := map[string]weights.Tensor{"W_enc": s.WEnc, "W_dec": s.WDec, "b_enc": s.BEnc, "b_dec": s.BDec}
		for name, want := range r.Tensors {
			g := got[name]
			if err := g.CheckShape(name, want.Shape...); err != nil {
				t.Errorf("%s: %v", r.Tag, err)
				continue
			}
			var sum float64
			for _, v := range g.Data {
				sum += float64(v)
			}
			if math.Abs(sum-want.Sum) > 1e-4*math.Max(1, math.Abs(want.Sum)) {
				t.Errorf("%s.%s: sum %g want %g", r.Tag, name, sum, want.Sum)
			}
			for i, v := range want.First {
				if g.Data[i] != v {
					t.Errorf("%s.%s[%d] = %g want %g", r.Tag, name, i, g.Data[i], v)
				}
			}
		}
		if err := s.CheckModel(32, 128, 2); err != nil {
			t.Errorf("%s: %v", r.Tag, err)
		}
	}
}

func TestHookFromFileName(t *testing.T) {
	cases := map[string]string{
		"gpt2-small_6144_resid_pre_9.pt":  "blocks.9.hook_resid_pre",
		"/x/gpt2-small_6144_mlp_out_6.pt": "blocks.6.hook_mlp_out",
		"tiny-gpt2_256_resid_pre_1.pt":    "blocks.1.hook_resid_pre",
	}
	for name, want := range cases {
		h, ok := HookFromFileName(name)
		if !ok || h.String() != want {
			t.Errorf("%s: %v %v", name, h, ok)
		}
	}
	if _, ok := HookFromFileName("weights.pt"); ok {
		t.Error("weights.pt gave a hook")
	}
}

// writeSAELens makes a SAELens folder with the given cfg and tensors.
func writeSAELens(t *testing.T, cfg map[string]any, tensors map[string]weights.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "cfg.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, "sae_weights.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func randomTensors(dIn, dSae int) map[string]weights.Tensor {
	s := Random(dIn, dSae, hookname.Hook{Layer: 0, Point: hookname.ResidPre}, 0, 1)
	return map[string]weights.Tensor{"W_enc": s.WEnc, "W_dec": s.WDec, "b_enc": s.BEnc, "b_dec": s.BDec}
}

func TestSAELensVariants(t *testing.T) {
	legacy := writeSAELens(t, map[string]any{"d_in": 32, "d_sae": 64, "hook_point": "blocks.3.hook_resid_pre", "hook_point_layer": 3}, randomTensors(32, 64))
	s, err := Load(legacy, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Hook.String() != "blocks.3.hook_resid_pre" || !s.ApplyBDecToInput {
		t.Errorf("legacy cfg: hook %s apply_b_dec %v", s.Hook, s.ApplyBDecToInput)
	}
	s.Close()
	noBDec := writeSAELens(t, map[string]any{"d_in": 32, "d_sae": 64, "hook_name": "blocks.0.hook_mlp_out", "apply_b_dec_to_input": false, "normalize_activations": nil}, randomTensors(32, 64))
	if s, err = Load(noBDec, ""); err != nil {
		t.Fatal(err)
	}
	if s.ApplyBDecToInput {
		t.Error("apply_b_dec_to_input false ignored")
	}
	s.Close()
	// the old boolean normalize_activations false is "none"; centred
	// training said explicitly is what SAE Scope feeds
	old := writeSAELens(t, map[string]any{"d_in": 32, "d_sae": 64, "hook_point": "blocks.2.hook_resid_pre", "normalize_activations": false,
		"model_from_pretrained_kwargs": map[string]any{"center_writing_weights": true}}, randomTensors(32, 64))
	if s, err = Load(old, ""); err != nil {
		t.Fatalf("normalize_activations false, centred: %v", err)
	}
	if s.Uncentred {
		t.Error("center_writing_weights true read as uncentred")
	}
	s.Close()
	// trained on uncentred activations (SAELens ≥ 3.19.2), said at the top
	// level or in v6's metadata
	for _, cfg := range []map[string]any{
		{"d_in": 32, "d_sae": 64, "hook_name": "blocks.0.hook_resid_pre", "model_from_pretrained_kwargs": map[string]any{"center_writing_weights": false}},
		{"d_in": 32, "d_sae": 64, "metadata": map[string]any{"hook_name": "blocks.0.hook_resid_pre", "model_from_pretrained_kwargs": map[string]any{"center_writing_weights": false}}},
	} {
		if s, err = Load(writeSAELens(t, cfg, randomTensors(32, 64)), ""); err != nil {
			t.Fatalf("uncentred cfg %v: %v", cfg, err)
		}
		if !s.Uncentred {
			t.Errorf("cfg %v not read as uncentred", cfg)
		}
		s.Close()
	}
	v6 := writeSAELens(t, map[string]any{"d_in": 32, "d_sae": 64, "architecture": "standard", "metadata": map[string]any{"hook_name": "blocks.1.hook_resid_pre", "model_name": "gpt2-small"}}, randomTensors(32, 64))
	if s, err = Load(v6, ""); err != nil {
		t.Fatal(err)
	}
	if s.Hook.Layer != 1 || s.ModelName != "gpt2-small" {
		t.Errorf("v6 cfg: %s %q", s.Hook, s.ModelName)
	}
	s.Close()
	if s, err = Load(v6, "blocks.0.hook_mlp_out"); err != nil || s.Hook.Point != hookname.MLPOut {
		t.Errorf("explicit hook: %v %v", s, err)
	}
}

func TestBadSAEs(t *testing.T) {
	good := randomTensors(32, 64)
	base := func() map[string]any {
		return map[string]any{"d_in": 32, "d_sae": 64, "hook_name": "blocks.0.hook_resid_pre"}
	}
	with := func(k string, v any) map[string]any { c := base(); c[k] = v; return c }
	cases := map[string]struct {
		dir  func() string
		want string
	}{
		"normalize": {func() string {
			return writeSAELens(t, with("normalize_activations", "expected_average_only_in"), good)
		}, `normalize_activations "expected_average_only_in" needs the dataset's scaling factor (norm_scaling_factor or scaling_factor`},
		"normalize true": {func() string {
			return writeSAELens(t, with("normalize_activations", true), good)
		}, `normalize_activations "expected_average_only_in" needs the dataset's scaling factor`},
		"gated without its tensors":  {func() string { return writeSAELens(t, with("architecture", "gated"), good) }, `a gated SAE: missing b_gate, b_mag, r_mag`},
		"jumprelu without threshold": {func() string { return writeSAELens(t, with("architecture", "jumprelu"), good) }, `a jumprelu SAE: missing threshold`},
		"topk without k":             {func() string { return writeSAELens(t, with("activation_fn_str", "topk"), good) }, `a TopK SAE needs activation_fn_kwargs.k`},
		"topk k > d_sae": {func() string {
			c := with("architecture", "topk")
			c["activation_fn_kwargs"] = map[string]any{"k": 65}
			return writeSAELens(t, c, good)
		}, `activation_fn_kwargs.k 65 out of range: it must be between 1 and d_sae (64)`},
		"unknown architecture": {func() string { return writeSAELens(t, with("architecture", "matryoshka"), good) }, `architecture "matryoshka" not supported`},
		"unknown normalisation": {func() string {
			return writeSAELens(t, with("normalize_activations", "whiten"), good)
		}, `normalize_activations "whiten" not supported`},
		"threshold of the wrong shape": {func() string {
			ts := randomTensors(32, 64)
			ts["threshold"] = weights.Tensor{Shape: []int{63}, Data: make([]float32, 63)}
			return writeSAELens(t, with("architecture", "jumprelu"), ts)
		}, "threshold: shape [63], want [64]"},
		"transcoder without hook_name_out": {func() string {
			c := with("architecture", "transcoder")
			c["hook_name"] = "blocks.0.ln2.hook_normalized"
			c["apply_b_dec_to_input"] = false
			return writeSAELens(t, c, good)
		}, "a transcoder needs hook_name_out"},
		"head index": {func() string { return writeSAELens(t, with("hook_head_index", 3), good) }, "per-head"},
		"no hook": {func() string {
			c := base()
			delete(c, "hook_name")
			return writeSAELens(t, c, good)
		}, "names no hook (hook_name or hook_point): give it with --hook on the command line, or in the hook field"},
		"bad hook": {func() string { return writeSAELens(t, with("hook_name", "blocks.0.attn.hook_q"), good) },
			`unknown point "attn.hook_q": give blocks.LAYER.POINT with POINT one of hook_resid_pre, attn.hook_z, hook_attn_out,`},
		"cfg mismatch": {func() string { return writeSAELens(t, with("d_sae", 128), good) }, "cfg.json says d_in 32, d_sae 128"},
		"missing W_dec": {func() string {
			ts := randomTensors(32, 64)
			delete(ts, "W_dec")
			return writeSAELens(t, base(), ts)
		}, "missing W_dec"},
		"wrong b_dec": {func() string {
			ts := randomTensors(32, 64)
			ts["b_dec"] = weights.Tensor{Shape: []int{31}, Data: make([]float32, 31)}
			return writeSAELens(t, base(), ts)
		}, "b_dec: shape [31], want [32]"},
		"no cfg": {func() string { return t.TempDir() }, "not a SAELens folder"},
		"empty pt": {func() string {
			p := filepath.Join(t.TempDir(), "gpt2-small_6144_resid_pre_9.pt")
			os.WriteFile(p, nil, 0o644)
			return p
		}, "torchpt"},
		"pt without hook in name": {func() string {
			raw, err := os.ReadFile(filepath.Join(fixtureDir, "tiny-gpt2_256_resid_pre_1.pt"))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "weights.pt")
			os.WriteFile(p, raw, 0o644)
			return p
		}, `cannot tell the hook point from the file name "weights.pt" (expected …_resid_pre_9.pt or …_mlp_out_6.pt): give it with --hook`},
		"missing file": {func() string { return filepath.Join(t.TempDir(), "nope.pt") }, "no such file"},
		"NaN in W_enc (SAELens)": {func() string {
			ts := randomTensors(32, 64)
			w := weights.Tensor{Shape: ts["W_enc"].Shape, Data: append([]float32{}, ts["W_enc"].Data...)}
			w.Data[3*64+13] = float32(math.NaN())
			ts["W_enc"] = w
			return writeSAELens(t, base(), ts)
		}, "tensor W_enc: element [3, 13] is NaN"},
		"infinite b_enc (SAELens)": {func() string {
			ts := randomTensors(32, 64)
			b := weights.Tensor{Shape: ts["b_enc"].Shape, Data: append([]float32{}, ts["b_enc"].Data...)}
			b.Data[40] = float32(math.Inf(1))
			ts["b_enc"] = b
			return writeSAELens(t, base(), ts)
		}, "tensor b_enc: element [40] is +Inf"},
		"NaN in W_dec (.pt)": {func() string {
			return ptWithValue(t, "W_dec", 5, float32(math.NaN()))
		}, "tensor W_dec: element [0, 5] is NaN"},
		"cfg.json links to /dev/zero": {func() string {
			dir := writeSAELens(t, base(), good)
			os.Remove(filepath.Join(dir, "cfg.json"))
			if err := os.Symlink("/dev/zero", filepath.Join(dir, "cfg.json")); err != nil {
				t.Skip(err)
			}
			return dir
		}, "not a regular file (a character device)"},
		"weights are a FIFO": {func() string {
			dir := writeSAELens(t, base(), good)
			os.Remove(filepath.Join(dir, "sae_weights.safetensors"))
			if err := syscall.Mkfifo(filepath.Join(dir, "sae_weights.safetensors"), 0o644); err != nil {
				t.Skip(err)
			}
			return dir
		}, "not a regular file (a named pipe (FIFO))"},
		".pt is a FIFO": {func() string {
			p := filepath.Join(t.TempDir(), "gpt2-small_6144_resid_pre_9.pt")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skip(err)
			}
			return p
		}, "not a regular file (a named pipe (FIFO))"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := c.dir()
			var (
				s   *SAE
				err error
			)
			done := make(chan struct{})
			go func() { s, err = Load(dir, ""); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Load did not return in 20 s")
			}
			if err == nil {
				s.Close()
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestCheckModelRejectsOtherWidths(t *testing.T) {
	s := Random(48, 64, hookname.Hook{Layer: 1, Point: hookname.ResidPre}, 0, 1)
	err := s.CheckModel(32, 128, 2)
	if err == nil || !strings.Contains(err.Error(), "d_in 48 does not match the model's d_model 32") {
		t.Errorf("48-wide SAE on a 32-wide model: %v", err)
	}
	s = Random(32, 64, hookname.Hook{Layer: 5, Point: hookname.ResidPre}, 0, 1)
	if err := s.CheckModel(32, 128, 2); err == nil {
		t.Error("layer 5 hook accepted on a 2-layer model")
	}
	s = Random(128, 64, hookname.Hook{Layer: 1, Point: hookname.MLPPost}, 0, 1)
	if err := s.CheckModel(32, 128, 2); err != nil {
		t.Errorf("d_mlp SAE: %v", err)
	}
}

// An SAE whose cfg.json names another model than GPT-2 small is refused
// for GPT-2 small (same width, meaningless features); GPT-2 small's names
// and an SAE that names no model pass.
func TestCheckTrainedOnGPT2Small(t *testing.T) {
	for name, ok := range map[string]bool{
		"": true, "gpt2": true, "gpt2-small": true, "GPT2-Small": true, "openai-community/gpt2": true,
		"distilgpt2": false, "pythia-160m-deduped": false, "gpt2-medium": false, "tiny-stories-33M": false,
	} {
		dir := writeSAELens(t, map[string]any{"d_in": 32, "d_sae": 64, "hook_name": "blocks.1.hook_resid_pre", "model_name": name}, randomTensors(32, 64))
		s, err := Load(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		err = s.CheckTrainedOnGPT2Small()
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), fmt.Sprintf("trained on %q", name))) {
			t.Errorf("model_name %q: %v", name, err)
		}
		s.Close()
	}
}

// ptWithValue copies the fixture .pt SAE with element i of tensor name's
// storage set to v (torch stores each storage as an uncompressed zip entry,
// whose bytes are patched in place).
func ptWithValue(t *testing.T, name string, i int, v float32) string {
	t.Helper()
	src := filepath.Join(fixtureDir, "tiny-gpt2_256_resid_pre_1.pt")
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := torchpt.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	want, err := tf.Float32(name)
	tf.Close()
	if err != nil {
		t.Fatal(err)
	}
	// find the tensor's bytes: its first 16 values, in the file
	var needle []byte
	for _, x := range want.Data[:16] {
		needle = binary.LittleEndian.AppendUint32(needle, math.Float32bits(x))
	}
	at := bytes.Index(raw, needle)
	if at < 0 || bytes.Contains(raw[at+1:], needle) {
		t.Fatalf("%s's bytes not found once in %s", name, src)
	}
	binary.LittleEndian.PutUint32(raw[at+4*i:], math.Float32bits(v))
	p := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
