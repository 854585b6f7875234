package catalog_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/ulikunitz/xz"

	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/hub"
	"github.com/saescope/saescope/weights/hub/hubtest"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/safetensors"
)

const fixtures = "../../testdata/fixtures"

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hubWithReleases serves the catalogue's repositories with the tiny
// fixtures in place of the real weights.
func hubWithReleases(t *testing.T) *hubtest.Server {
	t.Helper()
	srv := hubtest.New()
	t.Cleanup(srv.Close)
	srv.AddRepo("model", "openai-community/gpt2").Commit(hubtest.CommitID("gpt2"), []string{"main"},
		&hubtest.File{Path: "config.json", Data: readFile(t, fixtures+"/tiny-gpt2/config.json")},
		&hubtest.File{Path: "model.safetensors", Data: readFile(t, fixtures+"/tiny-gpt2/model.safetensors"), LFS: true},
		&hubtest.File{Path: "README.md", Data: []byte("# gpt2\n")})
	srv.AddRepo("model", "jacobcd52/gpt2-small-sparse-autoencoders").Commit(hubtest.CommitID("jacob"), []string{"main"},
		&hubtest.File{Path: "gpt2-small_6144_resid_pre_9.pt", Data: readFile(t, fixtures+"/tiny-gpt2_256_resid_pre_1.pt"), LFS: true})
	jb := fixtures + "/tiny-gpt2-saelens-mlp_out-0"
	srv.AddRepo("model", "jbloom/GPT2-Small-SAEs-Reformatted").Commit(hubtest.CommitID("jb"), []string{"main"},
		&hubtest.File{Path: "blocks.9.hook_resid_pre/cfg.json", Data: readFile(t, jb+"/cfg.json")},
		&hubtest.File{Path: "blocks.9.hook_resid_pre/sae_weights.safetensors", Data: readFile(t, jb+"/sae_weights.safetensors"), LFS: true},
		&hubtest.File{Path: "blocks.8.hook_resid_pre/cfg.json", Data: readFile(t, jb+"/cfg.json")},
		&hubtest.File{Path: "blocks.8.hook_resid_pre/sae_weights.safetensors", Data: readFile(t, jb+"/sae_weights.safetensors"), LFS: true},
		&hubtest.File{Path: "blocks.8.hook_resid_pre/sparsity.safetensors", Data: []byte("sparsity"), LFS: true})
	return srv
}

func client(t *testing.T, srv *hubtest.Server) *hub.Client {
	t.Helper()
	c := &hub.Client{CacheDir: t.TempDir(), DataDir: t.TempDir(), RetryDelay: time.Millisecond, ProgressInterval: time.Nanosecond}
	if srv != nil {
		c.Endpoint = srv.URL()
	}
	return c
}

func lookup(t *testing.T, name string) *catalog.Entry {
	t.Helper()
	e, ok := catalog.Lookup(name)
	if !ok {
		t.Fatalf("no entry %q", name)
	}
	return e
}

