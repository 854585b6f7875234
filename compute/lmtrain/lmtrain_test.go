package lmtrain

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights/gpt2"
)

// tinyConfig is a GPT-2 of 2 layers of width 8 over a 40-token vocabulary.
func tinyConfig() gpt2.Config {
	return gpt2.Config{VocabSize: 40, NPositions: 8, DModel: 8, NHead: 2, NLayer: 2,
		LayerNormEps: 1e-5, Activation: "gelu_new", ModelType: "gpt2"}
}

// tinyModel has tokens 0..29 in use (10 share a row), random non-trivial
// gains and biases so that every gradient path is exercised.
func tinyModel(t *testing.T, seed uint64) *Params {
	t.Helper()
	used := make([]int32, 30)
	for i := range used {
		used[i] = int32(i)
	}
	v, err := NewVocab(40, used)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Init(tinyConfig(), v, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 9))
	ts, _ := p.tensors()
	for _, x := range ts {
		for j := range x {
			x[j] += float32(rng.NormFloat64() * 0.3)
		}
	}
	return p
}

func tinyTokens(seed uint64, B, T int) []int32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	tok := make([]int32, B*T)
	for i := range tok {
		tok[i] = int32(rng.IntN(30))
	}
	return tok
}

// TestGradientsMatchFiniteDifferences compares every parameter tensor's
// gradient, projected on a random direction, with the central difference
// of the loss along that direction, in float64 arithmetic of float32
// losses: h = 1e-2 along a unit direction, tolerance 2% of the larger of
// the two or 2e-4.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	ctx := context.Background()
	p := tinyModel(t, 1)
	tokens := tinyTokens(2, 2, 6)
	grad := p.ZeroGrad()
	if _, err := LossAndGrad(ctx, p, Gonum(), tokens, 6, grad); err != nil {
		t.Fatal(err)
	}
	ts, _ := p.tensors()
	gs, _ := grad.tensors()
	names := []string{"wte", "wpe"}
	for l := 0; l < 2; l++ {
		for _, n := range []string{"ln1.w", "ln1.b", "qkv.w", "qkv.b", "o.w", "o.b", "ln2.w", "ln2.b", "fc.w", "fc.b", "proj.w", "proj.b"} {
			names = append(names, n+"@"+string(rune('0'+l)))
		}
	}
	names = append(names, "lnf.w", "lnf.b")
	rng := rand.New(rand.NewPCG(4, 4))
	const h = 1e-2
	for i, x := range ts {
		u := make([]float64, len(x))
		var nn float64
		for j := range u {
			u[j] = rng.NormFloat64()
			nn += u[j] * u[j]
		}
		var want float64
		for j := range u {
			u[j] /= math.Sqrt(nn)
			want += u[j] * float64(gs[i][j])
		}
		orig := append([]float32(nil), x...)
		shift := func(s float64) float64 {
			for j := range x {
				x[j] = float32(float64(orig[j]) + s*u[j])
			}
			l, err := LossAndGrad(ctx, p, Gonum(), tokens, 6, nil)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		got := (shift(h) - shift(-h)) / (2 * h)
		copy(x, orig)
		if tol := math.Max(0.02*math.Max(math.Abs(got), math.Abs(want)), 2e-4); math.Abs(got-want) > tol {
			t.Errorf("%s: analytic directional derivative %.6g, central difference %.6g", names[i], want, got)
		}
		if want == 0 {
			t.Errorf("%s: zero gradient (the check cannot fail)", names[i])
		}
	}
}

