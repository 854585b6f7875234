package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saescope/saescope/weights/hub"
	"github.com/saescope/saescope/weights/hub/hubtest"
)

const secret = "hf_TESTtokenNEVERshown1234567890"

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// fixture is an imitation hub with a model repository shaped like the
// releases the catalogue names.
type fixture struct {
	srv    *hubtest.Server
	commit string
	config *hubtest.File
	model  *hubtest.File
	cfg    *hubtest.File
	sae    *hubtest.File
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{srv: hubtest.New(), commit: hubtest.CommitID("main-1")}
	t.Cleanup(f.srv.Close)
	f.config = &hubtest.File{Path: "config.json", Data: []byte(`{"model_type": "gpt2", "n_layer": 12, "n_embd": 768}`)}
	f.model = &hubtest.File{Path: "model.safetensors", Data: randomBytes(300_000, 1), LFS: true}
	f.cfg = &hubtest.File{Path: "blocks.9.hook_resid_pre/cfg.json", Data: []byte(`{"d_sae": 24576}`)}
	f.sae = &hubtest.File{Path: "blocks.9.hook_resid_pre/sae_weights.safetensors", Data: randomBytes(200_000, 2), LFS: true}
	f.srv.AddRepo("model", "org/model").Commit(f.commit, []string{"main"}, f.config, f.model, f.cfg, f.sae)
	return f
}

func (f *fixture) client(t *testing.T) *hub.Client {
	t.Helper()
	return &hub.Client{Endpoint: f.srv.URL(), CacheDir: t.TempDir(), RetryDelay: time.Millisecond, ProgressInterval: time.Nanosecond}
}

func count(reqs []hubtest.Request, server, method string) int {
	n := 0
	for _, r := range reqs {
		if (server == "" || r.Server == server) && (method == "" || r.Method == method) {
			n++
		}
	}
	return n
}

