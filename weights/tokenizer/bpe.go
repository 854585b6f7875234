package tokenizer

import (
	"math"
	"math/bits"
)

// Byte-pair encoding of one pre-tokenizer piece, as tiktoken's
// byte_pair_merge does it: start from single bytes, and while some adjacent
// pair of parts is a token, merge the pair of lowest rank (the leftmost one
// of equal rank); the ids are then the parts' ranks. For GPT-2's r50k_base
// a token's rank is its id.
//
// tiktoken does this by scanning every pair at each merge, which takes time
// quadratic in the piece's length: 9 s for a run of 100,000 '=' and minutes
// for a few hundred kilobytes of U+FFFD. mergeShort does the same for short
// pieces, where it is fastest; mergeLong keeps the parts in a linked list
// and the pairs in queues by rank, O(n log n), with the same result.

// shortPiece is the longest piece merged by mergeShort.
const shortPiece = 64

// noRank marks a pair of parts that is not a token.
const noRank = math.MaxInt32

// rankOf returns the rank of the token s, or noRank.
func (t *Tokenizer) rankOf(s string) int32 {
	if r, ok := t.ranks[s]; ok {
		return r
	}
	return noRank
}

// appendPiece appends the ids of piece, a non-empty pre-tokenizer piece.
// stop is called now and then during a long piece's merges; its error
// ends the encoding.
func (t *Tokenizer) appendPiece(out []int, piece string, stop func() error) ([]int, error) {
	if r, ok := t.ranks[piece]; ok {
		return append(out, int(r)), nil
	}
	if len(piece) <= shortPiece {
		return t.mergeShort(out, piece), nil
	}
	if len(piece) < math.MaxInt32 {
		return mergeLong[int32](t, out, piece, stop)
	}
	return mergeLong[int](t, out, piece, stop)
}

// mergeShort is tiktoken's byte_pair_merge for a piece of at most
// shortPiece bytes.
func (t *Tokenizer) mergeShort(out []int, piece string) []int {
	var startBuf [shortPiece + 1]int
	var rankBuf [shortPiece + 1]int32
	n := len(piece)
	// Part k is piece[start[k]:start[k+1]]; rank[k] is the rank of parts
	// k and k+1 together.
	start, rank := startBuf[:n+1], rankBuf[:n+1]
	for k := range start {
		start[k], rank[k] = k, noRank
	}
	pair := func(k int) int32 {
		if k+2 < len(start) {
			return t.rankOf(piece[start[k]:start[k+2]])
		}
		return noRank
	}
	for k := 0; k+2 < len(start); k++ {
		rank[k] = pair(k)
	}
	for len(start) > 2 {
		best, at := int32(noRank), -1
		for k := 0; k+1 < len(start)-1; k++ {
			if rank[k] < best {
				best, at = rank[k], k
			}
		}
		if at < 0 {
			break
		}
		// Merge parts at and at+1; the pairs that change are (at-1, at)
		// and (at, at+1), computed as if part at+1 were gone.
		rank[at] = noRank
		if at+3 < len(start) {
			rank[at] = t.rankOf(piece[start[at]:start[at+3]])
		}
		if at > 0 {
			rank[at-1] = t.rankOf(piece[start[at-1]:start[at+2]])
		}
		copy(start[at+1:], start[at+2:])
		copy(rank[at+1:], rank[at+2:])
		start, rank = start[:len(start)-1], rank[:len(rank)-1]
	}
	for k := 0; k+1 < len(start); k++ {
		out = append(out, int(t.ranks[piece[start[k]:start[k+1]]]))
	}
	return out
}

// index is the integer type of mergeLong's arrays: int32 halves their size
// for every piece shorter than 2 GiB.
type index interface{ ~int32 | ~int }

// stopEvery is how many parts mergeLong sets up, or merges, between calls
// of stop.
const stopEvery = 1 << 16

