package hub_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/saescope/saescope/internal/fulldisk"
	"github.com/saescope/saescope/weights/hub"
)

// A download that fills the disk stops with an error saying so (not a
// retry loop, not a corrupted file in the snapshot), and once space is
// back the same call resumes from the partial blob.
func TestDownloadOnFullDisk(t *testing.T) {
	fx := newFixture(t)
	c := fx.client(t)
	fulldisk.Mount(t, c.CacheDir, "200k")
	repo := hub.Model("org/model")
	_, err := c.Download(context.Background(), repo, "main", fx.model.Path, nil) // 300 kB
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("download onto a full disk: %v, want an error wrapping ENOSPC", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "no space left") {
		t.Errorf("error does not say the disk is full: %v", err)
	}
	if _, ok := c.CachedFile(repo, "main", fx.model.Path); ok {
		t.Fatal("a partial file is visible in the snapshot")
	}
	// More space: the next call finishes the file.
	if err := syscall.Mount("tmpfs", c.CacheDir, "tmpfs", syscall.MS_REMOUNT, "size=2m"); err != nil {
		t.Fatalf("remount larger: %v", err)
	}
	p, err := c.Download(context.Background(), repo, "main", fx.model.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); string(data) != string(fx.model.Data) {
		t.Fatal("the file downloaded after the disk filled up differs")
	}
}
