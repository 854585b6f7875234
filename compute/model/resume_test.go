package model_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// fixtureModel loads the fixture model on the CPU with its reference
// tokens ([B, T]) and holds the model's lock until the test ends.
func fixtureModel(t *testing.T) (tokens []int32, B, T int, m *model.Model, be compute.Backend) {
	ref := fixture.Load(t)
	tokens, shape := ref.Ints(t, "tokens")
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	s.Model.Lock()
	t.Cleanup(s.Model.Unlock)
	return tokens, shape[0], shape[1], s.Model, s.Backend
}

// A pass resumed at a block from a saved resid_pre must give, bit for bit,
// what the whole pass gives from that block on, patches included.
func TestResumeMatchesFullPass(t *testing.T) {
	tokens, B, T, m, be := fixtureModel(t)
	ctx := context.Background()
	nl := m.Config.NLayer
	for layer := 0; layer < nl; layer++ {
		patchAt := hookname.Hook{Layer: layer, Point: hookname.MLPOut}.String()
		run := func(resume *model.Resume, saveAt int, saved compute.Tensor) (map[string][]float32, []float32) {
			seen := map[string][]float32{}
			hooks := model.Hooks{
				Patches: map[string]model.Patch{patchAt: model.MeanAblate()},
				Resume:  resume,
				Observe: func(h hookname.Hook, act compute.Tensor) error {
					buf := make([]float32, act.Rows()*act.Cols())
					be.Read(act, buf)
					seen[h.String()] = buf
					if saved != nil && h == (hookname.Hook{Layer: saveAt, Point: hookname.ResidPre}) {
						be.Copy(saved, act)
					}
					return nil
				}}
			out, err := m.Run(ctx, tokens, B, T, hooks)
			if err != nil {
				t.Fatal(err)
			}
			final := make([]float32, out.Resid.Rows()*out.Resid.Cols())
			be.Read(out.Resid, final)
			return seen, final
		}
		saved := be.Alloc(B*T, m.Config.DModel)
		full, fullOut := run(nil, layer, saved)
		part, partOut := run(&model.Resume{Layer: layer, Resid: saved}, -1, nil)
		be.Free(saved)
		if !slices.Equal(fullOut, partOut) {
			t.Errorf("resume at block %d: final residual differs from the full pass", layer)
		}
		for name, got := range part {
			h, err := hookname.Parse(name, nl)
			if err != nil {
				t.Fatal(err)
			}
			if h.Layer < layer {
				t.Errorf("resume at block %d observed %s", layer, name)
			}
			if !slices.Equal(got, full[name]) {
				t.Errorf("resume at block %d: %s differs from the full pass", layer, name)
			}
		}
		if want := (nl - layer) * len(hookname.BlockPoints); len(part) != want {
			t.Errorf("resume at block %d observed %d hooks, want %d", layer, len(part), want)
		}
	}
}

func TestResumeRejectsBadStart(t *testing.T) {
	tokens, B, T, m, be := fixtureModel(t)
	good := be.Alloc(B*T, m.Config.DModel)
	narrow := be.Alloc(B*T, m.Config.DModel-1)
	early := hookname.Hook{Layer: 0, Point: hookname.MLPOut}
	for _, c := range []struct {
		hooks model.Hooks
		want  string
	}{
		{model.Hooks{Resume: &model.Resume{Layer: -1, Resid: good}}, "resume at block -1"},
		{model.Hooks{Resume: &model.Resume{Layer: m.Config.NLayer, Resid: good}}, "resume at block"},
		{model.Hooks{Resume: &model.Resume{Layer: 1}}, "saved residual is not"},
		{model.Hooks{Resume: &model.Resume{Layer: 1, Resid: narrow}}, "saved residual is not"},
		{model.Hooks{Resume: &model.Resume{Layer: 1, Resid: good}, StopAfter: &early}, "comes before the resumed block"},
	} {
		_, err := m.Run(context.Background(), tokens, B, T, c.hooks)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}
