package sae

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/saescope/saescope/internal/regularfile"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/safetensors"
)

// FormatDunefsky is a folder of jacobdunefsky/transcoder_circuits
// (jacobdunefsky/gpt2small-transcoders): sae.json, the training config,
// and sae.safetensors, the state dict.
const FormatDunefsky Format = "dunefsky"

// The files of a transcoder_circuits folder.
const (
	dunefskyConfigFile  = "sae.json"
	dunefskyWeightsFile = "sae.safetensors"
)

// dunefskyConfig holds the sae.json keys SAE Scope reads: those of
// transcoder_circuits' LanguageModelSAERunnerConfig (hook_point,
// out_hook_point, is_transcoder, d_in, d_out, d_sae = d_in ·
// expansion_factor), and SAELens' names for the same where an export uses
// them (hook_name, hook_name_out, dict_size).
type dunefskyConfig struct {
	HookPoint          string   `json:"hook_point"`
	HookName           string   `json:"hook_name"`
	HookPointHeadIndex *int     `json:"hook_point_head_index"`
	OutHookPoint       string   `json:"out_hook_point"`
	HookNameOut        string   `json:"hook_name_out"`
	IsTranscoder       *bool    `json:"is_transcoder"`
	DIn                int      `json:"d_in"`
	DOut               *int     `json:"d_out"`
	DSae               int      `json:"d_sae"`
	DictSize           int      `json:"dict_size"`
	ExpansionFactor    *float64 `json:"expansion_factor"`
	ModelName          string   `json:"model_name"`
	NeuronpediaID      string   `json:"neuronpedia_id"`
	// ApplyBDecToInput false says that b_dec is the output bias and
	// nothing is subtracted from the input (an export without b_dec_out).
	ApplyBDecToInput *bool `json:"apply_b_dec_to_input"`
}

// isDunefskyFolder says whether dir is a transcoder_circuits folder: it
// has sae.json and no SAELens cfg.json.
func isDunefskyFolder(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "cfg.json")); err == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, dunefskyConfigFile))
	return err == nil
}

// loadDunefsky reads a transcoder_circuits folder. Its forward
// (sae_training/sparse_autoencoder.py, SparseAutoencoder.forward) is
//
//	f = ReLU((x − b_dec)·W_enc + b_enc)
//	out = f·W_dec + b_dec_out   (a transcoder; b_dec for an SAE)
//
// so a transcoder subtracts one bias from its input (b_dec, [d_in]) and
// adds another to its output (b_dec_out, [d_out]). The SAE struct has one
// b_dec, used on both sides when ApplyBDecToInput is set; a transcoder's
// input-side b_dec is therefore folded into the encoder bias, in float64:
// b_enc' = b_enc − b_dec·W_enc, and BDec holds b_dec_out. The features are
// the same (up to float32 rounding of b_enc'). hook, when not empty,
// overrides the hook sae.json names.
func loadDunefsky(dir, hook string) (*SAE, error) {
	raw, err := regularfile.ReadFile(filepath.Join(dir, dunefskyConfigFile), maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("transcoder_circuits folder: %w", err)
	}
	var cfg dunefskyConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", dunefskyConfigFile, err)
	}
	if cfg.HookPointHeadIndex != nil {
		return nil, fmt.Errorf("%s: hook_point_head_index %d: per-head SAEs are not supported", dunefskyConfigFile, *cfg.HookPointHeadIndex)
	}
	name := hook
	for _, n := range []string{cfg.HookPoint, cfg.HookName} {
		if name == "" {
			name = n
		}
	}
	if name == "" {
		return nil, fmt.Errorf("%s names no hook (hook_point): %s", dunefskyConfigFile, GiveHook)
	}
	h, err := hookname.Parse(name, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: hook_point: %w", dunefskyConfigFile, err)
	}
	outName := cfg.OutHookPoint
	if outName == "" {
		outName = cfg.HookNameOut
	}
	transcoder := outName != ""
	if cfg.IsTranscoder != nil && *cfg.IsTranscoder != transcoder {
		if *cfg.IsTranscoder {
			return nil, fmt.Errorf("%s: is_transcoder true but no out_hook_point (the hook its output replaces)", dunefskyConfigFile)
		}
		return nil, fmt.Errorf("%s: is_transcoder false but out_hook_point %q", dunefskyConfigFile, outName)
	}
	var out *hookname.Hook
	if transcoder {
		o, err := hookname.Parse(outName, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: out_hook_point: %w", dunefskyConfigFile, err)
		}
		if o.Layer != h.Layer || o.Order() <= h.Order() {
			return nil, fmt.Errorf("%s: a transcoder reading %s must write a later hook of the same block, not %s", dunefskyConfigFile, h, o)
		}
		out = &o
	}

	f, err := safetensors.Open(filepath.Join(dir, dunefskyWeightsFile))
	if err != nil {
		return nil, err
	}
	s, err := dunefskyTensors(f, &cfg, transcoder)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", dunefskyWeightsFile, err)
	}
	s.Format, s.Hook, s.OutHook, s.Transcoder = FormatDunefsky, h, out, transcoder
	s.Arch, s.Norm, s.InputScale = Standard, NormNone, 1
	s.ModelName, s.NeuronpediaID = cfg.ModelName, cfg.NeuronpediaID
	s.closer = f
	return s, nil
}

