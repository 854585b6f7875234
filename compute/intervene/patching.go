package intervene

import (
	"context"
	"errors"
	"fmt"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// Metric reads a number off the logits of a prompt's last position.
type Metric func(logitsLast []float32) float64

// LogitDiff is the metric logits[a] − logits[b].
func LogitDiff(a, b int) Metric {
	return func(l []float32) float64 { return float64(l[a]) - float64(l[b]) }
}

// Patching is the result of PatchEffects.
type Patching struct {
	MetricClean, MetricCorrupt float64
	// Effect[i] is metric(corrupt run with feature i patched to its clean
	// value at every position) − metric(corrupt run); 0 for a feature
	// inactive in both runs, which such a patch cannot change.
	Effect []float64
	// Active counts the features patched.
	Active int
}

// PatchEffects measures, exactly, what each feature of enc carries from a
// clean prompt to a corrupted one of the same length: for feature i, the
// corrupted run with x + (f_clean_i − f_corrupt_i)·W_dec[i] at the SAE's
// hook, at every position. The passes start at the hook's block from the
// corrupted run's saved residual stream (the prefix is computed once), and
// batch features batch at a time. progress, when set, sees the features
// done so far.
func PatchEffects(ctx context.Context, m *model.Model, enc *encoder.Encoder, clean, corrupt []int32, metric Metric, batch int, progress func(done, total int)) (*Patching, error) {
	s := enc.SAE
	if s.Transcoder {
		return nil, errors.New("patching a transcoder's features is not supported yet")
	}
	if len(clean) != len(corrupt) {
		return nil, fmt.Errorf("the clean prompt has %d tokens and the corrupted one %d: patching needs the same length", len(clean), len(corrupt))
	}
	T := len(clean)
	if T == 0 {
		return nil, errors.New("empty prompts")
	}
	if T > m.Config.NPositions {
		return nil, fmt.Errorf("the prompts have %d tokens, more than the model's context of %d", T, m.Config.NPositions)
	}
	batch = max(1, batch)
	h, be, d, n := s.Hook, m.Backend(), s.DIn, s.DSae
	blockStart := hookname.Hook{Layer: h.Layer, Point: hookname.ResidPre}
	m.Lock()
	defer m.Unlock()
	saved := be.Alloc(T, m.Config.DModel)
	defer be.Free(saved)
	// run returns the metric of one prompt and its features at the hook,
	// saving the residual entering the hook's block when save is set.
	run := func(tokens []int32, save bool) (float64, []float32, error) {
		var feats []float32
		out, err := m.Run(ctx, tokens, 1, T, model.Hooks{Uncentred: s.Uncentred, Observe: func(hk hookname.Hook, act compute.Tensor) error {
			if save && hk == blockStart {
				be.Copy(saved, act)
			}
			if hk != h {
				return nil
			}
			f := be.Alloc(T, n)
			defer be.Free(f)
			if err := enc.Encode(f, act); err != nil {
				return err
			}
			feats = make([]float32, T*n)
			be.Read(f, feats)
			return nil
		}})
		if err != nil {
			return 0, nil, err
		}
		lg, err := m.Logits(out.Resid, []int{T - 1})
		if err != nil {
			return 0, nil, err
		}
		return metric(lg[0]), feats, nil
	}
	res := &Patching{Effect: make([]float64, n)}
	var fc, fx []float32
	var err error
	if res.MetricClean, fc, err = run(clean, false); err != nil {
		return nil, err
	}
	if res.MetricCorrupt, fx, err = run(corrupt, true); err != nil {
		return nil, err
	}
	var active []int
	for i := 0; i < n; i++ {
		for t := 0; t < T; t++ {
			if fc[t*n+i] > 0 || fx[t*n+i] > 0 {
				active = append(active, i)
				break
			}
		}
	}
	res.Active = len(active)
	rep := be.Alloc(batch*T, m.Config.DModel)
	defer be.Free(rep)
	for b := 0; b < batch; b++ {
		be.Copy(be.RowsView(rep, b*T, (b+1)*T), saved)
	}
	tokens := make([]int32, batch*T)
	for b := 0; b < batch; b++ {
		copy(tokens[b*T:], corrupt)
	}
	for lo := 0; lo < len(active); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := active[lo:min(len(active), lo+batch)]
		B := len(chunk)
		patch := func(be compute.Backend, _ hookname.Hook, act compute.Tensor, _, _ int) error {
			delta := make([]float32, B*T*d)
			for b, i := range chunk {
				dir := s.WDec.Data[i*d : (i+1)*d]
				for t := 0; t < T; t++ {
					k := float64(fc[t*n+i]) - float64(fx[t*n+i])
					if k == 0 {
						continue
					}
					row := delta[(b*T+t)*d : (b*T+t+1)*d]
					for j, w := range dir {
						row[j] = float32(k * float64(w))
					}
				}
			}
			tmp := be.Alloc(B*T, d)
			defer be.Free(tmp)
			be.Write(tmp, delta)
			be.Add(act, act, tmp)
			return nil
		}
		out, err := m.Run(ctx, tokens[:B*T], B, T, model.Hooks{Uncentred: s.Uncentred,
			Patches: map[string]model.Patch{h.String(): patch},
			Resume:  &model.Resume{Layer: h.Layer, Resid: be.RowsView(rep, 0, B*T)}})
		if err != nil {
			return nil, err
		}
		rows := make([]int, B)
		for b := range rows {
			rows[b] = b*T + T - 1
		}
		lg, err := m.Logits(out.Resid, rows)
		if err != nil {
			return nil, err
		}
		for b, i := range chunk {
			res.Effect[i] = metric(lg[b]) - res.MetricCorrupt
		}
		if progress != nil {
			progress(lo+B, len(active))
		}
	}
	return res, nil
}
