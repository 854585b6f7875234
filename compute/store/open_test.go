package store

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saescope/saescope/internal/regularfile"
)

// A directory, a FIFO or a link to /dev/zero given as a store is refused
// at once, saying what it is and that a store file is wanted (a directory
// said "mmap: no such device"; a FIFO blocked).
func TestOpenRefusesNonFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{dir: "folder"}
	if runtime.GOOS == "linux" {
		fifo := filepath.Join(dir, "fifo.saestore")
		if err := syscall.Mkfifo(fifo, 0o644); err == nil {
			cases[fifo] = "FIFO"
		}
		zero := filepath.Join(dir, "zero.saestore")
		if err := os.Symlink("/dev/zero", zero); err == nil {
			cases[zero] = "character device"
		}
	}
	for p, what := range cases {
		done := make(chan error, 1)
		go func() {
			s, err := Open(p)
			if err == nil {
				s.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, regularfile.ErrNotRegular) || !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), "a store is the file that analyze writes") {
				t.Errorf("%s: %v, want ErrNotRegular saying %s and that a store file is wanted", p, err, what)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Open blocked", p)
		}
	}
}

// The threshold of features per token is checked in one place: NaN,
// ±Inf, negative numbers and numbers past the largest float32 are refused.
func TestCheckThreshold(t *testing.T) {
	for _, th := range []float64{0, 0.1, 2, math.MaxFloat32} {
		if err := CheckThreshold(th); err != nil {
			t.Errorf("%g: %v", th, err)
		}
	}
	for _, th := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, 1e39} {
		if err := CheckThreshold(th); err == nil {
			t.Errorf("%g accepted", th)
		}
	}
	s := integrityStore()
	if _, err := s.Distribution(PlotFeaturesPerToken, float32(math.Inf(1))); err == nil {
		t.Error("Distribution with threshold +Inf accepted")
	}
}

// Temporary files of writes killed earlier are removed once old; a fresh
// one, one whose writer is alive (it holds the file's lock), and every
// other file are kept.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	mk := func(name string, age time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, age, age)
		return p
	}
	stale := mk(".a.saestore.tmp-0123456789ab", old)
	fresh := mk(".b.saestore.tmp-0123456789ab", time.Now())
	live := mk(".c.saestore.tmp-0123456789ab", old)
	keep := []string{fresh, live, mk("a.saestore", old), mk(".labels.json.tmp-123", old), mk("notes.tmp-1", old)}
	if runtime.GOOS != "windows" {
		f, err := os.Open(live)
		if err != nil {
			t.Fatal(err)
		}
		if err := lockTemp(f); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	} else {
		keep = keep[:1] // no locks: age alone
	}
	if n := RemoveStaleTemps(dir); n != 1 {
		t.Errorf("removed %d files, want 1", n)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("a stale temporary file was kept")
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed", filepath.Base(p))
		}
	}
}

// A writer killed in the middle of a write leaves its temporary file,
// which the next cleaning removes once it is old (its lock died with the
// writer); no need to wait for the same store to be written again.
func TestKilledWritersTempRemoved(t *testing.T) {
	if testing.Short() || runtime.GOOS == "windows" {
		t.Skip("spawns a writer process")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "s.saestore")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), "SAESCOPE_CRASH_PATH="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if temps, _ := filepath.Glob(filepath.Join(dir, ".s.saestore.tmp-*")); len(temps) > 0 {
			break
		}
	}
	time.Sleep(20 * time.Millisecond) // into the write
	cmd.Process.Kill()
	cmd.Wait()
	temps, _ := filepath.Glob(filepath.Join(dir, ".s.saestore.tmp-*"))
	if len(temps) == 0 {
		t.Skip("the writer was killed between two writes")
	}
	for _, p := range temps {
		os.Chtimes(p, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	}
	if n := RemoveStaleTemps(dir); n != len(temps) {
		t.Errorf("removed %d of the killed writer's %d temporary files", n, len(temps))
	}
}