// TestSharedRowIsFullSoftmax: the loss with unused tokens sharing a row
// (some of them in the sequence) equals the loss computed from the full-vocabulary logits (1e-5).
func TestSharedRowIsFullSoftmax(t *testing.T) {
	ctx := context.Background()
	p := tinyModel(t, 5)
	tokens := tinyTokens(6, 1, 7)
	tokens[3], tokens[5] = 35, 38 // tokens that share a row, as inputs and targets
	loss, err := LossAndGrad(ctx, p, Gonum(), tokens, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	lg, err := Logits(ctx, p, Gonum(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for pos := 0; pos < 6; pos++ {
		row := lg[pos]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - mx)
		}
		sum += mx + math.Log(z) - float64(row[tokens[pos+1]])
	}
	if want := sum / 6; math.Abs(loss-want) > 1e-5 {
		t.Fatalf("loss %.7f, full-vocabulary softmax %.7f", loss, want)
	}
}

func tinyData(n int, seed uint64) [][]int32 {
	rng := rand.New(rand.NewPCG(seed, 5))
	var seqs [][]int32
	for i := 0; i < n; i++ {
		s := make([]int32, 8)
		s[0] = int32(rng.IntN(30))
		for j := 1; j < 8; j++ {
			s[j] = (s[j-1]*7 + 3) % 30 // a deterministic successor: learnable
		}
		seqs = append(seqs, s)
	}
	return seqs
}

// TestTrainingLowersLossDeterministically: 200 steps on sequences whose
// next token is a function of the current one bring the validation loss
// well below the unigram baseline, and two runs with the same seeds give
// bit-identical parameters.
func TestTrainingLowersLossDeterministically(t *testing.T) {
	run := func() (*Params, float64) {
		used := make([]int32, 30)
		for i := range used {
			used[i] = int32(i)
		}
		v, _ := NewVocab(40, used)
		p, err := Init(tinyConfig(), v, 7)
		if err != nil {
			t.Fatal(err)
		}
		o := Defaults()
		o.Steps, o.Batch, o.Warmup, o.LR, o.MinLR = 200, 4, 10, 1e-2, 1e-3
		tr := &Trainer{P: p, Opt: o}
		val, err := tr.Train(context.Background(), Data{Train: tinyData(64, 1), Val: tinyData(16, 2)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p, val
	}
	p1, val := run()
	uni := UnigramLoss(tinyData(64, 1), tinyData(16, 2), 40)
	if val > 0.5*uni {
		t.Fatalf("validation loss %.3f after 200 steps, unigram %.3f: not learning", val, uni)
	}
	p2, _ := run()
	a, _ := p1.tensors()
	b, _ := p2.tensors()
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("tensor %d element %d: %v then %v: not deterministic", i, j, a[i][j], b[i][j])
			}
		}
	}
}

// TestLRSchedule: warm-up reaches the peak, the cosine ends at the minimum.
func TestLRSchedule(t *testing.T) {
	o := Options{Steps: 100, Warmup: 10, LR: 1, MinLR: 0.1}
	if got := o.LRAt(0); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("step 0: %g, want 0.1", got)
	}
	if got := o.LRAt(9); math.Abs(got-1) > 1e-12 {
		t.Errorf("step 9: %g, want 1", got)
	}
	if got := o.LRAt(99); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("last step: %g, want 0.1", got)
	}
	if got := o.LRAt(54); math.Abs(got-0.55) > 0.01 {
		t.Errorf("midway: %g, want about 0.55", got)
	}
}

// TestExp32 against math.Exp over the softmax range: relative error below
// 1e-6 (0 below −87).
func TestExp32(t *testing.T) {
	for x := float32(-87); x <= 0; x += 0.0137 {
		want := math.Exp(float64(x))
		if got := float64(exp32(x)); math.Abs(got-want) > 1e-6*want {
			t.Fatalf("exp32(%g) = %g, math.Exp %g", x, got, want)
		}
	}
	if exp32(-100) != 0 {
		t.Fatal("exp32(-100) should be 0")
	}
}

// Train refuses settings that can only diverge or are not numbers, and a
// batch larger than the training sequences (10^6 of them took 10.9 GB
// for 74 rows), before the first step.
func TestTrainRefusesBadOptions(t *testing.T) {
	used := make([]int32, 30)
	for i := range used {
		used[i] = int32(i)
	}
	v, _ := NewVocab(40, used)
	p, err := Init(tinyConfig(), v, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		set  func(*Options)
		want string
	}{
		{func(o *Options) { o.LR = math.Inf(1) }, "learning rates +Inf"},
		{func(o *Options) { o.LR = 1e30 }, "learning rates 1e+30"},
		{func(o *Options) { o.LR = math.NaN() }, "learning rates NaN"},
		{func(o *Options) { o.MinLR = math.NaN() }, "and NaN (min)"},
		{func(o *Options) { o.WeightDecay = math.NaN() }, "weight decay NaN"},
		{func(o *Options) { o.WeightDecay = math.Inf(1) }, "weight decay +Inf"},
		{func(o *Options) { o.Clip = math.NaN() }, "clip NaN"},
		{func(o *Options) { o.Clip = -1 }, "clip -1"},
		{func(o *Options) { o.Beta1 = math.NaN() }, "the Adam betas NaN"},
		{func(o *Options) { o.Batch = 1000000 }, "batch 1000000: more than the 64 training sequences"},
	} {
		o := Defaults()
		o.Steps, o.Batch = 3, 4
		c.set(&o)
		steps := 0
		tr := &Trainer{P: p, Opt: o}
		_, err := tr.Train(context.Background(), Data{Train: tinyData(64, 1), Val: tinyData(16, 2)}, func(Progress) { steps++ })
		if err == nil || !strings.Contains(err.Error(), c.want) || steps != 0 {
			t.Errorf("%+v: %v after %d steps, want an error saying %q before any", o, err, steps, c.want)
		}
	}
}
