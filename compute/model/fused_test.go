package model_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
)

// countingFuser passes the backend through and counts fused residual
// writes, fused bias + gelu_new passes and attentions given the qkv bias.
type countingFuser struct {
	compute.Backend
	fused         compute.ResidualAdder
	gelu          compute.BiasGeluer
	att           compute.BiasAttender
	n, nGel, nAtt int
}

func (c *countingFuser) CausalAttentionBias(dst, qkv, bias compute.Tensor, batch, seq, heads int) {
	c.nAtt++
	c.att.CausalAttentionBias(dst, qkv, bias, batch, seq, heads)
}

func (c *countingFuser) AddResidual(resid, delta, bias compute.Tensor, centre bool, ln, w, b compute.Tensor, eps float32) {
	c.n++
	c.fused.AddResidual(resid, delta, bias, centre, ln, w, b, eps)
}

func (c *countingFuser) BiasGeluNew(x, bias compute.Tensor) {
	c.nGel++
	c.gelu.BiasGeluNew(x, bias)
}

// plainBackend hides the backend's fused kernels: every step separate.
type plainBackend struct{ compute.Backend }

// A pass observed at a few hooks fuses the residual writes between them
// (the product's bias, centring, the addition and the next LayerNorm in
// one kernel), the MLP's bias with gelu_new and the qkv bias with the
// attention that reads it; a pass observed everywhere
// on a backend without fused kernels takes every step separately. Both
// must give every observed activation and the final residual to the bit,
// centred or not, with a patch inside the fused stretch's block and
// stopping early.
func TestFusedPassSameBitsAsObservedEverywhere(t *testing.T) {
	tokens, B, T, m, be := fixtureModel(t)
	adder, ok := be.(compute.ResidualAdder)
	if !ok {
		t.Fatalf("%s has no fused residual write: nothing to compare", be.Name())
	}
	gelu, ok := be.(compute.BiasGeluer)
	if !ok {
		t.Fatalf("%s has no fused bias + gelu_new: nothing to compare", be.Name())
	}
	att, ok := be.(compute.BiasAttender)
	if !ok {
		t.Fatalf("%s has no attention taking the qkv bias: nothing to compare", be.Name())
	}
	ck, err := gpt2.Load(filepath.Join(fixture.Dir(), "tiny-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	nl := m.Config.NLayer
	watch := []hookname.Hook{{Layer: 0, Point: hookname.AttnZ}, {Layer: nl - 1, Point: hookname.MLPPost}}
	for _, uncentred := range []bool{false, true} {
		for _, patched := range []bool{false, true} {
			// run returns what was observed, the final residual and how many
			// residual writes, gelu passes and attentions with the qkv bias
			// were fused (-1: none could be)
			run := func(at []hookname.Hook, stop *hookname.Hook, fuse bool) (map[string][]float32, []float32, int, int, int) {
				counted := &countingFuser{Backend: be, fused: adder, gelu: gelu, att: att}
				var mb compute.Backend = counted
				if !fuse {
					mb = plainBackend{be}
					counted.n, counted.nGel, counted.nAtt = -1, -1, -1
				}
				mm, err := model.New(mb, ck)
				if err != nil {
					t.Fatal(err)
				}
				defer mm.Close()
				hooks := model.Hooks{Uncentred: uncentred, ObserveAt: at, StopAfter: stop}
				if patched {
					hooks.Patches = map[string]model.Patch{hookname.Hook{Layer: 0, Point: hookname.ResidMid}.String(): model.MeanAblate()}
				}
				seen, final := observeRun(t, mm, tokens, B, T, hooks)
				return seen, final, counted.n, counted.nGel, counted.nAtt
			}
			all, allFinal, _, _, _ := run(nil, nil, false)
			few, fewFinal, nFew, nGel, nAtt := run(watch, nil, true)
			if _, _, nAll, _, _ := run(nil, nil, true); nAll != 0 {
				t.Errorf("observed everywhere, the pass fused %d residual writes", nAll)
			}
			if nAtt != nl {
				t.Errorf("observed at %v, %d of %d layers' attentions took the qkv bias", watch, nAtt, nl)
			}
			if nFew == 0 {
				t.Errorf("observed at %v, the pass fused no residual write", watch)
			}
			if nGel != nl {
				t.Errorf("observed at %v, the pass fused %d of %d layers' bias + gelu_new", watch, nGel, nl)
			}
			if !slices.Equal(allFinal, fewFinal) {
				t.Errorf("uncentred %v patched %v: final residual differs between the fused and the separate passes", uncentred, patched)
			}
			if len(few) != len(watch) {
				t.Errorf("observed %d hooks, want %d", len(few), len(watch))
			}
			for name, got := range few {
				if !slices.Equal(got, all[name]) {
					t.Errorf("uncentred %v patched %v: %s differs between the fused and the separate passes", uncentred, patched, name)
				}
			}
			stop := hookname.Hook{Layer: nl - 1, Point: hookname.ResidPre}
			early, _, _, _, _ := run([]hookname.Hook{stop}, &stop, true)
			if !slices.Equal(early[stop.String()], all[stop.String()]) {
				t.Errorf("uncentred %v patched %v: %s, stopping there, differs from the pass observed everywhere", uncentred, patched, stop)
			}
		}
	}
}
