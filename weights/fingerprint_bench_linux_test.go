package weights

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFingerprint548MB fingerprints a 548 MB file (the size of GPT-2
// small's model.safetensors): cold (evicted from the page cache), warm
// (in the page cache, nothing remembered), and remembered (the hash cache
// hit: reopening); and, for comparison, SHA-256 of the warm file.
//
//	go test -run '^$' -bench Fingerprint548MB -benchtime 3x ./weights/
func BenchmarkFingerprint548MB(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "model.safetensors")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7919 >> 3)
	}
	for i := 0; i < 548; i++ {
		chunk[0] = byte(i)
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	evict := func() {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		const fadvDontNeed = 4
		if _, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0); e != 0 {
			b.Skip("fadvise:", e)
		}
	}
	ctx := context.Background()
	cache := filepath.Join(dir, "fp.json")
	var cold, warm, hit, sha time.Duration
	for i := 0; i < b.N; i++ {
		os.Remove(cache)
		evict()
		t0 := time.Now()
		if _, err := (&Fingerprinter{}).Fingerprint(ctx, p); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		fp := &Fingerprinter{CachePath: cache, racy: time.Nanosecond}
		if _, err := fp.Fingerprint(ctx, p); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := fp.Fingerprint(ctx, p); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		f, _ := os.Open(p)
		h := sha256.New()
		io.CopyBuffer(h, f, make([]byte, readChunk))
		f.Close()
		t4 := time.Now()
		cold, warm, hit, sha = cold+t1.Sub(t0), warm+t2.Sub(t1), hit+t3.Sub(t2), sha+t4.Sub(t3)
	}
	n := float64(b.N)
	b.ReportMetric(cold.Seconds()*1000/n, "cold-ms")
	b.ReportMetric(warm.Seconds()*1000/n, "warm-ms")
	b.ReportMetric(hit.Seconds()*1000/n, "remembered-ms")
	b.ReportMetric(sha.Seconds()*1000/n, "sha256-warm-ms")
}
