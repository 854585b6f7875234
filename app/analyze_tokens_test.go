package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/tokenizer"
	"github.com/saescope/saescope/weights/tokenrows"
	"github.com/saescope/saescope/weights/tokenrows/tokenrowstest"
)

// exactRows are 6 rows of 13 tokens, BOS first: text of the fixture's
// sentence and others, cut by hand, so that batches of 4 split them
// unevenly.
func exactRows(t *testing.T) [][]int32 {
	t.Helper()
	tok, err := tokenizer.New()
	if err != nil {
		t.Fatal(err)
	}
	var stream []int32
	for _, s := range []string{text0, " Researchers compare sparse autoencoder features with those of random directions.",
		" A fox is not a dog, and the river bank is not a bank that lends money; 1234 apples cost 56.78 dollars in 2024.",
		" The quick brown fox jumps again, over the lazy dog, and then over the lazy cat."} {
		for _, id := range tok.Encode(s) {
			stream = append(stream, int32(id))
		}
	}
	const seq = 13
	var rows [][]int32
	for i := 0; len(rows) < 6; i += seq - 1 {
		if i+seq-1 > len(stream) {
			t.Fatalf("stream of %d tokens too short", len(stream))
		}
		rows = append(rows, append([]int32{tokenizer.BOS}, stream[i:i+seq-1]...))
	}
	return rows
}

// rowsArg writes rows in the --tokens form.
func rowsArg(rows [][]int32) string {
	var b strings.Builder
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(';')
		}
		for j, v := range r {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

// analyzeExact runs analyze on exact rows with the given input flags and
// opens the store it writes.
func analyzeExact(t *testing.T, out string, input ...string) *store.Store {
	t.Helper()
	args := append([]string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--batch", "4", "--baseline-stride", "2",
		"--recon-rows", "2", "--out", out, "--quiet", "--blas", "gonum"}, input...)
	stdout, errs, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", input, code, errs)
	}
	if !strings.Contains(stdout, `"corpus":"token rows `) {
		t.Errorf("%v: the output does not say the corpus is token rows: %s", input, stdout)
	}
	st, err := store.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Verify(); err != nil {
		t.Fatal(err)
	}
	return st
}

// analyze --tokens-file scans exactly the rows of a .npy (int64, int32,
// Fortran order), .safetensors or .json file, in their order, and gives
// the same store as the same rows passed with --tokens; the store records
// "token rows from F" and the rows' hash, and its statistics equal a
// brute-force computation over exactly those rows (features.Activations,
// checked against the PyTorch fixtures, on each row alone).
func TestAnalyzeTokenRows(t *testing.T) {
	rows := exactRows(t)
	dir := t.TempDir()
	files := map[string][]byte{
		"rows.npy":         tokenrowstest.NPY(rows, "<i8", false),
		"rows32.npy":       tokenrowstest.NPY(rows, "<i4", false),
		"rowsF.npy":        tokenrowstest.NPY(rows, "<i8", true),
		"rows.safetensors": tokenrowstest.Safetensors(rows, "tokens", "I64"),
		"rows.json":        tokenrowstest.JSON(rows),
	}
	ref := analyzeExact(t, filepath.Join(dir, "ids.saestore"), "--tokens", rowsArg(rows))
	if ref.Meta.Corpus.Kind != store.TokenRows || ref.Meta.Corpus.Describe() != "token rows given on the command line" {
		t.Errorf("corpus %+v", ref.Meta.Corpus)
	}
	for name, data := range files {
		path := tokenrowstest.Write(t, filepath.Join(dir, name), data)
		st := analyzeExact(t, filepath.Join(dir, name+".saestore"), "--tokens-file", path)
		if got := st.Meta.Corpus.Describe(); got != "token rows from "+path {
			t.Errorf("%s: corpus %q", name, got)
		}
		if st.Meta.Corpus.Hash != ref.Meta.Corpus.Hash || st.Meta.Key != ref.Meta.Key {
			t.Errorf("%s: hash %s key %s, --tokens gave %s %s", name, st.Meta.Corpus.Hash, st.Meta.Key, ref.Meta.Corpus.Hash, ref.Meta.Key)
		}
		sameStore(t, name, st, ref)
	}

	// Exactly these rows, in this order, every one of them.
	if !slices.Equal(ref.Tokens, slices.Concat(rows...)) {
		t.Fatal("the store's tokens are not the rows given, in order")
	}
	if p := ref.Meta.Params; p.Rows != 6 || p.SeqLen != 13 || p.NoBOS || p.ShuffleSeed != 0 {
		t.Errorf("params %+v", p)
	}
	bruteForce(t, rows, ref)

	// The cache key changes with the rows: another order, one id changed,
	// the first rows only (--rows).
	swapped := slices.Clone(rows)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	changed := slices.Clone(rows)
	changed[5] = slices.Clone(rows[5])
	changed[5][12]++
	for name, st := range map[string]*store.Store{
		"swapped": analyzeExact(t, filepath.Join(dir, "swapped.saestore"), "--tokens", rowsArg(swapped)),
		"changed": analyzeExact(t, filepath.Join(dir, "changed.saestore"), "--tokens", rowsArg(changed)),
		"rows 4":  analyzeExact(t, filepath.Join(dir, "rows4.saestore"), "--tokens-file", filepath.Join(dir, "rows.npy"), "--rows", "4"),
	} {
		if st.Meta.Key == ref.Meta.Key || st.Meta.Corpus.Hash == ref.Meta.Corpus.Hash {
			t.Errorf("%s: same key as the rows given", name)
		}
		if name == "rows 4" && !slices.Equal(st.Tokens, slices.Concat(rows[:4]...)) {
			t.Errorf("--rows 4 did not keep the first 4 rows")
		}
	}
}

