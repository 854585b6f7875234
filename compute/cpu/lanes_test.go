package cpu

import (
	"runtime"
	"testing"
)

// A batch runs in lanes only when every core gets a lane of at least the
// lane rows; a lane runs in no further lanes.
func TestLanesNeedRowsForEveryCore(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		prev := runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	cores := runtime.GOMAXPROCS(0)
	be, err := New(BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ rows, least, want int }{
		{cores * minLaneRows, 0, cores},
		{cores*minLaneRows - 1, 0, 1},
		{cores * 10, 10, cores},
		{cores*10 - 1, 10, 1},
		{0, 0, 1},
	} {
		if got := be.WithLaneRows(c.least).Lanes(c.rows); got != c.want {
			t.Errorf("%d rows, lanes of at least %d rows on %d cores: %d lanes, want %d", c.rows, c.least, cores, got, c.want)
		}
	}
	lane := be.Lane().(*Backend)
	if got := lane.Lanes(cores * minLaneRows * 4); got != 1 {
		t.Errorf("a lane splits into %d lanes", got)
	}
	if lane.workers() != 1 || be.workers() != cores {
		t.Errorf("a lane's ops on %d goroutines, the backend's on %d; want 1 and %d", lane.workers(), be.workers(), cores)
	}
}

// While lane sets run (nested ones too), OpenBLAS runs each call on one
// thread; when the last leaves (a second leave changes nothing), it has a
// thread per core again, and a backend made meanwhile does not undo it.
func TestEnterLanesSetsOpenBLASThreads(t *testing.T) {
	be, err := New(BLASOpenBLAS)
	if err != nil {
		t.Skip(err)
	}
	if blasThreads() == 0 {
		t.Skip("the loaded BLAS does not say its thread count")
	}
	cores := runtime.GOMAXPROCS(0)
	if got := blasThreads(); got != cores {
		t.Fatalf("OpenBLAS on %d threads before lanes, want %d", got, cores)
	}
	leave1 := be.EnterLanes()
	leave2 := be.EnterLanes()
	if _, err := New(BLASOpenBLAS); err != nil {
		t.Fatal(err)
	}
	if got := blasThreads(); got != 1 {
		t.Errorf("OpenBLAS on %d threads in lanes, want 1", got)
	}
	leave1()
	leave1()
	if got := blasThreads(); got != 1 {
		t.Errorf("OpenBLAS on %d threads with one lane set still running, want 1", got)
	}
	leave2()
	if got := blasThreads(); got != cores {
		t.Errorf("OpenBLAS on %d threads after the lanes, want %d", got, cores)
	}
	if gonum, _ := New(BLASGonum); gonum != nil {
		gonum.EnterLanes()() // no OpenBLAS state to change
	}
}
