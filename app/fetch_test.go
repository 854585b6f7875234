package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saescope/saescope/weights/hub/hubtest"
)

// fetchEnv points the hub client at an imitation hub serving the tiny
// fixtures under the catalogue's repository names, with a fresh cache.
func fetchEnv(t *testing.T) (*hubtest.Server, string) {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	srv := hubtest.New()
	t.Cleanup(srv.Close)
	srv.AddRepo("model", "openai-community/gpt2").Commit(hubtest.CommitID("gpt2"), []string{"main"},
		&hubtest.File{Path: "config.json", Data: read(fixModel + "/config.json")},
		&hubtest.File{Path: "model.safetensors", Data: read(fixModel + "/model.safetensors"), LFS: true})
	srv.AddRepo("model", "jacobcd52/gpt2-small-sparse-autoencoders").Commit(hubtest.CommitID("jacob"), []string{"main"},
		&hubtest.File{Path: "gpt2-small_6144_resid_pre_1.pt", Data: read(fixSAE0), LFS: true})
	home := t.TempDir()
	cache := filepath.Join(home, "hf", "hub")
	t.Setenv("HF_ENDPOINT", srv.URL())
	t.Setenv("HF_HOME", filepath.Join(home, "hf"))
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("HOME", home)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("TRANSFORMERS_OFFLINE", "")
	return srv, cache
}

type listOut struct {
	Cache   string `json:"cache"`
	Offline bool   `json:"offline"`
	Entries []struct {
		Name          string `json:"name"`
		Size          int64  `json:"size"`
		SizeText      string `json:"size_text"`
		RemoteSize    *int64 `json:"remote_size"`
		Status        string `json:"status"`
		Path          string `json:"path"`
		Hook          string `json:"hook"`
		HookOut       string `json:"hook_out"`
		Family        string `json:"family"`
		NoBOS         bool   `json:"no_bos"`
		Context       int    `json:"context_size"`
		NeuronpediaID string `json:"neuronpedia_id"`
	} `json:"entries"`
}

// listCatalogueCLI runs fetch --list and returns its output and each
// entry's index in it.
func listCatalogueCLI(t *testing.T, args ...string) (listOut, map[string]int) {
	t.Helper()
	out, errs, code := runCLI(t, append([]string{"fetch", "--list"}, args...)...)
	if code != 0 {
		t.Fatalf("fetch --list: exit %d: %s", code, errs)
	}
	var res listOut
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	idx := map[string]int{}
	for i, e := range res.Entries {
		idx[e.Name] = i
	}
	return res, idx
}

