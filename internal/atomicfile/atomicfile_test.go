package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile replaces a file whole, with the permissions asked, and leaves
// no temporary file when it cannot write.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "plot.png")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("content %q", b)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v)", st.Mode(), err)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir.png"), []byte("x"), 0o644); err == nil {
		t.Error("write into a missing folder accepted")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left: %v", entries)
	}
}
