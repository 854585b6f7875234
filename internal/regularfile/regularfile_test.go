package regularfile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestRegularFileReads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.json")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(p, 5)
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	if _, err := ReadFile(p, 4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v, want ErrTooLarge", err)
	}
	// a link to a regular file is followed
	l := filepath.Join(t.TempDir(), "link.json")
	if err := os.Symlink(p, l); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(l, 100); err != nil || string(b) != "hello" {
		t.Fatalf("through a link: %q, %v", b, err)
	}
}

func TestDeviceAndDirectoryRefused(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /dev/zero")
	}
	l := filepath.Join(t.TempDir(), "config.json")
	if err := os.Symlink("/dev/zero", l); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(l, 1<<30); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("/dev/zero: %v, want ErrNotRegular", err)
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("directory: %v, want ErrNotRegular", err)
	}
}

func TestFIFORefusedWithoutBlocking(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs mkfifo")
	}
	p := filepath.Join(t.TempDir(), "corpus.txt")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadFile(p, 100); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Fatalf("FIFO: %v, want ErrNotRegular", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO blocked")
	}
	if f, err := openNonBlocking(p); err != nil {
		t.Fatalf("non-blocking open of a FIFO: %v", err)
	} else {
		f.Close()
	}
}
