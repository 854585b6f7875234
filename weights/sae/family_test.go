package sae

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights/hookname"
)

const v2Dir = "../../testdata/fixtures/v2"

// Every SAE of the second fixture set opens with its family, hooks and
// widths as the fixtures' README describes them.
func TestLoadFamilies(t *testing.T) {
	cases := []struct {
		file, hook string
		arch       Architecture
		k          int
		norm       Normalization
		in, out    string
		transcoder bool
		noBOS      bool
		format     Format
	}{
		{"saelens-topk-hook_resid_post-1", "", TopK, 8, NormLayerNorm, "blocks.1.hook_resid_post", "blocks.1.hook_resid_post", false, false, FormatSAELens},
		{"oai-topk8-hook_resid_post-0.pt", "blocks.0.hook_resid_post", TopK, 8, NormLayerNorm, "blocks.0.hook_resid_post", "blocks.0.hook_resid_post", false, true, FormatOpenAI},
		{"saelens-jumprelu-hook_mlp_out-0", "", JumpReLU, 0, NormNone, "blocks.0.hook_mlp_out", "blocks.0.hook_mlp_out", false, false, FormatSAELens},
		{"saelens-gated-hook_resid_pre-1", "", Gated, 0, NormNone, "blocks.1.hook_resid_pre", "blocks.1.hook_resid_pre", false, false, FormatSAELens},
		{"saelens-attn-hook_z-1", "", Standard, 0, NormNone, "blocks.1.attn.hook_z", "blocks.1.attn.hook_z", false, false, FormatSAELens},
		{"saelens-transcoder-mlp-0", "", Standard, 0, NormNone, "blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out", true, false, FormatSAELens},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			s, err := Load(filepath.Join(v2Dir, c.file), c.hook)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Arch != c.arch || s.K != c.k || s.Norm != c.norm || s.Transcoder != c.transcoder || s.NoBOS != c.noBOS || s.Format != c.format {
				t.Errorf("arch %s k %d norm %s transcoder %v noBOS %v format %s", s.Arch, s.K, s.Norm, s.Transcoder, s.NoBOS, s.Format)
			}
			if s.Hook.String() != c.in || s.Output().String() != c.out {
				t.Errorf("reads %s writes %s", s.Hook, s.Output())
			}
			if s.DIn != 32 || s.DSae != 128 || s.OutDim() != 32 {
				t.Errorf("d_in %d d_sae %d d_out %d", s.DIn, s.DSae, s.OutDim())
			}
			if err := s.CheckModel(32, 128, 2); err != nil {
				t.Error(err)
			}
			if s.Transcoder && s.ApplyBDecToInput {
				t.Error("a transcoder applies b_dec to its input")
			}
			switch s.Arch {
			case JumpReLU:
				if len(s.Threshold.Data) != 128 {
					t.Errorf("threshold of %d values", len(s.Threshold.Data))
				}
			case Gated:
				if len(s.BGate.Data) != 128 || len(s.BMag.Data) != 128 || len(s.RMag.Data) != 128 || len(s.BEnc.Data) != 128 {
					t.Error("gated tensors missing")
				}
			}
			if d := s.Describe(); d == "" {
				t.Error("no description")
			}
		})
	}
}

// OpenAI's raw file: W_enc and W_dec are the transposes of encoder.weight
// and decoder.weight; without a hook it is refused, saying to give one.
func TestOpenAIRawFile(t *testing.T) {
	p := filepath.Join(v2Dir, "oai-topk8-hook_resid_post-0.pt")
	if _, err := Load(p, ""); err == nil || !strings.Contains(err.Error(), "does not say its hook") {
		t.Fatalf("no hook: %v", err)
	}
	s, err := Load(p, "blocks.0.hook_resid_post")
	if err != nil {
		t.Fatal(err)
	}
	if s.WEnc.Shape[0] != 32 || s.WEnc.Shape[1] != 128 || s.WDec.Shape[0] != 128 || s.WDec.Shape[1] != 32 {
		t.Fatalf("shapes %v %v", s.WEnc.Shape, s.WDec.Shape)
	}
	if !strings.Contains(s.Describe(), "TopK (k = 8)") || !strings.Contains(s.Describe(), "layer_norm") {
		t.Errorf("describe %q", s.Describe())
	}
}

