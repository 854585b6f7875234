package demo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/sae"
)

func TestMaterializeLoads(t *testing.T) {
	dir := t.TempDir()
	p, err := Materialize(dir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := gpt2.Load(p.Model)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	for _, s := range p.SAEs {
		w, err := sae.Load(s, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := w.CheckModel(ck.Config.DModel, ck.Config.DMLP(), ck.Config.NLayer); err != nil {
			t.Error(err)
		}
		w.Close()
	}
	// A second call leaves identical files alone and repairs a damaged one.
	cfg := filepath.Join(p.Model, "config.json")
	os.WriteFile(cfg, []byte("{"), 0o644)
	if _, err := Materialize(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := gpt2.ReadConfig(p.Model); err != nil {
		t.Errorf("damaged demo file not repaired: %v", err)
	}
}
