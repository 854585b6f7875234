package corpus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/saescope/saescope/internal/regularfile"
)

// readWithin reads the corpus at p, failing the test if that takes more
// than 5 s (refusing takes milliseconds). A read that runs away, from
// /dev/zero say, would fill memory: the test binary then stops at once.
func readWithin(t *testing.T, p string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, _, err := ReadDocuments(context.Background(), p, Options{})
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		panic(fmt.Sprintf("reading the corpus %s still runs after 5 s (a device or FIFO read as a file)", p))
	}
}

// wantNotRegular checks that err refuses file as not a regular file and
// names it.
func wantNotRegular(t *testing.T, err error, file, kind string) {
	t.Helper()
	if !errors.Is(err, regularfile.ErrNotRegular) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), kind) {
		t.Errorf("got %v, want a 'not a regular file' error naming %s and saying %q", err, file, kind)
	}
}

// A .txt that is a symbolic link to /dev/zero is refused, given as the
// corpus or found in a corpus folder (its size says 0 and it never ends).
func TestDeviceRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero here")
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.txt"), "a document")
	zero := filepath.Join(dir, "x.txt")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Skipf("cannot make a symbolic link: %v", err)
	}
	wantNotRegular(t, readWithin(t, zero), zero, "character device")
	wantNotRegular(t, readWithin(t, dir), zero, "character device")
	for _, ext := range []string{".jsonl", ".parquet"} {
		p := filepath.Join(t.TempDir(), "z"+ext)
		if err := os.Symlink("/dev/zero", p); err != nil {
			t.Fatal(err)
		}
		wantNotRegular(t, readWithin(t, p), p, "character device")
		wantNotRegular(t, readWithin(t, filepath.Dir(p)), p, "character device")
	}
	// A folder named like a text file, inside a corpus folder.
	sub := filepath.Join(t.TempDir(), "more")
	if err := os.MkdirAll(filepath.Join(sub, "d.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(sub, "d.txt", "e.txt")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	wantNotRegular(t, readWithin(t, sub), link, "folder")
}

// A file of an fs.FS whose mode is not regular is refused; one that says it
// is regular and empty but never ends is read only up to the limit.
func TestFSFilesBounded(t *testing.T) {
	fsys := fstest.MapFS{
		"c/pipe.txt":  {Mode: fs.ModeNamedPipe},
		"c/dev.jsonl": {Mode: fs.ModeDevice | fs.ModeCharDevice},
	}
	for _, name := range []string{"c/pipe.txt", "c/dev.jsonl"} {
		_, _, err := ReadDocumentsFS(context.Background(), fsys, name, Options{})
		wantNotRegular(t, err, name, "")
	}
	_, _, err := ReadDocumentsFS(context.Background(), fsys, "c", Options{})
	wantNotRegular(t, err, "c/dev.jsonl", "character device")

	defer func(old int64) { maxTextFileBytes = old }(maxTextFileBytes)
	maxTextFileBytes = 1 << 20
	for _, name := range []string{"endless.txt", "endless.parquet"} {
		done := make(chan error, 1)
		go func() {
			_, _, err := ReadDocumentsFS(context.Background(), endlessFS{}, name, Options{})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "more than 1 MB") {
				t.Errorf("%s: %v, want a 'more than 1 MB' error naming it", name, err)
			}
		case <-time.After(5 * time.Second):
			panic(name + ": reading an endless file still runs after 5 s")
		}
	}
}

// endlessFS holds files that say they are regular and empty, and whose
// reads never end, like a device behind a file system that lies.
type endlessFS struct{}

func (endlessFS) Open(name string) (fs.File, error) { return endless{name}, nil }

type endless struct{ name string }

func (e endless) Stat() (fs.FileInfo, error) { return endlessInfo(e), nil }
func (endless) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
func (endless) Close() error { return nil }

var _ io.Reader = endless{}

type endlessInfo struct{ name string }

func (i endlessInfo) Name() string     { return i.name }
func (endlessInfo) Size() int64        { return 0 }
func (endlessInfo) Mode() fs.FileMode  { return 0o444 }
func (endlessInfo) ModTime() time.Time { return time.Time{} }
func (endlessInfo) IsDir() bool        { return false }
func (endlessInfo) Sys() any           { return nil }
