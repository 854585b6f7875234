package ui

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/hub"
	"github.com/saescope/saescope/weights/hub/hubtest"
)

func init() {
	// Every Shell's first-run screen asks the hub whether it can be
	// reached: no test of this package may reach the real one. The tests
	// below that need a hub point HF_ENDPOINT at a fake one and unset this.
	os.Setenv("HF_HUB_OFFLINE", "1")
}

const (
	jacobRepo = "jacobcd52/gpt2-small-sparse-autoencoders"
	jacobFile = "gpt2-small_6144_resid_pre_9.pt"
)

// hubEnv gives the tests' shells a cache folder of their own and the hub
// at endpoint (none at all when offline). It returns the cache folder.
func hubEnv(t *testing.T, endpoint string, offline bool) string {
	t.Helper()
	home := t.TempDir()
	cache := filepath.Join(home, "hub")
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_ENDPOINT", endpoint)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("TRANSFORMERS_OFFLINE", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	if offline {
		t.Setenv("HF_HUB_OFFLINE", "1")
	} else {
		t.Setenv("HF_HUB_OFFLINE", "")
	}
	old := newHubClient
	newHubClient = func() (*hub.Client, error) {
		c, err := hub.NewClientFromEnv()
		if c != nil {
			c.ProgressInterval, c.RetryDelay = time.Nanosecond, time.Millisecond
		}
		return c, err
	}
	t.Cleanup(func() { newHubClient = old })
	return cache
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seedGPT2 puts the tiny fixture model in the cache as
// openai-community/gpt2 at main, laid out as huggingface_hub does, and
// returns its snapshot folder.
func seedGPT2(t *testing.T, cache string) string {
	t.Helper()
	commit := hubtest.CommitID("gpt2")
	repo := filepath.Join(cache, "models--openai-community--gpt2")
	snap := filepath.Join(repo, "snapshots", commit)
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		if err := os.WriteFile(filepath.Join(snap, f), readBytes(t, filepath.Join(fixModel, f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

// fakeHub serves GPT-2 (the tiny fixture) and the jacobcd52 SAE (the
// fixture SAE under the real file name).
func fakeHub(t *testing.T) (*hubtest.Server, *hubtest.File) {
	t.Helper()
	srv := hubtest.New()
	t.Cleanup(srv.Close)
	srv.AddRepo("model", "openai-community/gpt2").Commit(hubtest.CommitID("gpt2"), []string{"main"},
		&hubtest.File{Path: "config.json", Data: readBytes(t, filepath.Join(fixModel, "config.json"))},
		&hubtest.File{Path: "model.safetensors", Data: readBytes(t, filepath.Join(fixModel, "model.safetensors")), LFS: true})
	sae := &hubtest.File{Path: jacobFile, Data: readBytes(t, fixSAE), LFS: true}
	srv.AddRepo("model", jacobRepo).Commit(hubtest.CommitID("jacob"), []string{"main"}, sae)
	return srv, sae
}

// pump runs the UI thread's queue until cond holds.
func pump(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case fn := <-uiQueue:
			fn()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// newFirstRunShell opens a window and waits until its first-run screen
// has looked at the disk and the network.
func newFirstRunShell(t *testing.T) (*Shell, *FirstRun) {
	t.Helper()
	s := NewShell(test.NewTempApp(t), "test", testBackend)
	fr := s.FirstRunScreen()
	pump(t, "the first-run screen", func() bool { return !fr.Busy() })
	return s, fr
}

func TestFirstRunListsWhatTheCacheHolds(t *testing.T) {
	srv, _ := fakeHub(t)
	cache := hubEnv(t, srv.URL(), false)
	snap := seedGPT2(t, cache)
	// half a download of the SAE, as a cancelled fetch leaves it
	blobs := filepath.Join(cache, "models--jacobcd52--gpt2-small-sparse-autoencoders", "blobs")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(blobs, hubtest.SHA256([]byte("x"))+".incomplete"), make([]byte, 1234), 0o644)

	s, fr := newFirstRunShell(t)
	if len(s.center.Objects) != 1 || s.center.Objects[0] != s.welcomeView() {
		t.Error("the centre does not show the first-run screen")
	}
	var names []string
	for _, r := range fr.Rows {
		names = append(names, r.Entry.Name)
	}
	if strings.Join(names, " ") != "gpt2 jacobcd52/resid_pre_9 openwebtext-10k" {
		t.Errorf("first-run entries %v", names)
	}
	if len(fr.More) != len(catalog.All())-3 || fr.MoreBox == nil || !strings.Contains(fr.MoreBox.Items[0].Title, "More") {
		t.Errorf("%d more entries", len(fr.More))
	}
	if fr.Row("jacobcd52/mlp_out_3") == nil || fr.Row("gpt2-small-res-jb/blocks.9.hook_resid_pre") == nil {
		t.Error("the more… list lacks catalogue entries")
	}

	model, sae, corpus := fr.Rows[0], fr.Rows[1], fr.Rows[2]
	if !model.Ready() || model.Status.Path != snap || !strings.Contains(model.State.Text, "Ready") ||
		!strings.Contains(model.State.Text, snap) || model.Download.Visible() || !model.CopyPath.Visible() {
		t.Errorf("GPT-2 row: %+v %q", model.Status, model.State.Text)
	}
	// its exact size from the hub's listing (the fixture's, here)
	size := len(readBytes(t, filepath.Join(fixModel, "config.json"))) + len(readBytes(t, filepath.Join(fixModel, "model.safetensors")))
	if model.Meta.Text != "model · "+catalog.FormatBytes(int64(size)) {
		t.Errorf("GPT-2 size %q", model.Meta.Text)
	}
	if sae.Status.State != catalog.Partial || sae.Status.PartialBytes != 1234 ||
		!strings.Contains(sae.State.Text, "1.2 kB") || sae.Download.Text != "Resume" || sae.Download.Disabled() {
		t.Errorf("SAE row: %+v %q %q", sae.Status, sae.State.Text, sae.Download.Text)
	}
	// the hub's listing gives the exact size
	if want := "SAE · " + catalog.FormatBytes(int64(len(readBytes(t, fixSAE)))); sae.Meta.Text != want {
		t.Errorf("SAE size %q, want %q", sae.Meta.Text, want)
	}
	if corpus.Status.State != catalog.Missing || !strings.Contains(corpus.State.Text, "Not on disk") || !corpus.Download.Visible() {
		t.Errorf("corpus row: %+v %q", corpus.Status, corpus.State.Text)
	}
	if !strings.HasPrefix(fr.Notice.Text, "Online") || !strings.Contains(fr.Notice.Text, cache) {
		t.Errorf("notice %q", fr.Notice.Text)
	}
	if !fr.OpenReal.Disabled() || !strings.Contains(fr.OpenHint.Text, "jacobcd52/resid_pre_9") {
		t.Errorf("Open button enabled without the SAE: %q", fr.OpenHint.Text)
	}
	if !fr.GetAll.Visible() || fr.OpenDemo.Disabled() || fr.OpenLocal.Disabled() {
		t.Error("buttons")
	}
	if _, ok := fr.RealSpec(); ok {
		t.Error("a workspace spec without the SAE")
	}
	// the menu reaches the screen and the demo
	var items []string
	for _, it := range s.Window.MainMenu().Items[0].Items {
		items = append(items, it.Label)
	}
	if !strings.Contains(strings.Join(items, "|"), "Get models…|Open demo workspace") {
		t.Errorf("File menu %v", items)
	}
}

func TestFirstRunDownloadMakesTheRowReady(t *testing.T) {
	srv, _ := fakeHub(t)
	cache := hubEnv(t, srv.URL(), false)
	snap := seedGPT2(t, cache)
	s, fr := newFirstRunShell(t)
	r := fr.Row("jacobcd52/resid_pre_9")
	if r.Ready() || r.Download.Disabled() {
		t.Fatalf("SAE row before download: %+v", r.Status)
	}
	srv.ResetRequests()
	test.Tap(r.Download)
	if !r.Downloading() || !r.Cancel.Visible() || r.Download.Visible() || !r.Bar.Visible() {
		t.Error("no progress while downloading")
	}
	pump(t, "the download", func() bool { return !r.Downloading() })
	if r.LastError() != nil {
		t.Fatal(r.LastError())
	}
	if !r.Ready() || filepath.Base(r.Status.Path) != jacobFile || !strings.Contains(r.State.Text, "Ready") || r.Bar.Visible() {
		t.Fatalf("after download: %+v %q", r.Status, r.State.Text)
	}
	if _, err := os.Stat(r.Status.Path); err != nil {
		t.Fatal(err)
	}
	if !r.Progress.Finished || r.Progress.AllDone != int64(len(readBytes(t, fixSAE))) {
		t.Errorf("last progress %+v", r.Progress)
	}
	got := 0
	for _, q := range srv.Requests() {
		if q.Method == "GET" && q.Server == "cdn" {
			got++
		}
	}
	if got != 1 {
		t.Errorf("%d downloads from the CDN: %+v", got, srv.Requests())
	}
	// all bytes in but not yet verified and placed: "Checking", not a
	// finished-looking "Downloading" at 100%
	r.showProgress(catalog.Progress{File: jacobFile, Files: 1, Done: 10, Total: 10, AllDone: 10, AllTotal: 10})
	if !strings.HasPrefix(r.State.Text, "Checking "+jacobFile) {
		t.Errorf("all bytes in: %q", r.State.Text)
	}
	r.showProgress(catalog.Progress{File: jacobFile, Files: 1, Done: 5, Total: 10, AllDone: 5, AllTotal: 10})
	if !strings.HasPrefix(r.State.Text, "Downloading "+jacobFile) {
		t.Errorf("half way: %q", r.State.Text)
	}
	r.finish(nil, r.Status, r.Status.Path, nil)
	// everything needed is there: the Open button opens GPT-2 small with it
	if fr.OpenReal.Disabled() {
		t.Errorf("Open disabled: %q", fr.OpenHint.Text)
	}
	spec, ok := fr.RealSpec()
	if !ok || spec.Model != snap || len(spec.SAEs) != 1 || spec.SAEs[0].Path != r.Status.Path ||
		spec.SAEs[0].Hook != "blocks.9.hook_resid_pre" || spec.Corpus != ShippedCorpus || spec.Rows != 1000 {
		t.Errorf("spec %+v", spec)
	}
	if !strings.Contains(fr.OpenHint.Text, "shipped") {
		t.Errorf("hint %q", fr.OpenHint.Text)
	}
	// the workspace bar lists it
	pump(t, "the workspace bar's sources", func() bool {
		_, saes, _ := s.Bar.Options()
		return len(saes) > 0
	})
}

func TestFirstRunCancelLeavesAPartialDownload(t *testing.T) {
	srv, sae := fakeHub(t)
	block := make(chan struct{})
	defer close(block)
	srv.Update(func() {
		sae.Data = make([]byte, 100_000)
		sae.Block, sae.BlockAfter = block, 1000
	})
	hubEnv(t, srv.URL(), false)
	_, fr := newFirstRunShell(t)
	r := fr.Row("jacobcd52/resid_pre_9")
	test.Tap(r.Download)
	pump(t, "the first 1000 bytes", func() bool { return r.Progress.AllDone >= 1000 })
	if !strings.Contains(r.Speed.Text, "1.0 kB of 100.0 kB") {
		t.Errorf("progress text %q", r.Speed.Text)
	}
	test.Tap(r.Cancel)
	pump(t, "the cancelled download", func() bool { return !r.Downloading() })
	if r.Status.State != catalog.Partial || r.Status.PartialBytes != 1000 {
		t.Errorf("after cancel: %+v", r.Status)
	}
	if !r.Err.Visible() || !strings.Contains(r.Err.Text, "cancelled") || !strings.Contains(r.Err.Text, "1.0 kB are kept") ||
		r.Download.Text != "Resume" || !r.Download.Visible() || r.Cancel.Visible() {
		t.Errorf("row after cancel: %q, button %q", r.Err.Text, r.Download.Text)
	}
}

func TestFirstRunOfflineSaysSoAndMakesNoRequest(t *testing.T) {
	srv, _ := fakeHub(t)
	cache := hubEnv(t, srv.URL(), true)
	seedGPT2(t, cache)
	_, fr := newFirstRunShell(t)
	if !strings.HasPrefix(fr.Notice.Text, "Offline") || !strings.Contains(fr.Notice.Text, "HF_HUB_OFFLINE") ||
		!strings.Contains(fr.Notice.Text, "demo") || !fr.Retry.Visible() {
		t.Errorf("notice %q", fr.Notice.Text)
	}
	if fr.Online() || !fr.Row("gpt2").Ready() {
		t.Error("the model on disk is not usable offline")
	}
	sae := fr.Row("jacobcd52/resid_pre_9")
	if !sae.Download.Disabled() || !strings.Contains(sae.State.Text, "offline") {
		t.Errorf("SAE row offline: %q", sae.State.Text)
	}
	if fr.GetAll.Visible() || fr.OpenDemo.Disabled() || fr.OpenLocal.Disabled() {
		t.Error("offline buttons")
	}
	if !strings.Contains(fr.OpenHint.Text, "offline") {
		t.Errorf("hint %q", fr.OpenHint.Text)
	}
	test.Tap(fr.Retry)
	pump(t, "the check", func() bool { return !fr.Busy() })
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests offline: %+v", n, srv.Requests())
	}
}

func TestFirstRunUnreachableHub(t *testing.T) {
	dead := httptest.NewServer(nil)
	url := dead.URL
	dead.Close()
	hubEnv(t, url, false)
	_, fr := newFirstRunShell(t)
	if fr.Online() || !strings.HasPrefix(fr.Notice.Text, "Offline") || !strings.Contains(fr.Notice.Text, url) ||
		!strings.Contains(fr.Notice.Text, "cannot be reached") {
		t.Errorf("notice %q", fr.Notice.Text)
	}
	if !fr.Row("gpt2").Download.Disabled() {
		t.Error("Download enabled without a hub")
	}
}

func TestFirstRunExplainsFetchErrors(t *testing.T) {
	srv := hubtest.New()
	t.Cleanup(srv.Close)
	cfg := readBytes(t, filepath.Join(fixModel, "config.json"))
	weights := readBytes(t, filepath.Join(fixModel, "model.safetensors"))
	bad := append([]byte(nil), weights...)
	bad[len(bad)-1] ^= 0xff
	srv.AddRepo("model", "openai-community/gpt2").Commit(hubtest.CommitID("gpt2"), []string{"main"},
		&hubtest.File{Path: "config.json", Data: cfg},
		&hubtest.File{Path: "model.safetensors", Data: weights, Corrupt: bad, LFS: true})
	jacob := srv.AddRepo("model", jacobRepo)
	jacob.Gated = true
	jacob.Commit(hubtest.CommitID("jacob"), []string{"main"}, &hubtest.File{Path: jacobFile, Data: []byte("x"), LFS: true})
	srv.AddRepo("model", "jbloom/GPT2-Small-SAEs-Reformatted").Commit(hubtest.CommitID("jb"), []string{"main"},
		&hubtest.File{Path: "blocks.8.hook_resid_pre/cfg.json", Data: []byte("{}")})
	hubEnv(t, srv.URL(), false)
	_, fr := newFirstRunShell(t)

	rows := map[string]string{
		"gpt2":                  "do not match the checksum",
		"jacobcd52/resid_pre_9": "refused access",
		"gpt2-small-res-jb/blocks.9.hook_resid_pre": "Not found upstream",
	}
	for name := range rows {
		test.Tap(fr.Row(name).Download)
	}
	pump(t, "the downloads", func() bool { return !fr.Busy() })
	for name, want := range rows {
		r := fr.Row(name)
		if r.LastError() == nil || !r.Err.Visible() || !strings.Contains(r.Err.Text, want) || r.Ready() {
			t.Errorf("%s: error %v, shown %q (want %q)", name, r.LastError(), r.Err.Text, want)
		}
	}
	if !strings.Contains(fr.Row("jacobcd52/resid_pre_9").Err.Text, "HF_TOKEN") {
		t.Error("no hint about the token")
	}
}
