package ui

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/ui/labels"
	"github.com/saescope/saescope/weights/corpus"
)

// The Steer pane, the Patch pane and the hover ablation on a transcoder's
// features (the v2 fixtures' MLP transcoder, blocks.0.ln2.hook_normalized
// → blocks.0.hook_mlp_out): accepted, and showing what compute/intervene
// computes for them (whose own tests check it against host-patched
// passes).

var tcFx struct {
	once sync.Once
	ws   *workspace.Workspace
	sae  *workspace.SAE
	err  error
}

// transcoderView returns a view of the fixture transcoder, analysed on 8
// rows of the shipped corpus (shared by the tests).
func transcoderView(t *testing.T) *View {
	t.Helper()
	tcFx.once.Do(func() {
		be, err := cpu.New(cpu.BLASAuto)
		if err != nil {
			tcFx.err = err
			return
		}
		if tcFx.ws, tcFx.err = workspace.Open(fixModel, be); tcFx.err != nil {
			return
		}
		if tcFx.sae, tcFx.err = tcFx.ws.AddSAE(filepath.Join(fix, "v2", "saelens-transcoder-mlp-0"), ""); tcFx.err != nil {
			return
		}
		ctx := context.Background()
		c, err := corpus.LoadFS(ctx, assets.CorpusFS(), assets.CorpusDir, tcFx.ws.Tok, corpus.Options{SeqLen: 128, Rows: 8}, nil)
		if err != nil {
			tcFx.err = err
			return
		}
		p := analysis.DefaultParams()
		p.Rows = 8
		tcFx.err = tcFx.sae.Analyze(ctx, filepath.Join(tmpRoot, "transcoder-store"), c, p, false, nil)
	})
	if tcFx.err != nil {
		t.Fatal(tcFx.err)
	}
	if !tcFx.sae.Weights.Transcoder {
		t.Fatal("the fixture is not a transcoder")
	}
	book, err := labels.Open(t.TempDir(), tcFx.sae.Hash, tcFx.sae.Path)
	if err != nil {
		t.Fatal(err)
	}
	jobs := NewJobs()
	t.Cleanup(jobs.Close)
	v := NewView(tcFx.sae, tcFx.ws.Tok, book, jobs)
	v.SetStore(tcFx.sae.Store(), false)
	return v
}

// A transcoder feature enters the Steer list (it was refused) at its max
// activation, and the pane shows intervene.Apply's greedy continuations
// for it, added and clamped.
func TestSteerPaneTranscoder(t *testing.T) {
	test.NewTempApp(t)
	v := transcoderView(t)
	p := NewSteerPane(v)
	show(t, p.Content(), 1000, 800)
	st := p.Set().Settings()
	st.Prompt, st.Tokens = "The cat sat on the", 6
	p.Set().SetSettings(st)
	// the feature with the largest max activation
	f, best := -1, 0.0
	for i := 0; i < v.SAE.Weights.DSae; i++ {
		if s, err := v.Store().Stats(i); err == nil && s.Max > best {
			f, best = i, s.Max
		}
	}
	if f < 0 {
		t.Fatal("no transcoder feature fires on the corpus")
	}
	if err := p.Set().Add(v, f); err != nil {
		t.Fatalf("a transcoder's feature refused: %v", err)
	}
	var ids []int32
	for _, id := range v.Tok.ToTokens(st.Prompt) {
		ids = append(ids, int32(id))
	}
	m := v.SAE.W.Model
	plain, err := intervene.Greedy(context.Background(), m, ids, st.Tokens, model.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode  intervene.Mode
		coeff float64
	}{{intervene.Add, best}, {intervene.Clamp, 3 * best}} {
		if c.mode != intervene.Add {
			p.Rows[0].Mode.SetSelected(string(c.mode))
			p.Rows[0].Value.SetText(fmt.Sprint(c.coeff))
		}
		p.Settle()
		res := p.Result()
		if res == nil || p.Msg.Visible() {
			t.Fatalf("%s: no result (message %q)", c.mode, p.Msg.Text)
		}
		if fs := p.Set().Features(); fs[0].Mode != c.mode || fs[0].Coeff != c.coeff {
			t.Fatalf("list %+v, want %s %v", fs, c.mode, c.coeff)
		}
		hooks, err := intervene.Apply(model.Hooks{}, []intervene.Intervention{{Enc: v.SAE.Enc, Feature: f, Mode: c.mode, Coeff: float32(c.coeff)}})
		if err != nil {
			t.Fatal(err)
		}
		steered, err := intervene.Greedy(context.Background(), m, ids, st.Tokens, hooks)
		if err != nil {
			t.Fatal(err)
		}
		if !sameIDs(res.Plain, plain.Generated) || !sameIDs(res.Steered, steered.Generated) {
			t.Errorf("%s: plain %v steered %v, direct %v %v", c.mode, res.Plain, res.Steered, plain.Generated, steered.Generated)
		}
		if kl := intervene.KL(plain.LogitsLast, steered.LogitsLast); math.Abs(res.Next.KL-kl) > 1e-9*math.Max(1, kl) || !(kl > 0) {
			t.Errorf("%s: KL %v, direct %v", c.mode, res.Next.KL, kl)
		}
	}
}