// An interrupted fetch still reports what it fetched before.
func TestFetchInterrupted(t *testing.T) {
	srv, _ := fetchEnv(t)
	block := make(chan struct{})
	defer close(block)
	sae := &hubtest.File{Path: "gpt2-small_6144_mlp_out_0.pt", Data: bytes.Repeat([]byte("x"), 100_000), LFS: true, Block: block, BlockAfter: 1000}
	srv.AddRepo("model", "jacobcd52/gpt2-small-sparse-autoencoders").Commit(hubtest.CommitID("jacob2"), []string{"main"}, sae)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // cancel once the SAE's download has started
		for {
			for _, r := range srv.Requests() {
				if r.Server == "cdn" && strings.Contains(r.Path, sae.SHA256()) {
					cancel()
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var stdout, stderr bytes.Buffer
	err := runFetch(ctx, []string{"gpt2", "jacobcd52/mlp_out_0", "--quiet"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted fetch: %v", err)
	}
	var res struct {
		Fetched     []struct{ Name string } `json:"fetched"`
		Interrupted string                  `json:"interrupted"`
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil || len(res.Fetched) != 1 || res.Fetched[0].Name != "gpt2" || res.Interrupted != "jacobcd52/mlp_out_0" {
		t.Errorf("output %s (%v)", stdout.String(), jerr)
	}
}

func TestFetchCommand(t *testing.T) {
	srv, cache := fetchEnv(t)
	list, idx := listCatalogueCLI(t)
	if list.Cache != cache || len(list.Entries) < 30 {
		t.Fatalf("list: cache %s, %d entries", list.Cache, len(list.Entries))
	}
	g := list.Entries[idx["gpt2"]]
	if g.Status != "missing" || g.Size != 548105836 || g.SizeText != "548.1 MB" {
		t.Errorf("gpt2 before: %+v", g)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("--list made %d requests", n)
	}
	if v5 := list.Entries[idx["gpt2-small-resid-post-v5-32k/blocks.8.hook_resid_post"]]; v5.Family != "TopK (k = 32), layer_norm" || !v5.NoBOS ||
		v5.Context != 64 || v5.NeuronpediaID != "gpt2-small/8-res_post_32k-oai" {
		t.Errorf("v5 entry: %+v", v5)
	}
	if tc := list.Entries[idx["jacobdunefsky/mlp_tc_8"]]; tc.Hook != "blocks.8.ln2.hook_normalized" || tc.HookOut != "blocks.8.hook_mlp_out" {
		t.Errorf("transcoder entry: %+v", tc)
	}

	out, errs, code := runCLI(t, "fetch", "gpt2", "jacobcd52/resid_pre_1", "--quiet")
	if code != 0 {
		t.Fatalf("fetch: exit %d: %s", code, errs)
	}
	var res struct {
		Fetched []struct{ Name, Kind, Path, Hook string } `json:"fetched"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Fetched) != 2 {
		t.Fatalf("%v: %s", err, out)
	}
	model, saePath := res.Fetched[0].Path, res.Fetched[1].Path
	if !strings.HasPrefix(model, filepath.Join(cache, "models--openai-community--gpt2", "snapshots")) || res.Fetched[1].Hook != "blocks.1.hook_resid_pre" {
		t.Errorf("fetched %+v", res.Fetched)
	}
	// The fetched files load.
	if _, errs, code := runCLI(t, "inspect", "--model", model, "--sae", saePath); code != 0 {
		t.Errorf("inspect fetched files: %s", errs)
	}
	list, idx = listCatalogueCLI(t)
	if g := list.Entries[idx["gpt2"]]; g.Status != "ready" || g.Path != model {
		t.Errorf("gpt2 after: %+v", g)
	}

	// Offline: what is on disk is returned without a request; the rest is
	// refused with a clear message.
	t.Setenv("HF_HUB_OFFLINE", "1")
	srv.ResetRequests()
	if out, errs, code := runCLI(t, "fetch", "gpt2"); code != 0 || !strings.Contains(out, model) {
		t.Errorf("offline fetch of a cached entry: %d %s %s", code, out, errs)
	}
	out, errs, code = runCLI(t, "fetch", "jacobcd52/mlp_out_1")
	if code != 1 || !strings.Contains(errs, "offline") || !strings.Contains(out, `"failed"`) {
		t.Errorf("offline fetch of a missing entry: %d %s %s", code, out, errs)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("offline fetch made %d requests", n)
	}

	// No network at all: the list still works.
	t.Setenv("HF_HUB_OFFLINE", "")
	srv.Close()
	list, idx = listCatalogueCLI(t)
	if g := list.Entries[idx["gpt2"]]; g.Status != "ready" {
		t.Errorf("gpt2 without network: %+v", g)
	}
	out, errs, code = runCLI(t, "fetch", "jacobcd52/mlp_out_1")
	if code != 1 || !strings.Contains(errs, "cannot reach") || !strings.Contains(errs, "on disk keeps working") {
		t.Errorf("fetch without network: %d %s %s", code, out, errs)
	}
}

func TestFetchListRemoteAndErrors(t *testing.T) {
	fetchEnv(t)
	list, idx := listCatalogueCLI(t, "--remote")
	g := list.Entries[idx["gpt2"]]
	st, _ := os.Stat(fixModel + "/model.safetensors")
	cf, _ := os.Stat(fixModel + "/config.json")
	if g.RemoteSize == nil || *g.RemoteSize != st.Size()+cf.Size() {
		t.Errorf("remote size %+v", g)
	}
	out, errs, code := runCLI(t, "fetch", "--list", "--text")
	if code != 0 || !strings.Contains(out, "gpt2-small-res-jb/blocks.9.hook_resid_pre") || !strings.Contains(out, "≈151.2 MB") {
		t.Errorf("--text: %d %s %s", code, out, errs)
	}
	if _, errs, code := runCLI(t, "fetch", "no-such-thing"); code != 1 || !strings.Contains(errs, "no catalogue entry") {
		t.Errorf("unknown name: %d %s", code, errs)
	}
	if _, errs, code := runCLI(t, "fetch"); code != 1 || !strings.Contains(errs, "NAME") {
		t.Errorf("no name: %d %s", code, errs)
	}
	// A release file the hub does not have.
	out, errs, code = runCLI(t, "fetch", "--quiet", "jacobcd52/mlp_out_7")
	if code != 1 || !strings.Contains(out, "gpt2-small_6144_mlp_out_7.pt") {
		t.Errorf("missing upstream: %d %s %s", code, out, errs)
	}
}

// A damaged GPT-2 in the cache (the probe's snapshot link to a small file
// outside the cache, "done, 6.6 MB" for a 548 MB model; a link to
// /dev/zero; a FIFO) is not reported fetched: offline the command fails
// naming the file and what is wrong, prints no "done" line, and says how
// to repair; --list shows it damaged; online it is downloaded again.
func TestFetchDamagedCache(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /dev/zero, mkfifo and symbolic links")
	}
	fetchEnv(t)
	out, errs, code := runCLI(t, "fetch", "gpt2", "--quiet")
	if code != 0 {
		t.Fatalf("fetch: exit %d: %s", code, errs)
	}
	var res struct {
		Fetched []struct{ Path string } `json:"fetched"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Fetched) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	entry := filepath.Join(res.Fetched[0].Path, "model.safetensors")
	want, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(t.TempDir(), "small.safetensors")
	if err := os.WriteFile(small, want[:len(want)/4], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, damage := range []struct{ name, say string }{
		{"link outside the cache", "outside the repository's blobs folder"},
		{"link to /dev/zero", "character device"},
		{"FIFO", "named pipe"},
	} {
		os.Remove(entry)
		var err error
		switch damage.name {
		case "link outside the cache":
			err = os.Symlink(small, entry)
		case "link to /dev/zero":
			err = os.Symlink("/dev/zero", entry)
		case "FIFO":
			err = syscall.Mkfifo(entry, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("HF_HUB_OFFLINE", "1")
		done := make(chan struct{})
		var out, errs string
		var code int
		go func() { defer close(done); out, errs, code = runCLI(t, "fetch", "gpt2") }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: offline fetch still running after 20 s", damage.name)
		}
		if code != 1 || strings.Contains(errs, "done") || !strings.Contains(errs, "model.safetensors") ||
			!strings.Contains(errs, damage.say) || !strings.Contains(errs, "saescope fetch gpt2' with the network on") ||
			!strings.Contains(out, `"failed"`) {
			t.Errorf("%s: offline fetch: exit %d\nstdout %s\nstderr %s", damage.name, code, out, errs)
		}
		list, idx := listCatalogueCLI(t)
		if g := list.Entries[idx["gpt2"]]; g.Status == "ready" {
			t.Errorf("%s: --list says %+v", damage.name, g)
		}
		if out, _, _ := runCLI(t, "fetch", "--list", "--text"); !strings.Contains(out, "damaged") || !strings.Contains(out, damage.say) {
			t.Errorf("%s: --list --text:\n%s", damage.name, out)
		}
		t.Setenv("HF_HUB_OFFLINE", "")
		if _, errs, code := runCLI(t, "fetch", "gpt2"); code != 0 || !strings.Contains(errs, "gpt2: done") {
			t.Errorf("%s: online fetch: exit %d: %s", damage.name, code, errs)
		}
		if data, err := os.ReadFile(entry); err != nil || !bytes.Equal(data, want) {
			t.Errorf("%s: after the online fetch: %d bytes (%v)", damage.name, len(data), err)
		}
	}
}
