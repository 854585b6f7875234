package hub_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saescope/saescope/weights/hub"
)

// A cached copy that is not what the hub announces (a blob cut short, a
// snapshot entry linking to some other file) is downloaded again, not
// trusted.
func TestCachedCopyCheckedAgainstTheHub(t *testing.T) {
	fx := newFixture(t)
	c := fx.client(t)
	ctx := context.Background()
	repo := hub.Model("org/model")
	f, err := c.DownloadFile(ctx, repo, "main", fx.model.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(c.CacheDir, "models--org--model", "blobs", fx.model.SHA256())
	if err := os.Truncate(blob, 1234); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, []byte("not the model"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, damage := range []string{"blob cut short", "link to another file", "dangling link"} {
		switch damage {
		case "link to another file":
			os.Remove(f.Path)
			if err := os.Symlink(other, f.Path); err != nil {
				t.Fatal(err)
			}
		case "dangling link":
			os.Remove(f.Path)
			if err := os.Symlink(filepath.Join(t.TempDir(), "gone"), f.Path); err != nil {
				t.Fatal(err)
			}
		}
		got, err := c.DownloadFile(ctx, repo, "main", fx.model.Path, nil)
		if err != nil {
			t.Fatalf("%s: %v", damage, err)
		}
		data, _ := os.ReadFile(got.Path)
		// the cut blob is fetched again; a bad link is relinked to the
		// good blob
		if got.Downloaded != (damage == "blob cut short") || !bytes.Equal(data, fx.model.Data) {
			t.Errorf("%s: downloaded %v, %d bytes read back", damage, got.Downloaded, len(data))
		}
		if link, err := os.Readlink(got.Path); err != nil || filepath.Base(link) != fx.model.SHA256() {
			t.Errorf("%s: snapshot entry links to %q (%v)", damage, link, err)
		}
	}
}

// A download server that accepts the request and never answers is given
// up on after StallTimeout (it used to wait for the headers forever with
// a caller's HTTP client, minutes with the default one).
func TestStallBeforeHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir(), RetryDelay: time.Millisecond, StallTimeout: 200 * time.Millisecond, Retries: -1,
		HTTP: &http.Client{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.DownloadURL(ctx, srv.URL+"/x.bin", filepath.Join(t.TempDir(), "x.bin"), 100, "", nil)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("silent server: %v (context: %v)", err, ctx.Err())
	}
}

// A second download of a blob waits for the first, and its cancellation
// ends that wait.
func TestWaitingForAnotherDownloadIsCancellable(t *testing.T) {
	fx := newFixture(t)
	block := make(chan struct{})
	defer close(block)
	fx.srv.Update(func() { fx.model.Block, fx.model.BlockAfter = block, 4096 })
	c := fx.client(t)
	repo := hub.Model("org/model")
	started := make(chan struct{})
	first, cancelFirst := context.WithCancel(context.Background())
	defer cancelFirst()
	go c.DownloadFile(first, repo, "main", fx.model.Path, func(p hub.Progress) {
		if p.Done >= 4096 {
			select {
			case <-started:
			default:
				close(started)
			}
		}
	})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.DownloadFile(ctx, repo, "main", fx.model.Path, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second download: %v, want the deadline", err)
	}
}

// A listing whose next page links back to itself ends with an error.
func TestListingThatLoops(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "<"+srv.URL+r.URL.RequestURI()+">; rel=\"next\"")
		w.Write([]byte(`[{"type":"file","path":"a.bin","size":1,"oid":"x"}]`))
	}))
	defer srv.Close()
	c := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	_, err := c.ListFiles(context.Background(), hub.Model("org/model"), "main")
	if err == nil || !strings.Contains(err.Error(), "does not end") {
		t.Errorf("looping listing: %v", err)
	}
}

// A redirect to another scheme than http(s) is refused.
func TestRedirectToFileScheme(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Repo-Commit", strings.Repeat("a", 40))
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	}))
	defer srv.Close()
	c := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	_, err := c.DownloadFile(context.Background(), hub.Model("org/model"), "main", "config.json", nil)
	if err == nil || !strings.Contains(err.Error(), `redirected to a "file" address`) {
		t.Errorf("file:// redirect: %v", err)
	}
}