// sameStore compares every array and number of two stores (the timings
// and paths aside).
func sameStore(t *testing.T, name string, a, b *store.Store) {
	t.Helper()
	arrays := []struct {
		what string
		x, y any
	}{
		{"tokens", a.Tokens, b.Tokens}, {"tok ptr", a.TokPtr, b.TokPtr}, {"tok feat", a.TokFeat, b.TokFeat}, {"tok val", a.TokVal, b.TokVal},
		{"feat ptr", a.FeatPtr, b.FeatPtr}, {"feat tok", a.FeatTok, b.FeatTok}, {"feat val", a.FeatVal, b.FeatVal},
		{"learnt", a.Learnt, b.Learnt}, {"random", a.Random, b.Random},
		{"rand tok", a.RandTok, b.RandTok}, {"rand val", a.RandVal, b.RandVal},
		{"top tok", a.TopTok, b.TopTok}, {"top val", a.TopVal, b.TopVal}, {"top n", a.TopN, b.TopN},
		{"int tok", a.IntTok, b.IntTok}, {"int val", a.IntVal, b.IntVal}, {"hist", a.Hist, b.Hist},
		{"unembed entropy", a.UnembedEntropy, b.UnembedEntropy}, {"params", a.Meta.Params, b.Meta.Params},
	}
	for _, c := range arrays {
		if !reflect.DeepEqual(c.x, c.y) {
			t.Errorf("%s: %s differ", name, c.what)
		}
	}
	sa, sb := a.Meta.Summary, b.Meta.Summary
	sa.ScanSeconds, sa.TokensPerS, sa.HostSeconds = 0, 0, 0
	sb.ScanSeconds, sb.TokensPerS, sb.HostSeconds = 0, 0, 0
	if sa != sb {
		t.Errorf("%s: summary %+v, want %+v", name, sa, sb)
	}
}

