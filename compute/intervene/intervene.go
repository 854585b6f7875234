// Package intervene changes SAE features inside a forward pass and runs
// the model with those changes: steering (add c·W_dec[f]), clamping
// (x + (c − f_i(x))·W_dec[f], the SAE's error kept so other features are
// untouched) and ablation (clamping to 0), at every position of the prompt
// and of what is generated, at one position or on the prompt only, and
// generation with them. A transcoder's feature is read at its input hook
// and changed where its output goes (Apply).
package intervene

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/tokenizer"
)

// Mode says what an Intervention does to its feature.
type Mode string

// The interventions.
const (
	// Add adds Coeff·W_dec[f] to the activation at the SAE's hook.
	Add Mode = "add"
	// Clamp sets the feature to Coeff: x + (Coeff − f(x))·W_dec[f], the
	// SAE's error kept. For an SAE that normalises its input (layer_norm,
	// constant_norm_rescale) the change is made in its normalised space
	// and taken back to the hook's units with the row's own factor
	// (encoder.DecoderScales), so that the reconstruction changes by
	// exactly that feature's part. Add is always in the hook's units.
	Clamp Mode = "clamp"
	// Ablate clamps the feature to 0.
	Ablate Mode = "ablate"
)

// Intervention changes one feature of one SAE at the positions of Where
// (every position when Where is the zero Span).
type Intervention struct {
	Enc     *encoder.Encoder
	Feature int
	Mode    Mode
	Coeff   float32
	Where   Span
}

// Span is the absolute positions [From, To) of a sequence that an
// Intervention changes, 0 being its first token (BOS); the zero Span is
// every position, those generated included.
type Span struct{ From, To int }

// At is the Span of position p alone.
func At(p int) Span { return Span{From: p, To: p + 1} }

// Prompt is the Span of a prompt of n tokens: what is generated after it
// is left alone.
func Prompt(n int) Span { return Span{From: 0, To: n} }

// Everywhere says whether s is every position.
func (s Span) Everywhere() bool { return s == Span{} }

// has says whether absolute position pos is in s.
func (s Span) has(pos int) bool { return s.Everywhere() || pos >= s.From && pos < s.To }

// String describes s for messages.
func (s Span) String() string {
	switch {
	case s.Everywhere():
		return "every position"
	case s.To == s.From+1:
		return fmt.Sprintf("position %d", s.From)
	}
	return fmt.Sprintf("positions %d to %d", s.From, s.To-1)
}

// Check says what is wrong with iv, if anything.
func (iv Intervention) Check() error {
	switch {
	case iv.Enc == nil:
		return errors.New("intervention without an SAE")
	case iv.Feature < 0 || iv.Feature >= iv.Enc.DSae():
		return fmt.Errorf("feature %d out of range: the SAE has features 0 to %d", iv.Feature, iv.Enc.DSae()-1)
	case iv.Mode != Add && iv.Mode != Clamp && iv.Mode != Ablate:
		return fmt.Errorf("unknown intervention %q (add, clamp, ablate)", iv.Mode)
	case math.IsNaN(float64(iv.Coeff)) || math.IsInf(float64(iv.Coeff), 0):
		return fmt.Errorf("coefficient %v is not a finite number", iv.Coeff)
	case !iv.Where.Everywhere() && (iv.Where.From < 0 || iv.Where.To <= iv.Where.From):
		return fmt.Errorf("positions [%d, %d): want 0 ≤ from < to", iv.Where.From, iv.Where.To)
	case iv.Enc.SAE.Transcoder && iv.Enc.SAE.Output().Layer != iv.Enc.SAE.Hook.Layer:
		return fmt.Errorf("transcoder reading %s and writing %s: an intervention needs both hooks in one block", iv.Enc.SAE.Hook, iv.Enc.SAE.Output())
	}
	return nil
}

