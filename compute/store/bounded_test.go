package store

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// synthetic feeds a full and a bounded builder the same scan: rows of seq
// tokens (position 0 a BOS that is not counted), each token with a random
// set of active features of width d (ids ascending; some features dense,
// some never active, some values repeated to make ties), and the random
// baseline on every third row.
func synthetic(rows, seq, d int, limit int, seed uint64) (full, bnd *Store) {
	meta := Meta{DSae: d, Hook: "blocks.0.hook_resid_pre",
		Params: Params{Rows: rows, SeqLen: seq, SampleSeed: 99, BaselineStride: 3}}
	tokens := make([]int32, rows*seq)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range tokens {
		tokens[i] = int32(rng.IntN(50257))
	}
	fb, bb := NewBuilder(meta, tokens), newBoundedBuilder(meta, tokens, limit)
	var ids []uint32
	var vals []float32
	for tok := 0; tok < rows*seq; tok++ {
		ids, vals = ids[:0], vals[:0]
		counted := tok%seq != 0
		if counted {
			for f := 0; f < d-3; f++ { // the last three features never fire
				p := 0.04
				if f%17 == 0 {
					p = 0.6 // dense
				}
				if rng.Float64() < p {
					v := float32(rng.ExpFloat64() * (1 + float64(f%5)))
					if rng.IntN(20) == 0 {
						v = 1.5 // ties
					}
					ids = append(ids, uint32(f))
					vals = append(vals, v)
				}
			}
		}
		fb.AddToken(tok, ids, vals, counted)
		bb.AddToken(tok, ids, vals, counted)
		if tok%seq == seq-1 && (tok/seq)%3 == 0 {
			var rt []int
			var ri [][]uint32
			var rv [][]float32
			for t := tok - seq + 1; t <= tok; t++ {
				var fs []uint32
				var vs []float32
				for f := 0; f < d; f++ {
					if rng.IntN(3) == 0 {
						fs = append(fs, uint32(f))
						vs = append(vs, float32(rng.ExpFloat64()*0.7))
					}
				}
				rt, ri, rv = append(rt, t), append(ri, fs), append(rv, vs)
			}
			fb.AddRandomTokens(rt, ri, rv)
			bb.AddRandomTokens(rt, ri, rv)
		}
	}
	full, err := fb.Build()
	if err != nil {
		panic(err)
	}
	bnd, err = bb.Build()
	if err != nil {
		panic(err)
	}
	return full, bnd
}

// reopen writes s and opens it again.
func reopen(t *testing.T, s *Store, name string) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func sameStats(a, b FeatureStats) bool {
	if math.IsNaN(a.CV) && math.IsNaN(b.CV) {
		a.CV, b.CV = 0, 0
	}
	return a == b
}

