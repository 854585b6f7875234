package analysis_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/sae"
)

// rowsOf makes n random rows of seq tokens, BOS first.
func rowsOf(n, seq int, seed uint64) [][]int32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([][]int32, n)
	for i := range rows {
		rows[i] = make([]int32, seq)
		rows[i][0] = 50256
		for j := 1; j < seq; j++ {
			rows[i][j] = int32(rng.IntN(50257))
		}
	}
	return rows
}

type scanned struct {
	st    *store.Store
	dense []float32 // [rows·seq][d_sae], brute force
	rows  [][]int32
	seq   int
	d     int
}

func scan(t *testing.T, tag string, params store.Params, nrows int) *scanned {
	return scanWith(t, tag, params, nrows, false)
}

// scanWith scans with the SAE marked as trained on uncentred activations
// when uncentred is set.
func scanWith(t *testing.T, tag string, params store.Params, nrows int, uncentred bool) *scanned {
	t.Helper()
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	enc := s.SAEs[tag]
	enc.SAE.Uncentred = uncentred
	const seq = 24
	rows := rowsOf(nrows, seq, 7)
	st, err := analysis.ScanFull(context.Background(), s.Model, enc, rows, store.Meta{Params: params}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var flat []int32
	for _, r := range rows {
		flat = append(flat, r...)
	}
	// The brute force runs the same batches: matrix products of another
	// shape round differently in the last bit.
	var dense []float32
	for r0 := 0; r0 < nrows; r0 += params.Batch {
		nb := min(params.Batch, nrows-r0)
		a, err := features.Activations(context.Background(), s.Model, enc, flat[r0*seq:(r0+nb)*seq], nb, seq)
		if err != nil {
			t.Fatal(err)
		}
		dense = append(dense, a...)
	}
	return &scanned{st: st, dense: dense, rows: rows, seq: seq, d: enc.DSae()}
}

func relClose(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1e-12, math.Max(math.Abs(a), math.Abs(b)))
}

// An SAE trained on uncentred activations is scanned on them: counts and
// maxima equal a brute-force pass (features.Activations, uncentred as
// well; its values against a host encode are TestUncentredSAE's), and
// differ from the centred scan's.
func TestScanUncentredSAE(t *testing.T) {
	p := analysis.DefaultParams()
	p.Batch, p.ReconRows = 4, 2
	raw, centred := scanWith(t, "sae0", p, 8, true), scanWith(t, "sae0", p, 8, false)
	same := true
	for f := 0; f < raw.d; f++ {
		var count int
		var mx float32
		for tok := 0; tok < len(raw.rows)*raw.seq; tok++ {
			if v := raw.dense[tok*raw.d+f]; v > 0 && tok%raw.seq != 0 {
				count++
				mx = max(mx, v)
			}
		}
		if int(raw.st.Learnt.Count[f]) != count || raw.st.Learnt.Max[f] != mx {
			t.Fatalf("feature %d: count %d max %v, brute force %d %v", f, raw.st.Learnt.Count[f], raw.st.Learnt.Max[f], count, mx)
		}
		same = same && raw.st.Learnt.Max[f] == centred.st.Learnt.Max[f]
	}
	if same {
		t.Error("the uncentred scan equals the centred one")
	}
}