// Apply returns hooks with the interventions ivs added, for model.Run or
// model.NewDecoder: a PosPatch at each SAE's output hook (after a PosPatch
// hooks already has there) and, when a transcoder is among them, an
// observer of the hook it reads (before hooks.Observe, which still sees
// every hook). A transcoder's intervention is made where its output goes
// (blocks.L.hook_mlp_out for an MLP transcoder): add c·W_dec[f]; clamp
// (c − f(x_in))·W_dec[f], f computed from the activation x_in that the
// same pass (or Decoder step) has at the transcoder's input hook, which
// comes earlier in the same block, so the transcoder's error at the
// output is kept; ablate clamps to 0. Other SAEs read and write one hook,
// as PosPatches does.
func Apply(hooks model.Hooks, ivs []Intervention) (model.Hooks, error) {
	byHook, err := group(ivs)
	if err != nil {
		return hooks, err
	}
	pp := make(map[string]model.PosPatch, len(hooks.PosPatches)+len(byHook))
	for h, p := range hooks.PosPatches {
		pp[h] = p
	}
	var readers []*inputs
	for h, list := range byHook {
		var in *inputs
		for _, iv := range list {
			if iv.Enc.SAE.Transcoder && iv.Mode != Add { // an add needs no f(x_in)
				if in == nil {
					in = &inputs{be: iv.Enc.Backend(), acts: map[hookname.Hook][]float32{}}
					readers = append(readers, in)
				}
				in.acts[iv.Enc.SAE.Hook] = nil
			}
		}
		p := patch(list, in)
		if before := pp[h]; before != nil {
			p = chain(before, p)
		}
		pp[h] = p
	}
	hooks.PosPatches = pp
	if len(readers) > 0 {
		inner := hooks.Observe
		hooks.Observe = func(h hookname.Hook, act compute.Tensor) error {
			for _, in := range readers {
				in.observe(h, act)
			}
			if inner != nil {
				return inner(h, act)
			}
			return nil
		}
	}
	return hooks, nil
}

// chain runs a, then b.
func chain(a, b model.PosPatch) model.PosPatch {
	return func(be compute.Backend, h hookname.Hook, act compute.Tensor, batch, seq, first int) error {
		if err := a(be, h, act, batch, seq, first); err != nil {
			return err
		}
		return b(be, h, act, batch, seq, first)
	}
}

// inputs keeps, for the patch at one output hook, the activations of the
// current pass at the hooks its transcoders read (host copies, [rows,
// width] row-major), until that patch uses them.
type inputs struct {
	be   compute.Backend
	acts map[hookname.Hook][]float32
	rows map[hookname.Hook]int
}

// observe copies act if h is a hook the patch's transcoders read.
func (in *inputs) observe(h hookname.Hook, act compute.Tensor) {
	if _, ok := in.acts[h]; !ok {
		return
	}
	v := in.acts[h]
	if n := act.Rows() * act.Cols(); cap(v) >= n {
		v = v[:n]
	} else {
		v = make([]float32, n)
	}
	in.be.Read(act, v)
	if in.rows == nil {
		in.rows = map[hookname.Hook]int{}
	}
	in.acts[h], in.rows[h] = v, act.Rows()
}

// used forgets the rows kept, once the patch has read them: the next
// pass (or Decoder step) must read its own.
func (in *inputs) used() {
	for h := range in.rows {
		delete(in.rows, h)
	}
}

// PosPatches returns the model patches that apply ivs, one per hook (for
// model.Hooks.PosPatches). The interventions at one hook see the same
// activation: every f(x) a clamp needs is computed before any change is
// made, so several features steered at once add their directions. A
// transcoder's intervention also needs the activation at the hook it
// reads: PosPatches refuses it, Apply adds what it needs.
func PosPatches(ivs []Intervention) (map[string]model.PosPatch, error) {
	byHook, err := group(ivs)
	if err != nil {
		return nil, err
	}
	out := map[string]model.PosPatch{}
	for h, list := range byHook {
		for _, iv := range list {
			if iv.Enc.SAE.Transcoder {
				return nil, fmt.Errorf("feature %d of the transcoder %s: its intervention needs the activation it reads as well as the hook it writes (use Apply)", iv.Feature, iv.Enc.SAE.Name())
			}
		}
		out[h] = patch(list, nil)
	}
	return out, nil
}

// group checks ivs and groups them by the hook they change.
func group(ivs []Intervention) (map[string][]Intervention, error) {
	byHook := map[string][]Intervention{}
	for _, iv := range ivs {
		if err := iv.Check(); err != nil {
			return nil, err
		}
		h := iv.Enc.SAE.Output().String()
		byHook[h] = append(byHook[h], iv)
	}
	return byHook, nil
}

// Patches is PosPatches for interventions at every position, as plain
// model patches (for model.Hooks.Patches). It refuses an intervention
// limited to some positions: a patch that is not told its positions
// cannot find them in a key/value-cached step.
func Patches(ivs []Intervention) (map[string]model.Patch, error) {
	for _, iv := range ivs {
		if !iv.Where.Everywhere() {
			return nil, fmt.Errorf("feature %d at %s: an intervention limited to positions needs PosPatches", iv.Feature, iv.Where)
		}
	}
	pp, err := PosPatches(ivs)
	if err != nil {
		return nil, err
	}
	out := map[string]model.Patch{}
	for h, p := range pp {
		out[h] = func(be compute.Backend, hk hookname.Hook, act compute.Tensor, batch, seq int) error {
			return p(be, hk, act, batch, seq, 0)
		}
	}
	return out, nil
}

