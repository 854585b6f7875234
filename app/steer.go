package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
)

// runSteer generates from a prompt with and without an intervention on
// one feature, and prints both runs (and the KL divergence of their last
// prompt position's next-token distributions).
func runSteer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("steer", stderr)
	ef := addEngineFlags(fs, true)
	feature := fs.Int("feature", -1, "feature to intervene on")
	add := optFloat(fs, "add", "add C·W_dec[feature] at every position")
	clamp := optFloat(fs, "clamp", "clamp the feature to C at every position: x + (C − f(x))·W_dec[feature]")
	ablate := fs.Bool("ablate", false, "clamp the feature to 0 at every position")
	generate := fs.Int("generate", 0, "tokens to generate after the prompt")
	greedy := fs.Bool("greedy", false, "pick the most likely token (the default unless --temperature is given)")
	temperature := fs.Float64("temperature", 0, "sample with this temperature (0: greedy)")
	topP := fs.Float64("top-p", 1, "sample within the smallest set of tokens whose probability reaches this")
	seed := fs.Uint64("seed", 0, "seed of the sampler: the same seed gives the same text")
	logits := fs.Bool("logits", false, "print the logits of the prompt's last position (50257 numbers per run)")
	top := fs.Int("top", 10, "tokens in each list of the next-token view (top before and after, largest rises and falls)")
	pos := optInt(fs, "pos", "intervene only at this position of the sequence (0 is BOS; negative counts from the prompt's end, -1 its last token)")
	promptOnly := fs.Bool("prompt-only", false, "intervene only on the prompt's positions, not on the generated ones")
	e, rows, err := ef.start(fs, args, true)
	if err != nil {
		return err
	}
	defer e.Close()
	if len(rows) != 1 {
		return fmt.Errorf("steer takes one prompt, got %d rows", len(rows))
	}
	iv := intervene.Intervention{Enc: e.enc, Feature: *feature}
	n := 0
	if add.set {
		iv.Mode, iv.Coeff, n = intervene.Add, float32(add.v), n+1
	}
	if clamp.set {
		iv.Mode, iv.Coeff, n = intervene.Clamp, float32(clamp.v), n+1
	}
	if *ablate {
		iv.Mode, n = intervene.Ablate, n+1
	}
	if n != 1 {
		return errors.New("give one of --add C, --clamp C or --ablate")
	}
	if *generate == 0 {
		if err := refuseFlags(setFlags(fs), "it shapes the generated tokens, and --generate N is not given", "greedy", "temperature", "top-p", "seed", "prompt-only"); err != nil {
			return err
		}
	}
	if *temperature == 0 {
		if err := refuseFlags(setFlags(fs), "it shapes sampling, and without --temperature the tokens are picked greedily", "top-p", "seed"); err != nil {
			return err
		}
	}
	if *temperature != 0 && !(*topP > 0 && *topP <= 1) {
		// the sampler reads 0 as "no nucleus", the opposite of what a
		// top-p of 0 asks for, so 0 is refused as the Steer pane does
		return fmt.Errorf("--top-p %g: want a number above 0, at most 1 (1 keeps every token)", *topP)
	}
	if *greedy && *temperature != 0 {
		return errors.New("--greedy and --temperature together: pick one")
	}
	if *top < 1 { // before the runs, which can take minutes
		return fmt.Errorf("--top %d: at least 1", *top)
	}
	if iv.Where, err = steerSpan(pos, *promptOnly, len(rows[0]), *generate); err != nil {
		return err
	}
	uncentred := e.enc.SAE.Uncentred
	steer, err := intervene.Apply(model.Hooks{Uncentred: uncentred}, []intervene.Intervention{iv})
	if err != nil {
		return err
	}
	samp := intervene.Sampling{Temperature: *temperature, TopP: *topP, Seed: *seed}
	show := func(r *intervene.Result) map[string]any {
		ids := make([]int, len(r.Generated))
		for i, id := range r.Generated {
			ids[i] = int(id)
		}
		text, err := e.tok.Decode(ids)
		if err != nil {
			text = "" // ids outside the vocabulary cannot come from the model
		}
		out := map[string]any{"generated": ids, "text": text}
		if *logits {
			out["logits_last"] = r.LogitsLast
		}
		return out
	}
	plain, err := intervene.Generate(ctx, e.m, rows[0], *generate, model.Hooks{Uncentred: uncentred}, samp)
	if err != nil {
		return err
	}
	steered, err := intervene.Generate(ctx, e.m, rows[0], *generate, steer, samp)
	if err != nil {
		return err
	}
	next := intervene.CompareNext(plain.LogitsLast, steered.LogitsLast, *top)
	res := map[string]any{"plain": show(plain), "steered": show(steered), "kl": next.KL, "next_token": next}
	if len(rows[0]) > 1 {
		lp, err := intervene.PromptLoss(ctx, e.m, rows[0], model.Hooks{Uncentred: uncentred})
		if err != nil {
			return err
		}
		ls, err := intervene.PromptLoss(ctx, e.m, rows[0], steer)
		if err != nil {
			return err
		}
		res["prompt_loss"] = map[string]float64{"plain": lp, "steered": ls}
	}
	return writeJSON(stdout, res)
}

// steerSpan reads --pos and --prompt-only for a prompt of n tokens
// followed by gen generated ones.
func steerSpan(pos *optIntFlag, promptOnly bool, n, gen int) (intervene.Span, error) {
	switch {
	case pos.set && promptOnly:
		return intervene.Span{}, errors.New("--pos and --prompt-only together: pick one")
	case promptOnly:
		return intervene.Prompt(n), nil
	case !pos.set:
		return intervene.Span{}, nil
	}
	p := pos.v
	if p < 0 {
		p += n
	}
	if p < 0 || p >= n+gen {
		return intervene.Span{}, fmt.Errorf("--pos %d: the sequence has positions 0 to %d (the prompt's %d tokens, then %d generated; negative counts from the prompt's end)", pos.v, n+gen-1, n, gen)
	}
	return intervene.At(p), nil
}

// optFloat is a float flag that records whether it was given, and refuses
// a value that is not a finite number.
type optFloatFlag struct {
	v   float64
	set bool
}

func (o *optFloatFlag) String() string { return strconv.FormatFloat(o.v, 'g', -1, 64) }
func (o *optFloatFlag) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%q is not a finite number", s)
	}
	o.v, o.set = v, true
	return nil
}

func optFloat(fs *flag.FlagSet, name, usage string) *optFloatFlag {
	o := &optFloatFlag{}
	fs.Var(o, name, usage)
	return o
}

// optIntFlag is an int flag that records whether it was given.
type optIntFlag struct {
	v   int
	set bool
}

func (o *optIntFlag) String() string { return strconv.Itoa(o.v) }
func (o *optIntFlag) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	o.v, o.set = v, true
	return nil
}

func optInt(fs *flag.FlagSet, name, usage string) *optIntFlag {
	o := &optIntFlag{}
	fs.Var(o, name, usage)
	return o
}
