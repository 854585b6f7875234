package tokenrows_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/weights/tokenrows"
	"github.com/saescope/saescope/weights/tokenrows/tokenrowstest"
)

// FuzzRead feeds arbitrary bytes to the .npy and .json readers: an error
// or rows that fit the limits, never a panic, a hang or a huge allocation.
func FuzzRead(f *testing.F) {
	f.Add(tokenrowstest.NPY(rows3, "<i8", false), true)
	f.Add(tokenrowstest.NPY(rows3, ">i4", true), true)
	f.Add(tokenrowstest.JSON(rows3), false)
	f.Add([]byte("[[1,2],[3]]"), false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, npy bool) {
		name := "f.json"
		if npy {
			name = "f.npy"
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		rows, err := tokenrows.Read(context.Background(), p, lim)
		if err != nil {
			return
		}
		if err := tokenrows.Check(rows, lim); err != nil {
			t.Errorf("rows read do not fit the limits: %v", err)
		}
	})
}
