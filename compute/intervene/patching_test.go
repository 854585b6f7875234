package intervene_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/tokenizer"
)

// direct is an unbatched, unresumed pass of one prompt for the patching
// tests: the corrupted prompt with add[t] (a d_in row, nil for none) added
// at the hook h on the host, as TransformerLens' hook function would, and
// what each metric reads off it.
type direct struct {
	t     *testing.T
	m     *model.Model
	tok   []int32
	hook  hookname.Hook
	add   [][]float64
	read  hookname.Hook // hook whose activation is kept in acts
	acts  []float32
	out   *model.Output
	width int
}

func (d *direct) run() {
	d.t.Helper()
	T := len(d.tok)
	hooks := model.Hooks{Observe: func(h hookname.Hook, act compute.Tensor) error {
		if h == d.read {
			d.acts = make([]float32, act.Rows()*act.Cols())
			d.width = act.Cols()
			d.m.Backend().Read(act, d.acts)
		}
		return nil
	}}
	if d.add != nil {
		hooks.Patches = map[string]model.Patch{d.hook.String(): model.HostFunc(func(_ hookname.Hook, data []float32, _, _, w int) error {
			for t, row := range d.add {
				for j, v := range row {
					data[t*w+j] = float32(float64(data[t*w+j]) + v)
				}
			}
			return nil
		})}
	}
	out, err := d.m.Run(context.Background(), d.tok, 1, T, hooks)
	if err != nil {
		d.t.Fatal(err)
	}
	d.out = out
}

func (d *direct) logitDiff(a, b int) float64 {
	d.t.Helper()
	lg, err := d.m.Logits(d.out.Resid, []int{len(d.tok) - 1})
	if err != nil {
		d.t.Fatal(err)
	}
	return float64(lg[0][a]) - float64(lg[0][b])
}

func (d *direct) loss() float64 {
	d.t.Helper()
	tl, err := d.m.TokenLoss(d.out, d.tok)
	if err != nil {
		d.t.Fatal(err)
	}
	return model.MeanLoss(tl)
}

// hostEncode is a standard SAE's relu((x − b_dec)·W_enc + b_enc) of one
// row, in float64, written here rather than taken from compute/encoder.
func hostEncode(t *testing.T, s *sae.SAE, x []float32) []float64 {
	t.Helper()
	if s.Arch != "" && s.Arch != sae.Standard || s.Norm != "" && s.Norm != sae.NormNone || !s.ApplyBDecToInput {
		t.Fatalf("hostEncode is for plain ReLU SAEs, not %s/%s", s.Arch, s.Norm)
	}
	d, n := s.DIn, s.DSae
	f := make([]float64, n)
	for i := 0; i < n; i++ {
		v := float64(s.BEnc.Data[i])
		for j := 0; j < d; j++ {
			v += (float64(x[j]) - float64(s.BDec.Data[j])) * float64(s.WEnc.Data[j*n+i])
		}
		f[i] = math.Max(0, v)
	}
	return f
}

// hostFeatures encodes every position of acts ([T, d_in]).
func hostFeatures(t *testing.T, s *sae.SAE, acts []float32, T int) [][]float64 {
	out := make([][]float64, T)
	for p := 0; p < T; p++ {
		out[p] = hostEncode(t, s, acts[p*s.DIn:(p+1)*s.DIn])
	}
	return out
}

// patchRows is the host patch of feature i from clean to corrupt at the
// positions in [lo, hi): (f_clean_i − f_corrupt_i)·W_dec[i] at each.
func patchRows(s *sae.SAE, fc, fx [][]float64, i, lo, hi int) [][]float64 {
	rows := make([][]float64, len(fc))
	for p := lo; p < hi; p++ {
		k := fc[p][i] - fx[p][i]
		rows[p] = make([]float64, s.DIn)
		for j := range rows[p] {
			rows[p][j] = k * float64(s.WDec.Data[i*s.DIn+j])
		}
	}
	return rows
}

type patchCase struct {
	t      *testing.T
	s      *fixture.Setup
	ref    *fixture.Reference
	clean  []int32
	corr   []int32
	fc, fx [][]float64 // sae0's features of each run, encoded on the host
}

