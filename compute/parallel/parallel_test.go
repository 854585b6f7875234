package parallel

import (
	"sync"
	"testing"
)

// Every index is visited exactly once, in ranges whose worker indices are
// distinct and below workers.
func TestRangesCoverOnce(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 3, 16} {
		for _, n := range []int{0, 1, 2, 5, 16, 17, 1000} {
			seen := make([]int, n)
			var mu sync.Mutex
			ws := map[int]bool{}
			Ranges(workers, n, func(w, lo, hi int) {
				mu.Lock()
				defer mu.Unlock()
				if ws[w] || w < 0 || w >= max(1, workers) {
					t.Errorf("workers=%d n=%d: worker index %d repeated or out of range", workers, n, w)
				}
				ws[w] = true
				for i := lo; i < hi; i++ {
					seen[i]++
				}
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("workers=%d n=%d: index %d visited %d times", workers, n, i, c)
				}
			}
		}
	}
}
