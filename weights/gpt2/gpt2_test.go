package gpt2

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/safetensors"
)

const fixtureDir = "../../testdata/fixtures"

type tensorRef struct {
	Shape []int     `json:"shape"`
	Sum   float64   `json:"sum"`
	First []float32 `json:"first"`
}

func modelRefs(t *testing.T) map[string]tensorRef {
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		ModelTensors map[string]tensorRef `json:"model_tensors"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.ModelTensors) == 0 {
		t.Fatal("reference.json has no model_tensors")
	}
	return ref.ModelTensors
}

// CheckTensor compares shape, sum and first values with the reference.
func checkTensor(t *testing.T, name string, got weights.Tensor, want tensorRef) {
	t.Helper()
	if err := got.CheckShape(name, want.Shape...); err != nil {
		t.Error(err)
		return
	}
	var s float64
	for _, v := range got.Data {
		s += float64(v)
	}
	if math.Abs(s-want.Sum) > 1e-3*math.Max(1, math.Abs(want.Sum)) {
		t.Errorf("%s: sum %g, want %g", name, s, want.Sum)
	}
	for i, v := range want.First {
		if got.Data[i] != v {
			t.Errorf("%s[%d] = %g, want %g", name, i, got.Data[i], v)
		}
	}
}

func TestLoadFixtureMatchesReference(t *testing.T) {
	ck, err := Load(filepath.Join(fixtureDir, "tiny-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	cfg := ck.Config
	if cfg.DModel != 32 || cfg.NHead != 4 || cfg.NLayer != 2 || cfg.VocabSize != 50257 || cfg.DMLP() != 128 {
		t.Fatalf("config %+v", cfg)
	}
	sd := ck.StateDict()
	refs := modelRefs(t)
	for name, ref := range refs {
		got, ok := sd[name]
		if !ok {
			t.Errorf("reference tensor %s not in the loaded checkpoint", name)
			continue
		}
		checkTensor(t, name, got, ref)
	}
	if len(sd) != len(refs) {
		t.Errorf("loaded %d tensors, reference lists %d", len(sd), len(refs))
	}
}

// writeModel writes a config.json and model.safetensors into a temp dir.
func writeModel(t *testing.T, cfg Config, sd map[string]weights.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), sd, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tinyConfig() Config {
	return Config{VocabSize: 50, NPositions: 16, DModel: 8, NHead: 2, NLayer: 2, LayerNormEps: 1e-5, Activation: "gelu_new", ModelType: "gpt2"}
}

func TestPrefixedKeysBuffersAndTiedHead(t *testing.T) {
	cfg := tinyConfig()
	ck := Random(cfg, 7)
	sd := map[string]weights.Tensor{}
	for k, v := range ck.StateDict() {
		sd["transformer."+k] = v
	}
	sd["transformer.h.0.attn.bias"] = weights.Tensor{Shape: []int{1, 1, 16, 16}, Data: make([]float32, 256)}
	sd["transformer.h.0.attn.masked_bias"] = weights.Tensor{Shape: []int{1}, Data: []float32{-1e4}}
	sd["lm_head.weight"] = ck.WTE
	loaded, err := Load(writeModel(t, cfg, sd))
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	if loaded.Layers[1].FCW.Data[3] != ck.Layers[1].FCW.Data[3] {
		t.Error("values differ after the round trip")
	}
}

func TestBadModels(t *testing.T) {
	cfg := tinyConfig()
	good := Random(cfg, 1).StateDict()
	cases := map[string]struct {
		mutate func(dir string, sd map[string]weights.Tensor, cfg *Config) string
		want   string
	}{
		"no config": {func(dir string, _ map[string]weights.Tensor, _ *Config) string {
			return t.TempDir()
		}, "no config.json"},
		"no weights": {func(_ string, _ map[string]weights.Tensor, c *Config) string {
			dir := t.TempDir()
			raw, _ := json.Marshal(c)
			os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
			return dir
		}, "neither model.safetensors nor pytorch_model.bin"},
		"wrong shape": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			sd["h.1.mlp.c_fc.weight"] = weights.Tensor{Shape: []int{8, 31}, Data: make([]float32, 8*31)}
			return writeModel(t, *c, sd)
		}, "h.1.mlp.c_fc.weight: shape [8 31], want [8 32]"},
		"missing tensor": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			delete(sd, "ln_f.bias")
			return writeModel(t, *c, sd)
		}, "missing tensor ln_f.bias"},
		"extra layer": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			sd["h.2.ln_1.weight"] = sd["h.1.ln_1.weight"]
			return writeModel(t, *c, sd)
		}, "unexpected tensor h.2.ln_1.weight"},
		"bad head count": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			c.NHead = 3
			return writeModel(t, *c, sd)
		}, "n_head 3 does not divide n_embd 8"},
		"not gpt2": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			c.ModelType = "llama"
			return writeModel(t, *c, sd)
		}, `model_type "llama"`},
		"bad config json": {func(_ string, _ map[string]weights.Tensor, _ *Config) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o644)
			return dir
		}, "config.json"},
		"empty weights file": {func(_ string, _ map[string]weights.Tensor, c *Config) string {
			dir := t.TempDir()
			raw, _ := json.Marshal(c)
			os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
			os.WriteFile(filepath.Join(dir, "model.safetensors"), nil, 0o644)
			return dir
		}, "safetensors"},
		"duplicate keys": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			w := sd["wte.weight"]
			other := weights.Tensor{Shape: w.Shape, Data: make([]float32, len(w.Data))}
			sd["transformer.wte.weight"] = other
			return writeModel(t, *c, sd)
		}, "tensors transformer.wte.weight and wte.weight are both wte.weight"},
		"NaN weight": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			w := sd["h.1.attn.c_proj.weight"]
			bad := weights.Tensor{Shape: w.Shape, Data: append([]float32{}, w.Data...)}
			bad.Data[2*8+5] = float32(math.NaN())
			sd["h.1.attn.c_proj.weight"] = bad
			return writeModel(t, *c, sd)
		}, "tensor h.1.attn.c_proj.weight: element [2, 5] is NaN"},
		"infinite weight": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			w := sd["ln_f.bias"]
			bad := weights.Tensor{Shape: w.Shape, Data: append([]float32{}, w.Data...)}
			bad.Data[7] = float32(math.Inf(1))
			sd["ln_f.bias"] = bad
			return writeModel(t, *c, sd)
		}, "tensor ln_f.bias: element [7] is +Inf"},
		"config.json links to /dev/zero": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			dir := writeModel(t, *c, sd)
			os.Remove(filepath.Join(dir, "config.json"))
			if err := os.Symlink("/dev/zero", filepath.Join(dir, "config.json")); err != nil {
				t.Skip(err)
			}
			return dir
		}, "not a regular file (a character device)"},
		"model.safetensors links to /dev/zero": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			dir := writeModel(t, *c, sd)
			os.Remove(filepath.Join(dir, "model.safetensors"))
			if err := os.Symlink("/dev/zero", filepath.Join(dir, "model.safetensors")); err != nil {
				t.Skip(err)
			}
			return dir
		}, "not a regular file (a character device)"},
		"pytorch_model.bin is a FIFO": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			dir := t.TempDir()
			raw, _ := json.Marshal(c)
			os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
			if err := syscall.Mkfifo(filepath.Join(dir, "pytorch_model.bin"), 0o644); err != nil {
				t.Skip(err)
			}
			return dir
		}, "not a regular file (a named pipe (FIFO))"},
		"config.json is a FIFO": {func(_ string, sd map[string]weights.Tensor, c *Config) string {
			dir := writeModel(t, *c, sd)
			os.Remove(filepath.Join(dir, "config.json"))
			if err := syscall.Mkfifo(filepath.Join(dir, "config.json"), 0o644); err != nil {
				t.Skip(err)
			}
			return dir
		}, "not a regular file (a named pipe (FIFO))"},
		"empty pytorch_model.bin": {func(_ string, _ map[string]weights.Tensor, c *Config) string {
			dir := t.TempDir()
			raw, _ := json.Marshal(c)
			os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
			os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), nil, 0o644)
			return dir
		}, "torchpt"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			sd := map[string]weights.Tensor{}
			for k, v := range good {
				sd[k] = v
			}
			cc := cfg
			dir := c.mutate("", sd, &cc)
			var (
				ck  *Checkpoint
				err error
			)
			done := make(chan struct{})
			go func() { ck, err = Load(dir); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Load did not return in 20 s")
			}
			if err == nil {
				ck.Close()
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestIsGPT2Small(t *testing.T) {
	c := SmallConfig()
	if !c.IsGPT2Small() {
		t.Error("SmallConfig is not GPT-2 small")
	}
	distil := SmallConfig()
	distil.NLayer = 6
	medium := SmallConfig()
	medium.DModel, medium.NHead, medium.NLayer = 1024, 16, 24
	for _, o := range []Config{distil, medium} {
		if o.IsGPT2Small() {
			t.Errorf("%+v taken for GPT-2 small", o)
		}
	}
}
