package suggest

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/saescope/saescope/compute/store"
)

var (
	benchOnce  sync.Once
	benchStore *store.Store
)

// bounded is a bounded store of 1000 rows of 128 tokens (the window's
// default analysis) of a 6144-feature SAE, 30 features a token.
func bounded(b *testing.B) *store.Store {
	benchOnce.Do(func() {
		const rows, seq, d, l0 = 1000, 128, 6144, 30
		rng := rand.New(rand.NewPCG(1, 2))
		tokens := make([]int32, rows*seq)
		for i := range tokens {
			tokens[i] = int32(rng.IntN(50000))
			if i%seq == 0 {
				tokens[i] = 50256
			}
		}
		meta := store.Meta{DSae: d, DIn: 768, Hook: "blocks.6.hook_resid_pre", Params: store.Params{Rows: rows, SeqLen: seq}}
		bd := store.NewBoundedBuilder(meta, tokens)
		ids := make([]uint32, l0)
		vals := make([]float32, l0)
		for t := range tokens {
			if t%seq == 0 {
				bd.AddToken(t, nil, nil, false)
				continue
			}
			seen := map[uint32]bool{}
			n := 0
			for n < l0 {
				f := uint32(rng.IntN(d))
				if !seen[f] {
					seen[f] = true
					ids[n], vals[n] = f, float32(rng.ExpFloat64())
					n++
				}
			}
			sortIDs(ids, vals)
			bd.AddToken(t, ids, vals, true)
		}
		benchStore = bd.Finish()
	})
	return benchStore
}

func sortIDs(ids []uint32, vals []float32) {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
			vals[j], vals[j-1] = vals[j-1], vals[j]
		}
	}
}

// BenchmarkForFeature times one feature's suggestion on a bounded store
// of the window's default size (1000 rows, 6144 features): its top and
// interval rows (about 150 whole rows of 128 tokens) tallied, one
// Suggester for every feature as the window computes them ("reused"), or
// a new one each time ("fresh").
//
//	go test -run '^$' -bench ForFeature -benchtime 500x ./compute/suggest/
func BenchmarkForFeature(b *testing.B) {
	st := bounded(b)
	b.Run("reused", func(b *testing.B) {
		g := new(Suggester)
		for i := 0; i < b.N; i++ {
			if _, err := g.ForFeature(st, i%st.DSae()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := ForFeature(st, i%st.DSae()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
