package perf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/tokenizer"
)

// PatchReport is the timing of exact feature patching.
type PatchReport struct {
	Backend  string  `json:"backend"`
	Hook     string  `json:"hook"`
	DSae     int     `json:"d_sae"`
	Tokens   int     `json:"tokens"`
	Active   int     `json:"active_features"`
	Seconds  float64 `json:"patch_seconds"`
	PerFeatS float64 `json:"seconds_per_feature"`
}

// Patch times intervene.PatchEffects on full-size random GPT-2 small: a
// random SAE of dSae features at hook, calibrated to fire about l0
// features per token, every feature active in either of two random
// prompts of seq tokens (BOS first) patched from one into the other.
func Patch(ctx context.Context, be compute.Backend, hook string, dSae, seq int, l0 float64, progress func(string)) (*PatchReport, error) {
	cfg := gpt2.SmallConfig()
	h, m, err := randomModel(be, hook, progress)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	prompt := func() []int32 {
		p := make([]int32, seq)
		p[0] = tokenizer.BOS
		for i := 1; i < seq; i++ {
			p[i] = int32(rng.IntN(cfg.VocabSize))
		}
		return p
	}
	clean, corrupt := prompt(), prompt()
	s := sae.Random(cfg.DModel, dSae, h, -0.5, 2)
	progress(fmt.Sprintf("calibrating the SAE to fire about %g features per token", l0))
	if err := CalibrateBias(ctx, m, s, append(append([]int32{}, clean...), corrupt...), 2, seq, l0); err != nil {
		return nil, err
	}
	enc, err := encoder.New(be, s)
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	progress("patching every active feature")
	t0 := time.Now()
	res, err := intervene.PatchEffects(ctx, m, enc, clean, corrupt, intervene.LogitDiff(13, 11), 16, nil)
	if err != nil {
		return nil, err
	}
	rep := &PatchReport{Backend: compute.Describe(be), Hook: h.String(), DSae: dSae, Tokens: seq, Active: res.Active, Seconds: time.Since(t0).Seconds()}
	if res.Active > 0 {
		rep.PerFeatS = rep.Seconds / float64(res.Active)
	}
	return rep, nil
}

// GenerateReport is the timing of steered generation.
type GenerateReport struct {
	Backend         string  `json:"backend"`
	Hook            string  `json:"hook"`
	Prompt          int     `json:"prompt_tokens"`
	Generated       int     `json:"generated_tokens"`
	Seconds         float64 `json:"seconds"`
	TokensPerSecond float64 `json:"generate_tokens_per_s"`
}

// Generate times greedy generation of n tokens after a random 32-token
// prompt on full-size random GPT-2 small, one feature of a random
// 6144-feature SAE at hook steered (added) at every position, with the
// key/value cache (intervene.Generate). The prompt's tokens are included
// in the time, as a generation from a typed prompt would be.
func Generate(ctx context.Context, be compute.Backend, hook string, n int, progress func(string)) (*GenerateReport, error) {
	cfg := gpt2.SmallConfig()
	h, m, err := randomModel(be, hook, progress)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	enc, err := encoder.New(be, sae.Random(cfg.DModel, 6144, h, -0.5, 2))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	patches, err := intervene.Patches([]intervene.Intervention{{Enc: enc, Feature: 7, Mode: intervene.Add, Coeff: 4}})
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(7, 8))
	prompt := make([]int32, 32)
	prompt[0] = tokenizer.BOS
	for i := 1; i < len(prompt); i++ {
		prompt[i] = int32(rng.IntN(cfg.VocabSize - 1)) // never <|endoftext|>
	}
	progress(fmt.Sprintf("generating %d tokens", n))
	t0 := time.Now()
	res, err := intervene.Greedy(ctx, m, prompt, n, model.Hooks{Patches: patches})
	if err != nil {
		return nil, err
	}
	rep := &GenerateReport{Backend: compute.Describe(be), Hook: h.String(), Prompt: len(prompt), Generated: len(res.Generated), Seconds: time.Since(t0).Seconds()}
	if rep.Seconds > 0 {
		rep.TokensPerSecond = float64(rep.Generated) / rep.Seconds
	}
	return rep, nil
}

// randomModel parses hook and builds full-size GPT-2 small with random
// weights on be, for the benchmarks of the causal tools.
func randomModel(be compute.Backend, hook string, progress func(string)) (hookname.Hook, *model.Model, error) {
	cfg := gpt2.SmallConfig()
	h, err := hookname.Parse(hook, cfg.NLayer)
	if err != nil {
		return h, nil, err
	}
	progress("building a random full-size GPT-2 small")
	m, err := model.New(be, gpt2.Random(cfg, 1))
	return h, m, err
}
