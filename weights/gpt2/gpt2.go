// Package gpt2 loads a Hugging Face GPT-2 checkpoint: a folder with
// config.json and model.safetensors or pytorch_model.bin.
package gpt2

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/safetensors"
	"github.com/saescope/saescope/weights/torchpt"
)

// Config holds the hyperparameters SAE Scope needs from config.json.
type Config struct {
	VocabSize    int     `json:"vocab_size"`
	NPositions   int     `json:"n_positions"`
	DModel       int     `json:"n_embd"`
	NHead        int     `json:"n_head"`
	NLayer       int     `json:"n_layer"`
	NInner       *int    `json:"n_inner"`
	LayerNormEps float64 `json:"layer_norm_epsilon"`
	Activation   string  `json:"activation_function"`
	ModelType    string  `json:"model_type"`
}

// DMLP returns the MLP width (n_inner, or 4·d_model when unset).
func (c Config) DMLP() int {
	if c.NInner != nil && *c.NInner > 0 {
		return *c.NInner
	}
	return 4 * c.DModel
}

// IsGPT2Small says whether c has GPT-2 small's shape (12 layers of 768,
// 12 heads, its vocabulary and context).
func (c Config) IsGPT2Small() bool {
	sm := SmallConfig()
	return c.VocabSize == sm.VocabSize && c.NPositions == sm.NPositions && c.DModel == sm.DModel &&
		c.NHead == sm.NHead && c.NLayer == sm.NLayer && c.DMLP() == sm.DMLP()
}

// DHead returns the width of one attention head.
func (c Config) DHead() int { return c.DModel / c.NHead }

// Validate checks that the configuration describes a GPT-2 this app runs.
func (c Config) Validate() error {
	if c.ModelType != "" && c.ModelType != "gpt2" {
		return fmt.Errorf("model_type %q is not gpt2", c.ModelType)
	}
	switch {
	case c.VocabSize <= 0 || c.VocabSize > 1<<20:
		return fmt.Errorf("vocab_size %d out of range", c.VocabSize)
	case c.NPositions <= 0 || c.NPositions > 1<<16:
		return fmt.Errorf("n_positions %d out of range", c.NPositions)
	case c.DModel <= 0 || c.DModel > 1<<16:
		return fmt.Errorf("n_embd %d out of range", c.DModel)
	case c.NHead <= 0 || c.DModel%c.NHead != 0:
		return fmt.Errorf("n_head %d does not divide n_embd %d", c.NHead, c.DModel)
	case c.NLayer <= 0 || c.NLayer > 1024:
		return fmt.Errorf("n_layer %d out of range", c.NLayer)
	case c.DMLP() > 1<<18:
		return fmt.Errorf("n_inner %d out of range", c.DMLP())
	}
	if c.LayerNormEps <= 0 || c.LayerNormEps > 1 {
		return fmt.Errorf("layer_norm_epsilon %g out of range", c.LayerNormEps)
	}
	if c.Activation != "gelu_new" {
		return fmt.Errorf("activation_function %q not supported (GPT-2 uses gelu_new)", c.Activation)
	}
	return nil
}

// Layer holds one transformer block's parameters in Hugging Face's Conv1D
// layout: weights are [in, out], so y = x·W + b.
type Layer struct {
	LN1W, LN1B   weights.Tensor // [d]
	QKVW, QKVB   weights.Tensor // [d, 3d], [3d]
	OW, OB       weights.Tensor // [d, d], [d]
	LN2W, LN2B   weights.Tensor // [d]
	FCW, FCB     weights.Tensor // [d, dmlp], [dmlp]
	ProjW, ProjB weights.Tensor // [dmlp, d], [d]
}

// Checkpoint is a loaded GPT-2. Its tensors may alias a memory-mapped file:
// call Close when done with them.
type Checkpoint struct {
	Config     Config
	Dir        string
	WTE, WPE   weights.Tensor // [vocab, d], [n_positions, d]; WTE is also the unembedding
	Layers     []Layer
	LNFW, LNFB weights.Tensor
	closer     io.Closer
}

// Close releases the memory mapping behind the tensors, if any.
func (c *Checkpoint) Close() error {
	if c.closer == nil {
		return nil
	}
	err := c.closer.Close()
	c.closer = nil
	return err
}

// ReadConfig reads and validates dir/config.json.
func ReadConfig(dir string) (Config, error) {
	var cfg Config
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return cfg, fmt.Errorf("GPT-2 model %s: no config.json in the folder (want a Hugging Face checkpoint folder)", dir)
		}
		return cfg, fmt.Errorf("GPT-2 model %s: %w", dir, err)
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("GPT-2 model %s: config.json: %w", dir, err)
	}
	if cfg.NPositions == 0 {
		var alt struct {
			NCtx int `json:"n_ctx"`
		}
		_ = json.Unmarshal(raw, &alt)
		cfg.NPositions = alt.NCtx
	}
	if cfg.LayerNormEps == 0 {
		cfg.LayerNormEps = 1e-5
	}
	if cfg.Activation == "" {
		cfg.Activation = "gelu_new"
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("GPT-2 model %s: config.json: %w", dir, err)
	}
	return cfg, nil
}

