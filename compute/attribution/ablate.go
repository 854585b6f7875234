package attribution

import (
	"context"
	"errors"
	"fmt"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// Ablation is the result of AblationEffects.
type Ablation struct {
	// Metric is the metric of the plain run.
	Metric float64
	// Effect[i] is the metric with feature i of the first SAE zero-ablated
	// at every position minus Metric; 0 for a feature active nowhere (or
	// not asked for).
	Effect []float64
	// Active counts the features ablated.
	Active int
}

// AblationEffectsOf is AblationEffects for the given features only (the
// top ones of an attribution, say): the others' Effect is left 0. A
// feature out of range is refused.
func AblationEffectsOf(ctx context.Context, m *model.Model, saes []*encoder.Encoder, tokens []int32, metric Metric, features []int, batch int, progress func(done, total int)) (*Ablation, error) {
	if len(saes) > 0 && saes[0] != nil {
		for _, i := range features {
			if i < 0 || i >= saes[0].DSae() {
				return nil, fmt.Errorf("feature %d out of range: the SAE has features 0 to %d", i, saes[0].DSae()-1)
			}
		}
	}
	want := make(map[int]bool, len(features))
	for _, i := range features {
		want[i] = true
	}
	return ablationEffects(ctx, m, saes, tokens, metric, func(i int) bool { return want[i] }, batch, progress)
}

// AblationEffects measures exactly what zero-ablating each feature of
// saes[0] at every position of tokens changes the metric by: one forward
// pass per feature active somewhere, with x − f_i·W_dec[i] (divided by the
// row's scale for an SAE that normalises its input: the reconstruction
// without the feature, its error kept) at the SAE's output hook. The other
// SAEs only read (a Feature metric's SAE): the rest of the model runs as it
// is. The passes resume at the ablated hook's block from a saved residual
// stream and run batch features at a time; progress, when set, sees the
// features done so far. It holds the model's lock meanwhile.
func AblationEffects(ctx context.Context, m *model.Model, saes []*encoder.Encoder, tokens []int32, metric Metric, batch int, progress func(done, total int)) (*Ablation, error) {
	return ablationEffects(ctx, m, saes, tokens, metric, nil, batch, progress)
}

// ablationEffects is AblationEffects for the active features that keep
// says (nil: all).
func ablationEffects(ctx context.Context, m *model.Model, saes []*encoder.Encoder, tokens []int32, metric Metric, keep func(int) bool, batch int, progress func(done, total int)) (res *Ablation, err error) {
	T := len(tokens)
	if err := m.CheckTokens(tokens, 1, T); err != nil {
		return nil, err
	}
	chk := &pass{m: m, T: T, d: m.Config.DModel, byIn: map[hookname.Hook]*splice{}, byOut: map[hookname.Hook]*splice{}, lastLayer: m.Config.NLayer - 1}
	if err := chk.setup(saes); err != nil {
		return nil, err
	}
	if _, err := chk.checkMetric(saes, metric); err != nil {
		return nil, err
	}
	up := saes[0]
	s := up.SAE
	out := s.Output()
	var target *encoder.Encoder
	tpos := 0
	if metric.Kind == Feature {
		target = saes[metric.SAE]
		tpos = metric.Pos
		if tpos < 0 {
			tpos += T
		}
		if target.SAE.Hook.Order() < out.Order() {
			return nil, fmt.Errorf("the target's SAE reads %s, before %s where the features are ablated", target.SAE.Hook, out)
		}
	}
	be := m.Backend()
	batch = max(1, batch)
	m.Lock()
	defer m.Unlock()
	defer compute.RecoverBackend(be, &err)
	blockStart := hookname.Hook{Layer: out.Layer, Point: hookname.ResidPre}
	saved := be.Alloc(T, m.Config.DModel)
	defer be.Free(saved)
	var one compute.Tensor // a target row's features
	if target != nil {
		one = be.Alloc(1, target.DSae())
		defer be.Free(one)
	}
	// readTarget returns the target feature of each of B sequences in act.
	readTarget := func(act compute.Tensor, B int) ([]float64, error) {
		vals := make([]float64, B)
		row := make([]float32, target.DSae())
		for b := 0; b < B; b++ {
			r := b*T + tpos
			if err := target.Encode(one, be.RowsView(act, r, r+1)); err != nil {
				return nil, err
			}
			be.Read(one, row)
			vals[b] = float64(row[metric.Feature])
		}
		return vals, nil
	}
	// score returns the metric of each of B sequences of a finished pass.
	score := func(o *model.Output, B int, toks []int32, feat []float64) ([]float64, error) {
		switch metric.Kind {
		case Feature:
			if feat == nil {
				return nil, errors.New("the pass did not reach the target's hook")
			}
			return feat, nil
		case Loss:
			per, err := m.TokenLoss(o, toks)
			if err != nil {
				return nil, err
			}
			vals := make([]float64, B)
			for b := range vals {
				vals[b] = model.MeanLoss(per[b : b+1])
			}
			return vals, nil
		}
		rows := make([]int, B)
		for b := range rows {
			rows[b] = b*T + T - 1
		}
		lg, err := m.Logits(o.Resid, rows)
		if err != nil {
			return nil, err
		}
		vals := make([]float64, B)
		for b := range vals {
			vals[b] = float64(lg[b][metric.A]) - float64(lg[b][metric.B])
		}
		return vals, nil
	}
	var stop *hookname.Hook
	if target != nil {
		h := target.SAE.Hook
		stop = &h
	}
	// the plain run: the residual entering the ablated block, the
	// features (and, for a normalising SAE, the input's statistics)
	sp := &splice{enc: up}
	var base []float64
	o, err := m.Run(ctx, tokens, 1, T, model.Hooks{Uncentred: s.Uncentred, StopAfter: stop,
		Observe: func(h hookname.Hook, act compute.Tensor) error {
			if h == blockStart {
				be.Copy(saved, act)
			}
			if h == s.Hook {
				if err := sp.forward(be, act); err != nil {
					return err
				}
			}
			if target != nil && h == target.SAE.Hook {
				v, err := readTarget(act, 1)
				base = v
				return err
			}
			return nil
		}})
	if err != nil {
		return nil, err
	}
	b0, err := score(o, 1, tokens, base)
	if err != nil {
		return nil, err
	}
	n, dOut := s.DSae, s.OutDim()
	res = &Ablation{Metric: b0[0], Effect: make([]float64, n)}
	scale := make([]float64, T)
	for r := range scale {
		scale[r] = 1
		if sp.x != nil {
			_, scale[r], _ = sp.stats(r)
		}
	}
	var active []int
	for i := 0; i < n; i++ {
		if keep != nil && !keep(i) {
			continue
		}
		for t := 0; t < T; t++ {
			if sp.f[t*n+i] != 0 {
				active = append(active, i)
				break
			}
		}
	}
	res.Active = len(active)
	// a batch beyond the features to ablate would only allocate copies
	// of the prompt that no feature uses (and run out of memory)
	batch = min(batch, max(1, res.Active))
	rep := be.Alloc(batch*T, m.Config.DModel)
	defer be.Free(rep)
	toks := make([]int32, batch*T)
	for b := 0; b < batch; b++ {
		be.Copy(be.RowsView(rep, b*T, (b+1)*T), saved)
		copy(toks[b*T:], tokens)
	}
	for lo := 0; lo < len(active); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := active[lo:min(len(active), lo+batch)]
		B := len(chunk)
		patch := func(be compute.Backend, _ hookname.Hook, act compute.Tensor, _, _ int) error {
			delta := make([]float32, B*T*dOut)
			for b, i := range chunk {
				dir := s.WDec.Data[i*dOut : (i+1)*dOut]
				for t := 0; t < T; t++ {
					k := -float64(sp.f[t*n+i]) / scale[t]
					if k == 0 {
						continue
					}
					row := delta[(b*T+t)*dOut : (b*T+t+1)*dOut]
					for j, w := range dir {
						row[j] = float32(k * float64(w))
					}
				}
			}
			tmp := be.Alloc(B*T, dOut)
			defer be.Free(tmp)
			be.Write(tmp, delta)
			be.Add(act, act, tmp)
			return nil
		}
		var feat []float64
		hooks := model.Hooks{Uncentred: s.Uncentred, StopAfter: stop,
			Patches: map[string]model.Patch{out.String(): patch},
			Resume:  &model.Resume{Layer: out.Layer, Resid: be.RowsView(rep, 0, B*T)}}
		if target != nil {
			hooks.Observe = func(h hookname.Hook, act compute.Tensor) error {
				if h != target.SAE.Hook {
					return nil
				}
				v, err := readTarget(act, B)
				feat = v
				return err
			}
		}
		o, err := m.Run(ctx, toks[:B*T], B, T, hooks)
		if err != nil {
			return nil, err
		}
		vals, err := score(o, B, toks[:B*T], feat)
		if err != nil {
			return nil, err
		}
		for b, i := range chunk {
			res.Effect[i] = vals[b] - res.Metric
		}
		if progress != nil {
			progress(lo+B, len(active))
		}
	}
	return res, nil
}