// compareExact asserts that every query of the bounded store b answers
// what the full store a answers, to the bit (features-per-token counts as
// multisets: a bounded store keeps how many tokens have each count).
func compareExact(t *testing.T, a, b *Store, contextsToo bool) {
	t.Helper()
	if !b.Bounded() || a.Bounded() {
		t.Fatal("want a full and a bounded store")
	}
	if a.Meta.Summary != b.Meta.Summary {
		t.Errorf("summary %+v, want %+v", b.Meta.Summary, a.Meta.Summary)
	}
	d := a.DSae()
	for f := 0; f < d; f++ {
		x, _ := a.Stats(f)
		y, _ := b.Stats(f)
		if !sameStats(x, y) {
			t.Fatalf("feature %d: stats %+v, want %+v", f, y, x)
		}
		x, _ = a.RandomStats(f)
		y, _ = b.RandomStats(f)
		if !sameStats(x, y) {
			t.Fatalf("feature %d: random stats %+v, want %+v", f, y, x)
		}
	}
	for _, m := range []Metric{ByMean, ByCV, ByFrequency, ByMax, ByID} {
		for _, desc := range []bool{true, false} {
			ra, rb := a.Rank(m, desc), b.Rank(m, desc)
			if !reflect.DeepEqual(ra.Dead, rb.Dead) || len(ra.Live) != len(rb.Live) {
				t.Fatalf("rank %s: dead or live differ", m)
			}
			for i := range ra.Live {
				if ra.Live[i].ID != rb.Live[i].ID {
					t.Fatalf("rank %s %v: position %d is %d, want %d", m, desc, i, rb.Live[i].ID, ra.Live[i].ID)
				}
			}
		}
	}
	for f := 0; f < d; f++ {
		ca, cb := coOf(t, a, f, CoK), coOf(t, b, f, CoK)
		if !reflect.DeepEqual(ca, cb) {
			t.Fatalf("feature %d: co-activations %v, want %v", f, cb, ca)
		}
		for _, k := range []int{1, 10, TopK} {
			ta, _ := a.TopContexts(f, k, 30, 2)
			tb, err := b.TopContexts(f, k, 30, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ta, tb) {
				t.Fatalf("feature %d: top %d contexts differ", f, k)
			}
		}
		for _, w := range [][2]int{{0, 0}, {12, 2}, {127, 127}} {
			ta, _ := a.TopContexts(f, TopK, w[0], w[1])
			tb, _ := b.TopContexts(f, TopK, w[0], w[1])
			if !reflect.DeepEqual(ta, tb) {
				t.Fatalf("feature %d: top contexts of window %v differ", f, w)
			}
		}
		if !contextsToo {
			continue
		}
		for _, w := range [][2]int{{30, 2}, {127, 127}} {
			ia, _ := a.IntervalSamples(f, w[0], w[1])
			ib, err := b.IntervalSamples(f, w[0], w[1])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ia, ib) {
				t.Fatalf("feature %d: interval samples of window %v differ", f, w)
			}
		}
		ea, na, _ := a.Histogram(f)
		eb, nb, err := b.Histogram(f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ea, eb) || !reflect.DeepEqual(na, nb) {
			t.Fatalf("feature %d: histogram differs", f)
		}
	}
	sorted := func(v []int) []int { v = slices.Clone(v); slices.Sort(v); return v }
	for _, th := range GridThresholds() {
		if !reflect.DeepEqual(sorted(a.TokenCounts(th)), b.TokenCounts(th)) {
			t.Fatalf("threshold %g: token counts differ", th)
		}
		if !reflect.DeepEqual(sorted(a.RandomTokenCounts(th)), b.RandomTokenCounts(th)) {
			t.Fatalf("threshold %g: random token counts differ", th)
		}
	}
	for _, kind := range PlotKinds {
		ths := []float32{0}
		if kind == PlotFeaturesPerToken {
			ths = GridThresholds()
		}
		for _, th := range ths {
			sa, errA := a.Distribution(kind, th)
			sb, errB := b.Distribution(kind, th)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("%s: errors %v and %v", kind, errA, errB)
			}
			if errA != nil {
				continue
			}
			fs := func(v []float64) []float64 { v = slices.Clone(v); slices.Sort(v); return v }
			if kind == PlotFeaturesPerToken {
				sa.Learnt, sa.Random = fs(sa.Learnt), fs(sa.Random)
			}
			if !reflect.DeepEqual(sa, sb) {
				t.Fatalf("%s at %g: series differ", kind, th)
			}
			if !reflect.DeepEqual(sa.Bin(50, 0, 0), sb.Bin(50, 0, 0)) {
				t.Fatalf("%s at %g: binned series differ", kind, th)
			}
		}
	}
}

// A corpus of 1000 rows of 128 tokens (within ExactTokens): the bounded
// store, written and reopened, answers every query as the full store
// (format 2, written and reopened) does, exactly.
func TestBoundedEqualsFullStore(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 rows")
	}
	full, bnd := synthetic(1000, 128, 128, ExactTokens, 1)
	if bnd.Meta.Summary.Tokens+1000 > ExactTokens+1000 || 1000*128 > ExactTokens {
		t.Fatal("the corpus must fit the exact prefix")
	}
	a, b := reopen(t, full, "full.saestore"), reopen(t, bnd, "bounded.saestore")
	if a.Meta.Version != FullFormatVersion || b.Meta.Version != FormatVersion {
		t.Fatalf("versions %d and %d", a.Meta.Version, b.Meta.Version)
	}
	compareExact(t, a, b, true)
	if err := b.Verify(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FeatureValues(0); !errors.Is(err, ErrNotKept) {
		t.Errorf("FeatureValues on a bounded store: %v, want ErrNotKept", err)
	}
	if _, err := b.Distribution(PlotFeaturesPerToken, 0.3); !errors.Is(err, ErrNotKept) {
		t.Errorf("a threshold off the grid: %v, want ErrNotKept", err)
	}
}