// Every statistic against a brute-force pass over the dense activations.
// Batches of 3 rows with a baseline every 2nd row make the batch's
// features and its baseline's features buffers of one shape, which the
// scan once shared as one tensor.
func TestScanMatchesBruteForce(t *testing.T) {
	for _, c := range []struct {
		batch, stride int
		includeBOS    bool
	}{{5, 3, false}, {5, 3, true}, {3, 2, false}} {
		includeBOS := c.includeBOS
		p := analysis.DefaultParams()
		p.Batch, p.IncludeBOS, p.BaselineStride, p.ReconRows = c.batch, includeBOS, c.stride, 4
		sc := scan(t, "sae0", p, 23)
		st, d, seq := sc.st, sc.d, sc.seq
		counted := 0
		count := make([]int, d)
		sum := make([]float64, d)
		sumsq := make([]float64, d)
		mx := make([]float32, d)
		for tok := 0; tok < len(sc.rows)*seq; tok++ {
			bos := tok%seq == 0
			if bos && !includeBOS {
				continue
			}
			counted++
			if bos {
				continue // notebook mode: BOS counted with zero activations
			}
			for f, v := range sc.dense[tok*d : (tok+1)*d] {
				if v > 0 {
					count[f]++
					sum[f] += float64(v)
					sumsq[f] += float64(v) * float64(v)
					mx[f] = max(mx[f], v)
				}
			}
		}
		if st.Meta.Summary.Tokens != counted {
			t.Fatalf("includeBOS=%v: %d tokens counted, want %d", includeBOS, st.Meta.Summary.Tokens, counted)
		}
		dead, nnz := 0, 0
		for f := 0; f < d; f++ {
			if int(st.Learnt.Count[f]) != count[f] {
				t.Fatalf("feature %d count %d want %d", f, st.Learnt.Count[f], count[f])
			}
			if !relClose(st.Learnt.Sum[f], sum[f], 1e-5) || !relClose(st.Learnt.SumSq[f], sumsq[f], 1e-5) || st.Learnt.Max[f] != mx[f] {
				t.Fatalf("feature %d sums %g/%g max %g, want %g/%g %g", f, st.Learnt.Sum[f], st.Learnt.SumSq[f], st.Learnt.Max[f], sum[f], sumsq[f], mx[f])
			}
			if count[f] == 0 {
				dead++
			}
			nnz += count[f]
			fs, _ := st.Stats(f)
			if count[f] > 0 {
				mean := sum[f] / float64(counted)
				std := math.Sqrt(sumsq[f]/float64(counted) - mean*mean)
				if !relClose(fs.Mean, mean, 1e-9) || !relClose(fs.CV, std/mean, 1e-6) || !relClose(fs.Frequency, float64(count[f])/float64(counted), 1e-12) {
					t.Fatalf("feature %d stats %+v", f, fs)
				}
			}
			// Top contexts: the brute-force largest values in order.
			var vals []float32
			for tok := 0; tok < len(sc.rows)*seq; tok++ {
				if tok%seq == 0 {
					continue
				}
				if v := sc.dense[tok*d+f]; v > 0 {
					vals = append(vals, v)
				}
			}
			sort.Slice(vals, func(i, j int) bool { return vals[i] > vals[j] })
			ctxs, err := st.TopContexts(f, store.TopK, 30, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(ctxs) != min(len(vals), store.TopK) {
				t.Fatalf("feature %d: %d contexts, want %d", f, len(ctxs), min(len(vals), store.TopK))
			}
			for i, c := range ctxs {
				if c.Value != vals[i] || c.Acts[c.Target()] != c.Value || sc.dense[(c.Row*seq+c.Pos)*d+f] != c.Value {
					t.Fatalf("feature %d context %d: %+v, want value %g", f, i, c, vals[i])
				}
				for k, tokID := range c.Tokens {
					if tokID != sc.rows[c.Row][c.Start+k] {
						t.Fatalf("context tokens differ from the row")
					}
					if want := sc.dense[(c.Row*seq+c.Start+k)*d+f]; c.Acts[k] != want && !(c.Start+k == 0) {
						t.Fatalf("context activation %g, want %g", c.Acts[k], want)
					}
				}
			}
			// Histogram and interval samples.
			_, hc, _ := st.Histogram(f)
			total := 0
			for _, c := range hc {
				total += c
			}
			if total != count[f] {
				t.Fatalf("feature %d histogram sums to %d, count %d", f, total, count[f])
			}
			groups, _ := st.IntervalSamples(f, 5, 1)
			for _, g := range groups {
				for _, c := range g.Contexts {
					if c.Value < g.Lo || c.Value > g.Hi*(1+1e-6) {
						t.Fatalf("feature %d: sample %g outside interval (%g, %g]", f, c.Value, g.Lo, g.Hi)
					}
				}
			}
		}
		if st.Meta.Summary.Dead != dead {
			t.Errorf("dead %d want %d", st.Meta.Summary.Dead, dead)
		}
		if !relClose(st.Meta.Summary.L0, float64(nnz)/float64(counted), 1e-12) {
			t.Errorf("L0 %g want %g", st.Meta.Summary.L0, float64(nnz)/float64(counted))
		}
		// Per-token counts above thresholds.
		for _, th := range []float32{0, 0.1, 0.2, 0.5, 2} {
			got := st.TokenCounts(th)
			i := 0
			for tok := 0; tok < len(sc.rows)*seq; tok++ {
				bos := tok%seq == 0
				if bos && !includeBOS {
					continue
				}
				want := 0
				if !bos {
					for _, v := range sc.dense[tok*d : (tok+1)*d] {
						if v > th {
							want++
						}
					}
				}
				if got[i] != want {
					t.Fatalf("threshold %g token %d: %d features, want %d", th, tok, got[i], want)
				}
				i++
			}
		}
		// Random baseline: rows 0, stride, 2·stride, … ; each token's
		// vector has the learnt vector's norm.
		wantTok := 0
		for r := 0; r < len(sc.rows); r += c.stride {
			for pos := 0; pos < seq; pos++ {
				if pos == 0 && !includeBOS {
					continue
				}
				wantTok++
			}
		}
		if len(st.RandTok) != wantTok {
			t.Fatalf("%d baseline tokens, want %d", len(st.RandTok), wantTok)
		}
		for j, tok := range st.RandTok {
			var rn, ln float64
			for _, h := range st.RandVal[st.RandPtr[j]:st.RandPtr[j+1]] {
				v := weights.HalfToFloat32(h)
				rn += float64(v) * float64(v)
			}
			if int(tok)%seq != 0 {
				for _, v := range sc.dense[int(tok)*d : (int(tok)+1)*d] {
					ln += float64(v) * float64(v)
				}
			}
			// Baseline values are stored as half floats (relative rounding 2⁻¹¹).
			if math.Abs(math.Sqrt(rn)-math.Sqrt(ln)) > 1e-3*math.Max(1, math.Sqrt(ln)) {
				t.Fatalf("baseline token %d: norm %g, learnt %g", tok, math.Sqrt(rn), math.Sqrt(ln))
			}
		}
		// The baseline's per-feature moments hold the same values.
		var cnt uint64
		var sumM, sumV float64
		for f := 0; f < d; f++ {
			cnt += uint64(st.Random.Count[f])
			sumM += st.Random.Sum[f]
		}
		for _, h := range st.RandVal {
			sumV += float64(weights.HalfToFloat32(h))
		}
		if cnt != uint64(len(st.RandVal)) || !relClose(sumM, sumV, 1e-3) {
			t.Fatalf("baseline moments: %d values summing to %g, stored values %d summing to %g", cnt, sumM, len(st.RandVal), sumV)
		}
		if len(st.UnembedEntropy) != d || len(st.RandomUnembedEntropy) != d {
			t.Error("unembedding statistics missing")
		}
		if st.Meta.Summary.LossClean == 0 || math.IsNaN(st.Meta.Summary.ReconScore) {
			t.Errorf("reconstruction not measured: %+v", st.Meta.Summary)
		}
	}
}

func TestCoActivationMatchesPearson(t *testing.T) {
	p := analysis.DefaultParams()
	p.Batch, p.ReconRows = 8, 0
	sc := scan(t, "sae1", p, 12)
	st, d, seq := sc.st, sc.d, sc.seq
	f := int(st.Rank(store.ByFrequency, true).Live[3].ID)
	got, err := st.CoActivation(f, 5)
	if err != nil {
		t.Fatal(err)
	}
	col := func(g int) []float64 {
		var v []float64
		for tok := 0; tok < len(sc.rows)*seq; tok++ {
			if tok%seq != 0 {
				v = append(v, float64(sc.dense[tok*d+g]))
			}
		}
		return v
	}
	pearson := func(a, b []float64) float64 {
		var ma, mb float64
		for i := range a {
			ma += a[i]
			mb += b[i]
		}
		ma /= float64(len(a))
		mb /= float64(len(b))
		var c, va, vb float64
		for i := range a {
			c += (a[i] - ma) * (b[i] - mb)
			va += (a[i] - ma) * (a[i] - ma)
			vb += (b[i] - mb) * (b[i] - mb)
		}
		return c / math.Sqrt(va*vb)
	}
	cf := col(f)
	best := make([]float64, d)
	for g := 0; g < d; g++ {
		best[g] = math.Inf(-1)
		if g != f && st.Learnt.Count[g] > 0 {
			best[g] = pearson(cf, col(g))
		}
	}
	for _, c := range got {
		if math.Abs(c.Correlation-best[c.ID]) > 1e-6 {
			t.Errorf("feature %d: correlation %g, brute force %g", c.ID, c.Correlation, best[c.ID])
		}
	}
	sort.Float64s(best)
	if len(got) == 0 || math.Abs(got[0].Correlation-best[d-1]) > 1e-6 {
		t.Errorf("top co-activation %v, brute-force best %g", got, best[d-1])
	}
}

func TestStoreRoundTripAndDamage(t *testing.T) {
	p := analysis.DefaultParams()
	p.Batch, p.ReconRows = 8, 2
	sc := scan(t, "sae0", p, 10)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.saestore")
	sc.st.Meta.Key = "k1"
	if err := sc.st.Write(path); err != nil {
		t.Fatal(err)
	}
	back, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if back.Meta.Summary != sc.st.Meta.Summary || back.Meta.Params != sc.st.Meta.Params {
		t.Errorf("meta differs after round trip")
	}
	for f := 0; f < sc.d; f++ {
		a, _ := sc.st.TopContexts(f, 10, 3, 1)
		b, _ := back.TopContexts(f, 10, 3, 1)
		if len(a) != len(b) {
			t.Fatalf("feature %d: contexts differ", f)
		}
		for i := range a {
			if a[i].Value != b[i].Value || a[i].Row != b[i].Row || a[i].Pos != b[i].Pos {
				t.Fatalf("feature %d: contexts differ", f)
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	raw, _ := os.ReadFile(path)
	for _, cut := range []int{0, 10, len(raw) / 2, len(raw) - 1} {
		bad := filepath.Join(dir, "bad.saestore")
		os.WriteFile(bad, raw[:cut], 0o644)
		if s, err := store.Open(bad); err == nil {
			s.Close()
			t.Errorf("store cut at %d bytes opened", cut)
		} else if cut > 0 && !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("cut at %d: %v is not ErrCorrupt", cut, err)
		}
	}
	// Damaged index inside an otherwise complete file.
	bad := append([]byte(nil), raw...)
	sec := back.Meta.Sections
	for _, s := range sec {
		if s.Name == "feat_tok" && s.Count > 0 {
			for i := 0; i < 4; i++ {
				bad[s.Offset+int64(i)] = 0xff
			}
		}
	}
	os.WriteFile(filepath.Join(dir, "bad2.saestore"), bad, 0o644)
	// The large sections are checked on first use: the co-activation
	// query, which reads feat_tok, says the store is damaged.
	if s, err := store.Open(filepath.Join(dir, "bad2.saestore")); err == nil {
		f := 0
		for f < sc.d && s.Learnt.Count[f] == 0 {
			f++
		}
		if _, err := s.CoActivation(f, 5); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("store with a damaged token index: co-activation %v, want ErrCorrupt", err)
		}
		if err := s.Verify(); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("store with a damaged token index: Verify %v, want ErrCorrupt", err)
		}
		s.Close()
	} else if !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("store with a damaged token index: %v, want ErrCorrupt", err)
	}
}

