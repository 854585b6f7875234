package intervene_test

import (
	"context"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// Interventions on a transcoder's features (the v2 fixtures' MLP
// transcoder: it reads blocks.0.ln2.hook_normalized and its output
// replaces blocks.0.hook_mlp_out) against direct computations: a plain
// pass's activation at the transcoder's input hook, its features
// relu(x·W_enc + b_enc) computed here in float64, and a host function
// adding the change at the output hook.

// transcoder opens the v2 fixtures' MLP transcoder on s's backend.
func transcoder(t *testing.T, s *fixture.Setup) *encoder.Encoder {
	t.Helper()
	sa, err := sae.Load(filepath.Join(fixture.Dir(), "v2", "saelens-transcoder-mlp-0"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close() })
	if !sa.Transcoder || sa.Arch != sae.Standard || sa.ApplyBDecToInput || sa.Norm != sae.NormNone ||
		sa.Hook.String() != "blocks.0.ln2.hook_normalized" || sa.Output().String() != "blocks.0.hook_mlp_out" {
		t.Fatalf("the direct computation assumes a ReLU transcoder ln2.hook_normalized → hook_mlp_out without b_dec on its input; the fixture is %s", sa.Describe())
	}
	enc, err := encoder.New(s.Model.Backend(), sa)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Close)
	return enc
}

// tcFeatures runs tok plainly and returns the transcoder's features at
// every position, relu(x·W_enc + b_enc) of the input hook's activation,
// in float64.
func tcFeatures(t *testing.T, m *model.Model, s *sae.SAE, tok []int32) [][]float64 {
	t.Helper()
	d := &direct{t: t, m: m, tok: tok, read: s.Hook}
	d.run()
	if d.acts == nil || d.width != s.DIn {
		t.Fatalf("the plain pass did not show %s", s.Hook)
	}
	n := s.DSae
	out := make([][]float64, len(tok))
	for p := range out {
		x := d.acts[p*s.DIn : (p+1)*s.DIn]
		out[p] = make([]float64, n)
		for i := 0; i < n; i++ {
			v := float64(s.BEnc.Data[i])
			for j, xj := range x {
				v += float64(xj) * float64(s.WEnc.Data[j*n+i])
			}
			out[p][i] = math.Max(0, v)
		}
	}
	return out
}

// outAdd is the direct patch: coef[p]·W_dec[f] added at the output hook's
// row p (positions beyond coef untouched).
func outAdd(s *sae.SAE, f int, coef []float64) map[string]model.Patch {
	d := s.OutDim()
	dir := s.WDec.Data[f*d : (f+1)*d]
	return map[string]model.Patch{s.Output().String(): model.HostFunc(func(_ hookname.Hook, data []float32, _, seq, width int) error {
		for r := 0; r < len(data)/width; r++ {
			p := r % seq
			if p >= len(coef) || coef[p] == 0 {
				continue
			}
			for j := range dir {
				data[r*width+j] = float32(float64(data[r*width+j]) + coef[p]*float64(dir[j]))
			}
		}
		return nil
	})}
}

// tcPick returns a transcoder feature active at some positions of feats
// and not at others, the most active such.
func tcPick(t *testing.T, feats [][]float64) int {
	t.Helper()
	best, bestV := -1, 0.0
	for i := range feats[0] {
		on, mx := 0, 0.0
		for _, f := range feats {
			if f[i] > 0 {
				on++
				mx = math.Max(mx, f[i])
			}
		}
		if on > 0 && on < len(feats) && mx > bestV {
			best, bestV = i, mx
		}
	}
	if best < 0 {
		t.Fatal("no transcoder feature is active at some positions only")
	}
	return best
}