// Load reads a checkpoint folder: config.json plus model.safetensors
// (preferred, memory-mapped) or pytorch_model.bin (read with the safe
// pickle reader). Every tensor's shape is checked against the config.
func Load(dir string) (*Checkpoint, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	var (
		tensors map[string]weights.Tensor
		closer  io.Closer
	)
	st := filepath.Join(dir, "model.safetensors")
	pt := filepath.Join(dir, "pytorch_model.bin")
	switch {
	case fileExists(st):
		f, err := safetensors.Open(st)
		if err != nil {
			return nil, fmt.Errorf("GPT-2 model %s: %w", dir, err)
		}
		tensors, err = f.Tensors()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("GPT-2 model %s: %w", dir, err)
		}
		closer = f
	case fileExists(pt):
		tensors, err = torchpt.Load(pt)
		if err != nil {
			return nil, fmt.Errorf("GPT-2 model %s: %w", dir, err)
		}
	default:
		return nil, fmt.Errorf("GPT-2 model %s: neither model.safetensors nor pytorch_model.bin in the folder", dir)
	}
	ck, err := assemble(cfg, tensors)
	if err != nil {
		if closer != nil {
			closer.Close()
		}
		return nil, fmt.Errorf("GPT-2 model %s: %w", dir, err)
	}
	ck.Dir = dir
	ck.closer = closer
	return ck, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// assemble names and shape-checks the tensors of a state dict.
func assemble(cfg Config, raw map[string]weights.Tensor) (*Checkpoint, error) {
	tensors := make(map[string]weights.Tensor, len(raw))
	for k, v := range raw {
		k = strings.TrimPrefix(k, "transformer.")
		if strings.HasSuffix(k, ".attn.bias") || strings.HasSuffix(k, ".attn.masked_bias") || k == "lm_head.weight" {
			continue // causal-mask buffers; the LM head is tied to wte
		}
		tensors[k] = v
	}
	d, m := cfg.DModel, cfg.DMLP()
	used := map[string]bool{}
	get := func(name string, shape ...int) (weights.Tensor, error) {
		t, ok := tensors[name]
		if !ok {
			return t, fmt.Errorf("missing tensor %s", name)
		}
		used[name] = true
		if err := t.CheckShape(name, shape...); err != nil {
			return t, err
		}
		return t, nil
	}
	ck := &Checkpoint{Config: cfg, Layers: make([]Layer, cfg.NLayer)}
	var errs []error
	add := func(dst *weights.Tensor, name string, shape ...int) {
		t, err := get(name, shape...)
		if err != nil {
			errs = append(errs, err)
			return
		}
		*dst = t
	}
	add(&ck.WTE, "wte.weight", cfg.VocabSize, d)
	add(&ck.WPE, "wpe.weight", cfg.NPositions, d)
	add(&ck.LNFW, "ln_f.weight", d)
	add(&ck.LNFB, "ln_f.bias", d)
	for l := range ck.Layers {
		L := &ck.Layers[l]
		p := fmt.Sprintf("h.%d.", l)
		add(&L.LN1W, p+"ln_1.weight", d)
		add(&L.LN1B, p+"ln_1.bias", d)
		add(&L.QKVW, p+"attn.c_attn.weight", d, 3*d)
		add(&L.QKVB, p+"attn.c_attn.bias", 3*d)
		add(&L.OW, p+"attn.c_proj.weight", d, d)
		add(&L.OB, p+"attn.c_proj.bias", d)
		add(&L.LN2W, p+"ln_2.weight", d)
		add(&L.LN2B, p+"ln_2.bias", d)
		add(&L.FCW, p+"mlp.c_fc.weight", d, m)
		add(&L.FCB, p+"mlp.c_fc.bias", m)
		add(&L.ProjW, p+"mlp.c_proj.weight", m, d)
		add(&L.ProjB, p+"mlp.c_proj.bias", d)
	}
	for k := range tensors {
		if !used[k] {
			errs = append(errs, fmt.Errorf("unexpected tensor %s (is this a GPT-2 checkpoint with n_layer=%d?)", k, cfg.NLayer))
		}
	}
	if len(errs) > 0 {
		if len(errs) > 5 {
			errs = append(errs[:5], fmt.Errorf("and %d more problems", len(errs)-5))
		}
		return nil, errors.Join(errs...)
	}
	return ck, nil
}