func TestScanBadInputAndCancel(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	enc := s.SAEs["sae0"]
	ctx := context.Background()
	if _, err := analysis.Scan(ctx, s.Model, enc, nil, store.Meta{}, nil); err == nil {
		t.Error("empty corpus accepted")
	}
	if _, err := analysis.Scan(ctx, s.Model, enc, [][]int32{{50256, 1}, {50256}}, store.Meta{}, nil); err == nil {
		t.Error("ragged rows accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	calls := 0
	_, err := analysis.Scan(cctx, s.Model, enc, rowsOf(40, 24, 1), store.Meta{Params: store.Params{Batch: 4}}, func(p analysis.Progress) {
		calls++
		if p.Stage == "scan" && p.Rows >= 8 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan returned %v", err)
	}
	if calls > 4 {
		t.Errorf("scan went on for %d progress calls after cancel", calls)
	}
}

// An SAE with finite weights whose activations overflow float32 (a W_enc
// column of 3e38) ends the scan with an error naming the feature and the
// row, instead of a store of infinities (or, before, an index out of
// range in the store's histograms), on the host path and on the path of a
// device that compacts its results (absorbed in the background).
func TestScanOverflowingSAE(t *testing.T) {
	ref := fixture.Load(t)
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want string
		hostOnly   bool // NaN: a device's compaction keeps values > 0 only
		edit       func(w *sae.SAE)
	}{
		// centred activations: +Inf and -Inf terms, NaN
		{"W_enc[:,13] = 3e38", "feature 13 is NaN at row 0, position 1", true, func(w *sae.SAE) {
			for i := 0; i < w.DIn; i++ {
				w.WEnc.Data[i*w.DSae+13] = 3e38
			}
		}},
		// one large term plus a large bias: +Inf where the term is
		// positive enough, never NaN
		{"W_enc[0,13] = 3e38, the rest of the column 0, b_enc[13] = 3e38", "feature 13 is +Inf at row 0, position 7", false, func(w *sae.SAE) {
			for i := 0; i < w.DIn; i++ {
				w.WEnc.Data[i*w.DSae+13] = 0
			}
			w.WEnc.Data[13] = 3e38
			w.BEnc.Data[13] = 3e38
		}},
	} {
		for _, b := range []compute.Backend{be, fixture.SparseCPU{Backend: be}} {
			if _, sparse := b.(fixture.SparseCPU); sparse && c.hostOnly {
				continue
			}
			s := fixture.NewSetupOn(t, ref, b)
			base := s.SAEs["sae0"].SAE
			w := *base
			w.WEnc = weights.Tensor{Shape: base.WEnc.Shape, Data: slices.Clone(base.WEnc.Data)}
			w.BEnc = weights.Tensor{Shape: base.BEnc.Shape, Data: slices.Clone(base.BEnc.Data)}
			c.edit(&w)
			enc, err := encoder.New(b, &w)
			if err != nil {
				t.Fatal(err)
			}
			p := analysis.DefaultParams()
			p.Batch, p.ReconRows = 4, 0
			st, err := analysis.Scan(context.Background(), s.Model, enc, rowsOf(8, 24, 3), store.Meta{Params: p}, nil)
			enc.Close()
			if err == nil {
				t.Errorf("%s on %T: scan succeeded (feature 13's max %v)", c.name, b, st.Learnt.Max[13])
				continue
			}
			if !errors.Is(err, store.ErrNonFinite) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s on %T: %v, want ErrNonFinite saying %q", c.name, b, err, c.want)
			}
			t.Logf("%s on %T: %v", c.name, b, err)
		}
	}
}

// A TopK SAE's scan (the second fixture set's, k = 8 on a layer-normalised
// input): every non-BOS token has exactly k learnt features, the counts
// equal a brute-force pass, and its random baseline keeps the family: k
// positive activations per sampled token, at most.
func TestScanTopKFamily(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	w, err := sae.Load(filepath.Join(fixture.Dir(), "v2", "saelens-topk-hook_resid_post-1"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	enc, err := encoder.New(s.Backend, w)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	p := analysis.DefaultParams()
	p.Batch, p.BaselineStride, p.ReconRows = 4, 1, 2
	const seq = 24
	rows := rowsOf(8, seq, 7)
	st, err := analysis.ScanFull(context.Background(), s.Model, enc, rows, store.Meta{Params: p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for tok := 0; tok < len(rows)*seq; tok++ {
		n := int(st.TokPtr[tok+1] - st.TokPtr[tok])
		if tok%seq == 0 {
			if n != 0 {
				t.Fatalf("BOS token %d has %d features", tok, n)
			}
			continue
		}
		if n > w.K || n < w.K-1 { // a kept pre-activation may be ≤ 0 (ReLU)
			t.Fatalf("token %d has %d features, k = %d", tok, n, w.K)
		}
	}
	if len(st.RandTok) == 0 {
		t.Fatal("no random baseline")
	}
	for j := range st.RandTok {
		if n := int(st.RandPtr[j+1] - st.RandPtr[j]); n > w.K || n == 0 {
			t.Fatalf("random baseline token %d has %d positive activations, k = %d", st.RandTok[j], n, w.K)
		}
	}
	if m := analysis.RandomMeaning(w); !strings.Contains(m, "k = 8") {
		t.Errorf("random meaning %q", m)
	}
}
