package hub_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saescope/saescope/internal/regularfile"
	"github.com/saescope/saescope/weights/hub"
)

// within runs fn and fails the test when it has not returned after limit:
// reading a FIFO blocks, reading /dev/zero never ends.
func within(t *testing.T, limit time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s: still running after %v", what, limit)
	}
}

func needUnix(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs /dev/zero, mkfifo and symbolic links")
	}
}

// A snapshot entry that is not a link into the repository's blobs folder
// (a link to a file outside the cache, of the right size; to another
// blob of the right size; to /dev/zero; to a FIFO; a FIFO itself) is not
// served as the file: offline it is refused saying what is wrong, online
// it is replaced by the blob the hub names. What it pointed at is never
// read, written or removed.
func TestHostileSnapshotEntries(t *testing.T) {
	needUnix(t)
	fx := newFixture(t)
	c := fx.client(t)
	ctx := context.Background()
	repo := hub.Model("org/model")
	f, err := c.DownloadFile(ctx, repo, "main", fx.model.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs := filepath.Join(c.CacheDir, "models--org--model", "blobs")
	outside := t.TempDir()
	impostor := bytes.Repeat([]byte("A"), len(fx.model.Data)) // the right size, the wrong bytes
	outsideFile := filepath.Join(outside, "model.safetensors")
	if err := os.WriteFile(outsideFile, impostor, 0o644); err != nil {
		t.Fatal(err)
	}
	otherBlob := filepath.Join(blobs, strings.Repeat("b", 64))
	fifo := filepath.Join(outside, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	cases := []struct {
		name    string
		make    func() error
		message string
	}{
		{"link to a file outside the cache", func() error { return os.Symlink(outsideFile, f.Path) }, "outside the repository's blobs folder"},
		{"relative link out of the cache", func() error {
			rel, err := filepath.Rel(filepath.Dir(f.Path), outsideFile)
			if err != nil {
				return err
			}
			return os.Symlink(rel, f.Path)
		}, "outside the repository's blobs folder"},
		{"link to another blob", func() error {
			if err := os.WriteFile(otherBlob, impostor, 0o644); err != nil {
				return err
			}
			return os.Symlink(filepath.Join("..", "..", "blobs", filepath.Base(otherBlob)), f.Path)
		}, ""}, // a valid entry for another blob: offline it is served (its hash is for the catalogue to check)
		{"link to /dev/zero", func() error { return os.Symlink("/dev/zero", f.Path) }, "not a file"},
		{"link to a FIFO", func() error { return os.Symlink(fifo, f.Path) }, "not a file"},
		{"FIFO in the snapshot", func() error { return syscall.Mkfifo(f.Path, 0o644) }, "not a file"},
	}
	off := *c
	off.Offline = true
	for _, tc := range cases {
		os.Remove(f.Path)
		if err := tc.make(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		within(t, 10*time.Second, tc.name, func() {
			p, ok := off.CachedFile(repo, "main", fx.model.Path)
			_, err := off.DownloadFile(ctx, repo, "main", fx.model.Path, nil)
			if tc.message == "" {
				if !ok || err != nil {
					t.Errorf("%s: offline: CachedFile %q %v, %v", tc.name, p, ok, err)
				}
			} else {
				if ok {
					t.Errorf("%s: CachedFile serves %s", tc.name, p)
				}
				if !errors.Is(err, hub.ErrOffline) || !errors.Is(err, hub.ErrDamaged) || !strings.Contains(err.Error(), tc.message) {
					t.Errorf("%s: offline download: %v, want ErrOffline and ErrDamaged saying %q", tc.name, err, tc.message)
				}
			}
			got, err := c.DownloadFile(ctx, repo, "main", fx.model.Path, nil)
			if err != nil {
				t.Errorf("%s: online: %v", tc.name, err)
				return
			}
			data, err := regularfile.ReadFile(got.Path, 1<<20)
			if err != nil || !bytes.Equal(data, fx.model.Data) {
				t.Errorf("%s: online: %d bytes read back (%v), want the model", tc.name, len(data), err)
			}
			if link, err := os.Readlink(got.Path); err != nil || filepath.Base(link) != fx.model.SHA256() {
				t.Errorf("%s: snapshot entry links to %q (%v)", tc.name, link, err)
			}
		})
	}
	if data, err := os.ReadFile(outsideFile); err != nil || !bytes.Equal(data, impostor) {
		t.Errorf("the file outside the cache was changed: %v", err)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO outside the cache was touched: %v", err)
	}
}

// CheckSnapshotEntry says what a snapshot entry is, without reading it.
func TestCheckSnapshotEntry(t *testing.T) {
	needUnix(t)
	fx := newFixture(t)
	c := fx.client(t)
	repo := hub.Model("org/model")
	f, err := c.DownloadFile(context.Background(), repo, "main", fx.model.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.CheckSnapshotEntry(repo, f.Path)
	if err != nil || e.ETag != fx.model.SHA256() || e.Size != int64(len(fx.model.Data)) ||
		e.Blob != filepath.Join(c.CacheDir, "models--org--model", "blobs", fx.model.SHA256()) {
		t.Fatalf("good entry: %+v %v", e, err)
	}
	if checked, err := e.Verify(context.Background(), ""); !checked || err != nil {
		t.Errorf("Verify of a good blob: %v %v", checked, err)
	}
	// The same bytes, with one changed: the blob no longer has its name's hash.
	bad := append([]byte(nil), fx.model.Data...)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(e.Blob, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Verify(context.Background(), ""); !errors.Is(err, hub.ErrDamaged) || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("Verify of a changed blob: %v", err)
	}
	// A catalogue's hash that the blob's name contradicts.
	if _, err := e.Verify(context.Background(), strings.Repeat("c", 64)); !errors.Is(err, hub.ErrDamaged) {
		t.Errorf("Verify against another hash: %v", err)
	}
	if err := c.Discard(repo, e); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(e.Blob); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Discard left the blob: %v", err)
	}
	if _, err := c.CheckSnapshotEntry(repo, f.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Discard: %v, want not there", err)
	}
	// A blob that is a link (here to /dev/zero) is not a blob.
	if err := os.Symlink("/dev/zero", e.Blob); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "..", "blobs", e.ETag), f.Path); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckSnapshotEntry(repo, f.Path); !errors.Is(err, hub.ErrDamaged) || !errors.Is(err, regularfile.ErrNotRegular) {
		t.Errorf("blob linking to /dev/zero: %v", err)
	}
	// A copy in the snapshot reached through a folder that links outside.
	snap := filepath.Dir(f.Path)
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "w.bin"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(out, filepath.Join(snap, "sub")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckSnapshotEntry(repo, filepath.Join(snap, "sub", "w.bin")); !errors.Is(err, hub.ErrDamaged) {
		t.Errorf("file behind a linked folder: %v", err)
	}
}

// refs/main, config.json and the token file that are FIFOs or links to
// /dev/zero are refused without blocking or reading without end.
func TestHostileRefsConfigAndToken(t *testing.T) {
	needUnix(t)
	for _, dev := range []string{"fifo", "/dev/zero"} {
		dir := t.TempDir()
		root := filepath.Join(dir, "models--org--model")
		commit := strings.Repeat("a", 40)
		snap := filepath.Join(root, "snapshots", commit)
		if err := os.MkdirAll(snap, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, "refs"), 0o755); err != nil {
			t.Fatal(err)
		}
		place := func(p string) {
			if dev == "fifo" {
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Skip("mkfifo:", err)
				}
			} else if err := os.Symlink(dev, p); err != nil {
				t.Fatal(err)
			}
		}
		place(filepath.Join(root, "refs", "main"))
		place(filepath.Join(snap, "config.json"))
		tokenPath := filepath.Join(dir, "token")
		place(tokenPath)
		c := &hub.Client{CacheDir: dir, Offline: true}
		within(t, 10*time.Second, dev+" refs/main", func() {
			if commit, ok := c.CachedCommit(hub.Model("org/model"), "main"); ok {
				t.Errorf("%s refs/main: commit %q", dev, commit)
			}
		})
		within(t, 10*time.Second, dev+" config.json", func() {
			if m := hub.FindModels(dir); len(m) != 0 {
				t.Errorf("%s config.json: found %+v", dev, m)
			}
		})
		within(t, 10*time.Second, dev+" token", func() {
			env := map[string]string{"HF_HOME": dir, "HF_TOKEN_PATH": tokenPath}
			nc, err := hub.NewClientFromEnvFunc(func(k string) string { return env[k] })
			if err != nil || nc.Token != "" {
				t.Errorf("%s token file: %v, token set %v", dev, err, nc != nil && nc.Token != "")
			}
		})
	}
}

// A partial download that is a link is not written through: the file it
// points at is left as it was, and the download completes.
func TestIncompleteLinkNotWrittenThrough(t *testing.T) {
	needUnix(t)
	fx := newFixture(t)
	c := fx.client(t)
	blobs := filepath.Join(c.CacheDir, "models--org--model", "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	precious := filepath.Join(t.TempDir(), "precious.txt")
	if err := os.WriteFile(precious, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(precious, filepath.Join(blobs, fx.model.SHA256()+".incomplete")); err != nil {
		t.Fatal(err)
	}
	f, err := c.DownloadFile(context.Background(), hub.Model("org/model"), "main", fx.model.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(f.Path); !bytes.Equal(data, fx.model.Data) {
		t.Error("downloaded content differs")
	}
	if data, err := os.ReadFile(precious); err != nil || string(data) != "keep me" {
		t.Errorf("the file the partial download linked to now holds %q (%v)", data, err)
	}
}
