//go:build !cuda && cgo

package kernels_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/cuda/engine"
	"github.com/saescope/saescope/compute/cuda/kernels"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/weights/safetensors"
)

// Attribution on the device path (its matrix products and SAE encodes on
// the backend, the rest read back to the host), through the emulator:
// the fixtures' attr.grad_corrupt (metric logits[-1, 13] − logits[-1, 11],
// sae0 spliced) and flow.attribution (sae1 upstream of sae0's feature 135;
// also as the graph's edges, from batched backward passes) within 1e-3, as
// the other emulated parity checks.
func TestEmulatedAttributionParity(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated forward passes take seconds")
	}
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	ref := fixture.Load(t)
	s := fixture.NewSetupOn(t, ref, be)
	v2, err := safetensors.Open(filepath.Join(fixture.Dir(), "v2", "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	want := func(name string) []float32 {
		w, err := v2.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		return w.Data
	}
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	ctx := context.Background()
	r, err := attribution.Run(ctx, s.Model, []*encoder.Encoder{s.SAEs["sae0"]}, tokens[T:2*T], attribution.Metric{Kind: attribution.LogitDiff, A: 13, B: 11})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Close(t, "attr.grad_corrupt", r.Grads[0], want("attr.grad_corrupt"), 1e-3)
	r, err = attribution.Run(ctx, s.Model, []*encoder.Encoder{s.SAEs["sae1"], s.SAEs["sae0"]}, tokens[:T],
		attribution.Metric{Kind: attribution.Feature, SAE: 1, Feature: 135, Pos: -1})
	if err != nil {
		t.Fatal(err)
	}
	fixture.Close(t, "flow.attribution", r.Attribution(0), want("flow.attribution"), 1e-3)
	// the graph's batched backward passes: the edges into the flow target
	g, err := attribution.BuildGraph(ctx, s.Model, []*encoder.Encoder{s.SAEs["sae1"], s.SAEs["sae0"]}, tokens[:T],
		attribution.Metric{Kind: attribution.LogitDiff, A: 13, B: 11}, attribution.GraphOptions{MaxNodes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	flow, edges := want("flow.attribution"), 0
	for _, e := range g.Edges {
		to, from := g.Nodes[e.To], g.Nodes[e.From]
		if to.SAE != 1 || to.Pos != T-1 || to.Feature != 135 || from.IsError() {
			continue
		}
		fixture.Close(t, "graph edge", []float32{float32(e.Weight)}, []float32{flow[from.Pos*256+from.Feature]}, 1e-3)
		edges++
	}
	if edges == 0 {
		t.Error("no edge into the flow target")
	}
	if len(dev.Stats.Kernels) == 0 {
		t.Errorf("no kernel launched: %v", dev.Stats.Kernels)
	}
}
