package labels

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPersistAndReopen(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, "abc123", "x.pt")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(7, Entry{Label: "Countries", Notes: "fires on country names"}); err != nil {
		t.Fatal(err)
	}
	b.Set(9, Entry{Label: "dates"})
	b.Set(9, Entry{}) // cleared
	again, err := Open(dir, "abc123", "x.pt")
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Get(7); got.Label != "Countries" || got.Notes != "fires on country names" {
		t.Errorf("reopened %+v", got)
	}
	if again.Label(9) != "" {
		t.Error("cleared label came back")
	}
	if got := again.Find("COUNTRY"); !reflect.DeepEqual(got, []int{7}) {
		t.Errorf("Find = %v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left: %v", entries)
	}
}

func TestDamagedFileKeptAside(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "h.json"), []byte("{half"), 0o644)
	b, err := Open(dir, "h", "x.pt")
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("err %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "h.json.damaged-1")); statErr != nil {
		t.Error("damaged file not kept")
	}
	if err := b.Set(1, Entry{Label: "new"}); err != nil {
		t.Fatal(err)
	}
}

// Two books on one file (the SAE open in two windows or two processes)
// keep each other's edits: each save merges what the other wrote since;
// where both changed a feature the later save wins.
func TestTwoBooksOnOneFile(t *testing.T) {
	dir := t.TempDir()
	open := func() *Book {
		b, err := Open(dir, "abc123", "x.pt")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	set := func(b *Book, f int, label string) {
		t.Helper()
		if err := b.Set(f, Entry{Label: label}); err != nil {
			t.Fatal(err)
		}
	}
	seed := open()
	set(seed, 9, "nine")
	set(seed, 10, "ten")
	a, b := open(), open()
	set(a, 1, "from A")
	set(b, 2, "from B")     // must keep A's 1
	set(a, 9, "")           // A deletes 9: B must not bring it back
	set(b, 10, "ten, by B") // B changes 10
	set(a, 3, "A again")    // A must keep B's 2 and 10
	set(b, 3, "B wins 3")   // both changed 3: the later save wins
	want := map[int]string{1: "from A", 2: "from B", 3: "B wins 3", 10: "ten, by B"}
	final := open()
	for f := 0; f < 12; f++ {
		if got := final.Label(f); got != want[f] {
			t.Errorf("feature %d: %q on disk, want %q", f, got, want[f])
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left: %v", entries)
	}
}