func newPatchCase(t *testing.T, tag string) *patchCase {
	ref := fixture.Load(t)
	// OpenBLAS when the machine has it: the loss metric unembeds every position
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	pc := &patchCase{t: t, s: s, ref: ref, clean: tokens[:T], corr: tokens[T : 2*T]}
	w := s.SAEs[tag].SAE
	for k, tok := range [][]int32{pc.clean, pc.corr} {
		d := &direct{t: t, m: s.Model, tok: tok, read: w.Hook}
		d.run()
		f := hostFeatures(t, w, d.acts, T)
		if k == 0 {
			pc.fc = f
		} else {
			pc.fx = f
		}
	}
	return pc
}

// Patching sae0's features at one position equals adding
// (f_clean_i − f_corrupt_i)·W_dec[i] there with a host hook function and
// reading the metric off a plain pass, for every patched feature; exactly
// the features active at that position in either run are patched, with
// batches of 1 and 5; position -1 is the last one.
func TestPatchOnePositionMatchesHostPatch(t *testing.T) {
	pc := newPatchCase(t, "sae0")
	enc := pc.s.SAEs["sae0"]
	w := enc.SAE
	T := len(pc.clean)
	for _, c := range []struct{ pos, at, batch int }{{5, 5, 1}, {-1, T - 1, 5}} {
		res, err := intervene.PatchWith(context.Background(), pc.s.Model, enc, pc.clean, pc.corr, intervene.LogitDiff(13, 11),
			intervene.PatchOptions{OnePosition: true, Pos: c.pos, Batch: c.batch})
		if err != nil {
			t.Fatal(err)
		}
		if res.Pos != c.at {
			t.Errorf("position %d resolved to %d, want %d", c.pos, res.Pos, c.at)
		}
		var want []int
		for i := 0; i < w.DSae; i++ {
			if pc.fc[c.at][i] > 0 || pc.fx[c.at][i] > 0 {
				want = append(want, i)
			}
		}
		if len(res.Patched) != len(want) || res.Active != len(want) {
			t.Fatalf("position %d: %d features patched, %d active there in either run", c.pos, len(res.Patched), len(want))
		}
		base := &direct{t: t, m: pc.s.Model, tok: pc.corr}
		base.run()
		m0 := base.logitDiff(13, 11)
		fixture.Close(t, "corrupt metric", []float32{float32(res.MetricCorrupt)}, []float32{float32(m0)}, 1e-4)
		got, exp := make([]float32, len(want)), make([]float32, len(want))
		for k, i := range want {
			if res.Patched[k] != i {
				t.Fatalf("patched feature %d is %d, want %d", k, res.Patched[k], i)
			}
			d := &direct{t: t, m: pc.s.Model, tok: pc.corr, hook: w.Hook, add: patchRows(w, pc.fc, pc.fx, i, c.at, c.at+1)}
			d.run()
			got[k], exp[k] = float32(res.Effect[i]), float32(d.logitDiff(13, 11)-m0)
			if dl := pc.fc[c.at][i] - pc.fx[c.at][i]; math.Abs(res.Delta[i]-dl) > 1e-4*math.Max(1, math.Abs(dl)) {
				t.Errorf("feature %d: delta %g, want %g", i, res.Delta[i], dl)
			}
		}
		fixture.Close(t, "one-position effects", got, exp, 1e-4)
		nonzero := 0
		for _, v := range exp {
			if math.Abs(float64(v)) > 1e-3 {
				nonzero++
			}
		}
		if nonzero == 0 {
			t.Errorf("position %d: no effect above 1e-3: the comparison checks nothing", c.pos)
		}
		for i, v := range res.Effect {
			if v != 0 && (pc.fc[c.at][i] == 0 && pc.fx[c.at][i] == 0) {
				t.Errorf("feature %d inactive at %d has effect %g", i, c.at, v)
			}
		}
	}
}

