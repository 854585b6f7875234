package store

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkOpen24576 measures reopening the store of a 1000-row analysis
// of a 24576-feature SAE (127,872 tokens, L0 60, a random baseline of
// 11,600 active features per baseline token: a file of about 700 MB),
// just written so in the page cache, as when the app reopens it; and the
// first query of each kind on the reopened store, when its sections are
// verified. It takes a minute to build the store and 4 GB of memory:
//
//	go test -run '^$' -bench Open24576 -benchtime 20x ./compute/store/
func BenchmarkOpen24576(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "bench.store")
	{
		h := newHostSideScan(1000, 128, 24576, 60, 11600)
		h.run(b, dir, false)
	}
	var open, top, dist time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := s.TopContexts(i%s.DSae(), 30, 30, 2); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := s.Distribution(PlotFeaturesPerToken, 0.1); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		s.Close()
		open, top, dist = open+t1.Sub(t0), top+t2.Sub(t1), dist+t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(open.Microseconds())/n/1000, "open-ms")
	b.ReportMetric(float64(top.Microseconds())/n/1000, "first-contexts-ms")
	b.ReportMetric(float64(dist.Microseconds())/n/1000, "first-features-per-token-ms")
}
