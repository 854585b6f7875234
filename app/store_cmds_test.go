package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

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
