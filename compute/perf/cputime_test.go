package perf

import (
	"runtime"
	"testing"
	"time"
)

// processCPUSeconds moves with the CPU this process burns: a busy loop
// reaches 0.2 s of it (within 20 s of wall time, however loaded the
// machine), and the count never exceeds the wall time elapsed times the
// threads that can run (plus a tick's slack per read).
func TestProcessCPUSeconds(t *testing.T) {
	c0, ok := processCPUSeconds()
	if !ok {
		t.Skip("no /proc/self/stat here")
	}
	t0 := time.Now()
	x, d := 0, 0.0
	for d < 0.2 && time.Since(t0) < 20*time.Second {
		for i := 0; i < 1e6; i++ {
			x++
		}
		c, _ := processCPUSeconds()
		d = c - c0
	}
	wall := time.Since(t0).Seconds()
	if d < 0.2 {
		t.Fatalf("%.2f s of CPU counted over %.1f s of a busy loop (%d turns)", d, wall, x)
	}
	if limit := wall*float64(runtime.GOMAXPROCS(0)) + 0.03; d > limit {
		t.Errorf("%.2f s of CPU counted in %.2f s of wall time on %d threads", d, wall, runtime.GOMAXPROCS(0))
	}
}
