package cpu

import (
	"runtime"

	par "github.com/saescope/saescope/compute/parallel"
)

// parallel splits [0, n) into contiguous chunks, one per core, and runs fn
// on each. Work under 1<<15 units (n·costPerItem) runs inline.
func parallel(n, costPerItem int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n*costPerItem < 1<<15 {
		workers = 1
	}
	par.Ranges(workers, n, func(_, lo, hi int) { fn(lo, hi) })
}
