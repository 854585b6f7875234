package weights

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFingerprintFollowsLinksAndSeesChanges(t *testing.T) {
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