// bruteForce checks the store's statistics against the feature
// activations of each row computed alone: per feature, the count of
// positions (BOS excluded) where it fires, the sum and sum of squares of
// its activations, its maximum and where the largest is; the tokens
// counted, L0 and the dead features.
func bruteForce(t *testing.T, rows [][]int32, st *store.Store) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ef := addEngineFlags(fs, true)
	if err := fs.Parse([]string{"--model", fixModel, "--sae", fixSAE0, "--blas", "gonum"}); err != nil {
		t.Fatal(err)
	}
	e, err := ef.load(true)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d, seq := e.enc.DSae(), len(rows[0])
	count := make([]int, d)
	sum, sumSq, maxv := make([]float64, d), make([]float64, d), make([]float64, d)
	argmax := make([]int, d)
	active := 0
	for r, row := range rows {
		fa, err := features.Activations(context.Background(), e.m, e.enc, row, 1, seq)
		if err != nil {
			t.Fatal(err)
		}
		for p := 1; p < seq; p++ { // position 0 is BOS, left out
			for f := range d {
				v := float64(fa[p*d+f])
				if v <= 0 {
					continue
				}
				active++
				count[f]++
				sum[f] += v
				sumSq[f] += v * v
				if v > maxv[f] {
					maxv[f], argmax[f] = v, r*seq+p
				}
			}
		}
	}
	tokens := len(rows) * (seq - 1)
	if st.Meta.Summary.Tokens != tokens {
		t.Errorf("%d tokens counted, want %d", st.Meta.Summary.Tokens, tokens)
	}
	if want := float64(active) / float64(tokens); math.Abs(st.Meta.Summary.L0-want) > 1e-9*want {
		t.Errorf("L0 %g, want %g", st.Meta.Summary.L0, want)
	}
	dead := 0
	const tol = 1e-5
	for f := range d {
		if count[f] == 0 {
			dead++
		}
		if int(st.Learnt.Count[f]) != count[f] {
			t.Errorf("feature %d fires at %d positions, want %d", f, st.Learnt.Count[f], count[f])
			continue
		}
		if math.Abs(st.Learnt.Sum[f]-sum[f]) > tol*(1+sum[f]) || math.Abs(st.Learnt.SumSq[f]-sumSq[f]) > tol*(1+sumSq[f]) ||
			math.Abs(float64(st.Learnt.Max[f])-maxv[f]) > tol*(1+maxv[f]) {
			t.Errorf("feature %d: sum %g sumsq %g max %g, want %g %g %g", f, st.Learnt.Sum[f], st.Learnt.SumSq[f], st.Learnt.Max[f], sum[f], sumSq[f], maxv[f])
		}
		if count[f] > 0 && int(st.TopTok[f*store.TopK]) != argmax[f] {
			// ties aside, the top context is where the maximum is
			if v, _ := st.Activation(f, argmax[f]); math.Abs(float64(v)-maxv[f]) > tol*(1+maxv[f]) {
				t.Errorf("feature %d: top context at token %d, the maximum is at %d", f, st.TopTok[f*store.TopK], argmax[f])
			}
		}
	}
	if st.Meta.Summary.Dead != dead {
		t.Errorf("%d dead features, want %d", st.Meta.Summary.Dead, dead)
	}
	if dead == d || active == 0 {
		t.Fatal("no feature fires: the comparison says nothing")
	}
}