// dunefskyTensors checks the state dict's names and shapes against each
// other and sae.json, decodes the tensors and, for a transcoder, folds the
// input-side b_dec into b_enc (see loadDunefsky).
func dunefskyTensors(r weights.Reader, cfg *dunefskyConfig, transcoder bool) (*SAE, error) {
	want := []string{"W_enc", "b_enc", "W_dec", "b_dec"}
	// inputBias: b_dec is subtracted from the input (and b_dec_out, for a
	// transcoder, is the output's bias).
	inputBias := true
	if transcoder {
		if _, ok := r.Shape("b_dec_out"); ok {
			want = append(want, "b_dec_out")
		} else if cfg.ApplyBDecToInput != nil && !*cfg.ApplyBDecToInput {
			inputBias = false // b_dec is the output bias
		} else {
			return nil, fmt.Errorf("a transcoder without b_dec_out (its output bias; the file has %s): say apply_b_dec_to_input false in %s if its b_dec is the output's bias",
				strings.Join(r.FloatNames(), ", "), dunefskyConfigFile)
		}
	} else if cfg.ApplyBDecToInput != nil && !*cfg.ApplyBDecToInput {
		inputBias = false
	}
	shapes, err := shapesOf(r, want)
	if err != nil {
		return nil, err
	}
	enc := shapes["W_enc"]
	if len(enc) != 2 || enc[0] <= 0 || enc[1] <= 0 {
		//lint:ignore ST1005 W_enc is the tensor's name
		return nil, fmt.Errorf("W_enc has shape %v, want [d_in, d_sae]", enc)
	}
	dIn, dSae := enc[0], enc[1]
	dec := shapes["W_dec"]
	if len(dec) != 2 || dec[0] != dSae || dec[1] <= 0 {
		//lint:ignore ST1005 W_dec is the tensor's name
		return nil, fmt.Errorf("W_dec has shape %v, want [d_sae %d, d_out] (W_enc is %v)", dec, dSae, enc)
	}
	dOut := dec[1]
	if !transcoder && dOut != dIn {
		//lint:ignore ST1005 W_dec is the tensor's name
		return nil, fmt.Errorf("W_dec has shape %v but an SAE (no out_hook_point) writes d_in %d values", dec, dIn)
	}
	outBias := "b_dec"
	if transcoder && inputBias {
		outBias = "b_dec_out"
	}
	checks := map[string]int{"b_enc": dSae, outBias: dOut}
	if inputBias {
		checks["b_dec"] = dIn
	}
	for k, n := range checks {
		if err := (weights.Tensor{Shape: shapes[k]}).CheckShape(k, n); err != nil {
			return nil, fmt.Errorf("%w (W_enc is %v, W_dec %v)", err, enc, dec)
		}
	}
	if cfg.DIn != 0 && cfg.DIn != dIn {
		return nil, fmt.Errorf("%s says d_in %d but W_enc is %v", dunefskyConfigFile, cfg.DIn, enc)
	}
	for _, c := range []struct {
		key string
		n   int
	}{{"d_sae", cfg.DSae}, {"dict_size", cfg.DictSize}} {
		if c.n != 0 && c.n != dSae {
			return nil, fmt.Errorf("%s says %s %d but W_enc is %v", dunefskyConfigFile, c.key, c.n, enc)
		}
	}
	if ef := cfg.ExpansionFactor; ef != nil && cfg.DSae == 0 && cfg.DictSize == 0 && *ef*float64(dIn) != float64(dSae) {
		return nil, fmt.Errorf("%s says expansion_factor %g (d_sae %g) but W_enc is %v", dunefskyConfigFile, *ef, *ef*float64(dIn), enc)
	}
	if cfg.DOut != nil && *cfg.DOut != 0 && *cfg.DOut != dOut {
		return nil, fmt.Errorf("%s says d_out %d but W_dec is %v", dunefskyConfigFile, *cfg.DOut, dec)
	}

	get := func(name string) (weights.Tensor, error) {
		t, err := r.Float32(name)
		if err != nil {
			return t, err
		}
		return t, t.CheckFinite(name)
	}
	s := &SAE{DIn: dIn, DSae: dSae, ApplyBDecToInput: inputBias && !transcoder}
	if s.WEnc, err = get("W_enc"); err != nil {
		return nil, err
	}
	if s.WDec, err = get("W_dec"); err != nil {
		return nil, err
	}
	if s.BEnc, err = get("b_enc"); err != nil {
		return nil, err
	}
	if s.BDec, err = get(outBias); err != nil {
		return nil, err
	}
	if transcoder {
		s.DOut = dOut
		if inputBias {
			bIn, err := get("b_dec")
			if err != nil {
				return nil, err
			}
			if s.BEnc, err = foldInputBias(s.WEnc, s.BEnc, bIn); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// foldInputBias returns b_enc − b·W_enc (W_enc [d_in, d_sae], b [d_in]),
// summed in float64, as a new tensor.
func foldInputBias(wEnc, bEnc, b weights.Tensor) (weights.Tensor, error) {
	dIn, dSae := wEnc.Shape[0], wEnc.Shape[1]
	acc := make([]float64, dSae)
	for j, v := range bEnc.Data {
		acc[j] = float64(v)
	}
	for i := range dIn {
		bi := float64(b.Data[i])
		if bi == 0 {
			continue
		}
		row := wEnc.Data[i*dSae : (i+1)*dSae]
		for j, w := range row {
			acc[j] -= bi * float64(w)
		}
	}
	out := weights.Tensor{Shape: []int{dSae}, Data: make([]float32, dSae)}
	for j, v := range acc {
		out.Data[j] = float32(v)
	}
	if err := out.CheckFinite("b_enc − b_dec·W_enc"); err != nil {
		return out, errors.New("folding b_dec into b_enc overflows float32: " + err.Error())
	}
	return out, nil
}
