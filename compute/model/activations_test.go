package model

import (
	"context"
	"errors"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
)

// tinyModel is a random two-layer GPT-2 with d_model 8 on the CPU, closed
// when the test ends.
func tinyModel(t *testing.T) (*Model, compute.Backend) {
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gpt2.Config{VocabSize: 50, NPositions: 16, DModel: 8, NHead: 2, NLayer: 2, LayerNormEps: 1e-5}
	m, err := New(be, gpt2.Random(cfg, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, be
}

// A pass smaller than the buffers reuses the same views while its size
// repeats; a larger one reallocates, and the pass keeps its results.
func TestActivationsReusedAcrossRuns(t *testing.T) {
	m, be := tinyModel(t)
	cfg := m.Config
	full := m.activationsFor(12)
	if m.activationsFor(12) != full {
		t.Error("the same size got new buffers")
	}
	cut := m.activationsFor(6)
	if cut == full || cut.rows != 6 || cut.resid.Rows() != 6 || len(cut.pos) != 6 {
		t.Fatalf("6 rows of 12: %+v", cut)
	}
	if m.activationsFor(6) != cut {
		t.Error("the same smaller size got new views")
	}
	if m.activationsFor(12) != full || m.activationsFor(4) == cut {
		t.Error("views of another size are not new")
	}
	if grown := m.activationsFor(20); grown == full || grown.rows != 20 || m.cut != nil {
		t.Error("a larger pass did not get new buffers")
	}

	// Passes of alternating sizes give the same results as each alone.
	tokens := make([]int32, 12)
	for i := range tokens {
		tokens[i] = int32(i * 3 % cfg.VocabSize)
	}
	h := hookname.Hook{Layer: 1, Point: hookname.ResidMid}
	at := func(n int) []float32 {
		var got []float32
		_, err := m.Run(context.Background(), tokens[:n], 1, n, Hooks{StopAfter: &h, Observe: func(hk hookname.Hook, act compute.Tensor) error {
			if hk == h {
				got = make([]float32, act.Rows()*act.Cols())
				be.Read(act, got)
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	small, large := at(5), at(12)
	for _, n := range []int{12, 5, 5, 12} {
		want := large
		if n == 5 {
			want = small
		}
		got := at(n)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%d tokens after other sizes: [%d] = %g, want %g", n, i, got[i], want[i])
			}
		}
	}
}

// Run reports a pass that reached StopAfter as Stopped, without an error,
// and one whose observer failed with that error.
func TestRunStopAndObserverError(t *testing.T) {
	m, _ := tinyModel(t)
	tokens := []int32{1, 2, 3, 4}
	for _, h := range []hookname.Hook{{Layer: -1, Point: hookname.Embed}, {Layer: -1, Point: hookname.PosEmbed}, {Layer: 0, Point: hookname.MLPPost}, {Layer: 1, Point: hookname.ResidPost}} {
		var seen []hookname.Hook
		out, err := m.Run(context.Background(), tokens, 2, 2, Hooks{StopAfter: &h, Observe: func(hk hookname.Hook, _ compute.Tensor) error {
			seen = append(seen, hk)
			return nil
		}})
		if err != nil || !out.Stopped || out.Resid != nil || seen[len(seen)-1] != h || len(seen) != h.Order()+1 {
			t.Errorf("stop after %s: %+v, err %v, saw %v", h, out, err, seen)
		}
		boom := errors.New("boom")
		out, err = m.Run(context.Background(), tokens, 2, 2, Hooks{Observe: func(hk hookname.Hook, _ compute.Tensor) error {
			if hk == h {
				return boom
			}
			return nil
		}})
		if !errors.Is(err, boom) || out == nil || out.Stopped {
			t.Errorf("observer failing at %s: %+v, err %v", h, out, err)
		}
	}
	out, err := m.Run(context.Background(), tokens, 2, 2, Hooks{})
	if err != nil || out.Stopped || out.Resid == nil || out.Resid.Rows() != 4 {
		t.Errorf("whole pass: %+v, err %v", out, err)
	}
}