func TestCatalogueEntries(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range catalog.All() {
		if seen[e.Name] {
			t.Errorf("duplicate %s", e.Name)
		}
		seen[e.Name] = true
		if e.Kind == catalog.KindSAE {
			h, err := hookname.Parse(e.Hook, 12)
			if err != nil || h.String() != e.Hook || e.DIn != 768 || e.DSae <= 0 || e.Family == "" || e.Release == "" {
				t.Errorf("%s: hook %q %v, d_in %d, d_sae %d, family %q, release %q", e.Name, e.Hook, err, e.DIn, e.DSae, e.Family, e.Release)
			}
			if e.HookOut != "" {
				o, err := hookname.Parse(e.HookOut, 12)
				if err != nil || o.Layer != h.Layer || o.Order() <= h.Order() {
					t.Errorf("%s: transcoder %s → %s %v", e.Name, e.Hook, e.HookOut, err)
				}
			}
			// A .pt file the loader must name the hook of from its file
			// name (no _cfg.json beside it).
			if strings.HasSuffix(e.Target, ".pt") && len(e.Files) == 1 && e.Files[0] == e.Target {
				if fh, ok := sae.HookFromFileName(e.Target); !ok || fh.String() != e.Hook {
					t.Errorf("%s: file %s names hook %v", e.Name, e.Target, fh)
				}
			}
			for _, f := range append(append([]string(nil), e.Files...), e.Optional...) {
				if f != e.Target && !strings.HasPrefix(f, e.Target+"/") && !strings.HasPrefix(f, strings.TrimSuffix(e.Target, ".pt")+"_") {
					t.Errorf("%s: file %s is not %s or in it", e.Name, f, e.Target)
				}
			}
			key := e.Repo.String() + "@" + e.Target
			if seen[key] {
				t.Errorf("%s: %s listed twice", e.Name, key)
			}
			seen[key] = true
			if e.NeuronpediaID != "" && !strings.HasPrefix(e.NeuronpediaID, "gpt2-small/") {
				t.Errorf("%s: Neuronpedia id %q", e.Name, e.NeuronpediaID)
			}
		}
	}
	perRelease := map[string]int{}
	nSAE := 0
	for _, e := range catalog.All() {
		if e.Kind == catalog.KindSAE {
			perRelease[e.Release]++
			nSAE++
		}
	}
	// jacobcd52 24, res-jb 13, feature splitting 8, hook-z-kk 12,
	// mlp-tm 12, OpenAI v5 2 widths × 4 sites × 12, e2e 6 sets × 3,
	// Dunefsky's transcoders 12, ARENA's 9.
	if want := 24 + 13 + 8 + 12 + 12 + 96 + 18 + 12 + 9; nSAE != want {
		t.Errorf("%d SAE entries, want %d", nSAE, want)
	}
	for release, n := range map[string]int{"gpt2-small-res_scefr-ajt": 3, "gpt2-small-res_sll-ajt": 3, "gpt2-small-resid-post-v5-32k": 12,
		"gpt2-small-res-jb-feature-splitting": 8, "gpt2-small-hook-z-kk": 12, "gpt2-small-mlp-tm": 12} {
		if perRelease[release] != n {
			t.Errorf("release %s has %d entries, want %d", release, perRelease[release], n)
		}
	}
	for alias, name := range map[string]string{"gpt2-small": "gpt2", "openai-community/gpt2": "gpt2", "Stas/OpenWebText-10k": "openwebtext-10k",
		"gpt2-small-res-jb/9": "gpt2-small-res-jb/blocks.9.hook_resid_pre", "jacobcd52/mlp_out_3": "jacobcd52/mlp_out_3"} {
		if e, ok := catalog.Lookup(alias); !ok || e.Name != name {
			t.Errorf("Lookup(%q) = %v", alias, e)
		}
	}
	if _, ok := catalog.Lookup("jacobcd52/resid_pre_12"); ok {
		t.Error("layer 12 of a 12-layer model")
	}
	g := lookup(t, "gpt2")
	if g.SizeText() != "548.1 MB" || lookup(t, "jacobcd52/resid_pre_9").SizeText() != "≈37.8 MB" ||
		lookup(t, "gpt2-small-res-jb/blocks.9.hook_resid_pre").SizeText() != "≈151.2 MB" ||
		lookup(t, "openwebtext-10k").SizeText() != "size unknown until online" {
		t.Errorf("sizes %s %s %s", g.SizeText(), lookup(t, "jacobcd52/resid_pre_9").SizeText(), lookup(t, "gpt2-small-res-jb/blocks.9.hook_resid_pre").SizeText())
	}
	if fr := catalog.FirstRun(); len(fr) != 3 || fr[0].Kind != catalog.KindModel || fr[1].Kind != catalog.KindSAE || fr[2].Kind != catalog.KindCorpus {
		t.Errorf("FirstRun = %v", fr)
	}
}