// Bad exact rows are refused with a message naming what is wrong, and the
// flags that make no sense with them are refused, not ignored.
func TestAnalyzeTokenRowsRefused(t *testing.T) {
	dir := t.TempDir()
	w := func(name string, data []byte) string { return tokenrowstest.Write(t, filepath.Join(dir, name), data) }
	good := w("good.npy", tokenrowstest.NPY([][]int32{{50256, 464, 2068}, {50256, 818, 16450}}, "<i8", false))
	noBOS := w("nobos.json", []byte("[[464, 2068], [818, 16450]]"))
	base := []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--quiet", "--out", filepath.Join(dir, "s.saestore")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--text", "hello"}, "--text is one sequence, not a corpus"},
		{[]string{"--tokens-file", w("oov.npy", tokenrowstest.NPY([][]int32{{50256, 1}, {50256, 60000}}, "<i4", false))}, "row 1, position 1: id 60000 outside the vocabulary"},
		{[]string{"--tokens-file", w("ragged.json", []byte("[[50256, 1, 2], [50256, 3]]"))}, "row 1 has 2 ids, row 0 has 3"},
		{[]string{"--tokens-file", w("empty.npy", nil)}, "the file is empty"},
		{[]string{"--tokens-file", w("float.npy", tokenrowstest.NPY([][]int32{{50256, 1}}, "<f4", false))}, "array of floats"},
		{[]string{"--tokens-file", w("float.safetensors", tokenrowstest.Safetensors([][]int32{{50256, 1}}, "tokens", "F32"))}, "dtype F32"},
		{[]string{"--tokens-file", w("long.json", tokenrowstest.JSON([][]int32{make([]int32, 129)}))}, "longer than the model's context of 128"},
		{[]string{"--tokens-file", w("mixed.json", []byte("[[50256, 1], [7, 1]]"))}, "row 1 starts with token 7 and row 0 with BOS"},
		{[]string{"--tokens-file", filepath.Join(dir, "missing.npy")}, "missing.npy"},
		{[]string{"--tokens", "50256,1;50256,99999"}, "--tokens: row 1: id 99999 outside the vocabulary"},
		{[]string{"--tokens-file", good, "--tokens", "50256,1"}, "not both"},
		{[]string{"--tokens-file", good, "--corpus", dir}, "--corpus with exact token rows"},
		{[]string{"--tokens-file", good, "--seed", "3"}, "never shuffled"},
		{[]string{"--tokens-file", good, "--tl-compat"}, "--tl-compat cuts text into rows"},
		{[]string{"--tokens-file", noBOS, "--include-bos"}, "--include-bos: the token rows do not start with BOS"},
		{[]string{"--rows", "-1"}, "--rows -1"},
	} {
		_, errs, code := runCLI(t, append(slices.Clone(base), c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errs, c.want)
		}
	}
	// rows without BOS are scanned with every position counted
	st := analyzeExact(t, filepath.Join(dir, "nobos.saestore"), "--tokens-file", noBOS)
	if !st.Meta.Params.NoBOS || st.Meta.Summary.Tokens != 4 {
		t.Errorf("rows without BOS: params %+v, %d tokens counted", st.Meta.Params, st.Meta.Summary.Tokens)
	}
}

// The window finds the store analyze --tokens-file wrote: the workspace's
// analysis metadata of the same rows (corpus.FromTokenRows of the file, as
// the window reads a token-rows corpus) has the key of the command's
// store, records token rows, and takes NoBOS from the rows.
func TestWindowKeyOfTokenRows(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	rows := exactRows(t)
	dir := t.TempDir()
	path := tokenrowstest.Write(t, filepath.Join(dir, "rows.npy"), tokenrowstest.NPY(rows, "<i8", false))
	_, errs, code := runCLI(t, "analyze", "--model", fixModel, "--sae", fixSAE0, "--tokens-file", path, "--quiet", "--out", filepath.Join(dir, "s.saestore"))
	if code != 0 {
		t.Fatal(errs)
	}
	st, err := store.Open(filepath.Join(dir, "s.saestore"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	be, err := newBackend("cpu", "gonum")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(fixModel, be)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	sae, err := ws.AddSAE(fixSAE0, "")
	if err != nil {
		t.Fatal(err)
	}
	read, err := tokenrows.Read(context.Background(), path, tokenrows.Limits{Vocab: 50257, MaxSeq: 128})
	if err != nil {
		t.Fatal(err)
	}
	c, err := corpus.FromTokenRows(path, read)
	if err != nil {
		t.Fatal(err)
	}
	meta := sae.AnalysisMeta(c, analysis.DefaultParams())
	if meta.Key != st.Meta.Key || meta.Corpus != st.Meta.Corpus || meta.Params != st.Meta.Params {
		t.Errorf("window meta %+v\ncommand's %+v", meta, st.Meta)
	}
	nb, err := corpus.FromTokenRows(path, [][]int32{{464, 2068}, {818, 16450}})
	if err != nil {
		t.Fatal(err)
	}
	if m := sae.AnalysisMeta(nb, analysis.DefaultParams()); !m.Params.NoBOS || m.Corpus.Kind != store.TokenRows {
		t.Errorf("rows without BOS: %+v", m)
	}
}
