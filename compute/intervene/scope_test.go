package intervene_test

import (
	"context"
	"math"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// scopePrompt is BOS and the fixture's first text.
func scopePrompt(ref *fixture.Reference) []int32 {
	prompt := []int32{50256}
	for _, id := range ref.TokenIDs[0] {
		prompt = append(prompt, int32(id))
	}
	return prompt
}

// fullLogits runs one sequence in a whole pass and returns the logits of
// every position.
func fullLogits(t *testing.T, m *model.Model, toks []int32, hooks model.Hooks) [][]float32 {
	t.Helper()
	m.Lock()
	defer m.Unlock()
	out, err := m.Run(context.Background(), toks, 1, len(toks), hooks)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]int, len(toks))
	for i := range rows {
		rows[i] = i
	}
	lg, err := m.Logits(out.Resid, rows)
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

// addAt is the direct computation of an add: a host function that adds
// c·W_dec[f] to the rows (positions) that keep says, and nothing else.
func addAt(s *sae.SAE, f int, c float64, keep func(pos int) bool) map[string]model.Patch {
	d := s.DIn
	dir := s.WDec.Data[f*d : (f+1)*d]
	return map[string]model.Patch{s.Output().String(): model.HostFunc(func(_ hookname.Hook, data []float32, _, seq, width int) error {
		for r := 0; r < len(data)/width; r++ {
			if !keep(r % seq) {
				continue
			}
			for j := range dir {
				data[r*width+j] += float32(c * float64(dir[j]))
			}
		}
		return nil
	})}
}

// encodeRow is f = relu((x − b_dec)·W_enc + b_enc) of one feature, in
// float64 (the fixture's SAE is a standard ReLU one with b_dec subtracted
// from its input).
func encodeRow(s *sae.SAE, x []float32, f int) float64 {
	acc := float64(s.BEnc.Data[f])
	for j := 0; j < s.DIn; j++ {
		acc += (float64(x[j]) - float64(s.BDec.Data[j])) * float64(s.WEnc.Data[j*s.DSae+f])
	}
	return math.Max(acc, 0)
}

// An intervention at position p in a whole pass: the logits of the
// positions before p are the plain ones, and every position equals a host
// function that changes row p alone (add: + c·W_dec[f]; clamp:
// + (c − f(x_p))·W_dec[f], f computed here in float64).
func TestInterventionAtPosition(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc := s.SAEs["sae0"]
	if enc.SAE.Arch != sae.Standard || !enc.SAE.ApplyBDecToInput {
		t.Fatalf("the direct computation assumes a standard SAE with b_dec on its input, sae0 is %s", enc.SAE.Arch)
	}
	prompt := scopePrompt(ref)
	const p, feat = 3, 158
	plain := fullLogits(t, s.Model, prompt, model.Hooks{})
	for _, mode := range []intervene.Mode{intervene.Add, intervene.Clamp} {
		pp, err := intervene.PosPatches([]intervene.Intervention{{Enc: enc, Feature: feat, Mode: mode, Coeff: 4, Where: intervene.At(p)}})
		if err != nil {
			t.Fatal(err)
		}
		got := fullLogits(t, s.Model, prompt, model.Hooks{PosPatches: pp})
		for i := 0; i < p; i++ {
			fixture.Close(t, "logits before the steered position", got[i], plain[i], 1e-6)
		}
		var direct map[string]model.Patch
		switch mode {
		case intervene.Add:
			direct = addAt(enc.SAE, feat, 4, func(pos int) bool { return pos == p })
		case intervene.Clamp:
			d := enc.SAE.DIn
			dir := enc.SAE.WDec.Data[feat*d : (feat+1)*d]
			direct = map[string]model.Patch{enc.SAE.Output().String(): model.HostFunc(func(_ hookname.Hook, data []float32, _, _, width int) error {
				row := data[p*width : (p+1)*width]
				k := 4 - encodeRow(enc.SAE, row, feat)
				for j := range dir {
					row[j] += float32(k * float64(dir[j]))
				}
				return nil
			})}
		}
		want := fullLogits(t, s.Model, prompt, model.Hooks{Patches: direct})
		var moved float64
		for i := range got {
			fixture.Close(t, string(mode)+" at position 3", got[i], want[i], 1e-4)
			if i >= p {
				moved = math.Max(moved, intervene.KL(plain[i], got[i]))
			}
		}
		if !(moved > 1e-6) {
			t.Errorf("%s at position %d changed nothing after it (KL %g)", mode, p, moved)
		}
	}
}

// Generation with the key/value cache and an intervention at one
// position after the prompt, or on the prompt only: the greedy tokens and
// the prompt's last logits are those of whole passes over the generated
// sequence with a host function adding the direction at those positions.
func TestGenerateScoped(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc := s.SAEs["sae0"]
	prompt := scopePrompt(ref)
	n := len(prompt)
	const feat, coeff, gen = 158, 8, 6
	for _, c := range []struct {
		name  string
		where intervene.Span
		keep  func(pos int) bool
	}{
		{"at a generated position", intervene.At(n + 2), func(pos int) bool { return pos == n+2 }},
		{"at the last prompt position", intervene.At(n - 1), func(pos int) bool { return pos == n-1 }},
		{"on the prompt only", intervene.Prompt(n), func(pos int) bool { return pos < n }},
	} {
		pp, err := intervene.PosPatches([]intervene.Intervention{{Enc: enc, Feature: feat, Mode: intervene.Add, Coeff: coeff, Where: c.where}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := intervene.Greedy(context.Background(), s.Model, prompt, gen, model.Hooks{PosPatches: pp})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Generated) != gen {
			t.Fatalf("%s: %d tokens generated, want %d (the fixture's model does not emit <|endoftext|> here)", c.name, len(res.Generated), gen)
		}
		seq := append(append([]int32{}, prompt...), res.Generated[:gen-1]...)
		want := fullLogits(t, s.Model, seq, model.Hooks{Patches: addAt(enc.SAE, feat, coeff, c.keep)})
		fixture.Close(t, c.name+": prompt's last logits", res.LogitsLast, want[n-1], 1e-4)
		for i, id := range res.Generated {
			lg := want[n-1+i]
			best := 0
			for j, v := range lg {
				if v > lg[best] {
					best = j
				}
			}
			if int32(best) != id {
				t.Errorf("%s: generated token %d is %d, the whole pass's argmax %d", c.name, i, id, best)
			}
		}
	}
}

// Spans are checked, and plain Patches refuse a limited intervention.
func TestSpanRefused(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc := s.SAEs["sae0"]
	for _, w := range []intervene.Span{{From: -1, To: 2}, {From: 3, To: 3}, {From: 4, To: 2}} {
		if _, err := intervene.PosPatches([]intervene.Intervention{{Enc: enc, Feature: 1, Mode: intervene.Add, Where: w}}); err == nil {
			t.Errorf("span %+v accepted", w)
		}
	}
	if _, err := intervene.Patches([]intervene.Intervention{{Enc: enc, Feature: 1, Mode: intervene.Add, Where: intervene.At(2)}}); err == nil {
		t.Error("Patches accepted an intervention at one position")
	}
	if got := intervene.At(5).String(); got != "position 5" {
		t.Errorf("At(5) is %q", got)
	}
	if got := intervene.Prompt(4).String(); got != "positions 0 to 3" {
		t.Errorf("Prompt(4) is %q", got)
	}
}
