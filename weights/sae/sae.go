// Package sae loads sparse autoencoders for GPT-2 from the two formats
// researchers have: a torch.save'd dict {W_enc, W_dec, b_enc, b_dec} in a
// .pt file (jacobcd52/gpt2-small-sparse-autoencoders), and SAELens folders
// (cfg.json + sae_weights.safetensors).
package sae

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/saescope/saescope/internal/regularfile"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/safetensors"
	"github.com/saescope/saescope/weights/torchpt"
)

// Format names the file format an SAE came from.
type Format string

// The supported formats.
const (
	FormatTorchDict Format = "pt"
	FormatSAELens   Format = "saelens"
)

// SAE is a standard ReLU sparse autoencoder:
// encode f = relu((x - b_dec·[ApplyBDecToInput]) · W_enc + b_enc),
// decode x̂ = f · W_dec + b_dec.
type SAE struct {
	Path   string
	Format Format
	Hook   hookname.Hook
	DIn    int
	DSae   int
	WEnc   weights.Tensor // [d_in, d_sae]
	WDec   weights.Tensor // [d_sae, d_in]
	BEnc   weights.Tensor // [d_sae]
	BDec   weights.Tensor // [d_in]
	// ApplyBDecToInput is true for the .pt format and for SAELens unless
	// its cfg says otherwise.
	ApplyBDecToInput bool
	// ModelName is the model the SAE says it was trained on, if it says.
	ModelName string
	// Uncentred is true for an SAE trained on the residual stream as
	// HookedTransformer.from_pretrained_no_processing leaves it (SAELens'
	// cfg.json model_from_pretrained_kwargs center_writing_weights false,
	// its default since 3.19.2): the model must then run without centring
	// the writes into the residual stream (model.Hooks.Uncentred).
	Uncentred bool
	closer    io.Closer
}

// Name is a short human label such as "blocks.9.hook_resid_pre (6144)".
func (s *SAE) Name() string {
	return fmt.Sprintf("%s (%d)", s.Hook, s.DSae)
}

// Close releases the memory mapping behind the tensors, if any.
func (s *SAE) Close() error {
	if s.closer == nil {
		return nil
	}
	err := s.closer.Close()
	s.closer = nil
	return err
}

// CheckModel verifies that the SAE fits a model of width dModel (MLP width
// dMLP) with nLayer blocks.
func (s *SAE) CheckModel(dModel, dMLP, nLayer int) error {
	want := dModel
	if s.Hook.Point == hookname.MLPPost {
		want = dMLP
	}
	if s.DIn != want {
		return fmt.Errorf("SAE %s: d_in %d does not match the model's %s %d at %s (an SAE for another model?)", s.Path, s.DIn, s.Hook.Width(), want, s.Hook)
	}
	if s.Hook.Layer >= nLayer {
		return fmt.Errorf("SAE %s: hook %s is past the model's %d layers", s.Path, s.Hook, nLayer)
	}
	return nil
}

// Fits checks that the SAE belongs to the model of configuration cfg: its
// width and layer (CheckModel) and, for GPT-2 small, the model its
// cfg.json says it was trained on (CheckTrainedOnGPT2Small).
func (s *SAE) Fits(cfg gpt2.Config) error {
	if err := s.CheckModel(cfg.DModel, cfg.DMLP(), cfg.NLayer); err != nil {
		return err
	}
	if cfg.IsGPT2Small() {
		return s.CheckTrainedOnGPT2Small()
	}
	return nil
}

// CheckTrainedOnGPT2Small refuses an SAE whose configuration names the
// model it was trained on (SAELens' model_name) when that is not GPT-2
// small: the model open is GPT-2 small, and another model of the same
// width (distilgpt2, a Pythia of 768) passes every shape check while each
// of its features would be meaningless here. An SAE that names no model
// passes.
func (s *SAE) CheckTrainedOnGPT2Small() error {
	if s.ModelName == "" || IsGPT2SmallName(s.ModelName) {
		return nil
	}
	return fmt.Errorf("SAE %s was trained on %q (its cfg.json's model_name), not GPT-2 small: its features mean nothing on GPT-2 small (if it was trained on this very model, set model_name to \"gpt2\")", s.Path, s.ModelName)
}

// IsGPT2SmallName says whether name is one of the names SAELens,
// TransformerLens and the Hugging Face hub give GPT-2 small.
func IsGPT2SmallName(name string) bool {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "gpt2", "gpt2-small", "gpt-2", "gpt-2-small", "openai-community/gpt2", "openai/gpt2":
		return true
	}
	return false
}

var ptNameRE = regexp.MustCompile(`_(resid_pre|resid_mid|resid_post|mlp_out|attn_out)_(\d+)\.(pt|bin)$`)

