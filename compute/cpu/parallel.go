package cpu

import (
	"runtime"
	"sync"

	"github.com/saescope/saescope/compute"
	par "github.com/saescope/saescope/compute/parallel"
)

// parallel splits [0, n) into contiguous chunks, one per core, and runs fn
// on each. Work under 1<<15 units (n·costPerItem) runs inline, as does all
// of a lane's (Lane).
func (b *Backend) parallel(n, costPerItem int, fn func(lo, hi int)) {
	workers := b.workers()
	if n*costPerItem < 1<<15 {
		workers = 1
	}
	par.Ranges(workers, n, func(_, lo, hi int) { fn(lo, hi) })
}

// workers is how many goroutines an op splits its work over: one per core,
// one for a lane.
func (b *Backend) workers() int {
	if b.serial {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// minLaneRows is the fewest token rows a lane gets (Lanes): below, the
// weights' packing, which each lane's products make for themselves, stops
// being small against the products, and one op split over the cores is
// the better way.
const minLaneRows = 1024

// Lanes implements compute.Laner: one lane per core when each gets at
// least minLaneRows rows. On the 2-core machine of the README's speed
// table `bench`'s 32×128 scan ran at 2594 tokens/s in two lanes against
// 2472 with every op split over both cores (medians of 16 alternating
// runs; BenchmarkScanLanes in compute/perf times both).
func (b *Backend) Lanes(rows int) int {
	cores := runtime.GOMAXPROCS(0)
	least := b.laneRows
	if least <= 0 {
		least = minLaneRows
	}
	if b.serial || cores < 2 || rows/cores < least {
		return 1
	}
	return cores
}

// Lane implements compute.Laner: a copy of b whose ops run on the calling
// goroutine (the BLAS on one thread once EnterLanes has been called).
func (b *Backend) Lane() compute.Backend {
	l := *b
	l.serial = true
	return &l
}

// EnterLanes implements compute.Laner: OpenBLAS runs each call on the
// calling thread until leave, so that the lanes' products run side by side
// (its threaded calls take a lock: two lanes' would run one after the
// other).
func (b *Backend) EnterLanes() (leave func()) {
	if _, ok := b.gemm.(openBLAS); !ok {
		return func() {}
	}
	return enterBLASLanes()
}

// WithLaneRows returns a copy of b whose lanes get at least rows token rows
// (Lanes), for tests and benchmarks that run lanes on small batches.
func (b *Backend) WithLaneRows(rows int) *Backend {
	l := *b
	l.laneRows = rows
	return &l
}

// blasLanes counts the lane sets that are running (EnterLanes): process-
// wide, as OpenBLAS' thread count is, since every backend shares the one
// library.
var blasLanes struct {
	mu sync.Mutex
	n  int
}

// enterBLASLanes sets OpenBLAS to one thread a call until the last lane
// set leaves.
func enterBLASLanes() (leave func()) {
	blasLanes.mu.Lock()
	defer blasLanes.mu.Unlock()
	blasLanes.n++
	if blasLanes.n == 1 {
		setBLASThreads(1)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			blasLanes.mu.Lock()
			defer blasLanes.mu.Unlock()
			blasLanes.n--
			if blasLanes.n == 0 {
				setBLASThreads(runtime.GOMAXPROCS(0))
			}
		})
	}
}

// setBLASThreadsAll gives OpenBLAS one thread per core, unless lanes are
// running.
func setBLASThreadsAll() {
	blasLanes.mu.Lock()
	defer blasLanes.mu.Unlock()
	if blasLanes.n == 0 {
		setBLASThreads(runtime.GOMAXPROCS(0))
	}
}
