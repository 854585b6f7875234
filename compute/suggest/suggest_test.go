package suggest

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/store"
)

const rows, seq, d = 6, 16, 4

// synth builds a full store of random tokens (ids 1 to 20, BOS first)
// where feature 0 fires 2.0 on token 5 and 0.3 on half the 7s, feature 1
// never fires, feature 2 fires on a random third of the tokens and
// feature 3 on token 9 in row 2 only. acts[f][tok] are the activations.
func synth(t *testing.T) (*store.Store, []int32, [d][]float32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	n := rows * seq
	tokens := make([]int32, n)
	var acts [d][]float32
	for f := range acts {
		acts[f] = make([]float32, n)
	}
	for i := range tokens {
		if i%seq == 0 {
			tokens[i] = 50256
			continue
		}
		tokens[i] = int32(1 + rng.IntN(20))
		switch tokens[i] {
		case 5:
			acts[0][i] = 2
		case 7:
			if rng.IntN(2) == 0 {
				acts[0][i] = 0.3
			}
		case 9:
			if i/seq == 2 {
				acts[3][i] = 1
			}
		}
		if rng.IntN(3) == 0 {
			acts[2][i] = float32(rng.ExpFloat64()) + 0.01
		}
	}
	meta := store.Meta{DSae: d, DIn: 8, Hook: "blocks.0.hook_resid_pre", Params: store.Params{Rows: rows, SeqLen: seq}}
	b := store.NewBuilder(meta, tokens)
	for i := range tokens {
		var ids []uint32
		var vals []float32
		for f := 0; f < d; f++ {
			if acts[f][i] > 0 {
				ids = append(ids, uint32(f))
				vals = append(vals, acts[f][i])
			}
		}
		b.AddToken(i, ids, vals, i%seq != 0)
	}
	st := b.Finish()
	st.Meta.Summary.Tokens = rows * (seq - 1)
	return st, tokens, acts
}

// Each feature's suggestion against a direct count over the rows where
// it fires (with fewer than store.TopK activations, the store keeps them
// all): the tokens by mass, and the share, precision and recall of those
// named.
func TestForFeatureMatchesDirectCount(t *testing.T) {
	st, tokens, acts := synth(t)
	for f := 0; f < d; f++ {
		got, err := ForFeature(st, f)
		if err != nil {
			t.Fatal(err)
		}
		a := acts[f]
		firing := map[int]bool{}
		for i, v := range a {
			if v > 0 {
				firing[i/seq] = true
			}
		}
		if got.Rows != len(firing) {
			t.Errorf("feature %d: %d rows, fires in %d", f, got.Rows, len(firing))
		}
		mass := map[int32]float64{}
		var total float64
		for i, v := range a {
			if firing[i/seq] && i%seq != 0 && v > 0 {
				mass[tokens[i]] += float64(v)
				total += float64(v)
			}
		}
		if total == 0 {
			if len(got.Tokens) != 0 || got.Text(func(int) string { return "x" }) != "" {
				t.Errorf("dead feature %d: %+v", f, got)
			}
			continue
		}
		var ids []int32
		for id := range mass {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool {
			return mass[ids[i]] > mass[ids[j]] || mass[ids[i]] == mass[ids[j]] && ids[i] < ids[j]
		})
		if len(got.Tokens) == 0 || len(got.Tokens) > MaxTokens {
			t.Fatalf("feature %d: %d tokens", f, len(got.Tokens))
		}
		named := map[int32]bool{}
		var m float64
		for i, id := range got.Tokens {
			if int32(id) != ids[i] {
				t.Errorf("feature %d: token %d is %d, by mass %d", f, i, id, ids[i])
			}
			named[int32(id)] = true
			m += mass[int32(id)]
		}
		// no further token was needed, or allowed
		if len(got.Tokens) < MaxTokens && len(got.Tokens) < len(ids) && m < Enough*total && mass[ids[len(got.Tokens)]] >= minShare*total {
			t.Errorf("feature %d: stopped at %d tokens with %.2f of the mass", f, len(got.Tokens), m/total)
		}
		var fires, namedFires, namedOcc int
		for i, v := range a {
			if !firing[i/seq] || i%seq == 0 {
				continue
			}
			if v > 0 {
				fires++
			}
			if named[tokens[i]] {
				namedOcc++
				if v > 0 {
					namedFires++
				}
			}
		}
		close := func(what string, got, want float64) {
			if math.Abs(got-want) > 1e-9 {
				t.Errorf("feature %d %s %.6f, direct %.6f", f, what, got, want)
			}
		}
		close("share", got.Share, m/total)
		close("precision", got.Precision, float64(namedFires)/float64(fires))
		close("recall", got.Recall, float64(namedFires)/float64(namedOcc))
	}
	// feature 0 is a token-5 feature, named first, most of its mass
	s, _ := ForFeature(st, 0)
	text := s.Text(func(id int) string { return map[int]string{5: "·five", 7: "·seven"}[id] })
	if s.Tokens[0] != 5 || !strings.HasPrefix(text, "fires on ·five") || !strings.Contains(text, "of its mass") {
		t.Errorf("feature 0: %+v, %q", s, text)
	}
	if short := s.Short(func(id int) string { return map[int]string{5: "·five", 7: "·seven"}[id] }); !strings.HasPrefix(short, "·five") ||
		!strings.HasSuffix(short, "% of its mass)") {
		t.Errorf("feature 0 short: %q (text %q)", short, text)
	}
	if _, err := ForFeature(st, d); err == nil {
		t.Error("feature out of range accepted")
	}
	// one Suggester for every feature, twice over: the same answers (its
	// tallies are cleared between features)
	g := new(Suggester)
	for round := 0; round < 2; round++ {
		for f := 0; f < d; f++ {
			a, _ := g.ForFeature(st, f)
			b, _ := ForFeature(st, f)
			if !slices.Equal(a.Tokens, b.Tokens) || a.Share != b.Share || a.Precision != b.Precision || a.Recall != b.Recall || a.Rows != b.Rows {
				t.Errorf("round %d feature %d: reused %+v, fresh %+v", round, f, a, b)
			}
		}
	}
}
