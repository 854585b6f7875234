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

// Patching is the result of PatchEffects.
type Patching struct {
	MetricClean, MetricCorrupt float64
	// Effect[i] is metric(corrupt run with feature i patched to its clean
	// value at the patched positions) − metric(corrupt run); 0 for a
	// feature inactive in both runs there, which such a patch cannot
	// change.
	Effect []float64
	// Active counts the features patched: len(Patched).
	Active int
	// Patched lists the features patched, in increasing order: those
	// active (> 0) in either run at a patched position.
	Patched []int
	// Delta[i] is f_clean_i − f_corrupt_i summed over the patched
	// positions: how much of the feature the patch moved.
	Delta []float64
	// Pos is the one position patched (counted from the start), or -1
	// when every position was.
	Pos int
}

// PatchOptions says where PatchWith patches and how it batches.
type PatchOptions struct {
	// OnePosition patches only position Pos (negative counts from the
	// end); otherwise every position is patched.
	OnePosition bool
	Pos         int
	// Batch is the number of features patched per forward pass (at
	// least 1).
	Batch int
	// Progress, when set, sees the features done so far.
	Progress func(done, total int)
}

// PatchEffects is PatchWith at every position.
func PatchEffects(ctx context.Context, m *model.Model, enc *encoder.Encoder, clean, corrupt []int32, metric Metric, batch int, progress func(done, total int)) (*Patching, error) {
	return PatchWith(ctx, m, enc, clean, corrupt, metric, PatchOptions{Batch: batch, Progress: progress})
}

// PatchWith measures, exactly, what each feature of enc carries from a
// clean prompt to a corrupted one of the same length: for feature i, the
// corrupted run with x + (f_clean_i − f_corrupt_i)·W_dec[i] at the SAE's
// hook, at every position or at one (opt). For a transcoder the features
// are read at its input hook and the change is made at the hook its
// output goes to (x there, the transcoder's error kept); its input comes
// earlier in the same block, so the patch leaves f_corrupt as it was.
// Only features active in either run at a patched position are run; the
// others' effect is exactly 0. The passes start at the hook's block from
// the corrupted run's saved residual stream (the prefix is computed once),
// batch features at a time, and a feature metric's passes stop at its
// hook.
func PatchWith(ctx context.Context, m *model.Model, enc *encoder.Encoder, clean, corrupt []int32, metric Metric, opt PatchOptions) (*Patching, error) {
	s := enc.SAE
	out := s.Output() // where the patch goes: a transcoder's output hook
	if s.Transcoder && out.Layer != s.Hook.Layer {
		return nil, fmt.Errorf("transcoder reading %s and writing %s: patching needs both hooks in one block", s.Hook, out)
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
	h, be, d, n := s.Hook, m.Backend(), s.OutDim(), s.DSae
	if err := metric.check(m, out, s.Uncentred, T); err != nil {
		return nil, err
	}
	lo, hi := 0, T // the patched positions
	pos := -1
	if opt.OnePosition {
		p := opt.Pos
		if p < -T || p >= T {
			return nil, fmt.Errorf("position %d outside prompts of %d tokens (0 to %d, or -1 to -%d from the end)", p, T, T-1, T)
		}
		if p < 0 {
			p += T
		}
		lo, hi, pos = p, p+1, p
	}
	batch := max(1, opt.Batch)
	blockStart := hookname.Hook{Layer: h.Layer, Point: hookname.ResidPre}
	m.Lock()
	defer m.Unlock()
	saved := be.Alloc(T, m.Config.DModel)
	defer be.Free(saved)
	// run returns the metric of one prompt and its features at the hook,
	// saving the residual entering the hook's block when save is set.
	var scales []float64 // the corrupted run's decoder scales (nil: none)
	run := func(tokens []int32, save bool) (float64, []float32, error) {
		var feats []float32
		v, err := metric.measure(ctx, m, tokens, 1, T, model.Hooks{Uncentred: s.Uncentred, Observe: func(hk hookname.Hook, act compute.Tensor) error {
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
			if save {
				sc, err := enc.DecoderScales(act)
				if err != nil {
					return err
				}
				scales = sc
			}
			return nil
		}})
		if err != nil {
			return 0, nil, err
		}
		if feats == nil {
			return 0, nil, fmt.Errorf("the pass did not reach the patched hook %s", h)
		}
		return v[0], feats, nil
	}
	res := &Patching{Effect: make([]float64, n), Delta: make([]float64, n), Pos: pos}
	var fc, fx []float32
	var err error
	if res.MetricClean, fc, err = run(clean, false); err != nil {
		return nil, err
	}
	if res.MetricCorrupt, fx, err = run(corrupt, true); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		active := false
		for t := lo; t < hi; t++ {
			c, x := fc[t*n+i], fx[t*n+i]
			active = active || c > 0 || x > 0
			res.Delta[i] += float64(c) - float64(x)
		}
		if active {
			res.Patched = append(res.Patched, i)
		}
	}
	res.Active = len(res.Patched)
	// a batch beyond the features to patch would only allocate copies
	// of the corrupted run that no feature uses (and run out of memory)
	batch = min(batch, max(1, res.Active))
	rep := be.Alloc(batch*T, m.Config.DModel)
	defer be.Free(rep)
	for b := 0; b < batch; b++ {
		be.Copy(be.RowsView(rep, b*T, (b+1)*T), saved)
	}
	tokens := make([]int32, batch*T)
	for b := 0; b < batch; b++ {
		copy(tokens[b*T:], corrupt)
	}
	for first := 0; first < len(res.Patched); first += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := res.Patched[first:min(len(res.Patched), first+batch)]
		B := len(chunk)
		patch := func(be compute.Backend, _ hookname.Hook, act compute.Tensor, _, _ int) error {
			delta := make([]float32, B*T*d)
			for b, i := range chunk {
				dir := s.WDec.Data[i*d : (i+1)*d]
				for t := lo; t < hi; t++ {
					k := float64(fc[t*n+i]) - float64(fx[t*n+i])
					if k == 0 {
						continue
					}
					if scales != nil { // normalised space → the hook's units
						k *= scales[t]
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
		vals, err := metric.measure(ctx, m, tokens[:B*T], B, T, model.Hooks{Uncentred: s.Uncentred,
			Patches: map[string]model.Patch{out.String(): patch},
			Resume:  &model.Resume{Layer: h.Layer, Resid: be.RowsView(rep, 0, B*T)}})
		if err != nil {
			return nil, err
		}
		for b, i := range chunk {
			res.Effect[i] = vals[b] - res.MetricCorrupt
		}
		if opt.Progress != nil {
			opt.Progress(first+B, len(res.Patched))
		}
	}
	return res, nil
}