// FoldDecoderNorm leaves unit decoder rows and every reconstruction as it
// was, and scales each feature's activation by its old decoder norm; a
// TopK SAE is refused.
func TestFoldDecoderNorm(t *testing.T) {
	s := Random(8, 16, hookname.Hook{Layer: 0, Point: hookname.ResidPre}, 0.1, 3)
	for f := 0; f < 16; f++ { // decoder rows of varied norms
		for j := 0; j < 8; j++ {
			s.WDec.Data[f*8+j] *= float32(1 + f)
		}
	}
	x := []float64{0.3, -1, 2, 0.5, -0.2, 1.5, 0, -0.7}
	encode := func(s *SAE) []float64 { return hostEncode(s, x) }
	decode := hostDecode
	before := encode(s)
	recon := decode(s, before)
	norms := make([]float64, 16)
	for f := range norms {
		for j := 0; j < 8; j++ {
			norms[f] += float64(s.WDec.Data[f*8+j]) * float64(s.WDec.Data[f*8+j])
		}
		norms[f] = math.Sqrt(norms[f])
	}
	if err := s.FoldDecoderNorm(); err != nil {
		t.Fatal(err)
	}
	after := encode(s)
	for f := range after {
		if math.Abs(after[f]-before[f]*norms[f]) > 1e-4*math.Max(1, after[f]) {
			t.Errorf("feature %d: %g, want %g·%g", f, after[f], before[f], norms[f])
		}
		var n float64
		for j := 0; j < 8; j++ {
			n += float64(s.WDec.Data[f*8+j]) * float64(s.WDec.Data[f*8+j])
		}
		if math.Abs(math.Sqrt(n)-1) > 1e-5 {
			t.Errorf("decoder row %d has norm %g", f, math.Sqrt(n))
		}
	}
	for j, v := range decode(s, after) {
		if math.Abs(v-recon[j]) > 1e-4 {
			t.Errorf("reconstruction[%d] %g, was %g", j, v, recon[j])
		}
	}
	s.FoldedDecoderNorm, s.Arch, s.K = false, TopK, 2
	if err := s.FoldDecoderNorm(); err == nil {
		t.Error("a TopK SAE folded")
	}
}

// expected_average_only_in with its factor: the factor is folded into the
// weights, so encoding the raw activation gives the features of c·x and
// the reconstruction comes back at the raw scale.
func TestExpectedAverageFolded(t *testing.T) {
	ts := randomTensors(32, 64)
	for i := range ts["b_dec"].Data {
		ts["b_dec"].Data[i] = float32(i) * 0.01
	}
	plain, err := Load(writeSAELens(t, map[string]any{"d_in": 32, "d_sae": 64, "hook_name": "blocks.0.hook_resid_pre"}, ts), "")
	if err != nil {
		t.Fatal(err)
	}
	const c = 2.5
	scaled, err := Load(writeSAELens(t, map[string]any{"d_in": 32, "d_sae": 64, "hook_name": "blocks.0.hook_resid_pre",
		"normalize_activations": "expected_average_only_in", "norm_scaling_factor": c}, ts), "")
	if err != nil {
		t.Fatal(err)
	}
	if scaled.InputScale != c || !strings.Contains(scaled.Describe(), "expected_average_only_in (×2.5 folded in)") {
		t.Errorf("scale %g, %q", scaled.InputScale, scaled.Describe())
	}
	x := make([]float64, 32)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	enc, dec := hostEncode, hostDecode
	cx := make([]float64, 32)
	for i, v := range x {
		cx[i] = c * v
	}
	want, got := enc(plain, cx), enc(scaled, x)
	for g := range want {
		if math.Abs(want[g]-got[g]) > 1e-4 {
			t.Fatalf("feature %d: %g, want %g", g, got[g], want[g])
		}
	}
	wantR, gotR := dec(plain, want), dec(scaled, got)
	for j := range wantR {
		if math.Abs(wantR[j]/c-gotR[j]) > 1e-4 {
			t.Fatalf("reconstruction %d: %g, want %g", j, gotR[j], wantR[j]/c)
		}
	}
}

// What the catalogue knows reaches an SAE fetched from it: the
// norm_scaling_factor SAELens keeps in its release list (mlp-tm), a
// transcoder's output hook left out of cfg.json, prepend_bos false.
func TestCatalogHints(t *testing.T) {
	dir := writeSAELens(t, map[string]any{"d_in": 32, "d_sae": 64, "hook_name": "blocks.0.ln2.hook_normalized", "apply_b_dec_to_input": false}, randomTensors(32, 64))
	s, err := loadSAELens(dir, "", catalogHints{hookOut: "blocks.0.hook_mlp_out", noBOS: true})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Transcoder || s.Output().String() != "blocks.0.hook_mlp_out" {
		t.Errorf("transcoder %v writing %s", s.Transcoder, s.Output())
	}
	dir = writeSAELens(t, map[string]any{"d_in": 32, "d_sae": 64, "hook_name": "blocks.0.hook_mlp_out", "normalize_activations": "expected_average_only_in"}, randomTensors(32, 64))
	if _, err := loadSAELens(dir, "", catalogHints{}); err == nil {
		t.Fatal("expected_average_only_in without a factor loaded")
	}
	s, err = loadSAELens(dir, "", catalogHints{scale: 3.5})
	if err != nil {
		t.Fatal(err)
	}
	if s.InputScale != 3.5 {
		t.Errorf("scale %g, want the catalogue's 3.5", s.InputScale)
	}
}

// hostEncode is a standard SAE's encode in float64: ReLU((x − b_dec)·W_enc + b_enc).
func hostEncode(s *SAE, x []float64) []float64 {
	out := make([]float64, s.DSae)
	for f := range out {
		h := float64(s.BEnc.Data[f])
		for i, v := range x {
			h += (v - float64(s.BDec.Data[i])) * float64(s.WEnc.Data[i*s.DSae+f])
		}
		out[f] = math.Max(h, 0)
	}
	return out
}

// hostDecode is f·W_dec + b_dec in float64.
func hostDecode(s *SAE, f []float64) []float64 {
	out := make([]float64, s.DIn)
	for j := range out {
		out[j] = float64(s.BDec.Data[j])
		for g, v := range f {
			out[j] += v * float64(s.WDec.Data[g*s.DIn+j])
		}
	}
	return out
}
