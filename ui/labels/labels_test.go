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
