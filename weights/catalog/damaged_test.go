package catalog_test

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

	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/hub"
	"github.com/saescope/saescope/weights/hub/hubtest"
)

// noHang fails the test when fn has not returned after ten seconds (a
// FIFO blocks its reader; /dev/zero never ends).
func noHang(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still running after 10 s", what)
	}
}

// A damaged copy of GPT-2 in the cache is never reported as fetched:
// offline, Fetch says which file is wrong and how, and reports no
// finished progress; online, it downloads the file again.
func TestFetchDamagedCache(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /dev/zero, mkfifo and symbolic links")
	}
	srv := hubWithReleases(t)
	c := client(t, srv)
	ctx := context.Background()
	model := lookup(t, "gpt2")
	dir, err := model.Fetch(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := readFile(t, fixtures+"/tiny-gpt2/model.safetensors")
	entry := filepath.Join(dir, "model.safetensors")
	blob := filepath.Join(c.CacheDir, "models--openai-community--gpt2", "blobs", hubtest.SHA256(want))
	outside := filepath.Join(t.TempDir(), "small.safetensors")
	if err := os.WriteFile(outside, want[:len(want)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	relink := func() error {
		os.Remove(entry)
		return os.Symlink(filepath.Join("..", "..", "blobs", filepath.Base(blob)), entry)
	}
	cases := []struct {
		name string
		// inStatus: the damage is seen without reading (Status); else only
		// Fetch, which reads and hashes, finds it.
		inStatus bool
		say      string
		make     func() error
	}{
		{"link outside the cache", true, "outside the repository's blobs folder", func() error {
			os.Remove(entry)
			return os.Symlink(outside, entry)
		}},
		{"link to /dev/zero", true, "character device", func() error {
			os.Remove(entry)
			return os.Symlink("/dev/zero", entry)
		}},
		{"FIFO", true, "named pipe", func() error {
			os.Remove(entry)
			return syscall.Mkfifo(entry, 0o644)
		}},
		{"blob cut short", false, "SHA-256", func() error {
			if err := relink(); err != nil {
				return err
			}
			return os.Truncate(blob, int64(len(want)/2))
		}},
		{"blob of the right size, one byte changed", false, "SHA-256", func() error {
			if err := relink(); err != nil {
				return err
			}
			bad := append([]byte(nil), want...)
			bad[len(bad)/2] ^= 0x40
			return os.WriteFile(blob, bad, 0o644)
		}},
	}
	off := *c
	off.Offline = true
	for _, tc := range cases {
		if err := tc.make(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		noHang(t, tc.name, func() {
			st := model.Status(&off)
			if tc.inStatus && (st.State == catalog.Ready || len(st.Problems) != 1 ||
				!strings.HasPrefix(st.Problems[0], "model.safetensors: ") || !strings.Contains(st.Problems[0], tc.say)) {
				t.Errorf("%s: offline status %+v", tc.name, st)
			}
			finished := false
			_, err := model.Fetch(ctx, &off, func(p catalog.Progress) { finished = finished || p.Finished })
			if !errors.Is(err, hub.ErrDamaged) || !errors.Is(err, hub.ErrOffline) || finished ||
				!strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), tc.say) ||
				!strings.Contains(err.Error(), "once the hub can be reached") {
				t.Errorf("%s: offline fetch: %v (finished reported: %v)", tc.name, err, finished)
			}
			// Online: fetched again, the same path as before.
			got, err := model.Fetch(ctx, c, nil)
			if err != nil || got != dir {
				t.Errorf("%s: online fetch: %q %v", tc.name, got, err)
				return
			}
			if data, err := os.ReadFile(entry); err != nil || !bytes.Equal(data, want) {
				t.Errorf("%s: after the online fetch: %d bytes (%v)", tc.name, len(data), err)
			}
			if st := model.Status(&off); st.State != catalog.Ready {
				t.Errorf("%s: status after repair %+v", tc.name, st)
			}
		})
	}
	if data, err := os.ReadFile(outside); err != nil || len(data) != len(want)/3 {
		t.Errorf("the file outside the cache was changed: %d bytes, %v", len(data), err)
	}
}

// The catalogue knows the size of GPT-2's real model.safetensors blob: a
// blob with that name and another size is damaged, seen by Status without
// reading it (the probe's "done, 6.6 MB" for a 548 MB model).
func TestKnownBlobOfTheWrongSize(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links")
	}
	c := client(t, nil)
	c.Offline = true
	const realSHA = "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"
	commit := hubtest.CommitID("real")
	root := filepath.Join(c.CacheDir, "models--openai-community--gpt2")
	snap := filepath.Join(root, "snapshots", commit)
	for _, d := range []string{snap, filepath.Join(root, "blobs"), filepath.Join(root, "refs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := readFile(t, fixtures+"/tiny-gpt2/config.json")
	blobs := map[string][]byte{"config.json": cfg, "model.safetensors": make([]byte, 6_600_000)}
	for name, data := range blobs {
		etag := hubtest.GitSHA1(data)
		if name == "model.safetensors" {
			etag = realSHA
		}
		if err := os.WriteFile(filepath.Join(root, "blobs", etag), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", etag), filepath.Join(snap, name)); err != nil {
			t.Fatal(err)
		}
	}
	model := lookup(t, "gpt2")
	st := model.Status(c)
	if st.State != catalog.Partial || len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "6.6 MB") ||
		!strings.Contains(st.Problems[0], "548.1 MB (548105171 bytes)") || strings.Join(st.Missing, ",") != "model.safetensors" {
		t.Errorf("status %+v", st)
	}
	_, err := model.Fetch(context.Background(), c, nil)
	if !errors.Is(err, hub.ErrDamaged) || !errors.Is(err, hub.ErrOffline) || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("offline fetch: %v", err)
	}
	// The right size: Ready (the hash is checked by Fetch, not Status).
	if err := os.Truncate(filepath.Join(root, "blobs", realSHA), 548_105_171); err != nil {
		t.Fatal(err)
	}
	if st := model.Status(c); st.State != catalog.Ready {
		t.Errorf("status with the right size: %+v", st)
	}
}