// HookFromFileName infers the hook from names such as
// gpt2-small_6144_resid_pre_9.pt (the jacobcd52 release's convention).
func HookFromFileName(path string) (hookname.Hook, bool) {
	m := ptNameRE.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return hookname.Hook{}, false
	}
	layer, err := strconv.Atoi(m[2])
	if err != nil {
		return hookname.Hook{}, false
	}
	return hookname.Hook{Layer: layer, Point: hookname.Point("hook_" + m[1])}, true
}

// Load reads an SAE from a .pt file or a SAELens folder. hook, when not
// empty, names the hook point and overrides what the files say.
func Load(path, hook string) (*SAE, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load SAE %s: %w", path, err)
	}
	var s *SAE
	if st.IsDir() {
		s, err = loadSAELens(path, hook)
	} else {
		s, err = loadTorchDict(path, hook)
	}
	if err != nil {
		return nil, fmt.Errorf("load SAE %s: %w", path, err)
	}
	s.Path = path
	return s, nil
}

func loadTorchDict(path, hook string) (*SAE, error) {
	var h hookname.Hook
	if hook != "" {
		var err error
		if h, err = hookname.Parse(hook, 0); err != nil {
			return nil, err
		}
	} else {
		var ok bool
		if h, ok = HookFromFileName(path); !ok {
			return nil, fmt.Errorf("cannot tell the hook point from the file name %q (expected …_resid_pre_9.pt or …_mlp_out_6.pt): give it explicitly", filepath.Base(path))
		}
	}
	f, err := torchpt.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the tensors are decoded into memory
	s := &SAE{Format: FormatTorchDict, Hook: h, ApplyBDecToInput: true}
	if err := s.assign(f); err != nil {
		return nil, err
	}
	return s, nil
}

// saelensConfig holds the cfg.json keys SAE Scope reads, across SAELens
// versions (legacy hook_point/hook_point_layer, v6's metadata block).
type saelensConfig struct {
	Architecture         *string          `json:"architecture"`
	DIn                  int              `json:"d_in"`
	DSae                 int              `json:"d_sae"`
	HookName             string           `json:"hook_name"`
	HookPoint            string           `json:"hook_point"`
	HookHeadIndex        *int             `json:"hook_head_index"`
	ActivationFn         *string          `json:"activation_fn_str"`
	ActivationFnAlt      *string          `json:"activation_fn"`
	ApplyBDecToInput     *bool            `json:"apply_b_dec_to_input"`
	NormalizeActivations *json.RawMessage `json:"normalize_activations"`
	FinetuningScaling    *json.RawMessage `json:"finetuning_scaling_factor"`
	ModelName            string           `json:"model_name"`
	ModelKwargs          *modelKwargs     `json:"model_from_pretrained_kwargs"`
	Metadata             *struct {
		HookName    string       `json:"hook_name"`
		ModelName   string       `json:"model_name"`
		ModelKwargs *modelKwargs `json:"model_from_pretrained_kwargs"`
	} `json:"metadata"`
}

// modelKwargs are the HookedTransformer options the SAE's activations were
// made with; only the centring of residual writes changes a hook value.
type modelKwargs struct {
	CenterWritingWeights *bool `json:"center_writing_weights"`
}

func metadataKwargs(cfg saelensConfig) *modelKwargs {
	if cfg.Metadata == nil {
		return nil
	}
	return cfg.Metadata.ModelKwargs
}