// Add, clamp and ablate of a transcoder feature, at every position, at one
// and on a prefix, in a whole pass: every position's logits equal a pass
// with a host function adding, at blocks.0.hook_mlp_out, c·W_dec[f]
// (add) or (c − f(x_in))·W_dec[f] (clamp; ablate is c = 0), f computed
// here from the plain pass's blocks.0.ln2.hook_normalized.
func TestTranscoderSteeringMatchesHostPatch(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc := transcoder(t, s)
	w := enc.SAE
	prompt := scopePrompt(ref)
	T := len(prompt)
	feats := tcFeatures(t, s.Model, w, prompt)
	feat := tcPick(t, feats)
	plain := fullLogits(t, s.Model, prompt, model.Hooks{})
	for _, where := range []intervene.Span{{}, intervene.At(4), {From: 0, To: 7}} {
		for _, iv := range []intervene.Intervention{
			{Enc: enc, Feature: feat, Mode: intervene.Add, Coeff: 3},
			{Enc: enc, Feature: feat, Mode: intervene.Clamp, Coeff: 5},
			{Enc: enc, Feature: feat, Mode: intervene.Ablate},
		} {
			iv.Where = where
			name := string(iv.Mode) + " at " + where.String()
			hooks, err := intervene.Apply(model.Hooks{}, []intervene.Intervention{iv})
			if err != nil {
				t.Fatal(name, err)
			}
			got := fullLogits(t, s.Model, prompt, hooks)
			coef := make([]float64, T)
			for p := range coef {
				if !where.Everywhere() && (p < where.From || p >= where.To) {
					continue
				}
				switch iv.Mode {
				case intervene.Add:
					coef[p] = float64(iv.Coeff)
				default:
					coef[p] = float64(iv.Coeff) - feats[p][feat]
				}
			}
			want := fullLogits(t, s.Model, prompt, model.Hooks{Patches: outAdd(w, feat, coef)})
			var moved float64
			for p := range got {
				fixture.Close(t, name, got[p], want[p], 1e-4)
				moved = math.Max(moved, intervene.KL(plain[p], want[p]))
			}
			if !(moved > 1e-6) {
				t.Errorf("%s: the direct pass changed nothing (KL %g): the comparison checks nothing", name, moved)
			}
		}
	}
	// ablate where the feature is off changes nothing; clamp to its own
	// value there changes nothing either (the transcoder's error is kept)
	off := -1
	for p := range feats {
		if feats[p][feat] == 0 {
			off = p
		}
	}
	on := 0
	for p := range feats {
		if feats[p][feat] > feats[on][feat] {
			on = p
		}
	}
	for _, iv := range []intervene.Intervention{
		{Enc: enc, Feature: feat, Mode: intervene.Ablate, Where: intervene.At(off)},
		{Enc: enc, Feature: feat, Mode: intervene.Clamp, Coeff: float32(feats[on][feat]), Where: intervene.At(on)},
	} {
		hooks, err := intervene.Apply(model.Hooks{}, []intervene.Intervention{iv})
		if err != nil {
			t.Fatal(err)
		}
		got := fullLogits(t, s.Model, prompt, hooks)
		for p := range got {
			fixture.Close(t, string(iv.Mode)+" to the feature's own value", got[p], plain[p], 1e-4)
		}
	}
}

