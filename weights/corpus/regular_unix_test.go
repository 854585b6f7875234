//go:build unix

package corpus

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A FIFO given as the corpus, or found in a corpus folder, is refused at
// once; opening it to read would wait for a writer forever.
func TestFIFORefused(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.txt"), "a document")
	for _, name := range []string{"p.txt", "q.jsonl"} {
		fifo := filepath.Join(dir, name)
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Skipf("cannot make a FIFO: %v", err)
		}
		wantNotRegular(t, readWithin(t, fifo), fifo, "named pipe")
		wantNotRegular(t, readWithin(t, dir), fifo, "named pipe")
		if err := os.Remove(fifo); err != nil {
			t.Fatal(err)
		}
	}
}