// The loss metric: each prompt's clean loss averaged over the fixtures'
// three rows equals PyTorch's loss (1e-4), and the effects, at every
// position and at one, equal the host-patched pass's loss minus the
// corrupted one's.
func TestPatchLossMetric(t *testing.T) {
	pc := newPatchCase(t, "sae0")
	enc := pc.s.SAEs["sae0"]
	w := enc.SAE
	T := len(pc.clean)
	tokens, _ := pc.ref.Ints(t, "tokens")
	var mean float64
	for r := 0; r < 3; r++ {
		row := tokens[r*T : (r+1)*T]
		res, err := intervene.PatchWith(context.Background(), pc.s.Model, enc, row, pc.corr, intervene.LossMetric(), intervene.PatchOptions{OnePosition: true, Pos: 0, Batch: 8})
		if err != nil {
			t.Fatal(err)
		}
		mean += res.MetricClean / 3
	}
	fixture.Close(t, "loss over the three rows", []float32{float32(mean)}, pc.ref.Float(t, "loss").Data, 1e-4)

	base := &direct{t: t, m: pc.s.Model, tok: pc.corr}
	base.run()
	l0 := base.loss()
	for _, opt := range []intervene.PatchOptions{{Batch: 16}, {OnePosition: true, Pos: 7, Batch: 3}} {
		res, err := intervene.PatchWith(context.Background(), pc.s.Model, enc, pc.clean, pc.corr, intervene.LossMetric(), opt)
		if err != nil {
			t.Fatal(err)
		}
		fixture.Close(t, "corrupt loss", []float32{float32(res.MetricCorrupt)}, []float32{float32(l0)}, 1e-4)
		lo, hi := 0, T
		if opt.OnePosition {
			lo, hi = opt.Pos, opt.Pos+1
		}
		// every fourth patched feature: the tiny model's passes are cheap,
		// but one per feature adds up
		var got, exp []float32
		for k := 0; k < len(res.Patched); k += 4 {
			i := res.Patched[k]
			d := &direct{t: t, m: pc.s.Model, tok: pc.corr, hook: w.Hook, add: patchRows(w, pc.fc, pc.fx, i, lo, hi)}
			d.run()
			got, exp = append(got, float32(res.Effect[i])), append(exp, float32(d.loss()-l0))
		}
		if len(got) < 5 {
			t.Fatalf("only %d features compared", len(got))
		}
		fixture.Close(t, "loss effects", got, exp, 1e-4)
	}
}

