package intervene_test

import (
	"context"
	"math"
	"sort"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// AblateAt against a direct computation: the whole sequence run (not
// cut at the position, not resumed), its hook patched on the host with
// f(x) computed in float64 from the SAE's weights, the next-token
// log-softmax taken in float64 from both runs' logits.
func TestAblateAtMatchesDirectComputation(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	enc := s.SAEs["sae0"]
	w := enc.SAE
	if w.Arch != sae.Standard || w.Transcoder {
		t.Fatalf("the test's direct encode is ReLU's; sae0 is %q", w.Arch)
	}
	prompt := []int32{50256, 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13}
	d, n := w.DIn, w.DSae
	ctx := context.Background()
	// f(x) in float64 at every position, from the plain run's activation
	direct := func(x []float32) []float64 {
		f := make([]float64, n)
		for i := 0; i < n; i++ {
			h := float64(w.BEnc.Data[i])
			for j := 0; j < d; j++ {
				xj := float64(x[j])
				if w.ApplyBDecToInput {
					xj -= float64(w.BDec.Data[j])
				}
				h += xj * float64(w.WEnc.Data[j*n+i])
			}
			f[i] = math.Max(0, h)
		}
		return f
	}
	var acts []float32
	_, err := s.Model.Run(ctx, prompt, 1, len(prompt), model.Hooks{Observe: func(h hookname.Hook, a compute.Tensor) error {
		if h == w.Hook {
			acts = make([]float32, a.Rows()*a.Cols())
			s.Backend.Read(a, acts)
		}
		return nil
	}})
	if err != nil || acts == nil {
		t.Fatalf("plain run: %v", err)
	}
	// the strongest (feature, position) pairs, and one feature that is 0
	type pick struct{ f, pos int }
	var picks []pick
	var zero pick
	for _, pos := range []int{3, 7, len(prompt) - 1} {
		f := direct(acts[pos*d : (pos+1)*d])
		best := 0
		for i := range f {
			if f[i] > f[best] {
				best = i
			}
			if f[i] == 0 {
				zero = pick{i, pos}
			}
		}
		picks = append(picks, pick{best, pos})
	}
	logSoftmax := func(l []float32) []float64 {
		mx := math.Inf(-1)
		for _, v := range l {
			mx = math.Max(mx, float64(v))
		}
		var z float64
		for _, v := range l {
			z += math.Exp(float64(v) - mx)
		}
		out := make([]float64, len(l))
		for i, v := range l {
			out[i] = float64(v) - mx - math.Log(z)
		}
		return out
	}
	logitsAt := func(pos int, hooks model.Hooks) []float32 {
		out, err := s.Model.Run(ctx, prompt, 1, len(prompt), hooks)
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.Model.Logits(out.Resid, []int{pos})
		if err != nil {
			t.Fatal(err)
		}
		return l[0]
	}
	const k = 5
	for _, p := range picks {
		fx := direct(acts[p.pos*d : (p.pos+1)*d])[p.f]
		if fx <= 0 {
			t.Fatalf("feature %d at %d does not fire (%g): pick another prompt", p.f, p.pos, fx)
		}
		got, err := intervene.AblateAt(ctx, s.Model, enc, prompt, p.f, p.pos, k)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(got.Value)-fx) > 1e-4*math.Max(1, fx) {
			t.Errorf("feature %d at %d: value %v, direct %v", p.f, p.pos, got.Value, fx)
		}
		patch := model.HostFunc(func(_ hookname.Hook, data []float32, _, _, width int) error {
			row := data[p.pos*width : (p.pos+1)*width]
			for j := range row {
				row[j] = float32(float64(row[j]) - fx*float64(w.WDec.Data[p.f*d+j]))
			}
			return nil
		})
		plain := logSoftmax(logitsAt(p.pos, model.Hooks{}))
		abl := logSoftmax(logitsAt(p.pos, model.Hooks{Patches: map[string]model.Patch{w.Hook.String(): patch}}))
		type ch struct {
			id    int
			delta float64
		}
		all := make([]ch, len(plain))
		for i := range plain {
			all[i] = ch{i, abl[i] - plain[i]}
		}
		sort.Slice(all, func(a, b int) bool { return all[a].delta > all[b].delta })
		if len(got.Increases) != k || len(got.Decreases) != k {
			t.Fatalf("%d increases, %d decreases, want %d", len(got.Increases), len(got.Decreases), k)
		}
		for i := 0; i < k; i++ {
			up, down := all[i], all[len(all)-1-i]
			if g := got.Increases[i]; math.Abs(g.Delta-up.delta) > 1e-4 || math.Abs(g.Before-plain[g.ID]) > 1e-4 ||
				math.Abs(g.Delta-(abl[g.ID]-plain[g.ID])) > 1e-4 {
				t.Errorf("feature %d at %d: increase %d = %+v, direct: token %d %+.6f", p.f, p.pos, i, g, up.id, up.delta)
			}
			if g := got.Decreases[i]; math.Abs(g.Delta-down.delta) > 1e-4 || math.Abs(g.Delta-(abl[g.ID]-plain[g.ID])) > 1e-4 {
				t.Errorf("feature %d at %d: decrease %d = %+v, direct: token %d %+.6f", p.f, p.pos, i, g, down.id, down.delta)
			}
		}
		if !(got.Increases[0].Delta > 0) || !(got.Decreases[0].Delta < 0) {
			t.Errorf("feature %d at %d: ablation changed nothing (%+v)", p.f, p.pos, got)
		}
	}
	// a feature that does not fire there: nothing to change, no lists
	got, err := intervene.AblateAt(ctx, s.Model, enc, prompt, zero.f, zero.pos, k)
	if err != nil || got.Value != 0 || len(got.Increases) != 0 {
		t.Errorf("inactive feature %d at %d: %+v, %v", zero.f, zero.pos, got, err)
	}
	for _, bad := range []struct{ f, pos, k int }{{-1, 2, 5}, {n, 2, 5}, {3, -1, 5}, {3, len(prompt), 5}, {3, 2, 0}} {
		if _, err := intervene.AblateAt(ctx, s.Model, enc, prompt, bad.f, bad.pos, bad.k); err == nil {
			t.Errorf("feature %d, position %d, k %d accepted", bad.f, bad.pos, bad.k)
		}
	}
}