func TestDownloadLayout(t *testing.T) {
	fx := newFixture(t)
	c := fx.client(t)
	ctx := context.Background()
	repo := hub.Model("org/model")
	var last hub.Progress
	for _, f := range []*hubtest.File{fx.config, fx.model, fx.cfg, fx.sae} {
		got, err := c.DownloadFile(ctx, repo, "main", f.Path, func(p hub.Progress) { last = p })
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if !last.Finished || last.Done != int64(len(f.Data)) || last.Total != int64(len(f.Data)) {
			t.Errorf("%s: last progress %+v", f.Path, last)
		}
		want := filepath.Join(c.CacheDir, "models--org--model", "snapshots", fx.commit, filepath.FromSlash(f.Path))
		if got.Path != want || got.Commit != fx.commit || got.ETag != f.ETag() || !got.Downloaded {
			t.Errorf("%s: got %+v, want path %s", f.Path, got, want)
		}
		data, err := os.ReadFile(got.Path)
		if err != nil || !bytes.Equal(data, f.Data) {
			t.Errorf("%s: content differs (%v)", f.Path, err)
		}
	}
	root := filepath.Join(c.CacheDir, "models--org--model")
	ref, err := os.ReadFile(filepath.Join(root, "refs", "main"))
	if err != nil || string(ref) != fx.commit {
		t.Errorf("refs/main = %q (%v), want %q without newline", ref, err, fx.commit)
	}
	// Snapshot entries are relative links into blobs/, one ../ per level.
	for f, link := range map[*hubtest.File]string{
		fx.config: "../../blobs/" + fx.config.GitSHA1(),
		fx.model:  "../../blobs/" + fx.model.SHA256(),
		fx.cfg:    "../../../blobs/" + fx.cfg.GitSHA1(),
		fx.sae:    "../../../blobs/" + fx.sae.SHA256(),
	} {
		p := filepath.Join(root, "snapshots", fx.commit, filepath.FromSlash(f.Path))
		got, err := os.Readlink(p)
		if err != nil || got != filepath.FromSlash(link) {
			t.Errorf("%s -> %q (%v), want %q", f.Path, got, err, link)
		}
		blob, err := os.ReadFile(filepath.Join(root, "blobs", f.ETag()))
		if err != nil || !bytes.Equal(blob, f.Data) {
			t.Errorf("blob of %s: %v", f.Path, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(root, "blobs"))
	if len(entries) != 4 {
		t.Errorf("blobs/ holds %d entries, want 4 (no .incomplete left)", len(entries))
	}
	// Nothing but the repository folder: older huggingface_hub versions take
	// any other entry (such as a CACHEDIR.TAG) for a corrupt repository.
	if top, _ := os.ReadDir(c.CacheDir); len(top) != 2 || top[0].Name() != ".locks" || top[1].Name() != "models--org--model" {
		t.Errorf("cache top level: %v", top)
	}
	// A second download asks the hub (HEAD) but fetches nothing.
	fx.srv.ResetRequests()
	got, err := c.DownloadFile(ctx, repo, "main", fx.model.Path, nil)
	if err != nil || got.Downloaded {
		t.Fatalf("again: %+v %v", got, err)
	}
	if reqs := fx.srv.Requests(); count(reqs, "", "GET") != 0 || count(reqs, "hub", "HEAD") != 1 {
		t.Errorf("cached download made requests %+v", reqs)
	}
	// By commit hash: not even a HEAD.
	fx.srv.ResetRequests()
	if _, err := c.Download(ctx, repo, fx.commit, fx.model.Path, nil); err != nil {
		t.Fatal(err)
	}
	if reqs := fx.srv.Requests(); len(reqs) != 0 {
		t.Errorf("download by commit made requests %+v", reqs)
	}
	if p, ok := c.CachedFile(repo, "main", fx.sae.Path); !ok || !strings.HasSuffix(p, "sae_weights.safetensors") {
		t.Errorf("CachedFile = %q %v", p, ok)
	}
}

func TestTokenGoesToHubOnly(t *testing.T) {
	fx := newFixture(t)
	fx.srv.Token = secret
	r := fx.srv.AddRepo("model", "org/model")
	fx.srv.Update(func() { r.Gated = true })
	c := fx.client(t)
	c.Token = secret
	if _, err := c.Download(context.Background(), hub.Model("org/model"), "main", fx.model.Path, nil); err != nil {
		t.Fatal(err)
	}
	reqs := fx.srv.Requests()
	if count(reqs, "cdn", "GET") != 1 {
		t.Fatalf("requests %+v", reqs)
	}
	for _, r := range reqs {
		switch r.Server {
		case "hub":
			if r.Auth != "Bearer "+secret {
				t.Errorf("hub request without the token: %+v", r)
			}
		case "cdn":
			if r.Auth != "" {
				t.Errorf("the token went to the CDN: %s %s", r.Method, r.Path)
			}
		}
	}
	// Nothing prints the token.
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %s %#v", c, c, c, c), fmt.Sprintf("%v %+v %#v", *c, *c, *c)} {
		if strings.Contains(s, secret) {
			t.Errorf("client printed its token: %s", s)
		}
	}
	// A wrong token: refused, and the error does not show what was sent.
	c2 := fx.client(t)
	c2.Token = secret + "-wrong"
	_, err := c2.Download(context.Background(), hub.Model("org/model"), "main", fx.config.Path, nil)
	if !errors.Is(err, hub.ErrUnauthorized) || strings.Contains(err.Error(), secret) {
		t.Errorf("wrong token: %v", err)
	}
}

func TestErrors(t *testing.T) {
	fx := newFixture(t)
	fx.srv.AddRepo("model", "org/gated").Gated = true
	c := fx.client(t)
	ctx := context.Background()
	cases := []struct {
		repo     hub.Repo
		rev, p   string
		kind     error
		code     string
		contains string
	}{
		{hub.Model("org/model"), "main", "nope.bin", hub.ErrNotFound, "EntryNotFound", "no such file"},
		{hub.Model("org/model"), "v9", "config.json", hub.ErrNotFound, "RevisionNotFound", "no such revision"},
		{hub.Model("org/gated"), "main", "config.json", hub.ErrUnauthorized, "GatedRepo", "HF_TOKEN"},
		{hub.Model("org/missing"), "main", "config.json", hub.ErrUnauthorized, "RepoNotFound", "private or gated"},
	}
	for _, tc := range cases {
		_, err := c.Download(ctx, tc.repo, tc.rev, tc.p, nil)
		var he *hub.Error
		if !errors.Is(err, tc.kind) || !errors.As(err, &he) || he.Code != tc.code || !strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%s %s: %v (code %v)", tc.repo, tc.p, err, he)
		}
	}
	// The 404 is recorded like huggingface_hub does.
	marker := filepath.Join(c.CacheDir, "models--org--model", ".no_exist", fx.commit, "nope.bin")
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("no .no_exist marker: %v", err)
	}
	if !c.CachedNoExist(hub.Model("org/model"), "main", "nope.bin") {
		t.Error("CachedNoExist false")
	}
	// With a token, a missing repository is a plain 404.
	c.Token = secret
	if _, err := c.Download(ctx, hub.Model("org/missing"), "main", "x", nil); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("missing repo with token: %v", err)
	}
	for _, bad := range []string{"../x", "/etc/passwd", "a/../../b", ""} {
		if _, err := c.Download(ctx, hub.Model("org/model"), "main", bad, nil); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
}

