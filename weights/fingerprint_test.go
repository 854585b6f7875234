package weights

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/saescope/saescope/internal/regularfile"
)

func TestFingerprintFollowsLinksAndSeesChanges(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs")
	snapA, snapB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{blobs, snapA, snapB} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(blobs, "1"), []byte("weights one"), 0o644)
	os.WriteFile(filepath.Join(blobs, "2"), []byte("weights two"), 0o644)
	os.Symlink("../blobs/1", filepath.Join(snapA, "model.safetensors"))
	os.Symlink("../blobs/2", filepath.Join(snapB, "model.safetensors"))
	a, err := Fingerprint(snapA)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Fingerprint(snapB)
	if a == b {
		t.Error("snapshot folders of different files have the same fingerprint")
	}
	f := filepath.Join(dir, "x.pt")
	os.WriteFile(f, make([]byte, 9<<20), 0o644)
	x1, _ := Fingerprint(f)
	data := make([]byte, 9<<20)
	data[len(data)-1] = 1
	os.WriteFile(f, data, 0o644)
	x2, _ := Fingerprint(f)
	if x1 == x2 {
		t.Error("a change in the last bytes of a large file went unseen")
	}
	if _, err := Fingerprint(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing path accepted")
	}
}

// randomFile writes n random bytes to a new file and dates it an hour ago.
func randomFile(t testing.TB, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sae.pt")
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 3))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p
}

// uncached fingerprints p with nothing remembered.
func uncached(t testing.TB, p string) string {
	t.Helper()
	s, err := (&Fingerprinter{}).Fingerprint(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A same-size edit in the middle of a large file (its modification time
// moved on, as a write does) changes the fingerprint, with the file's
// hash remembered from before the edit (only the first and last 4 MiB
// were hashed before).
func TestFingerprintSeesSameSizeMidFileEdit(t *testing.T) {
	p := randomFile(t, 9<<20)
	fp := &Fingerprinter{CachePath: filepath.Join(t.TempDir(), "fp.json"), racy: time.Nanosecond}
	ctx := context.Background()
	before, err := fp.Fingerprint(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fp.readCache()); n != 1 {
		t.Fatalf("%d entries remembered, want 1", n)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x5a, 0xa5}, 9<<19); err != nil {
		t.Fatal(err)
	}
	f.Close()
	later := time.Now().Add(-30 * time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	after, err := fp.Fingerprint(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatal("a same-size edit in the middle of the file went unseen")
	}
	if want := uncached(t, p); after != want {
		t.Errorf("after the edit: %s, read afresh %s", after, want)
	}
}

// A remembered hash is used only for a file of the same identity: a
// planted wrong entry is believed (nothing is read), and once the file's
// times change it is not.
func TestFingerprintCacheTrustedOnlyForSameIdentity(t *testing.T) {
	p := randomFile(t, 1<<16)
	truth := uncached(t, p)
	fp := &Fingerprinter{CachePath: filepath.Join(t.TempDir(), "fp.json"), racy: time.Nanosecond}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := identify(st)
	if !ok {
		t.Skip("no file identity on this system")
	}
	if err := fp.save([]fingerprintEntry{{fileID: id, Hash: "00112233445566778899aabbccddeeff", Added: time.Now().Unix()}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, _ := fp.Fingerprint(ctx, p); got == truth {
		t.Fatal("the remembered hash was not used")
	}
	later := time.Now().Add(-30 * time.Minute)
	os.Chtimes(p, later, later)
	if got, _ := fp.Fingerprint(ctx, p); got != truth {
		t.Error("a remembered hash was used for a file whose times changed")
	}
	// Files modified in the last seconds are not remembered.
	fresh := filepath.Join(t.TempDir(), "fresh.pt")
	os.WriteFile(fresh, []byte("just written"), 0o644)
	def := &Fingerprinter{CachePath: filepath.Join(t.TempDir(), "fp.json")}
	if _, err := def.Fingerprint(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if n := len(def.readCache()); n != 0 {
		t.Errorf("a file modified just now was remembered (%d entries)", n)
	}
}

// A damaged cache file, whatever byte is changed, is ignored as a whole or
// read unchanged (a changed byte in a hash that still parses is caught by
// the checksum); garbage is ignored and replaced.
func TestFingerprintCacheDamage(t *testing.T) {
	dir := t.TempDir()
	fp := &Fingerprinter{CachePath: filepath.Join(dir, "fp.json"), racy: time.Nanosecond}
	var paths []string
	for i := 0; i < 3; i++ {
		paths = append(paths, randomFile(t, 1000+i))
	}
	ctx := context.Background()
	for _, p := range paths {
		if _, err := fp.Fingerprint(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	good := fp.readCache()
	if len(good) != 3 {
		t.Fatalf("%d entries, want 3", len(good))
	}
	data, _ := os.ReadFile(fp.CachePath)
	var ignored, same int
	for i := range data {
		for _, x := range []byte{0x01, 0x20, 0xff} {
			bad := bytes.Clone(data)
			bad[i] ^= x
			os.WriteFile(fp.CachePath, bad, 0o644)
			switch got := fp.readCache(); {
			case got == nil:
				ignored++
			case slices.Equal(got, good):
				same++
			default:
				t.Fatalf("byte %d ^ %#x: entries %v, want %v or none", i, x, got, good)
			}
		}
	}
	t.Logf("%d damaged cache files ignored, %d read unchanged", ignored, same)
	for _, garbage := range [][]byte{nil, []byte("{"), []byte(`{"version":1,"entries":[]}`), bytes.Repeat([]byte{0}, 100)} {
		os.WriteFile(fp.CachePath, garbage, 0o644)
		for _, p := range paths {
			if got := must(fp.Fingerprint(ctx, p)); got != uncached(t, p) {
				t.Errorf("with cache %q: wrong fingerprint", garbage)
			}
		}
		if n := len(fp.readCache()); n != 3 {
			t.Errorf("with cache %q: %d entries after, want 3", garbage, n)
		}
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// Goroutines fingerprinting different files with one cache file always
// get the right fingerprint and leave a cache file that parses.
func TestFingerprintCacheConcurrent(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "fp.json")
	var paths, want []string
	for i := 0; i < 4; i++ {
		p := randomFile(t, 5000+i)
		paths, want = append(paths, p), append(want, uncached(t, p))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(paths))
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fp := &Fingerprinter{CachePath: cache, racy: time.Nanosecond}
			for k := 0; k < 25; k++ {
				got, err := fp.Fingerprint(context.Background(), paths[i])
				if err != nil || got != want[i] {
					errs <- errors.Join(err, errors.New("wrong fingerprint"))
					return
				}
				if k%5 == 0 {
					os.Chtimes(paths[i], time.Now().Add(-time.Duration(k+2)*time.Minute), time.Now().Add(-time.Hour))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if (&Fingerprinter{CachePath: cache}).readCache() == nil {
		t.Error("the cache file is damaged after concurrent writes")
	}
}

// A FIFO or a link to /dev/zero is refused without blocking; a cancelled
// context stops the hashing.
func TestFingerprintRefusesSpecialFilesAndCancels(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs mkfifo and /dev/zero")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "sae.pt")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	zero := filepath.Join(dir, "model.pt")
	os.Symlink("/dev/zero", zero)
	fp := &Fingerprinter{}
	for _, p := range []string{fifo, zero} {
		done := make(chan error, 1)
		go func() { _, err := fp.Fingerprint(context.Background(), p); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, regularfile.ErrNotRegular) {
				t.Errorf("%s: %v, want ErrNotRegular", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: fingerprint blocked", p)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fp.Fingerprint(ctx, randomFile(t, 100)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
