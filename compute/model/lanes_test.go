package model_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
)

// countingLaner is the CPU backend, counting the lane sets its passes run
// (EnterLanes: once per stretch between hooks run on the whole batch).
type countingLaner struct {
	*cpu.Backend
	enters int
}

func (c *countingLaner) EnterLanes() func() {
	c.enters++
	return c.Backend.EnterLanes()
}

// lanedModels returns the fixture's tokens and two models on the CPU
// backend (gonum's BLAS, and OpenBLAS when installed): one that runs any
// batch of two or more sequences in lanes, one that never does.
func lanedModels(t *testing.T, blas cpu.BLAS) (tokens []int32, B, T int, laned *model.Model, lanes *countingLaner, whole *model.Model) {
	t.Helper()
	// at least two cores' worth of lanes, even on a one-core machine (the
	// lanes then take turns: the results are the same)
	if runtime.GOMAXPROCS(0) < 2 {
		prev := runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	ref := fixture.Load(t)
	tokens, shape := ref.Ints(t, "tokens")
	B, T = shape[0], shape[1]
	if B < 2 {
		t.Fatalf("fixture batch of %d sequences: lanes need two", B)
	}
	be, err := cpu.New(blas)
	if err != nil {
		t.Skipf("%s: %v", blas, err)
	}
	ck, err := gpt2.Load(filepath.Join(fixture.Dir(), "tiny-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	lanes = &countingLaner{Backend: be.WithLaneRows(1)}
	if n := lanes.Lanes(B * T); n < 2 {
		t.Fatalf("%d lanes for %d rows with lanes of one row on %d cores", n, B*T, runtime.GOMAXPROCS(0))
	}
	if n := be.WithLaneRows(B * T).Lanes(B * T); n != 1 {
		t.Fatalf("%d lanes for %d rows with lanes of at least %d rows", n, B*T, B*T)
	}
	laned, err = model.New(lanes, ck)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(laned.Close)
	whole, err = model.New(be.WithLaneRows(math.MaxInt32), ck)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(whole.Close)
	return tokens, B, T, laned, lanes, whole
}

// observeRun runs m on tokens with hooks, Observe set to keep a copy of
// each activation it sees, and returns them and the final residual (nil
// when the pass stopped).
func observeRun(t *testing.T, m *model.Model, tokens []int32, B, T int, hooks model.Hooks) (map[string][]float32, []float32) {
	t.Helper()
	be := m.Backend()
	seen := map[string][]float32{}
	hooks.Observe = func(h hookname.Hook, act compute.Tensor) error {
		if act.Rows() != B*T {
			t.Errorf("%s observed with %d rows, want the batch's %d", h, act.Rows(), B*T)
		}
		buf := make([]float32, act.Rows()*act.Cols())
		be.Read(act, buf)
		seen[h.String()] = buf
		return nil
	}
	out, err := m.Run(context.Background(), tokens, B, T, hooks)
	if err != nil {
		t.Fatal(err)
	}
	var final []float32
	if out.Resid != nil {
		final = make([]float32, out.Resid.Rows()*out.Resid.Cols())
		be.Read(out.Resid, final)
	}
	return seen, final
}

// A batch run in lanes must give every hook's activation and the final
// residual of the batch run whole, within float32 rounding (the products
// of fewer rows may sum in another order; on the fixture they agree to
// 1e-5), centred or not, with a patch that needs the whole batch (the mean
// over every row) at a hook inside a block.
func TestLanesMatchWholeBatch(t *testing.T) {
	for _, blas := range []cpu.BLAS{cpu.BLASGonum, cpu.BLASOpenBLAS} {
		tokens, B, T, laned, lanes, whole := lanedModels(t, blas)
		for _, uncentred := range []bool{false, true} {
			for _, patched := range []bool{false, true} {
				hooks := model.Hooks{Uncentred: uncentred}
				if patched {
					hooks.Patches = map[string]model.Patch{hookname.Hook{Layer: 0, Point: hookname.ResidMid}.String(): model.MeanAblate()}
				}
				lanes.enters = 0
				got, gotFinal := observeRun(t, laned, tokens, B, T, hooks)
				if lanes.enters == 0 {
					t.Fatalf("%s: the pass ran no lanes", blas)
				}
				want, wantFinal := observeRun(t, whole, tokens, B, T, hooks)
				if len(got) != len(want) || len(got) == 0 {
					t.Errorf("%s: lanes observed %d hooks, the whole batch %d", blas, len(got), len(want))
				}
				for name, w := range want {
					fixture.Close(t, string(blas)+" lanes "+name, got[name], w, 1e-5)
				}
				fixture.Close(t, string(blas)+" lanes final", gotFinal, wantFinal, 1e-5)
			}
		}
	}
}

// In lanes as whole, a pass's bits must not depend on what it observes: a
// pass observed at a few hooks (fused in between) and one observed
// everywhere give the same values to the bit, and so does a pass that stops
// inside a block. This is what lets an analysis made alone or with other
// SAEs be the same file.
func TestLanesSameBitsWhateverObserved(t *testing.T) {
	tokens, B, T, laned, lanes, _ := lanedModels(t, cpu.BLASAuto)
	nl := laned.Config.NLayer
	watch := []hookname.Hook{{Layer: 0, Point: hookname.AttnZ}, {Layer: nl - 1, Point: hookname.MLPPost}}
	all, allFinal := observeRun(t, laned, tokens, B, T, model.Hooks{})
	lanes.enters = 0
	few, fewFinal := observeRun(t, laned, tokens, B, T, model.Hooks{ObserveAt: watch})
	// one lane set to the first hook, one to the second, one to the end
	if lanes.enters != 3 {
		t.Errorf("observed at %v: %d lane sets, want 3", watch, lanes.enters)
	}
	if !slices.Equal(allFinal, fewFinal) {
		t.Error("final residual differs between the pass observed everywhere and at a few hooks")
	}
	for _, h := range watch {
		if !slices.Equal(few[h.String()], all[h.String()]) {
			t.Errorf("%s differs between the pass observed everywhere and at a few hooks", h)
		}
	}
	stop := hookname.Hook{Layer: nl - 1, Point: hookname.MLPOut}
	early, final := observeRun(t, laned, tokens, B, T, model.Hooks{ObserveAt: []hookname.Hook{stop}, StopAfter: &stop})
	if final != nil {
		t.Error("a pass stopped at its hook returned a final residual")
	}
	if !slices.Equal(early[stop.String()], all[stop.String()]) {
		t.Errorf("%s, stopping there, differs from the pass observed everywhere", stop)
	}
}

// A hook that fails, panics or cancels the pass ends every lane with its
// error (no lane left waiting), and the model runs normally afterwards.
func TestLanesEndOnHookErrors(t *testing.T) {
	tokens, B, T, laned, _, _ := lanedModels(t, cpu.BLASAuto)
	at := hookname.Hook{Layer: 0, Point: hookname.AttnOut} // a block follows: the cancel is seen there
	boom := errors.New("boom")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		name    string
		observe func() error
		want    func(error) bool
	}{
		{"error", func() error { return boom }, func(err error) bool { return errors.Is(err, boom) }},
		{"panic", func() error { panic("hook panicked") }, func(err error) bool { return err != nil && strings.Contains(err.Error(), "hook panicked") }},
		{"cancel", func() error { cancel(); return nil }, func(err error) bool { return errors.Is(err, context.Canceled) }},
	} {
		_, err := laned.Run(ctx, tokens, B, T, model.Hooks{ObserveAt: []hookname.Hook{at}, Observe: func(hookname.Hook, compute.Tensor) error {
			return c.observe()
		}})
		if !c.want(err) {
			t.Errorf("%s at %s: Run returned %v", c.name, at, err)
		}
	}
	if _, err := laned.Run(context.Background(), tokens, B, T, model.Hooks{}); err != nil {
		t.Errorf("a pass after the failed ones: %v", err)
	}
}

// Passes of the same number of rows in other shapes split into other
// lanes (3×24 → sequences 0 | 1–2; 6×12 → 0–2 | 3–5): each must match
// its shape run whole, whatever ran before it on the same buffers.
func TestLanesFollowTheBatchShape(t *testing.T) {
	tokens, B, T, laned, _, whole := lanedModels(t, cpu.BLASAuto)
	if T%2 != 0 {
		t.Fatalf("fixture sequences of %d tokens: cannot halve them", T)
	}
	for _, shape := range [][2]int{{B, T}, {2 * B, T / 2}, {B, T}} {
		got, gotFinal := observeRun(t, laned, tokens, shape[0], shape[1], model.Hooks{})
		want, wantFinal := observeRun(t, whole, tokens, shape[0], shape[1], model.Hooks{})
		for name, w := range want {
			fixture.Close(t, fmt.Sprintf("%d×%d %s", shape[0], shape[1], name), got[name], w, 1e-5)
		}
		fixture.Close(t, fmt.Sprintf("%d×%d final", shape[0], shape[1]), gotFinal, wantFinal, 1e-5)
	}
}
