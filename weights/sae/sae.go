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
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/saescope/saescope/internal/regularfile"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/catalog"
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
	// FormatOpenAI is a torch.save'd state dict of openai/sparse_autoencoder.
	FormatOpenAI Format = "openai"
)

// SAE is a sparse autoencoder (or transcoder) of one of the families in
// Architecture. With x the activation at Hook, normalised as Norm says:
// pre-activations h = (x − b_dec·[ApplyBDecToInput])·W_enc + b_enc, features
// f = the family's activation of h (ReLU for Standard), reconstruction
// x̂ = f·W_dec + b_dec (denormalised), written at OutHook.
type SAE struct {
	Path   string
	Format Format
	Hook   hookname.Hook // where the SAE reads
	// OutHook is where its reconstruction goes, when not Hook (a
	// transcoder: ln2.hook_normalized → hook_mlp_out); use Output.
	OutHook *hookname.Hook
	DIn     int
	DSae    int
	DOut    int            // width of the output when not DIn (a transcoder's); use OutDim
	WEnc    weights.Tensor // [d_in, d_sae]
	WDec    weights.Tensor // [d_sae, d_out]
	BEnc    weights.Tensor // [d_sae]; zero for Gated (which has b_gate, b_mag)
	BDec    weights.Tensor // [d_out]

	Arch Architecture
	// K is the number of features a TopK SAE keeps per token.
	K int
	// Threshold is a JumpReLU SAE's per-feature threshold [d_sae].
	Threshold weights.Tensor
	// BGate, BMag and RMag are a Gated SAE's gate bias, magnitude bias and
	// magnitude rescaling (W_mag = W_enc ⊙ exp(r_mag)), each [d_sae].
	BGate, BMag, RMag weights.Tensor
	// Norm is the input normalisation; InputScale the constant folded into
	// W_enc for expected_average_only_in (1 otherwise).
	Norm       Normalization
	InputScale float32
	// Transcoder is true for an SAE that reads one hook and predicts
	// another (an MLP transcoder: its output replaces the MLP's).
	Transcoder bool
	// NoBOS is true for SAEs trained on text without a BOS token (OpenAI's
	// v5 SAEs, SAELens prepend_bos false): their scans use rows without one.
	NoBOS bool
	// FoldedDecoderNorm is true once FoldDecoderNorm has rescaled the SAE
	// to unit decoder rows.
	FoldedDecoderNorm bool
	// NeuronpediaID names the SAE on Neuronpedia ("gpt2-small/9-res-jb"),
	// when the catalogue knows it.
	NeuronpediaID string
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

// Output is the hook the SAE's reconstruction replaces: its own hook,
// except for a transcoder.
func (s *SAE) Output() hookname.Hook {
	if s.OutHook != nil {
		return *s.OutHook
	}
	return s.Hook
}

// OutDim is the width of the reconstruction: d_in, except for a transcoder.
func (s *SAE) OutDim() int {
	if s.DOut > 0 {
		return s.DOut
	}
	return s.DIn
}

// Name is a short human label such as "blocks.9.hook_resid_pre (6144)", or
// "blocks.0.ln2.hook_normalized → hook_mlp_out (24576)" for a transcoder.
func (s *SAE) Name() string {
	if s.Transcoder {
		return fmt.Sprintf("%s → %s (%d)", s.Hook, s.Output().Point, s.DSae)
	}
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
// dMLP) with nLayer blocks: the width of the hook it reads (d_mlp for
// mlp.hook_post; n_heads·d_head, which is d_model, for attn.hook_z) and of
// the hook it writes.
func (s *SAE) CheckModel(dModel, dMLP, nLayer int) error {
	width := func(h hookname.Hook) int {
		if h.Point == hookname.MLPPost {
			return dMLP
		}
		return dModel
	}
	if want := width(s.Hook); s.DIn != want {
		what := s.Hook.Width()
		if s.Hook.Point == hookname.AttnZ {
			what = "n_heads·d_head"
		}
		return fmt.Errorf("SAE %s: d_in %d does not match the model's %s %d at %s (an SAE for another model?)", s.Path, s.DIn, what, want, s.Hook)
	}
	if want := width(s.Output()); s.OutDim() != want {
		return fmt.Errorf("SAE %s: its output has %d values but %s holds %d", s.Path, s.OutDim(), s.Output(), want)
	}
	if s.Hook.Layer >= nLayer || s.Output().Layer >= nLayer {
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

// GiveHook says how to name the hook of an SAE whose file does not:
// the end of the error Load returns then.
const GiveHook = "give it with --hook on the command line, or in the hook field beside the SAE in the window's workspace bar (e.g. blocks.9.hook_resid_pre)"

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
	// what the catalogue knows of a file fetched from it, where the
	// file's own configuration leaves it out
	var known catalogHints
	if e, ok := catalog.ForPath(path); ok {
		known = catalogHints{scale: e.NormScalingFactor, hookOut: e.HookOut, noBOS: e.NoBOS, neuronpedia: e.NeuronpediaID}
	}
	var s *SAE
	if st.IsDir() && isDunefskyFolder(path) {
		s, err = loadDunefsky(path, hook)
	} else if st.IsDir() {
		s, err = loadSAELens(path, hook, known)
	} else {
		s, err = loadTorchDict(path, hook)
	}
	if err != nil {
		return nil, fmt.Errorf("load SAE %s: %w", path, err)
	}
	s.Path = path
	if s.NeuronpediaID == "" {
		s.NeuronpediaID = known.neuronpedia
	}
	if known.noBOS {
		s.NoBOS = true
	}
	return s, nil
}

// catalogHints are what the catalogue knows of an SAE it lists: SAELens'
// norm_scaling_factor (kept in its release list, not in cfg.json), a
// transcoder's output hook (some exports' cfg.json leave it out), whether
// it was trained without BOS, its Neuronpedia id.
type catalogHints struct {
	scale       float64
	hookOut     string
	noBOS       bool
	neuronpedia string
}

func loadTorchDict(path, hook string) (*SAE, error) {
	f, err := torchpt.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the tensors are decoded into memory
	if _, ok := f.Shape("encoder.weight"); ok {
		return loadOpenAI(f, path, hook)
	}
	kk, err := readKKConfig(path)
	if err != nil {
		return nil, err
	}
	var h hookname.Hook
	switch {
	case hook != "":
		if h, err = hookname.Parse(hook, 0); err != nil {
			return nil, err
		}
	case kk != nil:
		if h, err = hookname.Parse(kk.ActName, 0); err != nil {
			return nil, fmt.Errorf("%s: act_name: %w", kk.path, err)
		}
	default:
		var ok bool
		if h, ok = HookFromFileName(path); !ok {
			return nil, fmt.Errorf("cannot tell the hook point from the file name %q (expected …_resid_pre_9.pt or …_mlp_out_6.pt): %s", filepath.Base(path), GiveHook)
		}
	}
	s := &SAE{Format: FormatTorchDict, Hook: h, ApplyBDecToInput: true, Arch: Standard, Norm: NormNone, InputScale: 1}
	if err := s.assign(f, nil); err != nil {
		return nil, err
	}
	if kk != nil && (kk.ActSize != 0 && kk.ActSize != s.DIn || kk.DictSize != 0 && kk.DictSize != s.DSae) {
		return nil, fmt.Errorf("%s says act_size %d, dict_size %d but the weights are %dx%d", kk.path, kk.ActSize, kk.DictSize, s.DIn, s.DSae)
	}
	return s, nil
}

// kkConfig is the <run>_cfg.json beside a .pt of Kissane et al.'s
// attention SAEs (ckkissane/attn-saes-gpt2-small-all-layers).
type kkConfig struct {
	path     string
	ActName  string `json:"act_name"`
	ActSize  int    `json:"act_size"`
	DictSize int    `json:"dict_size"`
}

// readKKConfig reads <stem>_cfg.json beside the .pt at path, if there is one.
func readKKConfig(path string) (*kkConfig, error) {
	p := strings.TrimSuffix(path, filepath.Ext(path)) + "_cfg.json"
	if _, err := os.Stat(p); err != nil {
		return nil, nil
	}
	raw, err := regularfile.ReadFile(p, maxConfigBytes)
	if err != nil {
		return nil, err
	}
	c := &kkConfig{path: p}
	if err := json.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if c.ActName == "" {
		return nil, fmt.Errorf("%s names no act_name (the hook the SAE reads)", p)
	}
	return c, nil
}

// loadOpenAI reads a state dict of openai/sparse_autoencoder's Autoencoder
// (pre_bias, latent_bias, encoder.weight [n, d], decoder.weight [d, n], and
// activation "TopK" with activation_state_dict.k): a TopK SAE on
// layer-normalised inputs, with b_dec = pre_bias, b_enc = latent_bias,
// W_enc = encoder.weightᵀ, W_dec = decoder.weightᵀ. The file does not say
// its hook: it must be given.
func loadOpenAI(f *torchpt.File, path, hook string) (*SAE, error) {
	if hook == "" {
		if h, ok := HookFromFileName(path); ok {
			hook = h.String()
		} else {
			return nil, fmt.Errorf("an OpenAI sparse_autoencoder file does not say its hook: give it (e.g. --hook blocks.8.hook_resid_post)")
		}
	}
	h, err := hookname.Parse(hook, 0)
	if err != nil {
		return nil, err
	}
	s := &SAE{Format: FormatOpenAI, Hook: h, ApplyBDecToInput: true, Arch: TopK, Norm: NormLayerNorm, InputScale: 1, NoBOS: true}
	act, _ := f.Value("activation")
	switch a, _ := act.(string); strings.ToLower(a) {
	case "topk":
		k, ok := f.Value("activation_state_dict.k")
		ki, isInt := k.(int)
		if !ok || !isInt {
			return nil, errors.New("an OpenAI TopK SAE without activation_state_dict.k (the number of features kept)")
		}
		if post, _ := f.Value("activation_state_dict.postact_fn"); post != nil && !strings.EqualFold(fmt.Sprint(post), "relu") {
			return nil, fmt.Errorf("activation_state_dict.postact_fn %v not supported (ReLU)", post)
		}
		s.K = ki
	case "relu":
		s.Arch = Standard
	default:
		return nil, fmt.Errorf("OpenAI SAE activation %v not supported (TopK or ReLU)", act)
	}
	enc, ok := f.Shape("encoder.weight")
	if !ok || len(enc) != 2 {
		return nil, fmt.Errorf("encoder.weight has shape %v, want [n_latents, d_model]", enc)
	}
	n, d := enc[0], enc[1]
	for _, c := range []struct {
		name  string
		shape []int
	}{{"decoder.weight", []int{d, n}}, {"pre_bias", []int{d}}, {"latent_bias", []int{n}}} {
		sh, _ := f.Shape(c.name)
		if err := (weights.Tensor{Shape: sh}).CheckShape(c.name, c.shape...); err != nil {
			return nil, err
		}
	}
	if s.Arch == TopK && (s.K < 1 || s.K > n) {
		return nil, fmt.Errorf("activation_state_dict.k %d out of range: it must be between 1 and the number of latents (%d)", s.K, n)
	}
	get := func(name string) (weights.Tensor, error) {
		t, err := f.Float32(name)
		if err == nil {
			err = t.CheckFinite(name)
		}
		return t, err
	}
	var encW, decW weights.Tensor
	if encW, err = get("encoder.weight"); err != nil {
		return nil, err
	}
	if decW, err = get("decoder.weight"); err != nil {
		return nil, err
	}
	if s.BDec, err = get("pre_bias"); err != nil {
		return nil, err
	}
	if s.BEnc, err = get("latent_bias"); err != nil {
		return nil, err
	}
	s.WEnc, s.WDec = transpose(encW), transpose(decW)
	s.DIn, s.DSae = d, n
	return s, nil
}

// transpose returns t ([r, c]) as a new [c, r] tensor.
func transpose(t weights.Tensor) weights.Tensor {
	r, c := t.Shape[0], t.Shape[1]
	out := weights.Tensor{Shape: []int{c, r}, Data: make([]float32, r*c)}
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out.Data[j*r+i] = t.Data[i*c+j]
		}
	}
	return out
}

// saelensConfig holds the cfg.json keys SAE Scope reads, across SAELens
// versions (legacy hook_point/hook_point_layer, v6's metadata block).
type saelensConfig struct {
	Architecture         *string                    `json:"architecture"`
	DIn                  int                        `json:"d_in"`
	DSae                 int                        `json:"d_sae"`
	DOut                 int                        `json:"d_out"`
	HookName             string                     `json:"hook_name"`
	HookPoint            string                     `json:"hook_point"`
	HookNameOut          string                     `json:"hook_name_out"`
	HookHeadIndex        *int                       `json:"hook_head_index"`
	ActivationFn         *string                    `json:"activation_fn_str"`
	ActivationFnAlt      *string                    `json:"activation_fn"`
	ActivationKwargs     map[string]json.RawMessage `json:"activation_fn_kwargs"`
	ApplyBDecToInput     *bool                      `json:"apply_b_dec_to_input"`
	NormalizeActivations *json.RawMessage           `json:"normalize_activations"`
	NormScalingFactor    *float64                   `json:"norm_scaling_factor"`
	ScalingFactor        *float64                   `json:"scaling_factor"`
	FinetuningScaling    *json.RawMessage           `json:"finetuning_scaling_factor"`
	ReshapeActivations   *string                    `json:"reshape_activations"`
	PrependBOS           *bool                      `json:"prepend_bos"`
	ModelName            string                     `json:"model_name"`
	NeuronpediaID        string                     `json:"neuronpedia_id"`
	ModelKwargs          *modelKwargs               `json:"model_from_pretrained_kwargs"`
	Metadata             *struct {
		HookName      string       `json:"hook_name"`
		HookNameOut   string       `json:"hook_name_out"`
		ModelName     string       `json:"model_name"`
		NeuronpediaID string       `json:"neuronpedia_id"`
		PrependBOS    *bool        `json:"prepend_bos"`
		ModelKwargs   *modelKwargs `json:"model_from_pretrained_kwargs"`
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

func loadSAELens(dir, hook string, known catalogHints) (*SAE, error) {
	raw, err := regularfile.ReadFile(filepath.Join(dir, "cfg.json"), maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("not a SAELens folder (cfg.json): %w", err)
	}
	var cfg saelensConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("cfg.json: %w", err)
	}
	arch, k, transcoder, err := parseArchitecture(cfg.Architecture, []*string{cfg.ActivationFnAlt, cfg.ActivationFn}, cfg.ActivationKwargs, cfg.DSae)
	if err != nil {
		return nil, fmt.Errorf("cfg.json: %w", err)
	}
	if known.hookOut != "" && cfg.HookNameOut == "" {
		transcoder = true // an export whose cfg.json does not say so
	}
	if cfg.HookHeadIndex != nil {
		return nil, fmt.Errorf("cfg.json: hook_head_index %d: per-head SAEs are not supported", *cfg.HookHeadIndex)
	}
	norm, err := parseNormalization(cfg.NormalizeActivations)
	if err != nil {
		return nil, fmt.Errorf("cfg.json: %w", err)
	}
	scale := float32(1)
	if norm == NormExpectedAverage {
		// the factor √d_in / E‖x‖ of the training data: SAELens keeps it
		// beside the SAE, not in it; some exports write it in cfg.json
		f := cfg.NormScalingFactor
		if f == nil {
			f = cfg.ScalingFactor
		}
		if f == nil && known.scale > 0 {
			f = &known.scale // the release list's (SAELens pretrained_saes.yaml)
		}
		if f == nil || !(*f > 0) || math.IsInf(*f, 0) || *f > math.MaxFloat32 {
			return nil, errors.New(`cfg.json: normalize_activations "expected_average_only_in" needs the dataset's scaling factor (norm_scaling_factor or scaling_factor, a positive number), which this file does not give: fold it into the weights (SAELens' fold_activation_norm_scaling_factor) and save the SAE again`)
		}
		scale = float32(*f)
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
	for _, n := range []string{cfg.HookName, cfg.HookPoint} {
		if name == "" {
			name = n
		}
	}
	if name == "" && cfg.Metadata != nil {
		name = cfg.Metadata.HookName
	}
	if name == "" {
		return nil, errors.New("cfg.json names no hook (hook_name or hook_point): " + GiveHook)
	}
	h, err := hookname.Parse(name, 0)
	if err != nil {
		return nil, fmt.Errorf("cfg.json: %w", err)
	}
	var out *hookname.Hook
	if transcoder {
		outName := cfg.HookNameOut
		if outName == "" && cfg.Metadata != nil {
			outName = cfg.Metadata.HookNameOut
		}
		if outName == "" {
			outName = known.hookOut
		}
		if outName == "" {
			return nil, errors.New("cfg.json: a transcoder needs hook_name_out (the hook its output replaces)")
		}
		o, err := hookname.Parse(outName, 0)
		if err != nil {
			return nil, fmt.Errorf("cfg.json: hook_name_out: %w", err)
		}
		if o.Layer != h.Layer || o.Order() <= h.Order() {
			return nil, fmt.Errorf("cfg.json: a transcoder reading %s must write a later hook of the same block, not %s", h, o)
		}
		out = &o
	}
	reshapeZ := cfg.ReshapeActivations != nil && *cfg.ReshapeActivations == "hook_z"
	if cfg.ReshapeActivations != nil && *cfg.ReshapeActivations != "" && *cfg.ReshapeActivations != "none" && !reshapeZ {
		return nil, fmt.Errorf("cfg.json: reshape_activations %q not supported (none, hook_z)", *cfg.ReshapeActivations)
	}
	if h.Point == hookname.AttnZ && !reshapeZ && cfg.ReshapeActivations != nil {
		return nil, errors.New(`cfg.json: an SAE on attn.hook_z reads the heads flattened: reshape_activations must be "hook_z"`)
	}
	f, err := safetensors.Open(filepath.Join(dir, "sae_weights.safetensors"))
	if err != nil {
		return nil, err
	}
	s := &SAE{Format: FormatSAELens, Hook: h, OutHook: out, ApplyBDecToInput: true, ModelName: cfg.ModelName, Uncentred: uncentred, closer: f,
		Arch: arch, K: k, Norm: norm, InputScale: scale, Transcoder: transcoder, NeuronpediaID: cfg.NeuronpediaID}
	if cfg.Metadata != nil {
		if s.ModelName == "" {
			s.ModelName = cfg.Metadata.ModelName
		}
		if s.NeuronpediaID == "" {
			s.NeuronpediaID = cfg.Metadata.NeuronpediaID
		}
		if cfg.PrependBOS == nil {
			cfg.PrependBOS = cfg.Metadata.PrependBOS
		}
	}
	if cfg.PrependBOS != nil {
		s.NoBOS = !*cfg.PrependBOS
	}
	if transcoder {
		s.ApplyBDecToInput = false
	}
	if cfg.ApplyBDecToInput != nil {
		s.ApplyBDecToInput = *cfg.ApplyBDecToInput
	}
	if transcoder && s.ApplyBDecToInput {
		f.Close()
		return nil, errors.New("cfg.json: apply_b_dec_to_input true for a transcoder (its b_dec is an output bias, of another hook)")
	}
	if err := s.assign(f, &cfg); err != nil {
		f.Close()
		return nil, err
	}
	if cfg.DIn != 0 && cfg.DIn != s.DIn || cfg.DSae != 0 && cfg.DSae != s.DSae {
		f.Close()
		return nil, fmt.Errorf("cfg.json says d_in %d, d_sae %d but the weights are %dx%d", cfg.DIn, cfg.DSae, s.DIn, s.DSae)
	}
	if transcoder && cfg.DOut != 0 && cfg.DOut != s.OutDim() {
		f.Close()
		return nil, fmt.Errorf("cfg.json says d_out %d but W_dec is %v", cfg.DOut, s.WDec.Shape)
	}
	if scale != 1 {
		s.foldInputScale()
	}
	return s, nil
}

// foldInputScale folds expected_average_only_in's constant c into the
// encoder, as SAELens' fold_activation_norm_scaling_factor does: the SAE
// saw c·x, so W_enc ← c·W_enc and (with b_dec applied to the input)
// b_dec ← b_dec·c on the input side only; its reconstruction x̂/c is
// f·(W_dec/c) + b_dec/c. The tensors are copied (they may alias a
// read-only mapping).
func (s *SAE) foldInputScale() {
	c := float64(s.InputScale)
	mul := func(t weights.Tensor, by float64) weights.Tensor {
		o := clone(t)
		for i, v := range o.Data {
			o.Data[i] = float32(float64(v) * by)
		}
		return o
	}
	s.WEnc = mul(s.WEnc, c)
	s.WDec = mul(s.WDec, 1/c)
	s.BDec = mul(s.BDec, 1/c)
}

// maxConfigBytes bounds cfg.json (SAELens' are a few KB).
const maxConfigBytes = 1 << 20

// assign picks an SAE's tensors out of a state dict (W_enc, W_dec, b_dec,
// and b_enc, threshold or b_gate/b_mag/r_mag as its family needs), checks
// that their shapes agree, and only then decodes them (nothing else in the
// file is read) and checks that they are finite.
func (s *SAE) assign(r weights.Reader, cfg *saelensConfig) error {
	want := []string{"W_enc", "W_dec", "b_dec"}
	switch s.Arch {
	case Gated:
		want = append(want, "b_gate", "b_mag", "r_mag")
	case JumpReLU:
		want = append(want, "b_enc")
		if _, ok := r.Shape("log_threshold"); ok {
			want = append(want, "log_threshold")
		} else {
			want = append(want, "threshold")
		}
	default:
		want = append(want, "b_enc")
	}
	shapes, err := shapesOf(r, want)
	if err != nil {
		return fmt.Errorf("a %s SAE: %w", s.Arch, err)
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
	s.DOut = 0
	if dec := shapes["W_dec"]; s.Transcoder && len(dec) == 2 {
		s.DOut = dec[1]
	}
	if s.Arch == TopK && s.K > s.DSae {
		return fmt.Errorf("k %d is more than the SAE's %d features", s.K, s.DSae)
	}
	checks := []struct {
		name  string
		shape []int
	}{
		{"W_dec", []int{s.DSae, s.OutDim()}},
		{"b_dec", []int{s.OutDim()}},
	}
	for _, k := range want[3:] {
		checks = append(checks, struct {
			name  string
			shape []int
		}{k, []int{s.DSae}})
	}
	for _, c := range checks {
		if err := (weights.Tensor{Shape: shapes[c.name]}).CheckShape(c.name, c.shape...); err != nil {
			return fmt.Errorf("%w (W_enc is %v)", err, enc)
		}
	}
	get := func(name string) (weights.Tensor, error) {
		t, err := r.Float32(name)
		if err != nil {
			return t, err
		}
		return t, t.CheckFinite(name)
	}
	dsts := map[string]*weights.Tensor{"W_enc": &s.WEnc, "W_dec": &s.WDec, "b_dec": &s.BDec, "b_enc": &s.BEnc,
		"threshold": &s.Threshold, "b_gate": &s.BGate, "b_mag": &s.BMag, "r_mag": &s.RMag}
	for _, k := range want {
		t, err := get(k)
		if err != nil {
			return err
		}
		if k == "log_threshold" {
			th := weights.Tensor{Shape: t.Shape, Data: make([]float32, len(t.Data))}
			for i, v := range t.Data {
				th.Data[i] = float32(math.Exp(float64(v)))
			}
			s.Threshold = th
			continue
		}
		*dsts[k] = t
	}
	if s.Arch == Gated {
		s.BEnc = weights.Tensor{Shape: []int{s.DSae}, Data: make([]float32, s.DSae)}
	}
	return nil
}

// shapesOf returns the shapes of the tensors names of r, without reading
// them, or an error naming those the file lacks (and what it has).
func shapesOf(r weights.Reader, names []string) (map[string][]int, error) {
	shapes := map[string][]int{}
	var missing []string
	for _, k := range names {
		sh, ok := r.Shape(k)
		if !ok {
			missing = append(missing, k)
		}
		shapes[k] = sh
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s (the file has %s)", strings.Join(missing, ", "), strings.Join(r.FloatNames(), ", "))
	}
	return shapes, nil
}