func TestFetchAndLoad(t *testing.T) {
	srv := hubWithReleases(t)
	c := client(t, srv)
	ctx := context.Background()

	model := lookup(t, "gpt2")
	if st := model.Status(c); st.State != catalog.Missing || len(st.Missing) != 2 {
		t.Fatalf("status before: %+v", st)
	}
	var reports []catalog.Progress
	dir, err := model.Fetch(ctx, c, func(p catalog.Progress) { reports = append(reports, p) })
	if err != nil {
		t.Fatal(err)
	}
	ck, err := gpt2.Load(dir)
	if err != nil {
		t.Fatalf("loading the fetched model: %v", err)
	}
	ck.Close()
	total := int64(len(readFile(t, fixtures+"/tiny-gpt2/config.json")) + len(readFile(t, fixtures+"/tiny-gpt2/model.safetensors")))
	last := reports[len(reports)-1]
	if !last.Finished || last.AllDone != total || reports[0].AllTotal != total || last.Files != 2 {
		t.Errorf("progress first %+v last %+v", reports[0], last)
	}
	prev := int64(-1)
	for _, p := range reports {
		if p.AllDone < prev {
			t.Errorf("progress went back: %+v", p)
		}
		prev = p.AllDone
	}
	if st := model.Status(c); st.State != catalog.Ready || st.Path != dir || st.LocalBytes != total {
		t.Errorf("status after: %+v", st)
	}

	jacob := lookup(t, "jacobcd52/resid_pre_9")
	p, err := jacob.Fetch(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sae.Load(p, "")
	if err != nil || s.Hook.String() != "blocks.9.hook_resid_pre" {
		t.Fatalf("loading the fetched .pt: %v %v", s, err)
	}
	s.Close()

	jb := lookup(t, "gpt2-small-res-jb/blocks.9.hook_resid_pre")
	p, err = jb.Fetch(ctx, c, nil) // no sparsity.safetensors upstream: fine
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "blocks.9.hook_resid_pre" {
		t.Errorf("SAELens path %s", p)
	}
	s, err = sae.Load(p, "")
	if err != nil {
		t.Fatalf("loading the fetched SAELens folder: %v", err)
	}
	s.Close()
	p, err = lookup(t, "gpt2-small-res-jb/blocks.8.hook_resid_pre").Fetch(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(p, "sparsity.safetensors")); err != nil {
		t.Errorf("optional file not fetched: %v", err)
	}

	// Afterwards, everything works with no network at all.
	srv.Close()
	off := *c
	off.Offline = true
	for _, name := range []string{"gpt2", "jacobcd52/resid_pre_9", "gpt2-small-res-jb/blocks.9.hook_resid_pre"} {
		e := lookup(t, name)
		if st := e.Status(&off); st.State != catalog.Ready {
			t.Errorf("%s offline: %+v", name, st)
		}
		if _, err := e.Fetch(ctx, c, nil); err != nil {
			t.Errorf("%s fetch without network: %v", name, err)
		}
	}
	_, err = lookup(t, "jacobcd52/mlp_out_2").Fetch(ctx, c, nil)
	if !errors.Is(err, hub.ErrOffline) || !strings.Contains(err.Error(), "37.8 MB") {
		t.Errorf("missing entry without network: %v", err)
	}
	_, err = lookup(t, "jacobcd52/mlp_out_2").Fetch(ctx, &off, nil)
	if !errors.Is(err, hub.ErrOffline) {
		t.Errorf("missing entry offline: %v", err)
	}
}

func TestMissingUpstream(t *testing.T) {
	srv := hubWithReleases(t)
	c := client(t, srv)
	_, err := lookup(t, "jacobcd52/mlp_out_4").Fetch(context.Background(), c, nil)
	if !errors.Is(err, hub.ErrNotFound) || !strings.Contains(err.Error(), "gpt2-small_6144_mlp_out_4.pt") {
		t.Errorf("unpublished layer: %v", err)
	}
	infos, err := catalog.RemoteInfos(context.Background(), c, []*catalog.Entry{
		lookup(t, "gpt2"), lookup(t, "jacobcd52/resid_pre_9"), lookup(t, "jacobcd52/mlp_out_4"),
		lookup(t, "gpt2-small-res-jb/blocks.8.hook_resid_pre")})
	if err != nil {
		t.Fatal(err)
	}
	want := int64(len(readFile(t, fixtures+"/tiny-gpt2/config.json")) + len(readFile(t, fixtures+"/tiny-gpt2/model.safetensors")))
	if infos["gpt2"].Size != want || len(infos["gpt2"].Files) != 2 {
		t.Errorf("gpt2 remote %+v", infos["gpt2"])
	}
	if r := infos["jacobcd52/mlp_out_4"]; len(r.Missing) != 1 || r.Size != 0 {
		t.Errorf("missing layer remote %+v", r)
	}
	if r := infos["gpt2-small-res-jb/blocks.8.hook_resid_pre"]; len(r.Files) != 3 {
		t.Errorf("jb remote %+v", r)
	}
	if n := len(srv.Requests()); n != 1+3 {
		t.Errorf("%d requests, want one listing per repository (plus the failed fetch's one)", n)
	}
}

func TestLegacyCacheIsFound(t *testing.T) {
	// transformers' from_pretrained("gpt2") caches under models--gpt2.
	c := client(t, nil)
	c.Offline = true
	commit := hubtest.CommitID("legacy")
	snap := filepath.Join(c.CacheDir, "models--gpt2", "snapshots", commit)
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		if err := os.WriteFile(filepath.Join(snap, f), readFile(t, fixtures+"/tiny-gpt2/"+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st := lookup(t, "gpt2").Status(c)
	if st.State != catalog.Ready || st.Path != snap || st.Repo.ID != "gpt2" {
		t.Errorf("status %+v", st)
	}
}

type textRow struct {
	Text string `parquet:"text"`
}

func parquetBytes(t *testing.T, texts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[textRow](&buf)
	rows := make([]textRow, len(texts))
	for i, s := range texts {
		rows[i] = textRow{s}
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCorpusParquet(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	r := srv.AddRepo("dataset", "stas/openwebtext-10k")
	r.Commit(hubtest.CommitID("main"), []string{"main"}, &hubtest.File{Path: "README.md", Data: []byte("x")})
	r.Commit(hubtest.CommitID("parquet"), []string{"refs/convert/parquet"},
		&hubtest.File{Path: "plain_text/train/0000.parquet", Data: parquetBytes(t, "first document", "second document"), LFS: true},
		&hubtest.File{Path: "plain_text/train/0001.parquet", Data: parquetBytes(t, "third document"), LFS: true})
	c := client(t, srv)
	e := lookup(t, "openwebtext-10k")
	p, err := e.Fetch(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	docs, _, err := corpus.ReadDocuments(context.Background(), p, corpus.Options{})
	if err != nil || len(docs) != 3 || docs[2].Text != "third document" {
		t.Fatalf("documents %v %v", docs, err)
	}
	if st := e.Status(c); st.State != catalog.Ready || st.Path != p || len(st.Have) != 2 {
		t.Errorf("status %+v", st)
	}
	if !strings.Contains(p, filepath.Join("datasets--stas--openwebtext-10k", "snapshots", hubtest.CommitID("parquet"), "plain_text", "train")) {
		t.Errorf("path %s", p)
	}
}

func tarXZ(t *testing.T, files map[string][]byte, order []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	xw, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(xw)
	for _, name := range order {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[name])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := xw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCorpusArchiveFallback(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	inner := tarXZ(t, map[string][]byte{
		"./0002-b.txt": []byte("\n  Second\n\n\n\n\nparagraph.  \n\n"),
		"./0001-a.txt": []byte("First document.\n\n\nEnd.\x1f"),
		"./notes.md":   []byte("not a text file"),
	}, []string{"./0002-b.txt", "./0001-a.txt", "./notes.md"})
	outer := tarXZ(t, map[string][]byte{"openwebtext-10k/10k.xz": inner}, []string{"openwebtext-10k/10k.xz"})
	archiveURL := srv.AddURL("/nlp/datasets/openwebtext/openwebtext-10k.tar.xz", &hubtest.File{Data: outer})
	script := "import datasets\n\n_URL = \"" + archiveURL + "\"\n"
	// The dataset has its loading script but no parquet export.
	srv.AddRepo("dataset", "stas/openwebtext-10k").Commit(hubtest.CommitID("main"), []string{"main"},
		&hubtest.File{Path: "openwebtext-10k.py", Data: []byte(script)})
	c := client(t, srv)
	e := lookup(t, "openwebtext-10k")
	p, err := e.Fetch(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	docs, _, err := corpus.ReadDocuments(context.Background(), p, corpus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Text != "First document.\n\nEnd." || docs[1].Text != "Second\n\nparagraph." {
		t.Errorf("documents %q", docs)
	}
	if st := e.Status(c); st.State != catalog.Ready || st.Path != p {
		t.Errorf("status %+v", st)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "downloads", "openwebtext-10k.tar.xz")); !os.IsNotExist(err) {
		t.Errorf("archive kept after extraction: %v", err)
	}

	// A damaged archive is an error and is not kept to be reused.
	srv2 := hubtest.New()
	defer srv2.Close()
	bad := srv2.AddURL("/nlp/datasets/openwebtext/openwebtext-10k.tar.xz", &hubtest.File{Data: outer[:len(outer)/2]})
	srv2.AddRepo("dataset", "stas/openwebtext-10k").Commit(hubtest.CommitID("main"), []string{"main"},
		&hubtest.File{Path: "openwebtext-10k.py", Data: []byte("_URL = \"" + bad + "\"\n")})
	c2 := client(t, srv2)
	if _, err := e.Fetch(context.Background(), c2, nil); err == nil || !strings.Contains(err.Error(), "download was deleted") {
		t.Errorf("damaged archive: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c2.DataDir, "downloads", "openwebtext-10k.tar.xz")); !os.IsNotExist(err) {
		t.Errorf("damaged archive kept: %v", err)
	}
	// An address naming no file is refused before any download.
	srv2.AddRepo("dataset", "stas/openwebtext-10k").Commit(hubtest.CommitID("main2"), []string{"main"},
		&hubtest.File{Path: "openwebtext-10k.py", Data: []byte("_URL = \"" + srv2.CDN.URL + "/x/..\"\n")})
	if _, err := e.Fetch(context.Background(), client(t, srv2), nil); err == nil || !strings.Contains(err.Error(), "names no file") {
		t.Errorf("archive address ending in ..: %v", err)
	}
}

func TestFetchCancel(t *testing.T) {
	srv := hubWithReleases(t)
	c := client(t, srv)
	block := make(chan struct{})
	defer close(block)
	big := &hubtest.File{Path: "gpt2-small_6144_mlp_out_0.pt", Data: bytes.Repeat([]byte("x"), 100_000), LFS: true, Block: block, BlockAfter: 1000}
	srv.AddRepo("model", "jacobcd52/gpt2-small-sparse-autoencoders").Commit(hubtest.CommitID("jacob"), []string{"main"}, big)
	ctx, cancel := context.WithCancel(context.Background())
	e := lookup(t, "jacobcd52/mlp_out_0")
	_, err := e.Fetch(ctx, c, func(p catalog.Progress) {
		if p.Done >= 1000 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled fetch: %v", err)
	}
	if st := e.Status(c); st.State != catalog.Partial || st.PartialBytes != 1000 {
		t.Errorf("status after cancel %+v", st)
	}
}

// TestReleaseNames checks entries against SAELens' pretrained_saes.yaml
// (jbloomAus/SAELens 6.18.0) and the transcoder authors' code, by hand.
func TestReleaseNames(t *testing.T) {
	for _, c := range []struct {
		name, repo, target, hook, hookOut, np string
		files                                 []string
		dSae                                  int
	}{
		{"gpt2-small-res-jb/blocks.11.hook_resid_post", "jbloom/GPT2-Small-SAEs-Reformatted", "blocks.11.hook_resid_post", "blocks.11.hook_resid_post", "", "gpt2-small/12-res-jb",
			[]string{"blocks.11.hook_resid_post/cfg.json", "blocks.11.hook_resid_post/sae_weights.safetensors"}, 24576},
		{"gpt2-small-res-jb-feature-splitting/blocks.8.hook_resid_pre_98304", "jbloom/GPT2-Small-Feature-Splitting-Experiment-Layer-8", "blocks.8.hook_resid_pre_98304",
			"blocks.8.hook_resid_pre", "", "gpt2-small/8-res_fs98304-jb", nil, 98304},
		{"gpt2-small-hook-z-kk/blocks.5.hook_z", "ckkissane/attn-saes-gpt2-small-all-layers",
			"gpt2-small_L5_Hcat_z_lr1.20e-03_l11.00e+00_ds49152_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9.pt", "blocks.5.attn.hook_z", "", "gpt2-small/5-att-kk",
			[]string{"gpt2-small_L5_Hcat_z_lr1.20e-03_l11.00e+00_ds49152_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9.pt",
				"gpt2-small_L5_Hcat_z_lr1.20e-03_l11.00e+00_ds49152_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9_cfg.json"}, 49152},
		{"gpt2-small-mlp-tm/blocks.0.hook_mlp_out", "tommmcgrath/gpt2-small-mlp-out-saes", "sae_group_gpt2_blocks.0.hook_mlp_out_24576:v1", "blocks.0.hook_mlp_out", "", "", nil, 24576},
		{"gpt2-small-mlp-tm/blocks.8.hook_mlp_out", "tommmcgrath/gpt2-small-mlp-out-saes", "sae_group_gpt2_blocks.8.hook_mlp_out_24576:v1", "blocks.8.hook_mlp_out", "", "", nil, 24576},
		{"gpt2-small-mlp-tm/blocks.11.hook_mlp_out", "tommmcgrath/gpt2-small-mlp-out-saes", "sae_group_gpt2_blocks.11.hook_mlp_out_24576:v2", "blocks.11.hook_mlp_out", "", "", nil, 24576},
		{"gpt2-small-mlp-tm/blocks.5.hook_mlp_out", "tommmcgrath/gpt2-small-mlp-out-saes", "sae_group_gpt2_blocks.5.hook_mlp_out_24576:v0", "blocks.5.hook_mlp_out", "", "", nil, 24576},
		{"gpt2-small-resid-post-v5-32k/blocks.8.hook_resid_post", "jbloom/GPT2-Small-OAI-v5-32k-resid-post-SAEs", "v5_32k_layer_8.pt", "blocks.8.hook_resid_post", "", "gpt2-small/8-res_post_32k-oai",
			[]string{"v5_32k_layer_8.pt/cfg.json", "v5_32k_layer_8.pt/sae_weights.safetensors"}, 32768},
		{"gpt2-small-resid-post-v5-128k/blocks.8.hook_resid_post", "jbloom/GPT2-Small-OAI-v5-128k-resid-post-SAEs", "v5_128k_layer_8", "blocks.8.hook_resid_post", "", "gpt2-small/8-res_post_128k-oai", nil, 131072},
		{"gpt2-small-resid-mid-v5-32k/blocks.0.hook_resid_mid", "jbloom/GPT2-Small-OAI-v5-32k-resid-mid-SAEs", "v5_32k_layer_0", "blocks.0.hook_resid_mid", "", "gpt2-small/0-res_mid_32k-oai", nil, 32768},
		{"gpt2-small-attn-out-v5-128k/blocks.3.hook_attn_out", "jbloom/GPT2-Small-OAI-v5-128k-attn-out-SAEs", "v5_128k_layer_3", "blocks.3.hook_attn_out", "", "gpt2-small/3-att_128k-oai", nil, 131072},
		{"gpt2-small-mlp-out-v5-32k/blocks.11.hook_mlp_out", "jbloom/GPT2-Small-OAI-v5-32k-mlp-out-SAEs", "v5_32k_layer_11", "blocks.11.hook_mlp_out", "", "gpt2-small/11-mlp_32k-oai", nil, 32768},
		{"gpt2-small-res_scefr-ajt/blocks.10.hook_resid_pre", "neuronpedia/gpt2-small__res_scefr-ajt", "10-res_scefr-ajt", "blocks.10.hook_resid_pre", "", "gpt2-small/10-res_scefr-ajt", nil, 46080},
		{"gpt2-small-res_sll-ajt/blocks.2.hook_resid_pre", "neuronpedia/gpt2-small__res_sll-ajt", "2-res_sll-ajt", "blocks.2.hook_resid_pre", "", "gpt2-small/2-res_sll-ajt", nil, 46080},
		{"jacobdunefsky/mlp_tc_8", "jacobdunefsky/gpt2small-transcoders", "gpt2-small-dun-chl-mlp-tc8", "blocks.8.ln2.hook_normalized", "blocks.8.hook_mlp_out", "gpt2-small/8-tres-dc",
			[]string{"gpt2-small-dun-chl-mlp-tc8/sae.json", "gpt2-small-dun-chl-mlp-tc8/sae.safetensors"}, 24576},
		{"callummcdougall/mlp_tc_8", "callummcdougall/arena-demos-transcoder", "gpt2-small-layer-8-mlp-transcoder-folded-b_dec_out", "blocks.8.ln2.hook_normalized", "blocks.8.hook_mlp_out", "gpt2-small/8-tres-dc",
			[]string{"gpt2-small-layer-8-mlp-transcoder-folded-b_dec_out/cfg.json", "gpt2-small-layer-8-mlp-transcoder-folded-b_dec_out/sae_weights.safetensors"}, 24576},
	} {
		e := lookup(t, c.name)
		if e.Repo.ID != c.repo || e.Target != c.target || e.Hook != c.hook || e.HookOut != c.hookOut || e.NeuronpediaID != c.np || e.DSae != c.dSae {
			t.Errorf("%s: repo %s target %s hook %s → %q np %q d_sae %d", c.name, e.Repo.ID, e.Target, e.Hook, e.HookOut, e.NeuronpediaID, e.DSae)
		}
		if c.files != nil && strings.Join(e.Files, " ") != strings.Join(c.files, " ") {
			t.Errorf("%s: files %v, want %v", c.name, e.Files, c.files)
		}
	}
	if e := lookup(t, "gpt2-small-hook-z-kk/blocks.5.attn.hook_z"); e.Name != "gpt2-small-hook-z-kk/blocks.5.hook_z" {
		t.Errorf("attn.hook_z alias: %s", e.Name)
	}
	v5 := lookup(t, "gpt2-small-resid-post-v5-32k/blocks.8.hook_resid_post")
	if !v5.NoBOS || v5.ContextSize != 64 || !strings.HasPrefix(v5.Family, "TopK (k = 32)") || v5.SizeText() != "≈201.5 MB" {
		t.Errorf("v5: no BOS %v, context %d, family %q, size %s", v5.NoBOS, v5.ContextSize, v5.Family, v5.SizeText())
	}
	if f := lookup(t, "gpt2-small-mlp-tm/blocks.11.hook_mlp_out").NormScalingFactor; f != 0.2851548652550073 {
		t.Errorf("mlp-tm L11 norm_scaling_factor %v", f)
	}
	// jacobcd52's SAEs are on no Neuronpedia page.
	if id := lookup(t, "jacobcd52/resid_pre_9").NeuronpediaID; id != "" {
		t.Errorf("jacobcd52 Neuronpedia id %q", id)
	}
}

func TestNeuronpediaURL(t *testing.T) {
	for _, c := range []struct {
		id      string
		feature int
		want    string
	}{
		{"gpt2-small/9-res-jb", 1234, "https://www.neuronpedia.org/gpt2-small/9-res-jb/1234"},
		{"gpt2-small/8-res_post_32k-oai", 0, "https://www.neuronpedia.org/gpt2-small/8-res_post_32k-oai/0"},
		{"", 3, ""},
		{"gpt2-small", 3, ""},
		{"gpt2-small/9-res-jb/extra", 3, ""},
		{"gpt2-small/9-res-jb", -1, ""},
	} {
		if got := catalog.NeuronpediaURL(c.id, c.feature); got != c.want {
			t.Errorf("NeuronpediaURL(%q, %d) = %q, want %q", c.id, c.feature, got, c.want)
		}
	}
	if got := lookup(t, "gpt2-small-res-jb/9").NeuronpediaURL(1234); got != "https://www.neuronpedia.org/gpt2-small/9-res-jb/1234" {
		t.Errorf("entry URL %q", got)
	}
	if got := lookup(t, "jacobcd52/resid_pre_9").NeuronpediaURL(1); got != "" {
		t.Errorf("entry without an id: %q", got)
	}
}

func TestForPath(t *testing.T) {
	c := client(t, nil)
	commit := hubtest.CommitID("any")
	for name, p := range map[string]string{
		"gpt2-small-res-jb/blocks.9.hook_resid_pre":             filepath.Join(c.SnapshotDir(hub.Model("jbloom/GPT2-Small-SAEs-Reformatted"), commit), "blocks.9.hook_resid_pre"),
		"gpt2-small-resid-post-v5-32k/blocks.8.hook_resid_post": filepath.Join(c.SnapshotDir(hub.Model("jbloom/GPT2-Small-OAI-v5-32k-resid-post-SAEs"), commit), "v5_32k_layer_8.pt") + "/",
		"gpt2-small-mlp-tm/blocks.0.hook_mlp_out":               filepath.Join(c.SnapshotDir(hub.Model("tommmcgrath/gpt2-small-mlp-out-saes"), commit), "sae_group_gpt2_blocks.0.hook_mlp_out_24576:v1"),
		"jacobcd52/resid_pre_9":                                 filepath.Join(c.SnapshotDir(hub.Model("jacobcd52/gpt2-small-sparse-autoencoders"), commit), "gpt2-small_6144_resid_pre_9.pt"),
	} {
		e, ok := catalog.ForPath(p)
		if !ok || e.Name != name {
			t.Errorf("ForPath(%s) = %v %v, want %s", p, e, ok, name)
		}
	}
	if id := catalog.NeuronpediaIDForPath(filepath.Join(c.SnapshotDir(hub.Model("jbloom/GPT2-Small-SAEs-Reformatted"), commit), "blocks.11.hook_resid_post")); id != "gpt2-small/12-res-jb" {
		t.Errorf("NeuronpediaIDForPath = %q", id)
	}
	for _, p := range []string{
		"", "/tmp/blocks.9.hook_resid_pre",
		// the same folder name in another repository, a file inside the folder, another folder
		filepath.Join(c.SnapshotDir(hub.Model("someone/else"), commit), "blocks.9.hook_resid_pre"),
		filepath.Join(c.SnapshotDir(hub.Model("jbloom/GPT2-Small-SAEs-Reformatted"), commit), "blocks.9.hook_resid_pre", "cfg.json"),
		filepath.Join(c.SnapshotDir(hub.Model("jbloom/GPT2-Small-SAEs-Reformatted"), commit), "blocks.12.hook_resid_pre"),
	} {
		if e, ok := catalog.ForPath(p); ok {
			t.Errorf("ForPath(%q) = %s", p, e.Name)
		}
	}
}

// TestFetchNewReleases fetches one entry of each new release from the
// imitation hub, under the catalogue's repository and folder names (the
// tree listing first, then the files at one commit), and loads it. The
// fixtures stand in for the real weights; the v5 folder is the TopK
// fixture, the transcoder_circuits folder is made here.
func TestFetchNewReleases(t *testing.T) {
	srv := hubtest.New()
	t.Cleanup(srv.Close)
	v2 := fixtures + "/v2"
	tiny := fixtures + "/tiny-gpt2-saelens-mlp_out-0"
	folder := func(repo, dir, src string, extra ...*hubtest.File) {
		files := []*hubtest.File{
			{Path: dir + "/cfg.json", Data: readFile(t, src+"/cfg.json")},
			{Path: dir + "/sae_weights.safetensors", Data: readFile(t, src+"/sae_weights.safetensors"), LFS: true},
		}
		srv.AddRepo("model", repo).Commit(hubtest.CommitID(repo), []string{"main"}, append(files, extra...)...)
	}
	folder("tommmcgrath/gpt2-small-mlp-out-saes", "sae_group_gpt2_blocks.8.hook_mlp_out_24576:v1", tiny)
	folder("jbloom/GPT2-Small-OAI-v5-32k-resid-post-SAEs", "v5_32k_layer_8.pt", v2+"/saelens-topk-hook_resid_post-1")
	folder("jbloom/GPT2-Small-Feature-Splitting-Experiment-Layer-8", "blocks.8.hook_resid_pre_1536", tiny,
		&hubtest.File{Path: "blocks.8.hook_resid_pre_1536/sparsity.safetensors", Data: []byte("sparsity"), LFS: true})
	folder("neuronpedia/gpt2-small__res_scefr-ajt", "10-res_scefr-ajt", tiny)
	folder("callummcdougall/arena-demos-transcoder", "gpt2-small-layer-8-mlp-transcoder-folded-b_dec_out", v2+"/saelens-transcoder-mlp-0")

	kk := lookup(t, "gpt2-small-hook-z-kk/blocks.5.hook_z")
	srv.AddRepo("model", "ckkissane/attn-saes-gpt2-small-all-layers").Commit(hubtest.CommitID("kk"), []string{"main"},
		&hubtest.File{Path: kk.Files[0], Data: readFile(t, fixtures+"/tiny-gpt2_256_resid_pre_1.pt"), LFS: true},
		&hubtest.File{Path: kk.Files[1], Data: []byte(`{"act_name": "blocks.5.attn.hook_z", "dict_size": 256}`)})

	dir := t.TempDir()
	tc := map[string]weights.Tensor{}
	for name, shape := range map[string][]int{"W_enc": {4, 8}, "b_enc": {8}, "W_dec": {8, 4}, "b_dec": {4}, "b_dec_out": {4}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		tc[name] = weights.Tensor{Shape: shape, Data: make([]float32, n)}
		for i := range tc[name].Data {
			tc[name].Data[i] = float32(i%5) * 0.25
		}
	}
	if err := safetensors.Write(filepath.Join(dir, "sae.safetensors"), tc, nil); err != nil {
		t.Fatal(err)
	}
	srv.AddRepo("model", "jacobdunefsky/gpt2small-transcoders").Commit(hubtest.CommitID("dun"), []string{"main"},
		&hubtest.File{Path: "gpt2-small-dun-chl-mlp-tc8/sae.json", Data: []byte(`{"hook_point": "blocks.8.ln2.hook_normalized", "out_hook_point": "blocks.8.hook_mlp_out", "is_transcoder": true, "d_in": 4, "expansion_factor": 2}`)},
		&hubtest.File{Path: "gpt2-small-dun-chl-mlp-tc8/sae.safetensors", Data: readFile(t, filepath.Join(dir, "sae.safetensors")), LFS: true})

	c := client(t, srv)
	ctx := context.Background()
	entries := []*catalog.Entry{
		lookup(t, "gpt2-small-mlp-tm/blocks.8.hook_mlp_out"),
		lookup(t, "gpt2-small-resid-post-v5-32k/blocks.8.hook_resid_post"),
		lookup(t, "gpt2-small-res-jb-feature-splitting/blocks.8.hook_resid_pre_1536"),
		lookup(t, "gpt2-small-res_scefr-ajt/blocks.10.hook_resid_pre"),
		lookup(t, "callummcdougall/mlp_tc_8"),
		kk,
		lookup(t, "jacobdunefsky/mlp_tc_8"),
	}
	infos, err := catalog.RemoteInfos(ctx, c, entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		r := infos[e.Name]
		want := len(e.Files)
		if e.Name == "gpt2-small-res-jb-feature-splitting/blocks.8.hook_resid_pre_1536" {
			want++ // its sparsity.safetensors
		}
		if len(r.Missing) != 0 || len(r.Files) != want || r.Size <= 0 {
			t.Errorf("%s: remote %+v, want %d files", e.Name, r, want)
		}
	}
	if n := len(srv.Requests()); n != len(entries) {
		t.Errorf("%d requests for %d listings", n, len(entries))
	}
	// an entry the hub does not have at the revision: its files reported missing
	missing := lookup(t, "gpt2-small-mlp-tm/blocks.0.hook_mlp_out")
	if r, err := missing.RemoteInfo(ctx, c); err != nil || len(r.Missing) != 2 {
		t.Errorf("unpublished folder: %+v %v", r, err)
	}

	for _, e := range entries {
		p, err := e.Fetch(ctx, c, nil)
		if err != nil {
			t.Errorf("%s: %v", e.Name, err)
			continue
		}
		if st := e.Status(c); st.State != catalog.Ready || st.Path != p {
			t.Errorf("%s: status after fetch %+v", e.Name, st)
		}
		s, err := sae.Load(p, "")
		if err != nil {
			t.Errorf("%s: loading %s: %v", e.Name, p, err)
			continue
		}
		// the fixtures name no Neuronpedia id: the catalogue's is used
		if s.NeuronpediaID != e.NeuronpediaID {
			t.Errorf("%s: loaded Neuronpedia id %q, catalogue's %q", e.Name, s.NeuronpediaID, e.NeuronpediaID)
		}
		// (the fixture's layer is not the entry's: the point is compared)
		if e.HookOut != "" && (!s.Transcoder || !strings.HasSuffix(e.HookOut, "."+string(s.Output().Point))) {
			t.Errorf("%s: loaded a transcoder %v writing %s, catalogue says %s", e.Name, s.Transcoder, s.Output(), e.HookOut)
		}
		s.Close()
	}
	if s, err := sae.Load(filepath.Join(c.SnapshotDir(kk.Repo, hubtest.CommitID("kk")), kk.Target), ""); err != nil || s.Hook.String() != "blocks.5.attn.hook_z" {
		t.Errorf("kk: %v %v", s, err)
	}
	if s, err := sae.Load(filepath.Join(c.SnapshotDir(hub.Model("jacobdunefsky/gpt2small-transcoders"), hubtest.CommitID("dun")), "gpt2-small-dun-chl-mlp-tc8"), ""); err != nil || s.Format != sae.FormatDunefsky {
		t.Errorf("dunefsky: %v %v", s, err)
	}
}
