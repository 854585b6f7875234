package labels

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/saescope/saescope/internal/fulldisk"
)

// A label typed when the disk is full: Set says why it was not saved, the
// book on disk keeps every earlier label, no temporary file is left, and
// the label is still there in memory to be saved by the next edit.
func TestSetOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	fulldisk.Mount(t, dir, "64k")
	b, err := Open(dir, "abc123", "x.pt")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(7, Entry{Label: "Countries"}); err != nil {
		t.Fatal(err)
	}
	err = b.Set(8, Entry{Label: "dates", Notes: strings.Repeat("a long note ", 10000)})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "save labels") {
		t.Fatalf("Set on a full disk: %v, want a save-labels error wrapping ENOSPC", err)
	}
	if b.Label(8) != "dates" {
		t.Error("the label that could not be saved is gone from memory too")
	}
	again, err := Open(dir, "abc123", "x.pt")
	if err != nil {
		t.Fatal(err)
	}
	if again.Label(7) != "Countries" {
		t.Errorf("the saved book lost label 7: %q", again.Label(7))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left on the full disk: %v", entries)
	}

	// Space comes back: Save writes the label that could not be saved,
	// with no further edit.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 40<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(9, Entry{Label: "numbers", Notes: strings.Repeat("n", 30<<10)}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Set with 40 kB of 64 kB taken: %v, want ENOSPC", err)
	}
	if err := b.Set(8, Entry{Label: "dates"}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Set with 40 kB of 64 kB taken: %v, want ENOSPC", err)
	}
	os.Remove(filler)
	if err := b.Save(); err != nil {
		t.Fatalf("Save once space is back: %v", err)
	}
	again, err = Open(dir, "abc123", "x.pt")
	if err != nil {
		t.Fatal(err)
	}
	if again.Label(9) != "numbers" || again.Label(8) != "dates" || again.Label(7) != "Countries" {
		t.Errorf("after Save the file has %q, %q, %q", again.Label(7), again.Label(8), again.Label(9))
	}
	if err := b.Save(); err != nil {
		t.Errorf("Save with nothing to save: %v", err)
	}
}