func loadSAELens(dir, hook string) (*SAE, error) {
	raw, err := regularfile.ReadFile(filepath.Join(dir, "cfg.json"), maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("not a SAELens folder (cfg.json): %w", err)
	}
	var cfg saelensConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("cfg.json: %w", err)
	}
	if cfg.Architecture != nil && *cfg.Architecture != "standard" {
		return nil, fmt.Errorf("cfg.json: architecture %q not supported (only \"standard\" ReLU SAEs)", *cfg.Architecture)
	}
	for _, act := range []*string{cfg.ActivationFn, cfg.ActivationFnAlt} {
		if act != nil && *act != "relu" {
			return nil, fmt.Errorf("cfg.json: activation function %q not supported (only relu)", *act)
		}
	}
	if cfg.HookHeadIndex != nil {
		return nil, fmt.Errorf("cfg.json: hook_head_index %d: per-head SAEs are not supported", *cfg.HookHeadIndex)
	}
	if cfg.NormalizeActivations != nil {
		var norm any
		_ = json.Unmarshal(*cfg.NormalizeActivations, &norm)
		switch v := norm.(type) {
		case nil:
		case bool: // the old boolean form: false is "none"
			if v {
				return nil, errors.New(`cfg.json: normalize_activations true (SAELens' "expected_average_only_in") not supported (only "none")`)
			}
		case string:
			if v != "none" && v != "" {
				return nil, fmt.Errorf("cfg.json: normalize_activations %q not supported (only \"none\")", v)
			}
		default:
			return nil, fmt.Errorf("cfg.json: normalize_activations %s not supported (only \"none\")", string(*cfg.NormalizeActivations))
		}
	}
	// SAELens 3.19.2 and later train on uncentred activations
	// (from_pretrained_no_processing) and say so here; fed the centred
	// ones of from_pretrained, such an SAE would be off by each token's
	// mean without a word.
	uncentred := false
	for _, kw := range []*modelKwargs{cfg.ModelKwargs, metadataKwargs(cfg)} {
		if kw != nil && kw.CenterWritingWeights != nil && !*kw.CenterWritingWeights {
			uncentred = true
		}
	}
	if cfg.FinetuningScaling != nil {
		var v any
		_ = json.Unmarshal(*cfg.FinetuningScaling, &v)
		if b, ok := v.(bool); !(v == nil || ok && !b) {
			return nil, fmt.Errorf("cfg.json: finetuning_scaling_factor %s not supported", string(*cfg.FinetuningScaling))
		}
	}
	name := hook
	if name == "" {
		name = cfg.HookName
	}
	if name == "" {
		name = cfg.HookPoint
	}
	if name == "" && cfg.Metadata != nil {
		name = cfg.Metadata.HookName
	}
	if name == "" {
		return nil, errors.New("cfg.json names no hook (hook_name or hook_point): give it explicitly")
	}
	h, err := hookname.Parse(name, 0)
	if err != nil {
		return nil, fmt.Errorf("cfg.json: %w", err)
	}
	f, err := safetensors.Open(filepath.Join(dir, "sae_weights.safetensors"))
	if err != nil {
		return nil, err
	}
	s := &SAE{Format: FormatSAELens, Hook: h, ApplyBDecToInput: true, ModelName: cfg.ModelName, Uncentred: uncentred, closer: f}
	if cfg.Metadata != nil && s.ModelName == "" {
		s.ModelName = cfg.Metadata.ModelName
	}
	if cfg.ApplyBDecToInput != nil {
		s.ApplyBDecToInput = *cfg.ApplyBDecToInput
	}
	if err := s.assign(f); err != nil {
		f.Close()
		return nil, err
	}
	if cfg.DIn != 0 && cfg.DIn != s.DIn || cfg.DSae != 0 && cfg.DSae != s.DSae {
		f.Close()
		return nil, fmt.Errorf("cfg.json says d_in %d, d_sae %d but the weights are %dx%d", cfg.DIn, cfg.DSae, s.DIn, s.DSae)
	}
	return s, nil
}

// maxConfigBytes bounds cfg.json (SAELens' are a few KB).
const maxConfigBytes = 1 << 20

// saeTensors are the tensors a standard SAE is made of.
var saeTensors = []string{"W_enc", "W_dec", "b_enc", "b_dec"}

// assign picks W_enc, W_dec, b_enc, b_dec out of a state dict, checks that
// their shapes agree, and only then decodes them (nothing else in the file
// is read) and checks that they are finite.
func (s *SAE) assign(r weights.Reader) error {
	shapes := map[string][]int{}
	var missing []string
	for _, k := range saeTensors {
		sh, ok := r.Shape(k)
		if !ok {
			missing = append(missing, k)
		}
		shapes[k] = sh
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (the file has %s)", strings.Join(missing, ", "), strings.Join(r.FloatNames(), ", "))
	}
	enc := shapes["W_enc"]
	if len(enc) != 2 {
		//lint:ignore ST1005 W_enc is the tensor's name
		return fmt.Errorf("W_enc has shape %v, want [d_in, d_sae]", enc)
	}
	s.DIn, s.DSae = enc[0], enc[1]
	if s.DIn <= 0 || s.DSae <= 0 {
		//lint:ignore ST1005 W_enc is the tensor's name
		return fmt.Errorf("W_enc has empty shape %v", enc)
	}
	for _, c := range []struct {
		name  string
		shape []int
	}{
		{"W_dec", []int{s.DSae, s.DIn}},
		{"b_enc", []int{s.DSae}},
		{"b_dec", []int{s.DIn}},
	} {
		if err := (weights.Tensor{Shape: shapes[c.name]}).CheckShape(c.name, c.shape...); err != nil {
			return fmt.Errorf("%w (W_enc is %v)", err, enc)
		}
	}
	for _, c := range []struct {
		name string
		dst  *weights.Tensor
	}{{"W_enc", &s.WEnc}, {"W_dec", &s.WDec}, {"b_enc", &s.BEnc}, {"b_dec", &s.BDec}} {
		t, err := r.Float32(c.name)
		if err != nil {
			return err
		}
		if err := t.CheckFinite(c.name); err != nil {
			return err
		}
		*c.dst = t
	}
	return nil
}
