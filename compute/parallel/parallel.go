// Package parallel splits a range of work over goroutines.
package parallel

import "sync"

// Ranges splits [0, n) into at most workers contiguous ranges of equal
// size (the last shorter), runs fn(w, lo, hi) on each concurrently, w
// being the range's index (0 ≤ w < workers), and waits for them. A single
// range runs on the calling goroutine.
func Ranges(workers, n int, fn func(w, lo, hi int)) {
	workers = max(1, min(workers, n))
	if workers == 1 {
		fn(0, 0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w, lo := 0, 0; lo < n; w, lo = w+1, lo+chunk {
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			fn(w, lo, hi)
		}(w, lo, min(n, lo+chunk))
	}
	wg.Wait()
}
