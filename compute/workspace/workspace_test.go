package workspace

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/tokenizer"
)

const fix = "../../testdata/fixtures"

func open(t *testing.T) (*Workspace, *SAE) {
	t.Helper()
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Open(filepath.Join(fix, "tiny-gpt2"), be)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	s, err := w.AddSAE(filepath.Join(fix, "tiny-gpt2_256_resid_pre_1.pt"), "")
	if err != nil {
		t.Fatal(err)
	}
	return w, s
}

// smallCorpus makes rows from a few sentences repeated.
func smallCorpus(t *testing.T, tok *tokenizer.Tokenizer, rows int) *corpus.Corpus {
	t.Helper()
	text := strings.Repeat("The quick brown fox jumps over the lazy dog near the river bank. ", 40)
	var docs []corpus.Document
	for i := 0; i < rows; i++ {
		docs = append(docs, corpus.Document{Source: "t", Text: text})
	}
	c, err := corpus.Rows(context.Background(), docs, tok, corpus.Options{SeqLen: 24, Rows: rows}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEncodeAndElicit(t *testing.T) {
	_, s := open(t)
	ta, err := s.Encode(context.Background(), "The quick brown fox jumps over the lazy dog near the river bank.")
	if err != nil {
		t.Fatal(err)
	}
	if ta.Tokens[0] != tokenizer.BOS || len(ta.Display) != len(ta.Tokens) || len(ta.Acts) != len(ta.Tokens)*256 {
		t.Fatalf("shapes: %d tokens, %d acts", len(ta.Tokens), len(ta.Acts))
	}
	// sae0.elicit_mean_ids of the fixture reference.
	top, err := ta.Elicit(5, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{158, 153, 155, 66, 178}
	for i, r := range top {
		if r.ID != want[i] {
			t.Fatalf("elicit %v, want ids %v", top, want)
		}
	}
	f := ta.Feature(158)
	if len(f) != len(ta.Tokens) {
		t.Error("Feature length")
	}
	if _, err := s.Encode(context.Background(), "bad \xff utf8"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	if _, err := s.Encode(context.Background(), strings.Repeat("x", MaxTextRunes+1)); err == nil {
		t.Error("over-long text accepted")
	}
	long, err := s.Encode(context.Background(), strings.Repeat("word ", 2000))
	if err != nil || !long.Truncated || len(long.Tokens) != 128 {
		t.Errorf("10,000-character text: %v truncated=%v tokens=%d", err, long != nil && long.Truncated, len(long.Tokens))
	}
	empty, err := s.Encode(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.Elicit(5, nil); err == nil {
		t.Error("elicit on empty text accepted")
	}
	p := 99
	if _, err := ta.Elicit(5, &p); err == nil {
		t.Error("position out of range accepted")
	}
}

// A cancelled analysis leaves no store; running it again completes, and a
// third run reopens the finished store without scanning.
func TestAnalyzeCancelRerunReopen(t *testing.T) {
	w, s := open(t)
	dir := t.TempDir()
	c := smallCorpus(t, w.Tok, 40)
	params := analysis.DefaultParams()
	params.Batch, params.ReconRows = 4, 2
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Analyze(ctx, dir, c, params, false, func(p analysis.Progress) {
		if p.Stage == "scan" && p.Rows >= 12 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled analysis: %v", err)
	}
	if s.Store() != nil {
		t.Fatal("a cancelled analysis set a store")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("cancelled analysis left files: %v", entries)
	}
	scans := 0
	if err := s.Analyze(context.Background(), dir, c, params, false, func(p analysis.Progress) {
		if p.Stage == "scan" {
			scans++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if s.Store() == nil || scans == 0 {
		t.Fatal("analysis did not run")
	}
	first := s.Store().Meta.Key
	firstStore := s.Store()
	// The replaced store goes to the release hook (a window closes it
	// when its jobs are done), not closed under them.
	var released []*store.Store
	s.ReleaseReplacedStore(func(st *store.Store) { released = append(released, st) })
	scans = 0
	if err := s.Analyze(context.Background(), dir, c, params, false, func(p analysis.Progress) { scans++ }); err != nil {
		t.Fatal(err)
	}
	if scans != 0 || s.Store().Meta.Key != first {
		t.Errorf("finished analysis was scanned again (%d progress calls)", scans)
	}
	if len(released) != 1 || released[0] != firstStore || s.Store() == firstStore {
		t.Errorf("reopening released %v (the store it replaced: %p)", released, firstStore)
	}
	if n := firstStore.NumTokens(); n == 0 || firstStore.Tokens[n-1] < 0 { // still mapped: readable
		t.Errorf("the released store reads %d tokens", n)
	}
	firstStore.Close()
	// Other parameters are another analysis.
	params.BaselineStride = 2
	if ok, err := s.OpenCached(dir, c, params); ok || err != nil {
		t.Errorf("cached store found for other parameters: %v %v", ok, err)
	}
}

func TestSAEForAnotherModelRefused(t *testing.T) {
	w, _ := open(t)
	if _, err := w.AddSAE(filepath.Join(fix, "nope.pt"), ""); err == nil {
		t.Error("missing SAE accepted")
	}
	if _, err := w.AddSAE(filepath.Join(fix, "tiny-gpt2_256_resid_pre_1.pt"), "blocks.5.hook_resid_pre"); err == nil {
		t.Error("hook past the model's layers accepted")
	}
}

// An SAE added with its decoder norms folded: each feature's activations
// are its unfolded ones times its decoder norm, and its analysis has its
// own cache key.
func TestAddSAEFoldDecNorm(t *testing.T) {
	w, plain := open(t)
	folded, err := w.AddSAEWith(filepath.Join(fix, "tiny-gpt2_256_resid_pre_1.pt"), SAEOptions{FoldDecNorm: true})
	if err != nil {
		t.Fatal(err)
	}
	if !folded.Weights.FoldedDecoderNorm || plain.Weights.FoldedDecoderNorm {
		t.Fatal("fold not recorded")
	}
	text := "The quick brown fox jumps over the lazy dog."
	a, err := plain.Encode(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := folded.Encode(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	d := plain.Weights.DIn
	for f := 0; f < a.DSae; f++ {
		var n float64
		for _, v := range plain.Weights.WDec.Data[f*d : (f+1)*d] {
			n += float64(v) * float64(v)
		}
		n = math.Sqrt(n)
		for tok := 0; tok < len(a.Acts)/a.DSae; tok++ {
			x, y := float64(a.Acts[tok*a.DSae+f]), float64(b.Acts[tok*a.DSae+f])
			if math.Abs(y-x*n) > 1e-4*math.Max(1, math.Abs(y)) {
				t.Fatalf("feature %d token %d: folded %g, unfolded %g × norm %g", f, tok, y, x, n)
			}
		}
	}
	c := &corpus.Corpus{Path: "c", Hash: "h", Rows: [][]int32{{50256, 1, 2}}}
	if plain.AnalysisMeta(c, store.Params{}).Key == folded.AnalysisMeta(c, store.Params{}).Key {
		t.Error("folded and unfolded analyses share a cache key")
	}
}

// Typed text for an SAE trained without BOS (OpenAI's TopK fixture): the
// text's activations are those of a pass over the text alone, and the BOS
// slot the panes leave out is zero.
func TestEncodeNoBOS(t *testing.T) {
	w, _ := open(t)
	s, err := w.AddSAE(filepath.Join(fix, "v2", "oai-topk8-hook_resid_post-0.pt"), "blocks.0.hook_resid_post")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Weights.NoBOS {
		t.Fatal("the OpenAI fixture is not marked NoBOS")
	}
	text := "The quick brown fox jumps over the lazy dog."
	ta, err := s.Encode(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	if ta.Tokens[0] != tokenizer.BOS {
		t.Fatalf("first token %d, want the BOS slot", ta.Tokens[0])
	}
	var alone []int32
	for _, id := range ta.Tokens[1:] {
		alone = append(alone, int32(id))
	}
	want, err := features.Activations(context.Background(), w.Model, s.Enc, alone, 1, len(alone))
	if err != nil {
		t.Fatal(err)
	}
	d := ta.DSae
	for i, v := range ta.Acts[:d] {
		if v != 0 {
			t.Fatalf("BOS slot feature %d = %g", i, v)
		}
	}
	for i, v := range ta.Acts[d:] {
		if v != want[i] {
			t.Fatalf("activation %d = %g, the text alone gives %g", i, v, want[i])
		}
	}
}

// AnalyzeMany scans two SAEs in one pass: cancelled, it writes nothing
// and leaves neither a store; run to the end, it writes one store per SAE
// under the key each has alone (Analyze then reopens it without
// scanning), and a second AnalyzeMany scans nothing.
func TestAnalyzeManyCancelThenKeys(t *testing.T) {
	w, s0 := open(t)
	s1, err := w.AddSAE(filepath.Join(fix, "tiny-gpt2-saelens-mlp_out-0"), "")
	if err != nil {
		t.Fatal(err)
	}
	c := smallCorpus(t, w.Tok, 20)
	params := analysis.DefaultParams()
	params.Batch, params.ReconRows = 4, 2
	paramsOf := func(*SAE) store.Params { return params }
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	err = w.AnalyzeMany(ctx, dir, c, []*SAE{s0, s1}, paramsOf, false, func(s *SAE, p analysis.Progress) {
		if s == s1 && p.Stage == "scan" && p.Rows >= 8 {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled AnalyzeMany returned %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a cancelled AnalyzeMany left %d files: %v", len(entries), entries)
	}
	if s0.Store() != nil || s1.Store() != nil {
		t.Error("a cancelled AnalyzeMany gave an SAE a store")
	}
	scans := map[*SAE]int{}
	if err := w.AnalyzeMany(context.Background(), dir, c, []*SAE{s0, s1}, paramsOf, false, func(s *SAE, p analysis.Progress) {
		if p.Stage == "scan" {
			scans[s]++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if scans[s0] != 5 || scans[s1] != 5 {
		t.Errorf("scan progress per SAE %d and %d, want 5 batches each", scans[s0], scans[s1])
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d files for two SAEs: %v", len(entries), entries)
	}
	for _, s := range []*SAE{s0, s1} {
		st := s.Store()
		if st == nil || st.Meta.Key != s.AnalysisMeta(c, params).Key || st.Meta.Hook != s.Weights.Hook.String() {
			t.Fatalf("%s: store %v", s.Name(), st)
		}
		again := 0
		if err := s.Analyze(context.Background(), dir, c, params, false, func(analysis.Progress) { again++ }); err != nil || again != 0 {
			t.Errorf("%s alone after the pass: %v, %d progress reports (want the store reopened)", s.Name(), err, again)
		}
	}
	scans = map[*SAE]int{}
	if err := w.AnalyzeMany(context.Background(), dir, c, []*SAE{s0, s1}, paramsOf, false, func(s *SAE, p analysis.Progress) { scans[s]++ }); err != nil || len(scans) != 0 {
		t.Errorf("AnalyzeMany of analysed SAEs: %v, progress %v", err, scans)
	}
}