// One Ablator over the whole sequence answers as AblateAt cut at each
// position, for every SAE of the fixtures (other hooks and layers), one
// plain pass shared by all its calls.
func TestAblatorSharesThePlainPass(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	prompt := []int32{50256, 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13}
	ctx := context.Background()
	for tag, enc := range s.SAEs {
		if enc.SAE.Transcoder {
			continue
		}
		ab := intervene.NewAblator(s.Model, enc, prompt)
		fired := 0
		for _, pos := range []int{1, 5, len(prompt) - 1} {
			for f := 0; f < enc.SAE.DSae && f < 16; f++ {
				got, err := ab.At(ctx, f, pos, 3)
				if err != nil {
					t.Fatal(tag, err)
				}
				want, err := intervene.AblateAt(ctx, s.Model, enc, prompt, f, pos, 3)
				if err != nil {
					t.Fatal(tag, err)
				}
				if math.Abs(float64(got.Value-want.Value)) > 1e-4*math.Max(1, float64(want.Value)) || len(got.Increases) != len(want.Increases) {
					t.Fatalf("%s feature %d at %d: value %v, cut pass %v", tag, f, pos, got.Value, want.Value)
				}
				for i := range want.Increases {
					for _, c := range [][2]intervene.LogProbChange{{got.Increases[i], want.Increases[i]}, {got.Decreases[i], want.Decreases[i]}} {
						if math.Abs(c[0].Delta-c[1].Delta) > 1e-4 || math.Abs(c[0].Before-c[1].Before) > 1e-4 {
							t.Errorf("%s feature %d at %d rank %d: %+v, cut pass %+v", tag, f, pos, i, c[0], c[1])
						}
					}
				}
				if want.Value > 0 {
					fired++
				}
			}
		}
		if fired == 0 {
			t.Errorf("%s: no feature fires at the positions tried", tag)
		}
	}
}
