package sae

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/hookname"
)

// Architecture says how an SAE turns its pre-activations
// h = (x − b_dec·[ApplyBDecToInput])·W_enc + b_enc into features.
type Architecture string

// The SAE families SAE Scope runs.
const (
	// Standard: f = ReLU(h).
	Standard Architecture = "standard"
	// TopK: the K largest entries of h, through ReLU; every other entry 0
	// (OpenAI's TopK SAEs, SAELens "topk").
	TopK Architecture = "topk"
	// JumpReLU: f = ReLU(h)·[h > threshold], a threshold per feature.
	JumpReLU Architecture = "jumprelu"
	// Gated: with x' = x − b_dec, f = [x'·W_enc + b_gate > 0] ·
	// ReLU(x'·(W_enc ⊙ exp(r_mag)) + b_mag); no b_enc.
	Gated Architecture = "gated"
)

// Normalization is what an SAE does to each token's activation before it
// encodes it, undone on its reconstruction.
type Normalization string

// The normalisations SAELens writes in normalize_activations.
const (
	// NormNone leaves the activation as it is.
	NormNone Normalization = "none"
	// NormLayerNorm: x̂ = (x − μ)/(σ + 1e-5), σ the unbiased standard
	// deviation over the token's values; the output is rescaled ·σ + μ.
	NormLayerNorm Normalization = "layer_norm"
	// NormConstantRescale: x̂ = x·√d_in/‖x‖, undone on the output.
	NormConstantRescale Normalization = "constant_norm_rescale"
	// NormExpectedAverage scales every activation by one constant (the
	// dataset's √d_in / mean ‖x‖); SAE Scope folds it into the weights at
	// load (InputScale), so the encoder sees the raw activation.
	NormExpectedAverage Normalization = "expected_average_only_in"
)

// LayerNormEps is the ε of the layer_norm normalisation.
const LayerNormEps = 1e-5

// parseArchitecture reads SAELens' architecture and activation function
// (activation_fn_str or activation_fn, with activation_fn_kwargs.k for
// TopK). A transcoder is a Standard SAE that writes elsewhere.
func parseArchitecture(arch *string, actFn []*string, kwargs map[string]json.RawMessage, dSae int) (Architecture, int, bool, error) {
	a := "standard"
	if arch != nil && *arch != "" {
		a = strings.ToLower(*arch)
	}
	act := ""
	for _, s := range actFn {
		if s != nil && *s != "" {
			act = strings.ToLower(*s)
		}
	}
	transcoder := false
	var out Architecture
	switch a {
	case "standard", "relu":
		out = Standard
	case "transcoder", "skip_transcoder":
		if a == "skip_transcoder" {
			return "", 0, false, fmt.Errorf("architecture %q (a transcoder with a skip connection) not supported", a)
		}
		out, transcoder = Standard, true
	case "topk", "batchtopk":
		out = TopK
	case "jumprelu":
		out = JumpReLU
	case "gated":
		out = Gated
	default:
		return "", 0, false, fmt.Errorf("architecture %q not supported (standard, topk, batchtopk, jumprelu, gated, transcoder)", a)
	}
	switch act {
	case "", "relu":
	case "topk":
		if out != Standard && out != TopK {
			return "", 0, false, fmt.Errorf("activation function %q with architecture %q", act, a)
		}
		out = TopK
	default:
		return "", 0, false, fmt.Errorf("activation function %q not supported (relu, or topk with activation_fn_kwargs.k)", act)
	}
	k := 0
	if out == TopK {
		raw, ok := kwargs["k"]
		if !ok {
			return "", 0, false, fmt.Errorf("a TopK SAE needs activation_fn_kwargs.k (the number of features kept per token)")
		}
		var kf float64
		if err := json.Unmarshal(raw, &kf); err != nil || kf != float64(int(kf)) {
			return "", 0, false, fmt.Errorf("activation_fn_kwargs.k %s is not a whole number", string(raw))
		}
		k = int(kf)
		if k < 1 || k > dSae {
			return "", 0, false, fmt.Errorf("activation_fn_kwargs.k %d out of range: it must be between 1 and d_sae (%d)", k, dSae)
		}
	}
	return out, k, transcoder, nil
}

