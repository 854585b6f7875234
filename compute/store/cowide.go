package store

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Co-activations of SAEs wider than CoMaxFeatures. Summing every pair
// would take d·(d−1)/2 sums (2.4 GB at 24,576 features), so the builder
// does it in two steps:
//
//  1. When the exact prefix ends (every feature's activations on the
//     first ExactTokens tokens are still kept whole), it computes every
//     pair's cross sum over the prefix, feature by feature through the
//     tokens each fires on, and each feature keeps the CoCandidates
//     partners most correlated with it there.
//  2. From then on it sums only the chosen pairs, token after token.
//
// Each chosen pair's sum is then over every token in token order, as the
// full sums are, so the correlations stored are exact; what the prefix
// decides is which partners are followed. A corpus within the prefix gets
// exactly the narrow SAEs' answer (every pair's correlation is known when
// the partners are chosen, and CoCandidates ≥ CoK).

// chooseCandidates fixes each feature's followed partners from the exact
// prefix (bd.ftok, bd.fval) and their sums so far. It does nothing for an
// SAE whose every pair is summed, or when already done.
func (bd *bounded) chooseCandidates(d int) {
	if bd.cross != nil || bd.cand != nil || d <= bd.coMax {
		return
	}
	n := bd.prefixToks
	bd.cand, bd.candSum = make([][]uint32, d), make([][]float64, d)
	if n == 0 {
		return
	}
	// The prefix token by token: tokFeat/tokVal[ptr[t]:ptr[t+1]] are the
	// features active at prefix token t, ascending.
	maxTok := -1
	nnz := 0
	for f := range bd.ftok {
		if k := len(bd.ftok[f]); k > 0 {
			maxTok = max(maxTok, int(bd.ftok[f][k-1]))
			nnz += k
		}
	}
	if maxTok < 0 {
		return
	}
	ptr := make([]int32, maxTok+2)
	for f := range bd.ftok {
		for _, t := range bd.ftok[f] {
			ptr[t+1]++
		}
	}
	for t := 1; t < len(ptr); t++ {
		ptr[t] += ptr[t-1]
	}
	tokFeat, tokVal := make([]uint32, nnz), make([]float32, nnz)
	fill := slices.Clone(ptr[:maxTok+1])
	for f := range bd.ftok {
		for i, t := range bd.ftok[f] {
			tokFeat[fill[t]], tokVal[fill[t]] = uint32(f), bd.fval[f][i]
			fill[t]++
		}
	}
	// Prefix moments, for ranking the partners there.
	mean, std := make([]float64, d), make([]float64, d)
	for f := range bd.fval {
		var sum, sq float64
		for _, v := range bd.fval[f] {
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		mean[f] = sum / float64(n)
		std[f] = math.Sqrt(max(0, sq/float64(n)-mean[f]*mean[f]))
	}
	// Each feature's cross sums with every other over the prefix, the
	// features shared among the cores; each keeps its best partners.
	type chosen struct {
		lo, hi uint32
		sum    float64
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	picks := make([][]chosen, workers)
	var wg sync.WaitGroup
	var next atomic.Int64 // the next feature to take
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acc := make([]float64, d)
			var touched []uint32
			var rank coHeap
			for {
				a := int(next.Add(1) - 1)
				if a >= d {
					return
				}
				if std[a] == 0 {
					continue
				}
				touched = touched[:0]
				for i, t := range bd.ftok[a] {
					va := float64(bd.fval[a][i])
					for j := ptr[t]; j < ptr[t+1]; j++ {
						g := tokFeat[j]
						if int(g) == a {
							continue
						}
						if acc[g] == 0 {
							touched = append(touched, g)
						}
						acc[g] += va * float64(tokVal[j])
					}
				}
				rank = rank[:0]
				for _, g := range touched {
					if std[g] > 0 && acc[g] != 0 {
						r := (acc[g]/float64(n) - mean[a]*mean[g]) / (std[a] * std[g])
						rank.offerK(Correlated{ID: int(g), Correlation: r}, CoCandidates)
					}
				}
				for _, c := range rank {
					lo, hi := uint32(a), uint32(c.ID)
					if lo > hi {
						lo, hi = hi, lo
					}
					picks[w] = append(picks[w], chosen{lo, hi, acc[c.ID]})
				}
				for _, g := range touched {
					acc[g] = 0
				}
			}
		}()
	}
	wg.Wait()
	// Each pair once, under its lower feature, partners ascending. A pair
	// chosen by both features has the same sum both ways: the products
	// commute and both are summed in token order.
	byLo := make([][]chosen, d)
	for _, ps := range picks {
		for _, c := range ps {
			byLo[c.lo] = append(byLo[c.lo], c)
		}
	}
	for a, cs := range byLo {
		slices.SortFunc(cs, func(x, y chosen) int { return cmp.Compare(x.hi, y.hi) })
		cs = slices.CompactFunc(cs, func(x, y chosen) bool { return x.hi == y.hi })
		bd.cand[a], bd.candSum[a] = make([]uint32, len(cs)), make([]float64, len(cs))
		for i, c := range cs {
			bd.cand[a][i], bd.candSum[a][i] = c.hi, c.sum
		}
	}
}

// addCandidatePairs adds a streamed token's products to the followed
// pairs' sums (feats ascending).
func (bd *bounded) addCandidatePairs(feats []uint32, vals []float32) {
	for i, a := range feats {
		bs := bd.cand[a]
		if len(bs) == 0 {
			continue
		}
		va := float64(vals[i])
		for j := i + 1; j < len(feats); j++ {
			if feats[j] == a {
				continue
			}
			if k, ok := slices.BinarySearch(bs, feats[j]); ok {
				bd.candSum[a][k] += va * float64(vals[j])
			}
		}
	}
}
