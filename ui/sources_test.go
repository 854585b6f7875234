package ui

import (
	"os"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/hub"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot makes a repository folder of a hub cache with one snapshot
// that refs/main points to.
func snapshot(t *testing.T, cache, folder, commit string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(cache, folder, "snapshots", commit)
	for name, body := range files {
		writeFile(t, filepath.Join(dir, name), body)
	}
	writeFile(t, filepath.Join(cache, folder, "refs", "main"), commit)
	return dir
}

func TestLocalSourcesFromTheHubCache(t *testing.T) {
	cache := t.TempDir()
	const c1 = "607a30d783dfa663caf39e06633721c8d4cfcd7e"
	gpt2 := snapshot(t, cache, "models--openai-community--gpt2", c1,
		map[string]string{"config.json": `{"model_type": "gpt2", "n_layer": 12, "n_embd": 768}`, "model.safetensors": "x"})
	saes := snapshot(t, cache, "models--jacobcd52--gpt2-small-sparse-autoencoders", c1,
		map[string]string{"gpt2-small_6144_resid_pre_9.pt": "x"})
	other := snapshot(t, cache, "models--someone--tiny-gpt2", "abcdef0123456789abcdef0123456789abcdef01",
		map[string]string{"config.json": `{"model_type": "gpt2"}`, "pytorch_model.bin": "x"})
	snapshot(t, cache, "models--bert-base-uncased", c1, map[string]string{"config.json": `{"model_type": "bert"}`, "model.safetensors": "x"})

	got := FindLocalSources(&hub.Client{CacheDir: cache})
	want := map[string]LocalSource{
		"Catalogue: gpt2":                       {catalog.KindModel, "", gpt2},
		"Catalogue: jacobcd52/resid_pre_9":      {catalog.KindSAE, "", filepath.Join(saes, "gpt2-small_6144_resid_pre_9.pt")},
		"HF cache: someone/tiny-gpt2 (abcdef0)": {catalog.KindModel, "", other},
	}
	if len(got) != len(want) {
		t.Fatalf("found %+v", got)
	}
	for _, src := range got {
		w, ok := want[src.Label]
		if !ok || w.Kind != src.Kind || w.Path != src.Path {
			t.Errorf("%+v", src)
		}
	}

	// the bar lists them and resolves a label to its path
	a := test.NewTempApp(t)
	s := NewShell(a, "test", testBackend)
	s.Bar.SetSources(got, []string{"/recent/model"})
	if m, sa, c := s.Bar.Options(); len(m) != 3 || len(sa) != 1 || len(c) != 1 {
		t.Errorf("options: %v / %v / %v", m, sa, c)
	}
	s.Bar.Model.SetText("Catalogue: gpt2")
	if s.Bar.ModelDir() != gpt2 {
		t.Errorf("model dir %q", s.Bar.ModelDir())
	}
	s.Bar.Model.SetText("/somewhere/else")
	if s.Bar.ModelDir() != "/somewhere/else" {
		t.Error("a typed folder is not kept")
	}
	if FindLocalSources(nil) != nil {
		t.Error("no client")
	}
}