// Past the exact prefix the bounded builder streams: moments, top
// contexts, co-activations and per-token counts stay exact; each
// feature's range covers its max and is less than twice it; the
// histogram and the intervals count every activation, and every interval
// sample lies in its interval with its row's activations.
func TestBoundedStreaming(t *testing.T) {
	const rows, seq, d = 300, 16, 64
	full, bnd := synthetic(rows, seq, d, 5*seq, 2)
	a, b := reopen(t, full, "full.saestore"), reopen(t, bnd, "bounded.saestore")
	compareExact(t, a, b, false)
	if len(b.RowIDs) > rows {
		t.Fatalf("%d rows kept of %d", len(b.RowIDs), rows)
	}
	for f := 0; f < d; f++ {
		st, _ := b.Stats(f)
		r := float64(b.Range[f])
		if st.Dead {
			if r != 0 {
				t.Errorf("dead feature %d: range %g", f, r)
			}
			continue
		}
		if r < st.Max || r >= 2*st.Max {
			t.Fatalf("feature %d: range %g for max %g", f, r, st.Max)
		}
		_, counts, _ := b.Histogram(f)
		hist := 0
		for _, c := range counts {
			hist += c
		}
		ints := uint64(0)
		for _, c := range b.IntCount[f*Intervals : (f+1)*Intervals] {
			ints += c
		}
		if hist != st.Count || ints != uint64(st.Count) {
			t.Fatalf("feature %d: histogram counts %d, intervals %d, want %d", f, hist, ints, st.Count)
		}
		groups, err := b.IntervalSamples(f, 127, 127)
		if err != nil {
			t.Fatal(err)
		}
		for gi, g := range groups {
			iv := Intervals - 1 - gi
			if want := min(PerInterval, int(b.IntCount[f*Intervals+iv])); len(g.Contexts) != want {
				t.Fatalf("feature %d interval %d: %d samples of %d activations", f, iv, len(g.Contexts), b.IntCount[f*Intervals+iv])
			}
			for _, c := range g.Contexts {
				if c.Value < g.Lo || c.Value > g.Hi {
					t.Fatalf("feature %d: sample %g outside (%g, %g]", f, c.Value, g.Lo, g.Hi)
				}
				for i, v := range c.Acts {
					w, _ := a.Activation(f, c.Row*seq+c.Start+i)
					if v != w {
						t.Fatalf("feature %d: sample at row %d: activation %g at %d, want %g", f, c.Row, v, c.Start+i, w)
					}
				}
			}
		}
	}
}

// The interval samples stay uniform within their interval when the bins
// double while streaming: over many seeds, every activation of an
// interval of n is drawn with probability min(5, n)/n.
func TestBoundedSamplesUniform(t *testing.T) {
	const seq, rows, trials = 4, 60, 600
	vals := make([]float32, rows*seq)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range vals {
		// small values first, then the range grows twice
		vals[i] = float32(rng.Float64()) * float32(1+i/(rows*seq/3)*2)
		if vals[i] == 0 {
			vals[i] = 0.5
		}
	}
	tokens := make([]int32, rows*seq)
	drawn := map[uint32]int{}
	var ranges []float32
	var counts []uint64
	for trial := 0; trial < trials; trial++ {
		meta := Meta{DSae: 1, Params: Params{Rows: rows, SeqLen: seq, SampleSeed: uint64(trial), IncludeBOS: true}}
		b := newBoundedBuilder(meta, tokens, 3*seq)
		for tok, v := range vals {
			b.AddToken(tok, []uint32{0}, []float32{v}, true)
		}
		s, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		ranges = append(ranges, s.Range[0])
		counts = append(counts, s.IntCount...)
		for _, tok := range s.IntTok {
			if tok != NoToken {
				drawn[tok]++
			}
		}
	}
	if slices.Min(ranges) != slices.Max(ranges) {
		t.Fatal("the range depends on the seed")
	}
	r := float64(ranges[0])
	for tok, v := range vals {
		iv := binOf(v, float32(r), Intervals)
		n := int(counts[iv])
		p := float64(min(PerInterval, n)) / float64(n)
		mean, sd := p*trials, math.Sqrt(trials*p*(1-p))
		if got := float64(drawn[uint32(tok)]); math.Abs(got-mean) > 5*sd+0.5 {
			t.Errorf("token %d (interval %d of %d): drawn %v times, want %.1f ± %.1f", tok, iv, n, got, mean, sd)
		}
	}
}

// A damaged byte in a bounded store's samples is an error wrapping
// ErrCorrupt on first use, never a different context.
func TestBoundedCorrupt(t *testing.T) {
	_, bnd := synthetic(20, 16, 32, ExactTokens, 3)
	path := filepath.Join(t.TempDir(), "b.saestore")
	if err := bnd.Write(path); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var sec section
	for _, x := range o.Meta.Sections {
		if x.Name == secSampVal {
			sec = x
		}
	}
	o.Close()
	if sec.Count == 0 {
		t.Fatal("no samples")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[sec.Offset+1] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.TopContexts(0, 5, 30, 2); !errors.Is(err, ErrCorrupt) {
		t.Errorf("top contexts of a damaged store: %v, want ErrCorrupt", err)
	}
}