// patch returns the PosPatch of ivs, which share their output hook; in
// holds the activations their transcoders read (nil when there is none).
func patch(ivs []Intervention, in *inputs) model.PosPatch {
	return func(be compute.Backend, h hookname.Hook, act compute.Tensor, _, seq, first int) error {
		rows, d := act.Rows(), act.Cols()
		// x is what each SAE encodes: the activation here, or for a
		// transcoder its input hook's activation of the same pass
		xs := map[*encoder.Encoder]compute.Tensor{}
		defer func() {
			for _, x := range xs {
				if x != act {
					be.Free(x)
				}
			}
		}()
		if in != nil {
			defer in.used()
		}
		input := func(e *encoder.Encoder) (compute.Tensor, error) {
			if x, ok := xs[e]; ok {
				return x, nil
			}
			if !e.SAE.Transcoder {
				xs[e] = act
				return act, nil
			}
			ih := e.SAE.Hook
			if in == nil {
				return nil, fmt.Errorf("transcoder %s: its input %s is not read by this patch (use Apply)", e.SAE.Name(), ih)
			}
			v := in.acts[ih]
			if v == nil || in.rows[ih] != rows || len(v) != rows*e.SAE.DIn {
				return nil, fmt.Errorf("transcoder %s: its input %s was not read in this pass before %s", e.SAE.Name(), ih, h)
			}
			x := be.Alloc(rows, e.SAE.DIn)
			be.Write(x, v)
			xs[e] = x
			return x, nil
		}
		delta := make([]float64, rows*d)
		feats := map[*encoder.Encoder][]float32{}  // f(x) of each SAE a clamp needs
		scales := map[*encoder.Encoder][]float64{} // its decoder scales (nil: none)
		for _, iv := range ivs {
			s := iv.Enc.SAE
			if s.OutDim() != d {
				return fmt.Errorf("feature %d of %s: its decoder writes %d values, the activation at %s has %d", iv.Feature, s.Name(), s.OutDim(), h, d)
			}
			dir := s.WDec.Data[iv.Feature*d : (iv.Feature+1)*d]
			coef := make([]float64, rows)
			switch iv.Mode {
			case Add:
				for r := range coef {
					if iv.Where.has(first + r%seq) {
						coef[r] = float64(iv.Coeff)
					}
				}
			case Clamp, Ablate:
				f, ok := feats[iv.Enc]
				if !ok {
					x, err := input(iv.Enc)
					if err != nil {
						return err
					}
					t := be.Alloc(rows, s.DSae)
					err = iv.Enc.Encode(t, x)
					if err == nil {
						f = make([]float32, rows*s.DSae)
						be.Read(t, f)
					}
					be.Free(t)
					if err != nil {
						return err
					}
					feats[iv.Enc] = f
					sc, err := iv.Enc.DecoderScales(x)
					if err != nil {
						return err
					}
					scales[iv.Enc] = sc
				}
				sc := scales[iv.Enc]
				c := float64(iv.Coeff)
				if iv.Mode == Ablate {
					c = 0
				}
				for r := range coef {
					if iv.Where.has(first + r%seq) {
						coef[r] = c - float64(f[r*s.DSae+iv.Feature])
						if sc != nil { // the change in the SAE's normalised space, in the hook's units
							coef[r] *= sc[r]
						}
					}
				}
			}
			for r, k := range coef {
				if k == 0 {
					continue
				}
				row := delta[r*d : (r+1)*d]
				for j, w := range dir {
					row[j] += k * float64(w)
				}
			}
		}
		// act += delta, through the backend
		t := be.Alloc(rows, d)
		defer be.Free(t)
		dv := make([]float32, len(delta))
		for i, v := range delta {
			dv[i] = float32(v)
		}
		be.Write(t, dv)
		be.Add(act, act, t)
		return nil
	}
}

// Result is a run of the model on a prompt: the logits at its last
// position and the tokens generated after it.
type Result struct {
	LogitsLast []float32
	Generated  []int32
}

// Sampling chooses each generated token: the most likely one when
// Temperature is 0 (greedy), else a draw from softmax(logits/Temperature)
// restricted to the smallest set of tokens whose probability reaches TopP
// (1 or 0: all), with a generator seeded by Seed (the same seed, the same
// text).
type Sampling struct {
	Temperature float64
	TopP        float64
	Seed        uint64
}

// Greedy is Generate with greedy sampling.
func Greedy(ctx context.Context, m *model.Model, prompt []int32, n int, hooks model.Hooks) (*Result, error) {
	return Generate(ctx, m, prompt, n, hooks, Sampling{})
}