func TestResumeAfterCutWithinCall(t *testing.T) {
	fx := newFixture(t)
	fx.srv.Update(func() { fx.model.CutAfter, fx.model.CutTimes = 100_000, 2 })
	c := fx.client(t)
	p, err := c.Download(context.Background(), hub.Model("org/model"), "main", fx.model.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); !bytes.Equal(data, fx.model.Data) {
		t.Fatal("content differs")
	}
	var ranges []string
	for _, r := range fx.srv.Requests() {
		if r.Server == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{"", "bytes=100000-", "bytes=200000-"}; fmt.Sprint(ranges) != fmt.Sprint(want) {
		t.Errorf("CDN ranges %q, want %q", ranges, want)
	}
}

func TestResumeAcrossCalls(t *testing.T) {
	fx := newFixture(t)
	fx.srv.Update(func() { fx.model.CutAfter, fx.model.CutTimes = 123_456, 1 })
	c := fx.client(t)
	c.Retries = -1
	repo := hub.Model("org/model")
	_, err := c.Download(context.Background(), repo, "main", fx.model.Path, nil)
	if err == nil || !strings.Contains(err.Error(), "run again to resume") {
		t.Fatalf("cut download: %v", err)
	}
	inc := filepath.Join(c.CacheDir, "models--org--model", "blobs", fx.model.SHA256()+".incomplete")
	if st, err := os.Stat(inc); err != nil || st.Size() != 123_456 {
		t.Fatalf(".incomplete: %v %v", st, err)
	}
	if _, ok := c.CachedFile(repo, "main", fx.model.Path); ok {
		t.Fatal("partial file visible in the snapshot")
	}
	if n := c.PartialBytes(repo); n != 123_456 {
		t.Errorf("PartialBytes = %d", n)
	}
	fx.srv.ResetRequests()
	var first hub.Progress
	p, err := c.Download(context.Background(), repo, "main", fx.model.Path, func(pr hub.Progress) {
		if first.File == "" {
			first = pr
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); !bytes.Equal(data, fx.model.Data) {
		t.Fatal("resumed content differs")
	}
	if first.Resumed != 123_456 || first.Done != 123_456 || first.Total != 300_000 {
		t.Errorf("first progress %+v", first)
	}
	reqs := fx.srv.Requests()
	if count(reqs, "cdn", "GET") != 1 || reqs[len(reqs)-1].Range != "bytes=123456-" {
		t.Errorf("resume requests %+v", reqs)
	}
	if _, err := os.Stat(inc); !os.IsNotExist(err) {
		t.Errorf(".incomplete left: %v", err)
	}
}

func TestServerIgnoringRange(t *testing.T) {
	fx := newFixture(t)
	fx.srv.Update(func() { fx.model.CutAfter, fx.model.CutTimes, fx.model.NoRange = 50_000, 1, true })
	c := fx.client(t)
	p, err := c.Download(context.Background(), hub.Model("org/model"), "main", fx.model.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); !bytes.Equal(data, fx.model.Data) {
		t.Fatal("content differs")
	}
}

func noCachedContent(t *testing.T, c *hub.Client, repoDir string) {
	t.Helper()
	for _, sub := range []string{"blobs", "snapshots"} {
		_ = filepath.WalkDir(filepath.Join(c.CacheDir, repoDir, sub), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				t.Errorf("left in the cache: %s", p)
			}
			return nil
		})
	}
}

func TestHashMismatch(t *testing.T) {
	fx := newFixture(t)
	bad := bytes.Clone(fx.model.Data)
	bad[len(bad)/2] ^= 0xff
	badCfg := []byte(`{"d_sae": 24577}`)
	fx.srv.Update(func() { fx.model.Corrupt, fx.cfg.Corrupt = bad, badCfg })
	c := fx.client(t)
	repo := hub.Model("org/model")
	_, err := c.Download(context.Background(), repo, "main", fx.model.Path, nil)
	var hm *hub.HashMismatchError
	if !errors.Is(err, hub.ErrHashMismatch) || !errors.As(err, &hm) {
		t.Fatalf("corrupt LFS file: %v", err)
	}
	if hm.Want != fx.model.SHA256() || hm.Got != hubtest.SHA256(bad) || hm.Algorithm != "sha256" ||
		!strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), hm.Got) || !strings.Contains(err.Error(), hm.Want) {
		t.Errorf("mismatch error %v", err)
	}
	_, err = c.Download(context.Background(), repo, "main", fx.cfg.Path, nil)
	if !errors.As(err, &hm) || hm.Algorithm != "git-sha1" || hm.Want != fx.cfg.GitSHA1() {
		t.Errorf("corrupt git file: %v", err)
	}
	noCachedContent(t, c, "models--org--model")

	// A corrupt partial file from an earlier run is caught too, and the
	// next download starts clean.
	fx.srv.Update(func() { fx.model.Corrupt = nil })
	inc := filepath.Join(c.CacheDir, "models--org--model", "blobs", fx.model.SHA256()+".incomplete")
	if err := os.WriteFile(inc, randomBytes(1000, 99), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(context.Background(), repo, "main", fx.model.Path, nil); !errors.Is(err, hub.ErrHashMismatch) {
		t.Fatalf("corrupt partial: %v", err)
	}
	noCachedContent(t, c, "models--org--model")
	if _, err := c.Download(context.Background(), repo, "main", fx.model.Path, nil); err != nil {
		t.Fatalf("after corrupt partial: %v", err)
	}
}

