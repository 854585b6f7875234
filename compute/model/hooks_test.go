package model_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/safetensors"
)

// attn.hook_z (the heads' mixed values, flattened) and ln2.hook_normalized
// (ln_2 before its gain and bias) equal the second fixture set's cache at
// 1e-4, and the other hooks it holds still do; a pass can stop at either,
// and ln2.hook_normalized cannot be patched.
func TestNewHooksMatchReference(t *testing.T) {
	tokens, B, T, m, be := fixtureModel(t)
	v2, err := safetensors.Open(filepath.Join(fixture.Dir(), "v2", "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if v, _, err := v2.Int64("tokens"); err != nil || len(v) != len(tokens) || int32(v[5]) != tokens[5] {
		t.Fatalf("the two fixture sets' tokens differ: %v", err)
	}
	seen := map[string][]float32{}
	_, err = m.Run(context.Background(), tokens, B, T, model.Hooks{Observe: func(h hookname.Hook, act compute.Tensor) error {
		v := make([]float32, act.Rows()*act.Cols())
		be.Read(act, v)
		seen[h.String()] = v
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range v2.Names() {
		hook, ok := strings.CutPrefix(name, "cache.")
		if !ok {
			continue
		}
		want, err := v2.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := seen[hook]
		if !ok {
			t.Errorf("no hook %s in the pass", hook)
			continue
		}
		fixture.Close(t, hook, got, want.Data, 1e-4)
		checked++
	}
	if checked < 6 {
		t.Fatalf("checked %d cached hooks", checked)
	}
	for _, name := range []string{"blocks.1.attn.hook_z", "blocks.0.ln2.hook_normalized"} {
		h, _ := hookname.Parse(name, 0)
		var last string
		out, err := m.Run(context.Background(), tokens, B, T, model.Hooks{StopAfter: &h, Observe: func(h hookname.Hook, _ compute.Tensor) error {
			last = h.String()
			return nil
		}})
		if err != nil || !out.Stopped || last != name {
			t.Errorf("stop at %s: stopped %v after %s, %v", name, out != nil && out.Stopped, last, err)
		}
	}
	_, err = m.Run(context.Background(), tokens, B, T, model.Hooks{Patches: map[string]model.Patch{
		"blocks.0.ln2.hook_normalized": func(compute.Backend, hookname.Hook, compute.Tensor, int, int) error { return nil },
	}})
	if err == nil || !strings.Contains(err.Error(), "can be read, not patched") {
		t.Errorf("patching ln2.hook_normalized: %v", err)
	}
}
