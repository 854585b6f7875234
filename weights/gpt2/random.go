package gpt2

import (
	"math/rand/v2"

	"github.com/saescope/saescope/weights"
)

// SmallConfig is GPT-2 small's configuration.
func SmallConfig() Config {
	return Config{VocabSize: 50257, NPositions: 1024, DModel: 768, NHead: 12, NLayer: 12,
		LayerNormEps: 1e-5, Activation: "gelu_new", ModelType: "gpt2"}
}

// Random returns a checkpoint of cfg's shape with Gaussian weights
// (std 0.02, GPT-2's initialisation), unit LayerNorm gains and zero biases,
// for benchmarks and tests of full-size models without downloads.
func Random(cfg Config, seed uint64) *Checkpoint {
	rng := rand.New(rand.NewPCG(seed, 0x5ae5c09e))
	d, m := cfg.DModel, cfg.DMLP()
	normal := func(shape ...int) weights.Tensor {
		t := weights.Tensor{Shape: shape, Data: make([]float32, weights.NumElements(shape))}
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64() * 0.02)
		}
		return t
	}
	fill := func(v float32, n int) weights.Tensor {
		t := weights.Tensor{Shape: []int{n}, Data: make([]float32, n)}
		for i := range t.Data {
			t.Data[i] = v
		}
		return t
	}
	ck := &Checkpoint{Config: cfg, WTE: normal(cfg.VocabSize, d), WPE: normal(cfg.NPositions, d),
		LNFW: fill(1, d), LNFB: fill(0, d), Layers: make([]Layer, cfg.NLayer)}
	for i := range ck.Layers {
		ck.Layers[i] = Layer{
			LN1W: fill(1, d), LN1B: fill(0, d),
			QKVW: normal(d, 3*d), QKVB: fill(0, 3*d),
			OW: normal(d, d), OB: fill(0, d),
			LN2W: fill(1, d), LN2B: fill(0, d),
			FCW: normal(d, m), FCB: fill(0, m),
			ProjW: normal(m, d), ProjB: fill(0, d),
		}
	}
	return ck
}

// StateDict returns the checkpoint's tensors under Hugging Face's names
// (without the transformer. prefix), e.g. to write a model.safetensors.
func (c *Checkpoint) StateDict() map[string]weights.Tensor {
	sd := map[string]weights.Tensor{"wte.weight": c.WTE, "wpe.weight": c.WPE, "ln_f.weight": c.LNFW, "ln_f.bias": c.LNFB}
	for i, L := range c.Layers {
		p := "h." + itoa(i) + "."
		sd[p+"ln_1.weight"], sd[p+"ln_1.bias"] = L.LN1W, L.LN1B
		sd[p+"attn.c_attn.weight"], sd[p+"attn.c_attn.bias"] = L.QKVW, L.QKVB
		sd[p+"attn.c_proj.weight"], sd[p+"attn.c_proj.bias"] = L.OW, L.OB
		sd[p+"ln_2.weight"], sd[p+"ln_2.bias"] = L.LN2W, L.LN2B
		sd[p+"mlp.c_fc.weight"], sd[p+"mlp.c_fc.bias"] = L.FCW, L.FCB
		sd[p+"mlp.c_proj.weight"], sd[p+"mlp.c_proj.bias"] = L.ProjW, L.ProjB
	}
	return sd
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