func TestOffline(t *testing.T) {
	fx := newFixture(t)
	c := fx.client(t)
	repo := hub.Model("org/model")
	if _, err := c.Download(context.Background(), repo, "main", fx.config.Path, nil); err != nil {
		t.Fatal(err)
	}
	fx.srv.ResetRequests()
	off := *c
	off.Offline = true
	checkCacheOnly(t, &off, fx, "HF_HUB_OFFLINE", "offline")
	if reqs := fx.srv.Requests(); len(reqs) != 0 {
		t.Errorf("offline client made %d requests: %+v", len(reqs), reqs)
	}
	if err := c.Reachable(context.Background()); err != nil {
		t.Errorf("Reachable: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	fx := newFixture(t)
	c := fx.client(t)
	repo := hub.Model("org/model")
	if _, err := c.Download(context.Background(), repo, "main", fx.config.Path, nil); err != nil {
		t.Fatal(err)
	}
	fx.srv.Close() // no network at all
	checkCacheOnly(t, c, fx, "cannot reach", "without network")
}

// checkCacheOnly checks a client that cannot use the hub (offline, or no
// network), after fx's config.json was downloaded: the cached file is
// served, a missing one fails with ErrOffline saying why (msg), and
// listing and Reachable fail with ErrOffline.
func checkCacheOnly(t *testing.T, c *hub.Client, fx *fixture, msg, what string) {
	t.Helper()
	repo := hub.Model("org/model")
	p, err := c.Download(context.Background(), repo, "main", fx.config.Path, nil)
	if err != nil || !strings.HasSuffix(p, "config.json") {
		t.Errorf("cached file %s: %q %v", what, p, err)
	}
	_, err = c.Download(context.Background(), repo, "main", fx.model.Path, nil)
	if !errors.Is(err, hub.ErrOffline) || !strings.Contains(err.Error(), msg) {
		t.Errorf("missing file %s: %v", what, err)
	}
	if _, err := c.ListFiles(context.Background(), repo, "main"); !errors.Is(err, hub.ErrOffline) {
		t.Errorf("listing %s: %v", what, err)
	}
	if err := c.Reachable(context.Background()); !errors.Is(err, hub.ErrOffline) {
		t.Errorf("Reachable %s: %v", what, err)
	}
}

// pythonCache lays out a cache exactly as huggingface_hub does after
// hf_hub_download of two files of a model and one of a dataset's parquet
// revision.
func pythonCache(t *testing.T, dir string) (commit string, files map[string][]byte) {
	t.Helper()
	commit = "607a30d783dfa663caf39e06633721c8d4cfcd7e"
	files = map[string][]byte{
		"config.json":       []byte(`{"activation_function": "gelu_new", "model_type": "gpt2", "n_embd": 768, "n_layer": 12}`),
		"model.safetensors": randomBytes(4096, 3),
	}
	root := filepath.Join(dir, "models--openai-community--gpt2")
	mk := func(p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk(filepath.Join(root, "refs"))
	mk(filepath.Join(root, "blobs"))
	mk(filepath.Join(root, "snapshots", commit))
	if err := os.WriteFile(filepath.Join(root, "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		etag := hubtest.GitSHA1(data)
		if name == "model.safetensors" {
			etag = hubtest.SHA256(data)
		}
		if err := os.WriteFile(filepath.Join(root, "blobs", etag), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", etag), filepath.Join(root, "snapshots", commit, name)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	// An older download of the bare "gpt2" id, config only.
	legacy := filepath.Join(dir, "models--gpt2", "snapshots", "e7da7f221d5bf496a48136c0cd264e630fe9fcc8")
	mk(legacy)
	if err := os.WriteFile(filepath.Join(legacy, "config.json"), files["config.json"], 0o644); err != nil {
		t.Fatal(err)
	}
	// Not a GPT-2.
	bert := filepath.Join(dir, "models--google-bert--bert-base-uncased", "snapshots", "86b5e0934494bd15c9632b12f734a8a67f723594")
	mk(bert)
	if err := os.WriteFile(filepath.Join(bert, "config.json"), []byte(`{"model_type": "bert"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return commit, files
}

func TestPythonCacheIsFound(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links")
	}
	dir := t.TempDir()
	commit, files := pythonCache(t, dir)
	c := &hub.Client{CacheDir: dir, Offline: true}
	repo := hub.Model("openai-community/gpt2")
	for name, data := range files {
		p, ok := c.CachedFile(repo, "main", name)
		if !ok {
			t.Fatalf("%s not found", name)
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
			t.Errorf("%s differs", name)
		}
		if p2, ok := c.CachedFile(repo, commit, name); !ok || p2 != p {
			t.Errorf("by commit: %q %v", p2, ok)
		}
	}
	if _, ok := c.CachedFile(repo, "main", "pytorch_model.bin"); ok {
		t.Error("found a file that is not there")
	}
	models := hub.FindModels(dir)
	if len(models) != 2 {
		t.Fatalf("FindModels = %+v", models)
	}
	m := models[0]
	if m.Repo.ID != "openai-community/gpt2" || m.Commit != commit || m.Weights != "model.safetensors" || m.NLayer != 12 || m.DModel != 768 ||
		fmt.Sprint(m.Refs) != "[main]" || m.Dir != filepath.Join(dir, "models--openai-community--gpt2", "snapshots", commit) {
		t.Errorf("model 0 = %+v", m)
	}
	if models[1].Repo.ID != "gpt2" || models[1].Weights != "" {
		t.Errorf("model 1 = %+v", models[1])
	}
	// Online, a hub that serves the same commit: nothing is downloaded.
	srv := hubtest.New()
	defer srv.Close()
	srv.AddRepo("model", "openai-community/gpt2").Commit(commit, []string{"main"},
		&hubtest.File{Path: "config.json", Data: files["config.json"]},
		&hubtest.File{Path: "model.safetensors", Data: files["model.safetensors"], LFS: true})
	on := &hub.Client{Endpoint: srv.URL(), CacheDir: dir}
	f, err := on.DownloadFile(context.Background(), repo, "main", "model.safetensors", nil)
	if err != nil || f.Downloaded {
		t.Fatalf("online: %+v %v", f, err)
	}
	if n := count(srv.Requests(), "", "GET"); n != 0 {
		t.Errorf("%d GET requests for a cached file", n)
	}
}

func TestDatasetRevisionWithSlashes(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	commit := hubtest.CommitID("parquet")
	pq := &hubtest.File{Path: "plain_text/train/0000.parquet", Data: randomBytes(5000, 4), LFS: true}
	srv.AddRepo("dataset", "stas/openwebtext-10k").Commit(commit, []string{"refs/convert/parquet"}, pq)
	c := &hub.Client{Endpoint: srv.URL(), CacheDir: t.TempDir()}
	repo := hub.Dataset("stas/openwebtext-10k")
	p, err := c.Download(context.Background(), repo, "refs/convert/parquet", pq.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(c.CacheDir, "datasets--stas--openwebtext-10k")
	if p != filepath.Join(root, "snapshots", commit, "plain_text", "train", "0000.parquet") {
		t.Errorf("path %s", p)
	}
	if ref, err := os.ReadFile(filepath.Join(root, "refs", "refs", "convert", "parquet")); err != nil || string(ref) != commit {
		t.Errorf("refs/refs/convert/parquet = %q %v", ref, err)
	}
	if link, _ := os.Readlink(p); link != filepath.FromSlash("../../../../blobs/"+pq.SHA256()) {
		t.Errorf("link %q", link)
	}
	head := srv.Requests()[0]
	if head.Method != "HEAD" || head.Path != "/datasets/stas/openwebtext-10k/resolve/refs%2Fconvert%2Fparquet/plain_text/train/0000.parquet" {
		t.Errorf("first request %+v", head)
	}
	files, err := c.ListFiles(context.Background(), repo, "refs/convert/parquet")
	if err != nil || len(files) != 1 || files[0].Path != pq.Path || files[0].LFS == nil || files[0].LFS.SHA256 != pq.SHA256() || files[0].Size != 5000 {
		t.Errorf("ListFiles = %+v %v", files, err)
	}
	if _, ok := c.CachedFile(repo, "refs/convert/parquet", pq.Path); !ok {
		t.Error("CachedFile by nested ref failed")
	}
}

func TestListFilesPages(t *testing.T) {
	fx := newFixture(t)
	fx.srv.PageSize = 2
	c := fx.client(t)
	files, err := c.ListFiles(context.Background(), hub.Model("org/model"), "main")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var size int64
	for _, f := range files {
		got = append(got, f.Path)
		size += f.Size
		if (f.LFS != nil) != strings.HasSuffix(f.Path, ".safetensors") {
			t.Errorf("%s: lfs %v", f.Path, f.LFS)
		}
	}
	want := "[blocks.9.hook_resid_pre/cfg.json blocks.9.hook_resid_pre/sae_weights.safetensors config.json model.safetensors]"
	if fmt.Sprint(got) != want || size != int64(len(fx.config.Data)+len(fx.model.Data)+len(fx.cfg.Data)+len(fx.sae.Data)) {
		t.Errorf("files %v (%d bytes)", got, size)
	}
	if n := count(fx.srv.Requests(), "hub", "GET"); n != 3 {
		t.Errorf("%d pages fetched, want 3", n)
	}
	if _, err := c.ListFiles(context.Background(), hub.Model("org/model"), "nope"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("missing revision: %v", err)
	}
}

func TestRenamedRepository(t *testing.T) {
	fx := newFixture(t)
	fx.srv.Alias("model", "org/model")
	c := fx.client(t)
	f, err := c.DownloadFile(context.Background(), hub.Model("model"), "main", "config.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Path, "models--model") || f.Commit != fx.commit {
		t.Errorf("%+v", f)
	}
}

func TestCancelLeavesResumablePartial(t *testing.T) {
	fx := newFixture(t)
	block := make(chan struct{})
	fx.srv.Update(func() { fx.model.Block, fx.model.BlockAfter = block, 4096 })
	c := fx.client(t)
	repo := hub.Model("org/model")
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.Download(ctx, repo, "main", fx.model.Path, func(p hub.Progress) {
		if p.Done >= 4096 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled download: %v", err)
	}
	inc := filepath.Join(c.CacheDir, "models--org--model", "blobs", fx.model.SHA256()+".incomplete")
	if st, err := os.Stat(inc); err != nil || st.Size() != 4096 {
		t.Fatalf(".incomplete after cancel: %v %v", st, err)
	}
	fx.srv.Update(func() { fx.model.Block = nil })
	close(block)
	fx.srv.ResetRequests()
	p, err := c.Download(context.Background(), repo, "main", fx.model.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); !bytes.Equal(data, fx.model.Data) {
		t.Fatal("content differs")
	}
	if reqs := fx.srv.Requests(); reqs[len(reqs)-1].Range != "bytes=4096-" {
		t.Errorf("resume requests %+v", reqs)
	}
}

func TestConcurrentDownloadsOfOneFile(t *testing.T) {
	fx := newFixture(t)
	c := fx.client(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Download(context.Background(), hub.Model("org/model"), "main", fx.model.Path, nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := count(fx.srv.Requests(), "cdn", "GET"); n != 1 {
		t.Errorf("%d downloads of one blob, want 1", n)
	}
}

func TestWithoutSymlinks(t *testing.T) {
	fx := newFixture(t)
	c := fx.client(t)
	c.DisableSymlinks = true
	p, err := c.Download(context.Background(), hub.Model("org/model"), "main", fx.model.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(p)
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("snapshot entry %v %v", st, err)
	}
	if data, _ := os.ReadFile(p); !bytes.Equal(data, fx.model.Data) {
		t.Error("content differs")
	}
}

func TestDownloadURL(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := randomBytes(70_000, 5)
	f := &hubtest.File{Data: data, CutAfter: 30_000, CutTimes: 1}
	u := srv.AddURL("/nlp/archive.tar.xz", f)
	c := &hub.Client{Endpoint: srv.URL(), CacheDir: t.TempDir(), RetryDelay: time.Millisecond}
	dest := filepath.Join(t.TempDir(), "dl", "archive.tar.xz")
	if err := c.DownloadURL(context.Background(), u, dest, -1, hubtest.SHA256(data), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Error("content differs")
	}
	dest2 := filepath.Join(t.TempDir(), "bad")
	err := c.DownloadURL(context.Background(), u, dest2, -1, strings.Repeat("0", 64), nil)
	if !errors.Is(err, hub.ErrHashMismatch) {
		t.Errorf("bad hash: %v", err)
	}
	if _, err := os.Stat(dest2 + ".incomplete"); !os.IsNotExist(err) {
		t.Errorf("bad bytes kept: %v", err)
	}
}

func TestNewClientFromEnv(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "token"), []byte("  "+secret+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HF_HOME": home, "HF_ENDPOINT": "http://hub.example/", "HF_HUB_OFFLINE": "yes"}
	get := func(k string) string { return env[k] }
	c, err := hub.NewClientFromEnvFunc(get)
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "http://hub.example" || c.CacheDir != filepath.Join(home, "hub") || !c.Offline || c.Token != secret {
		t.Errorf("client %v, token from file: %v", c, c.Token == secret)
	}
	env["HF_TOKEN"] = "hf_env"
	env["HF_HUB_CACHE"] = "$HF_HOME/elsewhere"
	env["HF_HUB_OFFLINE"] = "0"
	c, _ = hub.NewClientFromEnvFunc(get)
	if c.Token != "hf_env" || c.CacheDir != filepath.Join(home, "elsewhere") || c.Offline {
		t.Errorf("client %v", c)
	}
	env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
	if c, _ = hub.NewClientFromEnvFunc(get); c.Token != "" {
		t.Error("implicit token sent")
	}
	env = map[string]string{"XDG_CACHE_HOME": home, "TRANSFORMERS_OFFLINE": "1"}
	c, _ = hub.NewClientFromEnvFunc(get)
	if c.CacheDir != filepath.Join(home, "huggingface", "hub") || c.Endpoint != hub.DefaultEndpoint || !c.Offline || c.Token != "" {
		t.Errorf("XDG client %v", c)
	}
}

func TestRepoNames(t *testing.T) {
	c := &hub.Client{Endpoint: hub.DefaultEndpoint}
	for _, tc := range []struct{ got, want string }{
		{hub.Model("openai-community/gpt2").FolderName(), "models--openai-community--gpt2"},
		{hub.Dataset("stas/openwebtext-10k").FolderName(), "datasets--stas--openwebtext-10k"},
		{hub.Model("gpt2").FolderName(), "models--gpt2"},
		{c.ResolveURL(hub.Model("openai-community/gpt2"), "main", "model.safetensors"), "https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors"},
		{c.ResolveURL(hub.Dataset("stas/openwebtext-10k"), "refs/convert/parquet", "plain_text/train/0000.parquet"),
			"https://huggingface.co/datasets/stas/openwebtext-10k/resolve/refs%2Fconvert%2Fparquet/plain_text/train/0000.parquet"},
		{c.ResolveURL(hub.Model("jbloom/GPT2-Small-SAEs-Reformatted"), "main", "blocks.9.hook_resid_pre/cfg.json"),
			"https://huggingface.co/jbloom/GPT2-Small-SAEs-Reformatted/resolve/main/blocks.9.hook_resid_pre/cfg.json"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}