// mergeLong is byte_pair_merge in O(n log n): the parts are a linked list
// indexed by their first byte, and the pairs that are tokens wait in one
// queue per rank, each giving its leftmost pair first. The lowest rank
// with a pair waiting is found in a bitmap of the ranks; its leftmost pair
// is the pair tiktoken merges next.
//
// A pair's rank names its bytes, which only grow while its first part
// lives, so a waiting pair is still there exactly when its part's rank is
// still the queue's: pairs that were merged away are dropped when met.
// Pairs join a queue left to right (merges run leftmost first; no case
// where they do not was found, but the queue's heap takes one), so the
// queues are sorted runs read in order, and a long run of one character
// costs a few passes over memory rather than a heap operation with cache
// misses per merge: 16 MB of "=-" took 45 s with one heap of all pairs
// and takes 3 s so.
func mergeLong[I index](t *Tokenizer, out []int, piece string, stop func() error) ([]int, error) {
	n := len(piece)
	// next[k] is where the part starting at k ends (n for the last part),
	// prev[k] where the part before it starts (-1 for the first); rank[k]
	// is the rank of the pair that part k starts (noRank if none, dead for
	// a part merged into the one before it).
	next, prev := make([]I, n), make([]I, n)
	rank := make([]int32, n)
	if stop != nil {
		if err := stop(); err != nil {
			return out, err
		}
	}
	var ranks rankSet
	queues := map[int32]*pairQueue[I]{}
	push := func(k I) {
		r := rank[k]
		if r == noRank {
			return
		}
		q := queues[r]
		if q == nil {
			q = &pairQueue[I]{}
			queues[r] = q
		}
		q.push(k)
		ranks.add(r)
	}
	for k := range n {
		if k%stopEvery == stopEvery-1 && stop != nil {
			if err := stop(); err != nil {
				return out, err
			}
		}
		next[k], prev[k] = I(k+1), I(k-1)
		rank[k] = noRank
		if k+2 <= n {
			rank[k] = t.rankOf(piece[k : k+2])
		}
		push(I(k))
	}
	const dead = -1
	for merges := 1; ; merges++ {
		if merges%stopEvery == 0 && stop != nil {
			if err := stop(); err != nil {
				return out, err
			}
		}
		r := ranks.min()
		if r < 0 {
			break
		}
		q := queues[r]
		k, ok := q.pop(func(k I) bool { return rank[k] == r })
		if !ok {
			ranks.remove(r)
			continue
		}
		j := next[k] // the part merged into k
		end := next[j]
		rank[j] = dead
		next[k] = end
		rank[k] = noRank
		if int(end) < n {
			prev[end] = k
			rank[k] = t.rankOf(piece[k:next[end]])
		}
		push(k)
		if p := prev[k]; p >= 0 {
			rank[p] = t.rankOf(piece[p:end])
			push(p)
		}
	}
	for k := 0; k < n; k = int(next[k]) {
		out = append(out, int(t.ranks[piece[k:next[k]]]))
	}
	return out, nil
}

// pairQueue holds the parts that start a pair of one rank, leftmost
// first: a sorted run read in order, and a heap for the parts that come
// after a larger one.
type pairQueue[I index] struct {
	run  []I // increasing, read from at
	at   int
	heap []I // min-heap
}

func (q *pairQueue[I]) push(k I) {
	if q.at == len(q.run) {
		q.run, q.at = q.run[:0], 0
	}
	if len(q.run) == 0 || k > q.run[len(q.run)-1] {
		q.run = append(q.run, k)
		return
	}
	h := append(q.heap, k)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p] <= h[i] {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	q.heap = h
}

// pop removes and returns the leftmost part for which live is true,
// dropping the ones before it; false when there is none.
func (q *pairQueue[I]) pop(live func(I) bool) (I, bool) {
	for {
		fromRun := q.at < len(q.run)
		switch {
		case fromRun && (len(q.heap) == 0 || q.run[q.at] < q.heap[0]):
			k := q.run[q.at]
			q.at++
			if live(k) {
				return k, true
			}
		case len(q.heap) > 0:
			k := q.popHeap()
			if live(k) {
				return k, true
			}
		default:
			return 0, false
		}
	}
}

func (q *pairQueue[I]) popHeap() I {
	h := q.heap
	k := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && h[c+1] < h[c] {
			c++
		}
		if h[i] <= h[c] {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	q.heap = h
	return k
}

// rankSet is a set of ranks below 50304 (64 × 786) with its least member
// found in two word scans.
type rankSet struct {
	words [786]uint64
	top   [13]uint64 // bit w set when words[w] != 0
}

func (s *rankSet) add(r int32) {
	s.words[r>>6] |= 1 << (r & 63)
	s.top[r>>12] |= 1 << ((r >> 6) & 63)
}

func (s *rankSet) remove(r int32) {
	w := r >> 6
	s.words[w] &^= 1 << (r & 63)
	if s.words[w] == 0 {
		s.top[w>>6] &^= 1 << (w & 63)
	}
}

// min returns the least rank of the set, -1 if it is empty.
func (s *rankSet) min() int32 {
	for i, t := range s.top {
		if t != 0 {
			w := i<<6 + bits.TrailingZeros64(t)
			return int32(w<<6 + bits.TrailingZeros64(s.words[w]))
		}
	}
	return -1
}