// A feature metric: sae0's feature at the last position, read at
// blocks.1.hook_resid_pre, with sae1's features (blocks.0.hook_mlp_out)
// patched. The clean and corrupted values equal PyTorch's sae0 activations
// (1e-4); each effect equals encoding, on the host, the activation of a
// host-patched pass. Patching sae0 itself with the metric at the same hook
// reads the patched activation.
func TestPatchFeatureMetric(t *testing.T) {
	pc := newPatchCase(t, "sae1")
	up, down := pc.s.SAEs["sae1"], pc.s.SAEs["sae0"]
	T := len(pc.clean)
	acts := pc.ref.Float(t, "sae0.feature_acts").Data // [3, T, d_sae]
	n := down.SAE.DSae
	// the sae0 feature most active at the clean prompt's last position
	j := 0
	for i := 0; i < n; i++ {
		if acts[(T-1)*n+i] > acts[(T-1)*n+j] {
			j = i
		}
	}
	metric := intervene.FeatureMetric(down, j, -1)
	res, err := intervene.PatchWith(context.Background(), pc.s.Model, up, pc.clean, pc.corr, metric, intervene.PatchOptions{Batch: 6})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Close(t, "feature metric clean, corrupt", []float32{float32(res.MetricClean), float32(res.MetricCorrupt)},
		[]float32{acts[(T-1)*n+j], acts[T*n+(T-1)*n+j]}, 1e-4)
	if !strings.Contains(metric.String(), "blocks.1.hook_resid_pre") {
		t.Errorf("metric described as %q", metric.String())
	}
	w := up.SAE
	var got, exp []float32
	for k := 0; k < len(res.Patched); k += 3 {
		i := res.Patched[k]
		d := &direct{t: t, m: pc.s.Model, tok: pc.corr, hook: w.Hook, add: patchRows(w, pc.fc, pc.fx, i, 0, T), read: down.SAE.Hook}
		d.run()
		f := hostEncode(t, down.SAE, d.acts[(T-1)*d.width:T*d.width])
		got, exp = append(got, float32(res.Effect[i])), append(exp, float32(f[j]-res.MetricCorrupt))
	}
	fixture.Close(t, "feature metric effects", got, exp, 1e-4)
	nonzero := 0
	for _, v := range exp {
		if math.Abs(float64(v)) > 1e-3 {
			nonzero++
		}
	}
	if len(got) < 5 || nonzero == 0 {
		t.Errorf("%d features compared, %d with an effect: the comparison checks little", len(got), nonzero)
	}

	// the metric at the patched hook itself
	pd := newPatchCase(t, "sae0")
	res, err = intervene.PatchWith(context.Background(), pd.s.Model, pd.s.SAEs["sae0"], pd.clean, pd.corr, intervene.FeatureMetric(pd.s.SAEs["sae0"], j, -1), intervene.PatchOptions{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	got, exp = nil, nil
	for k := 0; k < len(res.Patched); k += 5 {
		i := res.Patched[k]
		d := &direct{t: t, m: pd.s.Model, tok: pd.corr, hook: down.SAE.Hook, add: patchRows(down.SAE, pd.fc, pd.fx, i, 0, T), read: down.SAE.Hook}
		d.run()
		f := hostEncode(t, down.SAE, d.acts[(T-1)*d.width:T*d.width])
		got, exp = append(got, float32(res.Effect[i])), append(exp, float32(f[j]-res.MetricCorrupt))
	}
	fixture.Close(t, "same-hook feature metric effects", got, exp, 1e-4)
}

// Bad metrics and positions are refused with a message saying what is
// wrong, before any pass.
func TestPatchRefusesBadInput(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	clean, corr := tokens[:T], tokens[T:2*T]
	sae0, sae1 := s.SAEs["sae0"], s.SAEs["sae1"]
	for _, c := range []struct {
		name           string
		clean, corrupt []int32
		metric         intervene.Metric
		opt            intervene.PatchOptions
		want           string
	}{
		{"metric before the hook", clean, corr, intervene.FeatureMetric(sae1, 0, -1), intervene.PatchOptions{}, "comes before the patched hook"},
		{"metric feature", clean, corr, intervene.FeatureMetric(sae0, 256, -1), intervene.PatchOptions{}, "feature 256 out of range"},
		{"metric position", clean, corr, intervene.FeatureMetric(sae0, 3, T), intervene.PatchOptions{}, "metric position 24 outside"},
		{"metric token", clean, corr, intervene.LogitDiff(13, 50257), intervene.PatchOptions{}, "token 50257 outside the vocabulary"},
		{"loss of one token", clean[:1], corr[:1], intervene.LossMetric(), intervene.PatchOptions{}, "at least 2 tokens"},
		{"position", clean, corr, intervene.LogitDiff(13, 11), intervene.PatchOptions{OnePosition: true, Pos: -T - 1}, "position -25 outside"},
		{"lengths", clean, corr[:T-2], intervene.LogitDiff(13, 11), intervene.PatchOptions{}, "24 tokens and the corrupted one 22"},
	} {
		_, err := intervene.PatchWith(context.Background(), s.Model, sae0, c.clean, c.corrupt, c.metric, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// A batch larger than the features to patch (a careless --batch) gives
// the same effects as a small one: the passes hold only the active
// features, not batch copies of the prompt (which ran out of memory).
func TestPatchHugeBatch(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	clean, corr := tokens[:T], tokens[T:2*T]
	ctx := context.Background()
	small, err := intervene.PatchWith(ctx, s.Model, s.SAEs["sae0"], clean, corr, intervene.LogitDiff(13, 11), intervene.PatchOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	huge, err := intervene.PatchWith(ctx, s.Model, s.SAEs["sae0"], clean, corr, intervene.LogitDiff(13, 11), intervene.PatchOptions{Batch: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if small.Active == 0 {
		t.Fatal("no active feature: the test checks nothing")
	}
	for i := range small.Effect {
		if d := math.Abs(small.Effect[i] - huge.Effect[i]); d > 1e-5 {
			t.Fatalf("feature %d: effect %g with batch 16, %g with batch 2^40", i, small.Effect[i], huge.Effect[i])
		}
	}
}

// A metric token typed as text must be exactly one token: the message for
// two names both, with their ids.
func TestOneToken(t *testing.T) {
	tok, err := tokenizer.New()
	if err != nil {
		t.Fatal(err)
	}
	if id, err := intervene.OneToken(tok, " world"); err != nil || id != 995 {
		t.Errorf(`" world": %d, %v; want 995`, id, err)
	}
	_, err = intervene.OneToken(tok, "hello world")
	if err == nil || !strings.Contains(err.Error(), `is 2 tokens, not one: "hello" (31373) + " world" (995)`) {
		t.Errorf(`"hello world": %v`, err)
	}
	if _, err := intervene.OneToken(tok, ""); err == nil {
		t.Error("an empty text accepted as a token")
	}
}
