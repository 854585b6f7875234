package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saescope/saescope/compute/store"
)

// A store damaged in a section that Open does not check (those are checked
// on first use) is not reported as a finished analysis: analyze scans
// again, and the queries on the damaged file fail saying to rebuild.
func TestAnalyzeRescansDamagedStore(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	path := t.TempDir() + "/s.saestore"
	args := []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--rows", "40", "--batch", "16", "--recon-rows", "0", "--out", path, "--quiet"}
	if _, errs, code := runCLI(t, args...); code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, errs)
	}
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var off int64 = -1
	for _, sec := range s.Meta.Sections {
		if sec.Name == "top_val" && sec.Count > 0 {
			off = sec.Offset
		}
	}
	s.Close()
	if off < 0 {
		t.Fatal("no top_val section")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[off+1] ^= 0x10 // the first top activation of feature 0, a little different
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runCLI(t, "contexts", "--store", path, "--feature", "0")
	if code == 0 || !strings.Contains(errs, "damaged") || !strings.Contains(errs, "rebuild") {
		t.Errorf("contexts on a damaged store: exit %d, stderr %q", code, errs)
	}
	out, errs, code := runCLI(t, args...)
	var res struct {
		Cached bool `json:"cached"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Cached {
		t.Fatalf("analyze over a damaged store: exit %d, %s %s", code, out, errs)
	}
	if _, errs, code := runCLI(t, "contexts", "--store", path, "--feature", "0"); code != 0 {
		t.Errorf("contexts on the rebuilt store: exit %d: %s", code, errs)
	}
}

// stats and plot check --threshold alike, in one function: +Inf (stats
// failed writing its JSON, plot drew it), a number past the largest
// float32, and negative ones are refused; a folder, a FIFO or a link to
// /dev/zero given as --store is refused at once, saying what it is.
func TestStoreFlagsChecked(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "p.png")
	for _, th := range []string{"Inf", "-Inf", "1e39", "-0.5", "NaN"} {
		for _, args := range [][]string{
			{"stats", "--store", "s.saestore", "--kind", "features_per_token", "--threshold", th},
			{"plot", "--store", "s.saestore", "--kind", "features_per_token", "--out", png, "--threshold", th},
		} {
			_, errs, code := runCLI(t, args...)
			if code == 0 || !strings.Contains(errs, "--threshold") || !strings.Contains(errs, "threshold") {
				t.Errorf("%v: exit %d, stderr %q", args, code, errs)
			}
		}
	}
	stores := map[string]string{dir: "a folder"}
	if runtime.GOOS == "linux" {
		fifo := filepath.Join(dir, "fifo.saestore")
		if syscall.Mkfifo(fifo, 0o644) == nil {
			stores[fifo] = "FIFO"
		}
		zero := filepath.Join(dir, "zero.saestore")
		if os.Symlink("/dev/zero", zero) == nil {
			stores[zero] = "character device"
		}
	}
	for p, what := range stores {
		for _, cmd := range []string{"stats", "rank"} {
			done := make(chan string, 1)
			go func() { _, errs, _ := runCLI(t, cmd, "--store", p); done <- errs }()
			select {
			case errs := <-done:
				if !strings.Contains(errs, what) || !strings.Contains(errs, "a store is the file that analyze writes") {
					t.Errorf("%s --store %s: stderr %q, want it to say %s and that a store file is wanted", cmd, p, errs, what)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s --store %s blocked", cmd, p)
			}
		}
	}
}
