package intervene

import (
	"context"
	"fmt"
	"sort"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// LogProbChange is a token whose next-token log-probability an
// intervention changed.
type LogProbChange struct {
	ID     int     `json:"id"`
	Before float64 `json:"before"` // log-probability in the plain run
	Delta  float64 `json:"delta"`  // after − before
}

// Ablation is what ablating one feature at one position does to the
// model's prediction of the next token there, as sae_vis shows on hover:
// the tokens whose log-probability rose and fell most.
type Ablation struct {
	Feature int `json:"feature"`
	Pos     int `json:"pos"`
	// Value is the feature's activation at Pos (0: ablating it changes
	// nothing, and the lists are empty).
	Value     float32         `json:"value"`
	Increases []LogProbChange `json:"increases"` // largest Delta first
	Decreases []LogProbChange `json:"decreases"` // most negative Delta first
}

// AblateAt ablates feature f of enc's SAE at position pos of tokens (one
// sequence, BOS first where the SAE expects it) and compares the next-token
// log-probabilities at pos with the plain run's, k tokens each way. Only
// that position is changed (x + (0 − f(x))·W_dec[f], the SAE's error
// kept; for a transcoder f is read at its input hook and the change made
// at the hook its output goes to), so the run stops at pos: later tokens
// cannot change it. The ablated pass resumes at the hook's block from the
// plain pass's residual stream, as PatchWith does. Several ablations of
// one sequence share an Ablator's plain pass.
func AblateAt(ctx context.Context, m *model.Model, enc *encoder.Encoder, tokens []int32, f, pos, k int) (*Ablation, error) {
	if pos < 0 || pos >= len(tokens) {
		return nil, fmt.Errorf("position %d outside a sequence of %d tokens", pos, len(tokens))
	}
	return NewAblator(m, enc, tokens[:pos+1]).At(ctx, f, pos, k)
}

// Ablator ablates features of one SAE at positions of one sequence,
// keeping what the plain pass leaves (the residual stream entering the
// hook's block, the hook's activation and the final residual stream, at
// every position, in host memory: 3·len(tokens)·d_model floats) for the
// next call: a hover on another feature or position of the same row runs
// only the ablated pass, from the hook's block. It is not safe for
// concurrent use; the model is locked while it runs.
type Ablator struct {
	m      *model.Model
	enc    *encoder.Encoder
	tokens []int32

	done               bool
	saved, hook, final []float32 // [T][d] each: block start, hook, final residual
}

// NewAblator returns an Ablator of tokens (BOS first where the SAE
// expects it); nothing runs until At.
func NewAblator(m *model.Model, enc *encoder.Encoder, tokens []int32) *Ablator {
	return &Ablator{m: m, enc: enc, tokens: append([]int32(nil), tokens...)}
}

// At is AblateAt of feature f at position pos of the Ablator's sequence.
func (a *Ablator) At(ctx context.Context, f, pos, k int) (*Ablation, error) {
	s := a.enc.SAE
	T := len(a.tokens)
	switch {
	case s.Transcoder && s.Output().Layer != s.Hook.Layer:
		return nil, fmt.Errorf("transcoder reading %s and writing %s: ablating needs both hooks in one block", s.Hook, s.Output())
	case f < 0 || f >= s.DSae:
		return nil, fmt.Errorf("feature %d out of range: the SAE has features 0 to %d", f, s.DSae-1)
	case pos < 0 || pos >= T:
		return nil, fmt.Errorf("position %d outside a sequence of %d tokens", pos, T)
	case k < 1:
		return nil, fmt.Errorf("want at least one token a list, not %d", k)
	}
	m, be, h, d := a.m, a.m.Backend(), s.Hook, s.DIn
	out, dOut := s.Output(), s.OutDim() // where the ablation is made
	D := m.Config.DModel
	m.Lock()
	defer m.Unlock()
	if err := a.plain(ctx); err != nil {
		return nil, fmt.Errorf("ablate feature %d at position %d: plain run: %w", f, pos, err)
	}
	// f(x) at pos, from the hook's activation there
	x := be.Alloc(1, d)
	defer be.Free(x)
	be.Write(x, a.hook[pos*d:(pos+1)*d])
	value, err := featureAt(be, a.enc, x, f, 0)
	if err != nil {
		return nil, err
	}
	res := &Ablation{Feature: f, Pos: pos, Value: value}
	if value == 0 {
		return res, nil
	}
	fin := be.Alloc(1, D)
	defer be.Free(fin)
	be.Write(fin, a.final[pos*D:(pos+1)*D])
	plain, err := m.Logits(fin, []int{0})
	if err != nil {
		return nil, err
	}
	// x + (0 − f(x))·W_dec[f] at the last row, f(x) read from the
	// activation the patch sees (equal to value: the same pass up to
	// here), or for a transcoder from its input hook's activation in the
	// same pass (observed: it comes earlier in the block)
	n := pos + 1
	var in compute.Tensor // a transcoder's input at the last row
	defer func() {
		if in != nil {
			be.Free(in)
		}
	}()
	var observe func(hookname.Hook, compute.Tensor) error
	if s.Transcoder {
		observe = func(hk hookname.Hook, act compute.Tensor) error {
			if hk != h {
				return nil
			}
			if in == nil {
				in = be.Alloc(1, d)
			}
			be.Copy(in, be.RowsView(act, n-1, n))
			return nil
		}
	}
	ablate := func(be compute.Backend, _ hookname.Hook, act compute.Tensor, _, _ int) error {
		x, r := act, n-1
		if s.Transcoder {
			if in == nil {
				return fmt.Errorf("transcoder %s: its input %s was not read before %s", s.Name(), h, out)
			}
			x, r = in, 0
		}
		fx, err := featureAt(be, a.enc, x, f, r)
		if err != nil {
			return err
		}
		k := -float64(fx)
		sc, err := a.enc.DecoderScales(be.RowsView(x, r, r+1))
		if err != nil {
			return err
		}
		if sc != nil { // normalised space → the hook's units
			k *= sc[0]
		}
		row := be.RowsView(act, n-1, n)
		delta := make([]float32, dOut)
		for j, w := range s.WDec.Data[f*dOut : (f+1)*dOut] {
			delta[j] = float32(k * float64(w))
		}
		t := be.Alloc(1, dOut)
		defer be.Free(t)
		be.Write(t, delta)
		be.Add(row, row, t)
		return nil
	}
	start := be.Alloc(n, D)
	defer be.Free(start)
	be.Write(start, a.saved[:n*D])
	abl, err := m.Run(ctx, a.tokens[:n], 1, n, model.Hooks{Uncentred: s.Uncentred, Observe: observe,
		Patches: map[string]model.Patch{out.String(): ablate},
		Resume:  &model.Resume{Layer: h.Layer, Resid: start}})
	if err != nil {
		return nil, fmt.Errorf("ablate feature %d at position %d: %w", f, pos, err)
	}
	ablated, err := m.Logits(abl.Resid, []int{n - 1})
	if err != nil {
		return nil, err
	}
	res.Increases, res.Decreases = logProbChanges(plain[0], ablated[0], k)
	return res, nil
}

// plain runs the plain pass once (model locked), keeping the residual
// stream entering the hook's block, the hook's activation and the final
// residual stream.
func (a *Ablator) plain(ctx context.Context) error {
	if a.done {
		return nil
	}
	s, m := a.enc.SAE, a.m
	be, h, T := m.Backend(), s.Hook, len(a.tokens)
	blockStart := hookname.Hook{Layer: h.Layer, Point: hookname.ResidPre}
	var saved, hook []float32
	out, err := m.Run(ctx, a.tokens, 1, T, model.Hooks{Uncentred: s.Uncentred, Observe: func(hk hookname.Hook, act compute.Tensor) error {
		if hk == blockStart {
			saved = make([]float32, act.Rows()*act.Cols())
			be.Read(act, saved)
		}
		if hk == h {
			hook = make([]float32, act.Rows()*act.Cols())
			be.Read(act, hook)
		}
		return nil
	}})
	if err != nil {
		return err
	}
	if saved == nil || hook == nil || out.Resid == nil {
		return fmt.Errorf("the pass did not reach the hook %s", h)
	}
	final := make([]float32, out.Resid.Rows()*out.Resid.Cols())
	be.Read(out.Resid, final)
	a.saved, a.hook, a.final, a.done = saved, hook, final, true
	return nil
}

// featureAt encodes row r of act and returns feature f there.
func featureAt(be compute.Backend, enc *encoder.Encoder, act compute.Tensor, f, r int) (float32, error) {
	n := enc.SAE.DSae
	t := be.Alloc(1, n)
	defer be.Free(t)
	if err := enc.Encode(t, be.RowsView(act, r, r+1)); err != nil {
		return 0, err
	}
	v := make([]float32, n)
	be.Read(t, v)
	return v[f], nil
}

// logProbChanges returns the k tokens whose log-probability rose most
// from plain to changed logits and the k that fell most (ties by id).
func logProbChanges(plain, changed []float32, k int) (up, down []LogProbChange) {
	lp, lc := logSoftmax(plain), logSoftmax(changed)
	all := make([]LogProbChange, len(lp))
	for i := range lp {
		all[i] = LogProbChange{ID: i, Before: lp[i], Delta: lc[i] - lp[i]}
	}
	sort.Slice(all, func(a, b int) bool {
		if all[a].Delta != all[b].Delta {
			return all[a].Delta > all[b].Delta
		}
		return all[a].ID < all[b].ID
	})
	k = min(k, len(all))
	up = append(up, all[:k]...)
	sort.Slice(all, func(a, b int) bool {
		if all[a].Delta != all[b].Delta {
			return all[a].Delta < all[b].Delta
		}
		return all[a].ID < all[b].ID
	})
	down = append(down, all[:k]...)
	return up, down
}