// A cache made without symbolic links holds copies, which no name ties to
// a hash: online, Fetch checks them against the hub (its size and hash)
// instead of trusting them, and downloads a damaged one again.
func TestFetchChecksCopiesOnline(t *testing.T) {
	srv := hubWithReleases(t)
	c := client(t, srv)
	c.DisableSymlinks = true
	ctx := context.Background()
	model := lookup(t, "gpt2")
	dir, err := model.Fetch(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := readFile(t, fixtures+"/tiny-gpt2/model.safetensors")
	entry := filepath.Join(dir, "model.safetensors")
	for _, damage := range []string{"cut short", "one byte changed"} {
		bad := append([]byte(nil), want...)
		if damage == "cut short" {
			bad = bad[:len(bad)/2]
		} else {
			bad[len(bad)/3] ^= 1
		}
		if err := os.WriteFile(entry, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if st := model.Status(c); st.State != catalog.Ready {
			t.Fatalf("%s: status %+v (a copy is not checked without reading)", damage, st)
		}
		if _, err := model.Fetch(ctx, c, nil); err != nil {
			t.Fatalf("%s: %v", damage, err)
		}
		if data, err := os.ReadFile(entry); err != nil || !bytes.Equal(data, want) {
			t.Errorf("%s: after fetch: %d bytes (%v)", damage, len(data), err)
		}
	}
	// Offline, a copy cannot be checked: it is used as it is, with no request.
	srv.ResetRequests()
	off := *c
	off.Offline = true
	if _, err := model.Fetch(ctx, &off, nil); err != nil {
		t.Errorf("offline: %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("offline fetch made %d requests", n)
	}
}