// parseNormalization reads normalize_activations: a string, the old
// boolean form (false: none; true: expected_average_only_in), or null.
func parseNormalization(raw *json.RawMessage) (Normalization, error) {
	if raw == nil {
		return NormNone, nil
	}
	var v any
	if err := json.Unmarshal(*raw, &v); err != nil {
		return "", fmt.Errorf("normalize_activations: %w", err)
	}
	switch v := v.(type) {
	case nil:
		return NormNone, nil
	case bool:
		if v {
			return NormExpectedAverage, nil
		}
		return NormNone, nil
	case string:
		switch n := Normalization(strings.ToLower(v)); n {
		case "", NormNone:
			return NormNone, nil
		case NormLayerNorm, NormConstantRescale, NormExpectedAverage:
			return n, nil
		}
	}
	return "", fmt.Errorf("normalize_activations %s not supported (none, layer_norm, constant_norm_rescale, expected_average_only_in)", string(*raw))
}

// Describe is a short account of the SAE's family for headers and reports:
// "TopK (k = 32), layer_norm", "JumpReLU", "transcoder ln2.hook_normalized → hook_mlp_out".
func (s *SAE) Describe() string {
	var parts []string
	switch s.Arch {
	case TopK:
		parts = append(parts, fmt.Sprintf("TopK (k = %d)", s.K))
	case JumpReLU:
		parts = append(parts, "JumpReLU")
	case Gated:
		parts = append(parts, "Gated")
	default:
		parts = append(parts, "ReLU")
	}
	if s.Hook.Point == hookname.AttnZ {
		parts = append(parts, "attention heads (hook_z)")
	}
	if s.Transcoder {
		parts = append(parts, fmt.Sprintf("transcoder %s → %s", s.Hook.Point, s.Output().Point))
	}
	if s.Norm != "" && s.Norm != NormNone {
		n := string(s.Norm)
		if s.Norm == NormExpectedAverage {
			n += fmt.Sprintf(" (×%g folded in)", s.InputScale)
		}
		parts = append(parts, n)
	}
	if s.FoldedDecoderNorm {
		parts = append(parts, "W_dec norms folded")
	}
	return strings.Join(parts, ", ")
}

// FoldDecoderNorm rescales the SAE so that every decoder row has unit norm
// without changing its reconstruction, as SAELens' fold_W_dec_norm does:
// W_dec[f] /= n_f, W_enc[:, f] *= n_f, b_enc[f] *= n_f (and, for JumpReLU,
// threshold[f] *= n_f; for Gated, b_gate and b_mag too). Feature f's
// activation is then n_f times what it was, the scale Neuronpedia shows
// for SAEs trained without unit-norm decoders. The tensors are copied
// first (they may alias a read-only file mapping). A TopK SAE is refused:
// rescaling its pre-activations changes which k features win.
func (s *SAE) FoldDecoderNorm() error {
	if s.FoldedDecoderNorm {
		return nil
	}
	if s.Arch == TopK {
		return fmt.Errorf("SAE %s: folding the decoder norms into a TopK SAE would change which features are kept; not done", s.Path)
	}
	d := s.OutDim()
	norms := make([]float64, s.DSae)
	for f := range norms {
		var ss float64
		for _, v := range s.WDec.Data[f*d : (f+1)*d] {
			ss += float64(v) * float64(v)
		}
		norms[f] = math.Sqrt(ss)
	}
	wdec := clone(s.WDec)
	for f, n := range norms {
		if n == 0 {
			continue
		}
		row := wdec.Data[f*d : (f+1)*d]
		for j := range row {
			row[j] = float32(float64(row[j]) / n)
		}
	}
	wenc := clone(s.WEnc)
	for i := 0; i < s.DIn; i++ {
		row := wenc.Data[i*s.DSae : (i+1)*s.DSae]
		for f, n := range norms {
			if n != 0 {
				row[f] = float32(float64(row[f]) * n)
			}
		}
	}
	scale := func(t weights.Tensor) weights.Tensor {
		if t.Data == nil {
			return t
		}
		c := clone(t)
		for f, n := range norms {
			if n != 0 {
				c.Data[f] = float32(float64(c.Data[f]) * n)
			}
		}
		return c
	}
	s.WDec, s.WEnc = wdec, wenc
	s.BEnc = scale(s.BEnc)
	s.Threshold = scale(s.Threshold)
	s.BGate = scale(s.BGate)
	s.BMag = scale(s.BMag)
	s.FoldedDecoderNorm = true
	return nil
}

func clone(t weights.Tensor) weights.Tensor {
	return weights.Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}
