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
	"sort"
	"strings"

	"github.com/saescope/saescope/internal/regularfile"
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

// maxConfigBytes bounds config.json (GPT-2 small's is under 1 KB).
const maxConfigBytes = 1 << 20

// ReadConfig reads and validates dir/config.json.
func ReadConfig(dir string) (Config, error) {
	var cfg Config
	raw, err := regularfile.ReadFile(filepath.Join(dir, "config.json"), maxConfigBytes)
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
		r      weights.Reader
		closer io.Closer
	)
	st := filepath.Join(dir, "model.safetensors")
	pt := filepath.Join(dir, "pytorch_model.bin")
	switch {
	case exists(st):
		f, err := safetensors.Open(st)
		if err != nil {
			return nil, fmt.Errorf("GPT-2 model %s: %w", dir, err)
		}
		r, closer = f, f
	case exists(pt):
		f, err := torchpt.Open(pt)
		if err != nil {
			return nil, fmt.Errorf("GPT-2 model %s: %w", dir, err)
		}
		r, closer = f, f
	default:
		return nil, fmt.Errorf("GPT-2 model %s: neither model.safetensors nor pytorch_model.bin in the folder", dir)
	}
	ck, err := assemble(cfg, r)
	if _, isPT := r.(*torchpt.File); isPT {
		// decoded into memory: the file is no longer needed
		closer.Close()
		closer = nil
	}
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

// exists says whether there is something at p (a link is followed); what
// is not a regular file is then refused by the reader with its own error.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// assemble names and shape-checks the tensors of a state dict, then
// decodes those it needs and checks that they are finite. Nothing is
// decoded until every name and shape is right, so a checkpoint of the wrong
// shape costs no memory, and tensors the model does not use (the tied LM
// head, causal-mask buffers) are never decoded.
func assemble(cfg Config, r weights.Reader) (*Checkpoint, error) {
	var errs []error
	source := map[string]string{} // name without "transformer." -> name in the file
	for _, k := range r.FloatNames() {
		name := strings.TrimPrefix(k, "transformer.")
		if strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") || name == "lm_head.weight" {
			continue // causal-mask buffers; the LM head is tied to wte
		}
		if prev, dup := source[name]; dup {
			errs = append(errs, fmt.Errorf("tensors %s and %s are both %s: the checkpoint holds two versions of it (re-save it with one)", prev, k, name))
			continue
		}
		source[name] = k
	}
	d, m := cfg.DModel, cfg.DMLP()
	used := map[string]bool{}
	type want struct {
		dst  *weights.Tensor
		name string
	}
	var wants []want
	add := func(dst *weights.Tensor, name string, shape ...int) {
		k, ok := source[name]
		if !ok {
			errs = append(errs, fmt.Errorf("missing tensor %s", name))
			return
		}
		used[name] = true
		got, _ := r.Shape(k)
		if err := (weights.Tensor{Shape: got}).CheckShape(name, shape...); err != nil {
			errs = append(errs, err)
			return
		}
		wants = append(wants, want{dst, k})
	}
	ck := &Checkpoint{Config: cfg, Layers: make([]Layer, cfg.NLayer)}
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
	var unused []string
	for k := range source {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	sort.Strings(unused)
	for _, k := range unused {
		errs = append(errs, fmt.Errorf("unexpected tensor %s (is this a GPT-2 checkpoint with n_layer=%d?)", k, cfg.NLayer))
	}
	if len(errs) > 0 {
		if len(errs) > 5 {
			errs = append(errs[:5], fmt.Errorf("and %d more problems", len(errs)-5))
		}
		return nil, errors.Join(errs...)
	}
	for _, w := range wants {
		t, err := r.Float32(w.name)
		if err != nil {
			return nil, err
		}
		if err := t.CheckFinite(w.name); err != nil {
			return nil, err
		}
		*w.dst = t
	}
	return ck, nil
}
