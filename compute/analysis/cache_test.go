package analysis_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights"
)

// A same-size edit in the middle of an SAE file (its modification time
// moved on) changes the analysis key, so the old store is not reopened as
// the analysis of the new file.
func TestKeyChangesWithMidFileEdit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sae.pt")
	data := make([]byte, 12<<20)
	for i := range data {
		data[i] = byte(i * 31 >> 5)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	fp := &weights.Fingerprinter{CachePath: filepath.Join(t.TempDir(), "fingerprints.json")}
	key := func() string {
		h, err := fp.Fingerprint(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		return analysis.Key(store.Meta{Model: store.Source{Hash: "m"}, SAE: store.Source{Path: p, Hash: h},
			Corpus: store.Source{Hash: "c"}, Hook: "blocks.8.hook_resid_pre", Params: analysis.DefaultParams()})
	}
	before := key()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{1, 2, 3, 4}, 6<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	later := time.Now().Add(-30 * time.Minute)
	os.Chtimes(p, later, later)
	if after := key(); after == before {
		t.Error("the analysis key did not change with the SAE file's content")
	}
}