// The Patch pane's example on the transcoder: the effects of
// intervene.PatchWith, no message.
func TestPatchPaneTranscoder(t *testing.T) {
	test.NewTempApp(t)
	v := transcoderView(t)
	p := NewPatchPane(v)
	show(t, p.Content(), 1100, 760)
	p.RunExample()
	p.Settle()
	if p.Msg.Visible() {
		t.Fatalf("message %q", p.Msg.Text)
	}
	a, b := v.Tok.Encode(PatchExampleA), v.Tok.Encode(PatchExampleB)
	want, err := intervene.PatchWith(context.Background(), v.SAE.W.Model, v.SAE.Enc, patchTokens(v, PatchExampleClean), patchTokens(v, PatchExampleCorrupt),
		intervene.LogitDiff(a[0], b[0]), intervene.PatchOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	sameEffects(t, p.Result(), want)
	if len(want.Patched) < 3 {
		t.Fatalf("only %d transcoder features patched: the comparison checks little", len(want.Patched))
	}
}

// Hovering a token in the Neuroscope with a transcoder feature selected
// shows intervene.AblateAt's lists (it said the ablation is not
// supported).
func TestNeuroscopeHoverTranscoder(t *testing.T) {
	test.NewTempApp(t)
	v := transcoderView(t)
	p := NewNeuroscopePane(v)
	show(t, p.Content(), 800, 600)
	p.Text.SetText("The quick brown fox jumps over the lazy dog.")
	p.Settle()
	ta := p.Acts()
	f, best := 0, float32(0)
	for i := 1; i < len(ta.Tokens); i++ {
		for j := 0; j < ta.DSae; j++ {
			if a := ta.Acts[i*ta.DSae+j]; a > best {
				f, best = j, a
			}
		}
	}
	v.Select(f)
	m := p.Strip.Marked()
	if m < 0 {
		t.Fatal("no marked chip")
	}
	p.Strip.OnHover(m)
	p.SettleAblation()
	pos := p.chipPos[m] + 1
	seq := make([]int32, len(ta.Tokens))
	for i, id := range ta.Tokens {
		seq[i] = int32(id)
	}
	want, err := intervene.AblateAt(context.Background(), v.SAE.W.Model, v.SAE.Enc, seq, f, pos, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want.Value == 0 || math.Abs(float64(want.Value-ta.Feature(f)[pos])) > 1e-5*math.Max(1, math.Abs(float64(want.Value))) { // two passes: the text's whole and AblateAt's cut at pos
		t.Fatalf("ablated value %v, text's %v", want.Value, ta.Feature(f)[pos])
	}
	line := p.Ablation().Text
	if strings.Contains(line, "not supported") {
		t.Fatalf("hover line %q", line)
	}
	for _, l := range [][]intervene.LogProbChange{want.Increases, want.Decreases} {
		for _, ch := range l {
			if item := fmt.Sprintf("%s %+.2f", v.Tok.DisplayString(ch.ID), ch.Delta); !strings.Contains(line, item) {
				t.Errorf("line %q lacks %q", line, item)
			}
		}
	}
}

// Hovering the marked token of a transcoder feature's strongest context
// shows intervene.AblateAt's lists on that corpus row.
func TestContextsHoverTranscoder(t *testing.T) {
	test.NewTempApp(t)
	v := transcoderView(t)
	p := NewContextsPane(v)
	show(t, p.Content(), 800, 700)
	st := v.Store()
	f := st.Rank(store.ByMean, true).Live[0].ID
	v.Select(f)
	s := p.TopList()[0]
	c := firstOfEachRow(t, st, f, 1, DefaultPrefix, DefaultSuffix)[0]
	s.OnHover(s.Marked())
	p.SettleAblation()
	seq := st.SeqLen()
	whole, err := st.TopContexts(f, 1, seq, seq)
	if err != nil || whole[0].Row != c.Row || len(whole[0].Tokens) != seq {
		t.Fatalf("the strongest context's row: %+v, %v", whole, err)
	}
	want, err := intervene.AblateAt(context.Background(), v.SAE.W.Model, v.SAE.Enc, whole[0].Tokens, f, c.Pos, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want.Value == 0 || len(want.Increases) != 5 {
		t.Fatalf("the direct ablation: %+v", want)
	}
	line := p.Ablation().Text
	for _, l := range [][]intervene.LogProbChange{want.Increases, want.Decreases} {
		for _, ch := range l {
			if item := fmt.Sprintf("%s %+.2f", v.Tok.DisplayString(ch.ID), ch.Delta); !strings.Contains(line, item) {
				t.Errorf("line %q lacks %q", line, item)
			}
		}
	}
}

// A transcoder feature in the Steer list is saved with the workspace and
// restored when it reopens (it was dropped with a note).
func TestWorkspaceStateRestoresTranscoderSteering(t *testing.T) {
	a := test.NewTempApp(t)
	open := func(spec WorkspaceSpec) *Shell {
		t.Helper()
		s := NewShell(a, "test", testBackend)
		if err := wait(t, func(done func(error)) { s.OpenWorkspace(spec, false, done) }); err != nil {
			t.Fatal(err)
		}
		settleAll(s)
		return s
	}
	spec := WorkspaceSpec{Model: fixModel, Corpus: ShippedCorpus, Rows: 8, SAEs: []SAESpec{{Path: filepath.Join(fix, "v2", "saelens-transcoder-mlp-0")}}}
	s := open(spec)
	if !s.Session().Explorers[0].View.SAE.Weights.Transcoder {
		t.Fatal("the fixture is not a transcoder")
	}
	if err := s.SteerFeatures("7 clamp 2.5"); err != nil {
		t.Fatalf("--steer on a transcoder: %v", err)
	}
	s.closeSession()
	rec := LoadRecent(a.Preferences())
	if len(rec) == 0 || rec[0].State == nil {
		t.Fatalf("no state remembered: %+v", rec)
	}
	s2 := open(rec[0])
	defer s2.closeSession()
	v := s2.Session().Explorers[0].View
	if fs := v.Bench().Steer().Features(); len(fs) != 1 || fs[0] != (SteerFeature{v, 7, intervene.Clamp, 2.5}) {
		t.Errorf("restored steer list %+v", fs)
	}
}
