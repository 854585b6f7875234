// Package demo writes the demo workspace embedded in the binary (a tiny
// GPT-2 that SAE Scope trained on the shipped corpus and two SAEs trained
// on it, see assets/demo/README.md) to a folder on disk, where the ordinary
// loaders read it.
package demo

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/internal/atomicfile"
)

// Label is how the app names the demo everywhere it shows it.
const Label = "Demo (tiny GPT-2 trained on the shipped corpus, not GPT-2 small)"

// Paths are the demo's files once on disk.
type Paths struct {
	Model string   // folder with config.json + model.safetensors
	SAEs  []string // SAELens folders: TopK at blocks.1.hook_resid_pre, ReLU at blocks.0.hook_mlp_out
}

// Dir returns the default folder of the demo files (under the user cache).
func Dir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache folder: %w", err)
	}
	return filepath.Join(base, "saescope", "demo"), nil
}

// Materialize copies the embedded demo into dir (files already there with
// the same content are left alone) and returns their paths.
func Materialize(dir string) (Paths, error) {
	src := assets.DemoFS()
	err := fs.WalkDir(src, "demo", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("demo", p)
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
			return nil
		}
		return atomicfile.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return Paths{}, fmt.Errorf("write the demo workspace to %s: %w", dir, err)
	}
	return Paths{
		Model: filepath.Join(dir, "tiny-gpt2"),
		SAEs:  []string{filepath.Join(dir, "tiny-gpt2-saelens-topk-resid_pre-1"), filepath.Join(dir, "tiny-gpt2-saelens-mlp_out-0")},
	}, nil
}
