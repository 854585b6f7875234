package analysis_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights/sae"
)

// shardScan scans rows as shard i of n with p, writes the shard store
// into dir and opens it again.
func shardScan(t *testing.T, s *fixture.Setup, sae string, rows [][]int32, p store.Params, i, n int, dir string) (*store.Store, string) {
	t.Helper()
	return shardScanOf(t, s.Model, s.SAEs[sae], sae, rows, p, i, n, dir)
}

// shardScanOf is shardScan with the encoder enc, called sae.
func shardScanOf(t *testing.T, m *model.Model, enc *encoder.Encoder, sae string, rows [][]int32, p store.Params, i, n int, dir string) (*store.Store, string) {
	t.Helper()
	meta := store.Meta{Params: p, SAE: store.Source{Path: sae, Hash: "hash of " + sae}}
	lo, hi, err := analysis.PlanShard(&meta, len(rows), i, n)
	if err != nil {
		t.Fatal(err)
	}
	st, err := analysis.ScanFull(context.Background(), m, enc, rows[lo:hi], meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, sae+"-"+strings.ReplaceAll(meta.Params.Shard.String(), "/", "of")+".saestore")
	if err := st.Write(path); err != nil {
		t.Fatal(err)
	}
	op, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	return op, path
}

// Four shards of a scan merged give the store the single scan makes,
// query by query: the ranking under every metric, every feature's
// statistics, top contexts, interval samples (the same draws: merging
// replays the tokens in the single scan's order), histogram and
// co-activations, the learnt-versus-random distributions, the summary
// and the unembedding statistics, and the arrays behind them to the
// bit. The random baseline's per-feature sums and the average norm (the
// unembedding's scale) are sums of the shards' partial sums in another
// order: equal to 1e-12 relative (the unembedding statistics, computed
// at the norm rounded to float32, are equal to the bit). Merging the same shards twice gives the same file.
func TestMergeFourShardsEqualsOneScan(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	p := analysis.DefaultParams()
	p.Batch, p.BaselineStride, p.ReconRows = 4, 5, 6 // shards on multiples of 20 rows
	rows := rowsOf(90, 24, 9)                        // shards of 20, 20, 20 and 30 rows
	ctx := context.Background()
	one, err := analysis.Scan(ctx, s.Model, s.SAEs["sae0"], rows, store.Meta{Params: p, SAE: store.Source{Path: "sae0", Hash: "hash of sae0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var shards []*store.Store
	var names []string
	for _, i := range []int{2, 0, 3, 1} { // any order
		st, path := shardScan(t, s, "sae0", rows, p, i, 4, dir)
		if st.Meta.Params.Shard.Index != i || st.Bounded() {
			t.Fatalf("shard %d: %+v, bounded %v", i, st.Meta.Params.Shard, st.Bounded())
		}
		shards, names = append(shards, st), append(names, path)
	}
	if got := []int{shards[0].Meta.Params.Rows, shards[1].Meta.Params.Rows, shards[2].Meta.Params.Rows, shards[3].Meta.Params.Rows}; !slices.Equal(got, []int{20, 20, 30, 20}) {
		t.Fatalf("shard rows (2, 0, 3, 1) %v, want 20, 20, 30, 20", got)
	}
	merged, err := analysis.Merge(ctx, s.Model, s.SAEs["sae0"], shards, names, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !merged.Bounded() || merged.Meta.Params.Shard != nil || merged.Meta.Params != one.Meta.Params || analysis.Key(merged.Meta) != analysis.Key(one.Meta) {
		t.Fatalf("merged params %+v (key %s), want %+v (key %s)", merged.Meta.Params, analysis.Key(merged.Meta), one.Meta.Params, analysis.Key(one.Meta))
	}
	// Summary: exact but for the average norm (partial sums) and times.
	ms, os1 := merged.Meta.Summary, one.Meta.Summary
	if rel(ms.AvgNorm, os1.AvgNorm) > 1e-12 || ms.AvgNorm == 0 || rel(ms.UnembedScale, os1.UnembedScale) > 1e-12 {
		t.Errorf("avg norm %v, unembedding scale %v, want %v, %v", ms.AvgNorm, ms.UnembedScale, os1.AvgNorm, os1.UnembedScale)
	}
	for _, x := range []*store.Summary{&ms, &os1} {
		x.AvgNorm, x.UnembedScale, x.ScanSeconds, x.TokensPerS, x.HostSeconds = 0, 0, 0, 0, 0
	}
	if ms != os1 {
		t.Errorf("summary %+v, want %+v", ms, os1)
	}
	if !slices.Equal(merged.UnembedEntropy, one.UnembedEntropy) || !slices.Equal(merged.UnembedMaxProb, one.UnembedMaxProb) ||
		!slices.Equal(merged.RandomUnembedEntropy, one.RandomUnembedEntropy) || !slices.Equal(merged.RandomUnembedMaxProb, one.RandomUnembedMaxProb) {
		t.Error("unembedding statistics differ")
	}
	// The arrays, to the bit (the random moments' sums apart).
	sameBounded(t, merged, one)
	for _, m := range []store.Metric{store.ByMean, store.ByCV, store.ByFrequency, store.ByMax} {
		for _, desc := range []bool{true, false} {
			if a, b := merged.Rank(m, desc), one.Rank(m, desc); !reflect.DeepEqual(a, b) && !sameNaN(a, b) {
				t.Errorf("ranking by %v (descending %v) differs", m, desc)
			}
		}
	}
	live := 0
	for f := 0; f < one.DSae(); f++ {
		a, _ := merged.Stats(f)
		b, _ := one.Stats(f)
		if a != b && !(math.IsNaN(a.CV) && math.IsNaN(b.CV)) {
			t.Fatalf("feature %d: stats %+v, want %+v", f, a, b)
		}
		if !a.Dead {
			live++
		}
		ra, _ := merged.RandomStats(f)
		rb, _ := one.RandomStats(f)
		if ra.Count != rb.Count || ra.Max != rb.Max || rel(ra.Mean, rb.Mean) > 1e-12 || rel(ra.Std, rb.Std) > 1e-9 {
			t.Fatalf("feature %d: random stats %+v, want %+v", f, ra, rb)
		}
		ta, err1 := merged.TopContexts(f, store.TopK, 30, 2)
		tb, err2 := one.TopContexts(f, store.TopK, 30, 2)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(ta, tb) {
			t.Fatalf("feature %d: top contexts differ (%v, %v)", f, err1, err2)
		}
		ia, err1 := merged.IntervalSamples(f, 23, 23)
		ib, err2 := one.IntervalSamples(f, 23, 23)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(ia, ib) {
			t.Fatalf("feature %d: interval samples differ (%v, %v)", f, err1, err2)
		}
		ea, ca, err1 := merged.Histogram(f)
		eb, cb, err2 := one.Histogram(f)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(ea, eb) || !reflect.DeepEqual(ca, cb) {
			t.Fatalf("feature %d: histograms differ (%v, %v)", f, err1, err2)
		}
		xa, err1 := merged.CoActivation(f, store.CoK)
		xb, err2 := one.CoActivation(f, store.CoK)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(xa, xb) {
			t.Fatalf("feature %d: co-activations differ (%v, %v)", f, err1, err2)
		}
	}
	if live < 10 {
		t.Fatalf("only %d live features: nothing compared", live)
	}
	for _, kind := range store.PlotKinds {
		ths := []float32{0}
		if kind == store.PlotFeaturesPerToken {
			ths = store.GridThresholds()
		}
		for _, th := range ths {
			a, err1 := merged.Distribution(kind, th)
			b, err2 := one.Distribution(kind, th)
			if (err1 == nil) != (err2 == nil) || err1 == nil && !reflect.DeepEqual(a, b) {
				t.Errorf("distribution %s at %v differs (%v, %v)", kind, th, err1, err2)
			}
		}
	}
	// The same shards merged again: the same file, byte for byte.
	rev := slices.Clone(shards)
	slices.Reverse(rev)
	again, err := analysis.Merge(ctx, s.Model, s.SAEs["sae0"], rev, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again.Meta.Created = merged.Meta.Created
	pa, pb := filepath.Join(dir, "a.saestore"), filepath.Join(dir, "b.saestore")
	if err := merged.Write(pa); err != nil {
		t.Fatal(err)
	}
	if err := again.Write(pb); err != nil {
		t.Fatal(err)
	}
	ba, _ := os.ReadFile(pa)
	bb, _ := os.ReadFile(pb)
	if len(ba) == 0 || !bytes.Equal(ba, bb) {
		t.Error("merging the same shards twice gave different files")
	}
}

func rel(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

// sameNaN reports whether two rankings are equal but for NaN
// coefficients of variation in the same places.
func sameNaN(a, b store.Ranking) bool {
	if len(a.Live) != len(b.Live) || !slices.Equal(a.Dead, b.Dead) {
		return false
	}
	for i := range a.Live {
		x, y := a.Live[i], b.Live[i]
		if math.IsNaN(x.CV) && math.IsNaN(y.CV) {
			x.CV, y.CV = 0, 0
		}
		if x != y {
			return false
		}
	}
	return true
}

// sameBounded fails t unless two bounded stores hold the same arrays, to
// the bit, but for the random moments' sums (compared to 1e-12).
func sameBounded(t *testing.T, a, b *store.Store) {
	t.Helper()
	for name, same := range map[string]bool{
		"Tokens":     slices.Equal(a.Tokens, b.Tokens) && slices.Equal(a.RowIDs, b.RowIDs),
		"Top":        slices.Equal(a.TopTok, b.TopTok) && slices.Equal(a.TopVal, b.TopVal) && slices.Equal(a.TopN, b.TopN),
		"Intervals":  slices.Equal(a.IntTok, b.IntTok) && slices.Equal(a.IntVal, b.IntVal) && slices.Equal(a.IntCount, b.IntCount),
		"Hist":       slices.Equal(a.Hist, b.Hist) && slices.Equal(a.Range, b.Range),
		"Samp":       slices.Equal(a.SampPtr, b.SampPtr) && slices.Equal(a.SampPos, b.SampPos) && slices.Equal(a.SampVal, b.SampVal),
		"TokCounts":  slices.Equal(a.TokCounts, b.TokCounts),
		"RandCounts": slices.Equal(a.RandCounts, b.RandCounts),
		"Co":         slices.Equal(a.CoN, b.CoN) && slices.Equal(a.CoID, b.CoID) && slices.Equal(a.CoCorr, b.CoCorr),
		"Learnt":     reflect.DeepEqual(a.Learnt, b.Learnt),
		"Random":     slices.Equal(a.Random.Count, b.Random.Count) && slices.Equal(a.Random.Max, b.Random.Max),
	} {
		if !same {
			t.Errorf("%s differ", name)
		}
	}
	for f := range a.Random.Sum {
		if rel(a.Random.Sum[f], b.Random.Sum[f]) > 1e-12 || rel(a.Random.SumSq[f], b.Random.SumSq[f]) > 1e-12 {
			t.Fatalf("feature %d: random sums %v %v, want %v %v", f, a.Random.Sum[f], a.Random.SumSq[f], b.Random.Sum[f], b.Random.SumSq[f])
		}
	}
	if len(a.SampVal) == 0 || a.Meta.Summary.RandomTokens == 0 || slices.Max(a.CoN) == 0 {
		t.Error("empty store: nothing compared")
	}
}

// Merge refuses, saying why, shards of different scans (SAE, settings,
// corpus, split), a shard given twice, a missing shard, a shard whose
// rows are not its share, a store that is not a shard, and an SAE that
// is not the shards'.
func TestMergeRefuses(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	p := analysis.DefaultParams()
	p.Batch, p.BaselineStride, p.ReconRows = 2, 1, 0
	rows := rowsOf(8, 12, 3)
	dir := t.TempDir()
	var four []*store.Store
	for i := range 4 {
		st, _ := shardScan(t, s, "sae0", rows, p, i, 4, dir)
		four = append(four, st)
	}
	other, _ := shardScan(t, s, "sae1", rows, p, 2, 4, dir)
	q := p
	q.BaselineSeed++
	seeded, _ := shardScan(t, s, "sae0", rows, q, 2, 4, dir)
	half, _ := shardScan(t, s, "sae0", rows, p, 1, 2, dir)
	whole, err := analysis.Scan(context.Background(), s.Model, s.SAEs["sae0"], rows, store.Meta{Params: p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	corpus := func(st *store.Store, hash string) *store.Store {
		c := *st
		c.Meta.Corpus = store.Source{Path: "corpus-" + hash, Hash: hash}
		return &c
	}
	rowsHash := func(st *store.Store, hash string) *store.Store {
		c := *st
		c.Meta.Corpus = store.Source{Kind: store.TokenRows, Hash: hash}
		return &c
	}
	moved := *four[2]
	sh := *moved.Meta.Params.Shard
	sh.FirstRow--
	moved.Meta.Params.Shard = &sh
	for _, tc := range []struct {
		name   string
		shards []*store.Store
		want   string
	}{
		{"other SAE", []*store.Store{four[0], four[1], other, four[3]}, "differ in the SAE"},
		{"other settings", []*store.Store{four[0], four[1], seeded, four[3]}, "differ in the settings"},
		{"other corpus", []*store.Store{corpus(four[0], "a"), corpus(four[1], "a"), corpus(four[2], "b"), corpus(four[3], "a")}, "differ in the corpus"},
		// the same description (token rows typed on the command line):
		// the hashes tell them apart, not "X, not X"
		{"other rows", []*store.Store{rowsHash(four[0], "0123456789abcdef"), rowsHash(four[1], "0123456789abcdef"), rowsHash(four[2], "fedcba9876543210"), rowsHash(four[3], "0123456789abcdef")},
			"differ in the corpus: both token rows given on the command line, but different contents (hash fedcba987654, not 0123456789ab)"},
		{"other split", []*store.Store{four[0], half, four[2], four[3]}, "differ in the split"},
		{"twice", []*store.Store{four[0], four[1], four[1], four[3]}, "shard 1/4 is given twice"},
		{"missing", []*store.Store{four[0], four[1], four[3]}, "shard 2/4 is missing"},
		{"missing last", []*store.Store{four[0], four[1], four[2]}, "shard 3/4 is missing"},
		{"rows", []*store.Store{four[0], four[1], &moved, four[3]}, "holds rows 3 to 4, but shard 2/4 of 8 rows is rows 4 to 5"},
		{"not a shard", []*store.Store{four[0], whole}, "is not a shard store"},
		{"none", nil, "no shard stores"},
	} {
		_, err := analysis.Merge(context.Background(), s.Model, s.SAEs["sae0"], tc.shards, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	var stages []string
	if _, err := analysis.Merge(context.Background(), s.Model, s.SAEs["sae0"], four, nil, func(pr analysis.Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != pr.Stage {
			stages = append(stages, pr.Stage)
		}
	}); err != nil {
		t.Fatalf("the four shards: %v", err)
	}
	if want := []string{"merging", "unembedding", "indexing"}; !slices.Equal(stages, want) {
		t.Errorf("progress stages %v, want %v", stages, want)
	}
	// Cancelled while replaying: the context's error, no store.
	ctx, cancel := context.WithCancel(context.Background())
	st, err := analysis.Merge(ctx, s.Model, s.SAEs["sae0"], four, nil, func(pr analysis.Progress) {
		if pr.Stage == "merging" {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || st != nil {
		t.Errorf("cancelled merge: %v", err)
	}
	if s.SAEs["sae1"].SAE.Hook != s.SAEs["sae0"].SAE.Hook || s.SAEs["sae1"].SAE.DSae != s.SAEs["sae0"].SAE.DSae {
		_, err := analysis.Merge(context.Background(), s.Model, s.SAEs["sae1"], four, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "is not the shards'") {
			t.Errorf("another SAE: %v", err)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		i, n int
		ok   bool
	}{{"0/4", 0, 4, true}, {"3/4", 3, 4, true}, {"4/4", 0, 0, false}, {"-1/4", 0, 0, false}, {"1/0", 0, 0, false},
		{"1/4x", 0, 0, false}, {"1", 0, 0, false}, {"", 0, 0, false}, {"1/4/5", 0, 0, false}} {
		i, n, err := store.ParseShard(tc.in)
		if (err == nil) != tc.ok || i != tc.i || n != tc.n {
			t.Errorf("ParseShard(%q) = %d, %d, %v", tc.in, i, n, err)
		}
	}
	for _, tc := range []struct{ i, n, total, align, lo, hi int }{
		{0, 4, 1000, 160, 0, 160}, {1, 4, 1000, 160, 160, 480}, {2, 4, 1000, 160, 480, 800}, {3, 4, 1000, 160, 800, 1000},
		{0, 1, 7, 5, 0, 7}, {1, 2, 90, 20, 40, 90},
	} {
		lo, hi, err := store.ShardRows(tc.i, tc.n, tc.total, tc.align)
		if err != nil || lo != tc.lo || hi != tc.hi {
			t.Errorf("ShardRows(%d, %d, %d, %d) = %d, %d, %v; want %d, %d", tc.i, tc.n, tc.total, tc.align, lo, hi, err, tc.lo, tc.hi)
		}
	}
	if _, _, err := store.ShardRows(7, 8, 1000, 160); err == nil || !strings.Contains(err.Error(), "at most 7 shards") {
		t.Errorf("8 shards of 1000 rows on multiples of 160: %v", err)
	}
}

// Past the bounded builder's exact prefix (store.ExactTokens tokens: the
// bins are fixed, then the rows stream, ranges doubling) the merged store
// is still the single scan's: the shards' rows are replayed in the same
// order, so every streaming decision and reservoir draw is the same.
func TestMergeShardsPastExactPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("scans 1100 rows of 128 tokens twice")
	}
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	p := analysis.DefaultParams()
	p.ReconRows = 2
	rows := rowsOf(1100, 128, 11)
	if len(rows)*128 <= store.ExactTokens {
		t.Fatal("the corpus must be longer than the exact prefix")
	}
	ctx := context.Background()
	meta := store.Meta{Params: p, SAE: store.Source{Path: "sae1", Hash: "hash of sae1"}}
	one, err := analysis.Scan(ctx, s.Model, s.SAEs["sae1"], rows, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var shards []*store.Store
	for i := range 3 {
		st, _ := shardScan(t, s, "sae1", rows, p, i, 3, dir)
		shards = append(shards, st)
	}
	merged, err := analysis.Merge(ctx, s.Model, s.SAEs["sae1"], shards, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameBounded(t, merged, one)
	doubled := 0
	for f := 0; f < one.DSae(); f++ {
		if one.Range[f] != one.Learnt.Max[f] {
			doubled++
		}
		ia, err1 := merged.IntervalSamples(f, 5, 5)
		ib, err2 := one.IntervalSamples(f, 5, 5)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(ia, ib) {
			t.Fatalf("feature %d: interval samples differ (%v, %v)", f, err1, err2)
		}
	}
	t.Logf("%d of %d features' ranges doubled past the prefix", doubled, one.DSae())
}

// Shards merge into the single scan's store whichever positions count:
// BOS counted with zero activations (Params.IncludeBOS, the notebook's
// mode), and rows without BOS for an SAE trained without one
// (Params.NoBOS, OpenAI's TopK fixture), where position 0 is text.
func TestMergeBOSModes(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	w, err := sae.Load(filepath.Join(fixture.Dir(), "v2", "oai-topk8-hook_resid_post-0.pt"), "blocks.0.hook_resid_post")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	oai, err := encoder.New(s.Backend, w)
	if err != nil {
		t.Fatal(err)
	}
	defer oai.Close()
	p := analysis.DefaultParams()
	p.Batch, p.BaselineStride, p.ReconRows = 2, 2, 2
	incl, nobos := p, p
	incl.IncludeBOS, nobos.NoBOS = true, true
	for _, tc := range []struct {
		name string
		enc  *encoder.Encoder
		p    store.Params
		rows [][]int32
	}{
		{"include BOS", s.SAEs["sae0"], incl, rowsOf(16, 24, 4)},
		{"no BOS", oai, nobos, noBOSRows(16, 24, 5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			one, err := analysis.Scan(ctx, s.Model, tc.enc, tc.rows, store.Meta{Params: tc.p, SAE: store.Source{Path: "x", Hash: "hash of x"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var shards []*store.Store
			for i := range 4 {
				st, _ := shardScanOf(t, s.Model, tc.enc, "x", tc.rows, tc.p, i, 4, dir)
				shards = append(shards, st)
			}
			merged, err := analysis.Merge(ctx, s.Model, tc.enc, shards, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			sameBounded(t, merged, one)
			ms, os1 := merged.Meta.Summary, one.Meta.Summary
			if rel(ms.AvgNorm, os1.AvgNorm) > 1e-12 || ms.AvgNorm == 0 {
				t.Errorf("avg norm %v, want %v", ms.AvgNorm, os1.AvgNorm)
			}
			if ms.Tokens != os1.Tokens || ms.RandomTokens != os1.RandomTokens || ms.L0 != os1.L0 || ms.LossRecons != os1.LossRecons || ms.Tokens != 16*24-16*btoi(!tc.p.IncludeBOS && !tc.p.NoBOS) {
				t.Errorf("summary %+v, want %+v", ms, os1)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
