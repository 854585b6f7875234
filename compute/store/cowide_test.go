package store

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// wideScan feeds a full builder, a bounded one that sums every pair and a
// bounded one that follows chosen pairs (coMax below d) the same scan:
// each even feature f often fires with f+1 (a strong partner), the rest
// at random. limit is the exact prefix in tokens.
func wideScan(t *testing.T, rows, seq, d, limit int) (full, every, chosen *Store) {
	t.Helper()
	meta := Meta{DSae: d, Hook: "blocks.0.hook_resid_pre",
		Params: Params{Rows: rows, SeqLen: seq, SampleSeed: 7, BaselineStride: 3}}
	tokens := make([]int32, rows*seq)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range tokens {
		tokens[i] = int32(rng.IntN(50257))
	}
	fb := NewBuilder(meta, tokens)
	eb := newBoundedBuilderCo(meta, tokens, limit, CoMaxFeatures)
	cb := newBoundedBuilderCo(meta, tokens, limit, d/4)
	var ids []uint32
	var vals []float32
	for tok := 0; tok < rows*seq; tok++ {
		ids, vals = ids[:0], vals[:0]
		counted := tok%seq != 0
		if counted {
			for f := 0; f < d-2; f++ {
				fire := rng.Float64() < 0.05
				if f%2 == 1 && len(ids) > 0 && ids[len(ids)-1] == uint32(f-1) && rng.Float64() < 0.8 {
					fire = true // the partner of f-1
				}
				if fire {
					ids = append(ids, uint32(f))
					vals = append(vals, float32(0.1+rng.ExpFloat64()))
				}
			}
		}
		for _, b := range []*Builder{fb, eb, cb} {
			b.AddToken(tok, ids, vals, counted)
		}
	}
	var err error
	if full, err = fb.Build(); err != nil {
		t.Fatal(err)
	}
	if every, err = eb.Build(); err != nil {
		t.Fatal(err)
	}
	if chosen, err = cb.Build(); err != nil {
		t.Fatal(err)
	}
	return full, every, chosen
}

// An SAE wider than the every-pair limit keeps co-activations: within the
// exact prefix exactly those of every pair; past it, exact correlations
// of the partners chosen on the prefix, the strong ones among them.
func TestBoundedWideCoActivation(t *testing.T) {
	const rows, seq, d = 40, 32, 300
	// the whole corpus in the prefix
	full, every, chosen := wideScan(t, rows, seq, d, rows*seq+1)
	if chosen.Meta.Summary.CoPrefixTokens != full.Meta.Summary.Tokens || every.Meta.Summary.CoPrefixTokens != 0 {
		t.Fatalf("prefix tokens %d (every pair: %d), want %d and 0",
			chosen.Meta.Summary.CoPrefixTokens, every.Meta.Summary.CoPrefixTokens, full.Meta.Summary.Tokens)
	}
	nonEmpty := 0
	for f := 0; f < d; f++ {
		want, got := coOf(t, full, f, CoK), coOf(t, chosen, f, CoK)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("feature %d: chosen pairs give %v, every pair %v", f, got, want)
		}
		if e, _ := every.CoActivation(f, CoK); !reflect.DeepEqual(e, want) {
			t.Fatalf("feature %d: the bounded store summing every pair differs from the full one", f)
		}
		if len(got) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < d-4 {
		t.Fatalf("%d features with co-activations of %d", nonEmpty, d)
	}
	if chosen.CoActivationNote() == "" || every.CoActivationNote() != "" {
		t.Errorf("notes %q and %q", chosen.CoActivationNote(), every.CoActivationNote())
	}

	// a prefix of 4 rows of 40: the correlations kept are the exact ones
	// (the full store's, over every token), the partner found
	full, _, chosen = wideScan(t, rows, seq, d, 4*seq)
	if chosen.Meta.Summary.CoPrefixTokens >= full.Meta.Summary.Tokens || chosen.Meta.Summary.CoPrefixTokens == 0 {
		t.Fatalf("prefix of %d tokens of %d", chosen.Meta.Summary.CoPrefixTokens, full.Meta.Summary.Tokens)
	}
	partners := 0
	for f := 0; f < d-2; f++ {
		all := coOf(t, full, f, d)
		exact := map[int]float64{}
		for _, c := range all {
			exact[c.ID] = c.Correlation
		}
		got := coOf(t, chosen, f, CoK)
		for i, c := range got {
			if r, ok := exact[c.ID]; !ok || r != c.Correlation {
				t.Fatalf("feature %d: partner %d at %v, the full store says %v (%v)", f, c.ID, c.Correlation, r, ok)
			}
			if i > 0 && worseCo(got[i-1], c) {
				t.Fatalf("feature %d: partners out of order at %d", f, i)
			}
		}
		partner := f + 1
		if f%2 == 1 {
			partner = f - 1
		}
		if len(got) > 0 && got[0].ID == partner && all[0].ID == partner {
			partners++
		}
	}
	if partners < (d-2)*9/10 {
		t.Errorf("the designed partner comes first for %d features of %d", partners, d-2)
	}
	// and it survives a write and reopen
	o := reopen(t, chosen, "wide.saestore")
	for f := 0; f < d; f++ {
		a, _ := chosen.CoActivation(f, CoK)
		b, err := o.CoActivation(f, CoK)
		if err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("feature %d reopened: %v, %v", f, b, err)
		}
	}
	if o.CoActivationNote() == "" {
		t.Error("the reopened store lost how its partners were chosen")
	}
}

// coOf is s.CoActivation(f, k), failing the test on an error.
func coOf(t *testing.T, s *Store, f, k int) []Correlated {
	t.Helper()
	c, err := s.CoActivation(f, k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