// Generate runs the model on prompt (one sequence of token ids) with hooks,
// keeps the logits of its last position, then appends n tokens chosen as
// samp says (stopping at <|endoftext|>), the hooks applied at every
// position. It runs one position at a time with a key/value cache
// (model.Decoder).
func Generate(ctx context.Context, m *model.Model, prompt []int32, n int, hooks model.Hooks, samp Sampling) (*Result, error) {
	if len(prompt) == 0 {
		return nil, errors.New("empty prompt")
	}
	if n < 0 {
		return nil, fmt.Errorf("%d tokens to generate", n)
	}
	if len(prompt)+n > m.Config.NPositions {
		return nil, fmt.Errorf("the prompt (%d tokens) and %d new ones exceed the model's context of %d", len(prompt), n, m.Config.NPositions)
	}
	if math.IsNaN(samp.Temperature) || samp.Temperature < 0 || math.IsInf(samp.Temperature, 0) || math.IsNaN(samp.TopP) || samp.TopP < 0 || samp.TopP > 1 {
		return nil, fmt.Errorf("sampling: temperature %g (want ≥ 0, 0 for greedy) and top-p %g (want 0 to 1)", samp.Temperature, samp.TopP)
	}
	rng := rand.New(rand.NewPCG(samp.Seed, 0x5eed))
	res := &Result{}
	m.Lock()
	defer m.Unlock()
	dec, err := m.NewDecoder(len(prompt)+n, hooks)
	if err != nil {
		return nil, err
	}
	// step runs one token and returns the logits after it
	step := func(tok int32) ([]float32, error) {
		out, err := dec.Step(ctx, tok)
		if err != nil {
			return nil, err
		}
		lg, err := m.Logits(out, []int{0})
		if err != nil {
			return nil, err
		}
		return lg[0], nil
	}
	for _, tok := range prompt[:len(prompt)-1] {
		if _, err := dec.Step(ctx, tok); err != nil {
			return nil, err
		}
	}
	lg, err := step(prompt[len(prompt)-1])
	if err != nil {
		return nil, err
	}
	res.LogitsLast = lg
	for i := 0; i < n; i++ {
		next := argmax(lg)
		if samp.Temperature > 0 {
			next = sample(lg, samp, rng)
		}
		res.Generated = append(res.Generated, next)
		if next == tokenizer.EOS || i == n-1 {
			break
		}
		if lg, err = step(next); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// sample draws a token from softmax(logits/T), within the nucleus of
// probability TopP.
func sample(logits []float32, samp Sampling, rng *rand.Rand) int32 {
	// log softmax(logits/T) from each logit's gap to the largest, in
	// float64: a small T (1e-40) made logits/T overflow float32 to ±Inf
	// and every probability NaN, and the draw fell on an arbitrary token
	// instead of the most likely one
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	lp := make([]float64, len(logits))
	var z float64
	for i, v := range logits {
		lp[i] = (float64(v) - mx) / samp.Temperature // ≤ 0, 0 at the largest
		z += math.Exp(lp[i])
	}
	lz := math.Log(z)
	for i := range lp {
		lp[i] -= lz
	}
	idx := make([]int, len(lp))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		if lp[idx[a]] != lp[idx[b]] {
			return lp[idx[a]] > lp[idx[b]]
		}
		return idx[a] < idx[b]
	})
	keep := len(idx)
	if samp.TopP > 0 && samp.TopP < 1 {
		var cum float64
		for k, i := range idx {
			cum += math.Exp(lp[i])
			if cum >= samp.TopP {
				keep = k + 1
				break
			}
		}
	}
	var total float64
	for _, i := range idx[:keep] {
		total += math.Exp(lp[i])
	}
	u := rng.Float64() * total
	for _, i := range idx[:keep] {
		u -= math.Exp(lp[i])
		if u <= 0 {
			return int32(i)
		}
	}
	return int32(idx[keep-1])
}

func argmax(v []float32) int32 {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return int32(best)
}

// KL returns the Kullback–Leibler divergence KL(softmax(p) ‖ softmax(q))
// in nats, of two logit vectors.
func KL(p, q []float32) float64 { return klLog(logSoftmax(p), logSoftmax(q)) }

// klLog is KL of two log-probability vectors.
func klLog(lp, lq []float64) float64 {
	var kl float64
	for i := range lp {
		kl += math.Exp(lp[i]) * (lp[i] - lq[i])
	}
	return kl
}

func logSoftmax(v []float32) []float64 {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = math.Max(mx, float64(x))
	}
	var s float64
	for _, x := range v {
		s += math.Exp(float64(x) - mx)
	}
	lse := mx + math.Log(s)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x) - lse
	}
	return out
}