// A transcoder feature and an SAE feature steered together (different
// hooks and blocks): equal to the two host patches in one pass; the
// caller's observer still sees every hook, and PosPatches alone refuses
// the transcoder (it cannot see the input hook).
func TestTranscoderWithSAE(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc, sae0 := transcoder(t, s), s.SAEs["sae0"]
	w := enc.SAE
	prompt := scopePrompt(ref)
	feats := tcFeatures(t, s.Model, w, prompt)
	feat := tcPick(t, feats)
	seen := map[hookname.Hook]bool{}
	hooks, err := intervene.Apply(model.Hooks{Observe: func(h hookname.Hook, _ compute.Tensor) error {
		seen[h] = true
		return nil
	}}, []intervene.Intervention{
		{Enc: enc, Feature: feat, Mode: intervene.Clamp, Coeff: 2},
		{Enc: sae0, Feature: 158, Mode: intervene.Add, Coeff: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := fullLogits(t, s.Model, prompt, hooks)
	coef := make([]float64, len(prompt))
	for p := range coef {
		coef[p] = 2 - feats[p][feat]
	}
	direct := outAdd(w, feat, coef)
	for h, p := range addAt(sae0.SAE, 158, 4, func(int) bool { return true }) {
		direct[h] = p
	}
	want := fullLogits(t, s.Model, prompt, model.Hooks{Patches: direct})
	for p := range got {
		fixture.Close(t, "transcoder clamp and SAE add", got[p], want[p], 1e-4)
	}
	for _, h := range []string{"blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"} {
		hk, _ := hookname.Parse(h, 0)
		if !seen[hk] {
			t.Errorf("the caller's observer did not see %s", h)
		}
	}
	_, err = intervene.PosPatches([]intervene.Intervention{{Enc: enc, Feature: feat, Mode: intervene.Add, Coeff: 1}})
	if err == nil || !strings.Contains(err.Error(), "Apply") {
		t.Errorf("PosPatches of a transcoder: %v, want an error naming Apply", err)
	}
	if _, err := intervene.Apply(model.Hooks{}, []intervene.Intervention{{Enc: enc, Feature: w.DSae, Mode: intervene.Add}}); err == nil {
		t.Error("a transcoder feature out of range accepted")
	}
}

// Greedy generation with the key/value cache and a transcoder feature
// clamped at every position, added at one generated position, or ablated
// on the prompt only: the prompt's last logits and every generated token
// are those of whole passes over the generated sequence with the host
// patch, f computed from that sequence's plain pass.
func TestTranscoderGenerate(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc := transcoder(t, s)
	w := enc.SAE
	prompt := scopePrompt(ref)
	n := len(prompt)
	feat := tcPick(t, tcFeatures(t, s.Model, w, prompt))
	const gen = 6
	plain, err := intervene.Greedy(context.Background(), s.Model, prompt, gen, model.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for _, iv := range []intervene.Intervention{
		{Enc: enc, Feature: feat, Mode: intervene.Clamp, Coeff: 20},
		{Enc: enc, Feature: feat, Mode: intervene.Add, Coeff: 30, Where: intervene.At(n + 1)},
		{Enc: enc, Feature: feat, Mode: intervene.Ablate, Where: intervene.Prompt(n)},
	} {
		name := string(iv.Mode) + " at " + iv.Where.String()
		hooks, err := intervene.Apply(model.Hooks{}, []intervene.Intervention{iv})
		if err != nil {
			t.Fatal(err)
		}
		res, err := intervene.Greedy(context.Background(), s.Model, prompt, gen, hooks)
		if err != nil {
			t.Fatal(name, err)
		}
		if len(res.Generated) != gen {
			t.Fatalf("%s: %d tokens generated, want %d", name, len(res.Generated), gen)
		}
		seq := append(append([]int32{}, prompt...), res.Generated[:gen-1]...)
		feats := tcFeatures(t, s.Model, w, seq)
		coef := make([]float64, len(seq))
		for p := range coef {
			if !iv.Where.Everywhere() && (p < iv.Where.From || p >= iv.Where.To) {
				continue
			}
			if iv.Mode == intervene.Add {
				coef[p] = float64(iv.Coeff)
			} else {
				coef[p] = float64(iv.Coeff) - feats[p][feat]
			}
		}
		want := fullLogits(t, s.Model, seq, model.Hooks{Patches: outAdd(w, feat, coef)})
		fixture.Close(t, name+": prompt's last logits", res.LogitsLast, want[n-1], 1e-4)
		for i, id := range res.Generated {
			lg := want[n-1+i]
			best := 0
			for j, v := range lg {
				if v > lg[best] {
					best = j
				}
			}
			if int32(best) != id {
				t.Errorf("%s: generated token %d is %d, the whole pass's argmax %d", name, i, id, best)
			}
			differs = differs || id != plain.Generated[i]
		}
	}
	if !differs {
		t.Error("no intervention changed the generated text: the comparison checks little")
	}
}

// Exact patching of transcoder features from the clean prompt into the
// corrupted one, for each metric (logit difference at every position and
// at one, the loss, sae0's feature at blocks.1.hook_resid_pre): every
// compared effect equals the corrupted pass with
// (f_clean_i − f_corrupt_i)·W_dec[i] added on the host at
// blocks.0.hook_mlp_out, minus the plain corrupted pass; exactly the
// features active in either run are patched.
func TestTranscoderPatchMatchesHostPatch(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	enc, sae0 := transcoder(t, s), s.SAEs["sae0"]
	w := enc.SAE
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	clean, corr := tokens[:T], tokens[T:2*T]
	fc, fx := tcFeatures(t, s.Model, w, clean), tcFeatures(t, s.Model, w, corr)
	// the sae0 feature most active at the corrupted prompt's last position
	base := &direct{t: t, m: s.Model, tok: corr, read: sae0.SAE.Hook}
	base.run()
	f0 := hostEncode(t, sae0.SAE, base.acts[(T-1)*base.width:T*base.width])
	j := 0
	for i := range f0 {
		if f0[i] > f0[j] {
			j = i
		}
	}
	type measure func(d *direct) float64
	for _, c := range []struct {
		name   string
		metric intervene.Metric
		opt    intervene.PatchOptions
		read   measure
	}{
		{"logit difference", intervene.LogitDiff(13, 11), intervene.PatchOptions{Batch: 3}, func(d *direct) float64 { return d.logitDiff(13, 11) }},
		{"logit difference at position 6", intervene.LogitDiff(13, 11), intervene.PatchOptions{OnePosition: true, Pos: 6, Batch: 1}, func(d *direct) float64 { return d.logitDiff(13, 11) }},
		{"loss", intervene.LossMetric(), intervene.PatchOptions{Batch: 16}, func(d *direct) float64 { return d.loss() }},
		{"sae0 feature", intervene.FeatureMetric(sae0, j, -1), intervene.PatchOptions{Batch: 5}, func(d *direct) float64 {
			return hostEncode(t, sae0.SAE, d.acts[(T-1)*d.width:T*d.width])[j]
		}},
	} {
		res, err := intervene.PatchWith(context.Background(), s.Model, enc, clean, corr, c.metric, c.opt)
		if err != nil {
			t.Fatal(c.name, err)
		}
		lo, hi := 0, T
		if c.opt.OnePosition {
			lo, hi = c.opt.Pos, c.opt.Pos+1
		}
		var active []int
		for i := 0; i < w.DSae; i++ {
			for p := lo; p < hi; p++ {
				if fc[p][i] > 0 || fx[p][i] > 0 {
					active = append(active, i)
					break
				}
			}
		}
		if len(res.Patched) != len(active) {
			t.Fatalf("%s: %d features patched, %d active in either run", c.name, len(res.Patched), len(active))
		}
		for k, i := range active {
			if res.Patched[k] != i {
				t.Fatalf("%s: patched feature %d is %d, want %d", c.name, k, res.Patched[k], i)
			}
		}
		d0 := &direct{t: t, m: s.Model, tok: corr, read: sae0.SAE.Hook}
		d0.run()
		m0 := c.read(d0)
		fixture.Close(t, c.name+": corrupted metric", []float32{float32(res.MetricCorrupt)}, []float32{float32(m0)}, 1e-4)
		var got, want []float32
		for k := 0; k < len(active) && len(got) < 8; k += 1 + len(active)/8 {
			i := active[k]
			add := make([][]float64, T)
			for p := lo; p < hi; p++ {
				add[p] = make([]float64, w.OutDim())
				for q := range add[p] {
					add[p][q] = (fc[p][i] - fx[p][i]) * float64(w.WDec.Data[i*w.OutDim()+q])
				}
			}
			d := &direct{t: t, m: s.Model, tok: corr, hook: w.Output(), add: add, read: sae0.SAE.Hook}
			d.run()
			got, want = append(got, float32(res.Effect[i])), append(want, float32(c.read(d)-m0))
		}
		fixture.Close(t, c.name+": effects", got, want, 1e-4)
		big := 0
		for _, v := range want {
			if math.Abs(float64(v)) > 1e-3 {
				big++
			}
		}
		if len(got) < 4 || big == 0 {
			t.Errorf("%s: %d effects compared, %d above 1e-3: the comparison checks little", c.name, len(got), big)
		}
	}
	// a feature metric the patch cannot reach: the transcoder's own input
	_, err := intervene.PatchWith(context.Background(), s.Model, enc, clean, corr, intervene.FeatureMetric(enc, 0, -1), intervene.PatchOptions{Batch: 4})
	if err == nil || !strings.Contains(err.Error(), "comes before the patched hook blocks.0.hook_mlp_out") {
		t.Errorf("a metric at the transcoder's input: %v", err)
	}
}

// The hover ablation of a transcoder feature (AblateAt, and an Ablator
// over the whole sequence) against a whole pass with −f(x_in)·W_dec[f]
// added on the host at blocks.0.hook_mlp_out at that position alone, the
// next-token log-softmax of both passes taken here in float64.
func TestTranscoderAblateAt(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc := transcoder(t, s)
	w := enc.SAE
	prompt := []int32{50256, 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13}
	feats := tcFeatures(t, s.Model, w, prompt)
	ctx := context.Background()
	ab := intervene.NewAblator(s.Model, enc, prompt)
	const k = 5
	checked := 0
	for _, pos := range []int{2, 6, len(prompt) - 1} {
		f := 0
		for i := range feats[pos] {
			if feats[pos][i] > feats[pos][f] {
				f = i
			}
		}
		if feats[pos][f] <= 0 {
			t.Fatalf("no transcoder feature fires at %d", pos)
		}
		got, err := intervene.AblateAt(ctx, s.Model, enc, prompt, f, pos, k)
		if err != nil {
			t.Fatal(err)
		}
		shared, err := ab.At(ctx, f, pos, k)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(got.Value)-feats[pos][f]) > 1e-4*math.Max(1, feats[pos][f]) {
			t.Errorf("feature %d at %d: value %v, direct %v", f, pos, got.Value, feats[pos][f])
		}
		coef := make([]float64, pos+1)
		coef[pos] = -feats[pos][f]
		plain := logSoftmax64(fullLogits(t, s.Model, prompt, model.Hooks{})[pos])
		abl := logSoftmax64(fullLogits(t, s.Model, prompt, model.Hooks{Patches: outAdd(w, f, coef)})[pos])
		ids := make([]int, len(plain))
		for i := range ids {
			ids[i] = i
		}
		sort.Slice(ids, func(a, b int) bool { return abl[ids[a]]-plain[ids[a]] > abl[ids[b]]-plain[ids[b]] })
		for _, r := range []*intervene.Ablation{got, shared} {
			if len(r.Increases) != k || len(r.Decreases) != k {
				t.Fatalf("feature %d at %d: %d increases, %d decreases, want %d", f, pos, len(r.Increases), len(r.Decreases), k)
			}
			for i := 0; i < k; i++ {
				up, down := ids[i], ids[len(ids)-1-i]
				if g := r.Increases[i]; math.Abs(g.Delta-(abl[up]-plain[up])) > 1e-4 || math.Abs(g.Delta-(abl[g.ID]-plain[g.ID])) > 1e-4 || math.Abs(g.Before-plain[g.ID]) > 1e-4 {
					t.Errorf("feature %d at %d: increase %d = %+v, direct: token %d %+.6f", f, pos, i, g, up, abl[up]-plain[up])
				}
				if g := r.Decreases[i]; math.Abs(g.Delta-(abl[down]-plain[down])) > 1e-4 || math.Abs(g.Delta-(abl[g.ID]-plain[g.ID])) > 1e-4 {
					t.Errorf("feature %d at %d: decrease %d = %+v, direct: token %d %+.6f", f, pos, i, g, down, abl[down]-plain[down])
				}
			}
		}
		if !(abl[ids[0]]-plain[ids[0]] > 1e-3) {
			t.Errorf("feature %d at %d: the direct ablation changed nothing", f, pos)
		}
		checked++
	}
	if checked < 3 {
		t.Fatalf("%d positions checked", checked)
	}
}

// logSoftmax64 is log-softmax in float64.
func logSoftmax64(l []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range l {
		mx = math.Max(mx, float64(v))
	}
	var z float64
	for _, v := range l {
		z += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(l))
	for i, v := range l {
		out[i] = float64(v) - mx - math.Log(z)
	}
	return out
}
