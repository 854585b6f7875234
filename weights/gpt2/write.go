package gpt2

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saescope/saescope/internal/atomicfile"
	"github.com/saescope/saescope/weights/safetensors"
)

// hfConfig is config.json as Hugging Face's GPT2Config writes it, with the
// fields Load reads and those transformers needs to open the folder.
type hfConfig struct {
	ModelType     string   `json:"model_type"`
	NEmbd         int      `json:"n_embd"`
	NHead         int      `json:"n_head"`
	NLayer        int      `json:"n_layer"`
	NPositions    int      `json:"n_positions"`
	NCtx          int      `json:"n_ctx"`
	NInner        *int     `json:"n_inner"`
	VocabSize     int      `json:"vocab_size"`
	LayerNormEps  float64  `json:"layer_norm_epsilon"`
	Activation    string   `json:"activation_function"`
	BOSTokenID    int      `json:"bos_token_id"`
	EOSTokenID    int      `json:"eos_token_id"`
	Architectures []string `json:"architectures"`
}

// Write stores ck in dir (created if needed) as a Hugging Face GPT-2
// folder: config.json and model.safetensors (F32, names without the
// "transformer." prefix, the LM head tied to wte), which Load and
// transformers' GPT2LMHeadModel.from_pretrained open. meta goes into the
// safetensors header's __metadata__ (may be nil).
func Write(dir string, ck *Checkpoint, meta map[string]string) error {
	if err := ck.Config.Validate(); err != nil {
		return fmt.Errorf("write GPT-2 to %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write GPT-2: %w", err)
	}
	c := ck.Config
	eos := c.VocabSize - 1
	cfg := hfConfig{ModelType: "gpt2", NEmbd: c.DModel, NHead: c.NHead, NLayer: c.NLayer, NPositions: c.NPositions,
		NCtx: c.NPositions, NInner: c.NInner, VocabSize: c.VocabSize, LayerNormEps: c.LayerNormEps,
		Activation: c.Activation, BOSTokenID: eos, EOSTokenID: eos, Architectures: []string{"GPT2LMHeadModel"}}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("write GPT-2 config: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write GPT-2 config in %s: %w", dir, err)
	}
	if meta == nil {
		meta = map[string]string{}
	}
	if _, ok := meta["format"]; !ok {
		meta["format"] = "pt"
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ck.StateDict(), meta); err != nil {
		return fmt.Errorf("write GPT-2 weights in %s: %w", dir, err)
	}
	return nil
}
