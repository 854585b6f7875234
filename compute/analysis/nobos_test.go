package analysis_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights/sae"
)

// noBOSRows makes n random rows of seq text tokens and no BOS; row 1
// starts with 50256, an EOS separator that rows without BOS may start
// with, which is counted all the same.
func noBOSRows(n, seq int, seed uint64) [][]int32 {
	rng := rand.New(rand.NewPCG(seed, 2))
	rows := make([][]int32, n)
	for i := range rows {
		rows[i] = make([]int32, seq)
		for j := range rows[i] {
			rows[i][j] = int32(rng.IntN(50256))
		}
	}
	rows[1][0] = 50256
	return rows
}

// An SAE trained without BOS (OpenAI's TopK v2 fixture, NoBOS true) is
// scanned on rows without BOS with Params.NoBOS: position 0 is counted
// like any other token. Counts, sums and maxima equal a brute-force pass
// (features.Activations on the same rows and batches) over every token
// (sums at 1e-5 relative: float64 sums of the same float32 values in
// another order); every position 0 has its k (or k-1) features and the
// random baseline covers it; the norms averaged are over every token.
func TestScanNoBOS(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	w, err := sae.Load(filepath.Join(fixture.Dir(), "v2", "oai-topk8-hook_resid_post-0.pt"), "blocks.0.hook_resid_post")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.NoBOS {
		t.Fatal("the OpenAI fixture is not marked NoBOS")
	}
	enc, err := encoder.New(s.Backend, w)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	const nrows, seq = 8, 24
	p := analysis.DefaultParams()
	p.Batch, p.BaselineStride, p.ReconRows, p.NoBOS = 4, 2, 2, w.NoBOS
	rows := noBOSRows(nrows, seq, 11)
	st, err := analysis.ScanFull(context.Background(), s.Model, enc, rows, store.Meta{Params: p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Meta.Params.NoBOS {
		t.Error("the store's parameters lost NoBOS")
	}
	var flat []int32
	for _, r := range rows {
		flat = append(flat, r...)
	}
	d := w.DSae
	var dense []float32
	for r0 := 0; r0 < nrows; r0 += p.Batch {
		nb := min(p.Batch, nrows-r0)
		a, err := features.Activations(context.Background(), s.Model, enc, flat[r0*seq:(r0+nb)*seq], nb, seq)
		if err != nil {
			t.Fatal(err)
		}
		dense = append(dense, a...)
	}
	if st.Meta.Summary.Tokens != nrows*seq {
		t.Fatalf("%d tokens counted, want all %d", st.Meta.Summary.Tokens, nrows*seq)
	}
	count := make([]int, d)
	sum := make([]float64, d)
	mx := make([]float32, d)
	atZero := 0 // activations > 0 at position 0
	for tok := 0; tok < nrows*seq; tok++ {
		for f, v := range dense[tok*d : (tok+1)*d] {
			if v > 0 {
				count[f]++
				sum[f] += float64(v)
				mx[f] = max(mx[f], v)
				if tok%seq == 0 {
					atZero++
				}
			}
		}
	}
	if atZero == 0 {
		t.Fatal("the brute force has nothing at position 0: the test would not see it dropped")
	}
	for f := 0; f < d; f++ {
		if int(st.Learnt.Count[f]) != count[f] || st.Learnt.Max[f] != mx[f] || !relClose(st.Learnt.Sum[f], sum[f], 1e-5) {
			t.Fatalf("feature %d: count %d max %g sum %g, brute force %d %g %g", f, st.Learnt.Count[f], st.Learnt.Max[f], st.Learnt.Sum[f], count[f], mx[f], sum[f])
		}
	}
	for r := range rows {
		tok := r * seq
		if n := int(st.TokPtr[tok+1] - st.TokPtr[tok]); n > w.K || n < w.K-1 {
			t.Errorf("row %d position 0 has %d features, k = %d", r, n, w.K)
		}
	}
	baseline0 := 0
	for _, tok := range st.RandTok {
		if int(tok)%seq == 0 {
			baseline0++
		}
	}
	if want := (nrows + p.BaselineStride - 1) / p.BaselineStride; baseline0 != want {
		t.Errorf("%d position-0 tokens with a random baseline, want %d", baseline0, want)
	}
	if st.Meta.Summary.AvgNorm <= 0 || math.IsNaN(st.Meta.Summary.AvgNorm) {
		t.Errorf("average norm %g", st.Meta.Summary.AvgNorm)
	}

	// the per-token counts of the statistics pane count position 0 too
	if n := len(st.TokenCounts(0.1)); n != nrows*seq {
		t.Errorf("features-per-token over %d tokens, want all %d", n, nrows*seq)
	}

	// The same rows without NoBOS are refused (position 0 is no BOS to drop).
	q := p
	q.NoBOS = false
	if _, err := analysis.Scan(context.Background(), s.Model, enc, rows, store.Meta{Params: q}, nil); err == nil || !strings.Contains(err.Error(), "not BOS") {
		t.Errorf("rows without BOS scanned as BOS rows: %v", err)
	}
	// The same SAE on BOS rows (the scan before this mode existed) drops
	// position 0, and its store's key differs.
	bosRows := rowsOf(nrows, seq, 11)
	bos, err := analysis.Scan(context.Background(), s.Model, enc, bosRows, store.Meta{Params: q}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bos.Meta.Summary.Tokens != nrows*(seq-1) || bos.Meta.Params.NoBOS {
		t.Errorf("BOS scan: %d tokens counted, want %d", bos.Meta.Summary.Tokens, nrows*(seq-1))
	}
	src := store.Meta{Model: store.Source{Hash: "m"}, SAE: store.Source{Hash: "s"}, Corpus: store.Source{Hash: "c"}, Hook: w.Hook.String()}
	kb, kn := src, src
	kb.Params, kn.Params = bos.Meta.Params, st.Meta.Params
	if analysis.Key(kb) == analysis.Key(kn) {
		t.Error("the scans with and without BOS have the same key")
	}
}

// Params without NoBOS marshal as they did before the field existed, so
// the stores scanned then keep their keys: the key of the default
// parameters equals one computed from the JSON of the earlier fields.
func TestKeyWithoutNoBOSUnchanged(t *testing.T) {
	meta := store.Meta{Model: store.Source{Hash: "m"}, SAE: store.Source{Hash: "s"}, Corpus: store.Source{Hash: "c"},
		Hook: "blocks.8.hook_resid_pre", Params: analysis.DefaultParams()}
	p := meta.Params
	old := fmt.Sprintf(`{"rows":%d,"seq_len":%d,"batch":%d,"shuffle_seed":%d,"include_bos":%t,"baseline_seed":%d,"baseline_stride":%d,"sample_seed":%d,"recon_rows":%d,"unembed_scale":%q}`,
		p.Rows, p.SeqLen, p.Batch, p.ShuffleSeed, p.IncludeBOS, p.BaselineSeed, p.BaselineStride, p.SampleSeed, p.ReconRows, p.UnembedScale)
	h := sha256.Sum256([]byte(fmt.Sprintf("v%d\x00m\x00s\x00c\x00blocks.8.hook_resid_pre\x00%s", store.FormatVersion, old)))
	if got, want := analysis.Key(meta), hex.EncodeToString(h[:])[:24]; got != want {
		t.Errorf("key %s, want %s (the parameters' JSON changed: %s)", got, want, mustJSON(t, p))
	}
	meta.Params.NoBOS = true
	if j := mustJSON(t, meta.Params); !strings.Contains(j, `"no_bos":true`) {
		t.Errorf("NoBOS not in the JSON: %s", j)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
