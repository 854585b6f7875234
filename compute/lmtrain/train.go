package lmtrain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/saescope/saescope/compute/cpu"
)

// Options are the optimiser's settings.
type Options struct {
	// Steps is the number of optimiser steps.
	Steps int
	// Batch is how many sequences one step sees.
	Batch int
	// LR is the peak learning rate, reached after Warmup steps (linear from
	// LR/Warmup), then decayed along a cosine to MinLR at the last step.
	LR, MinLR float64
	// Warmup is the number of warm-up steps.
	Warmup int
	// WeightDecay is AdamW's decoupled weight decay, applied to matrices
	// and embeddings only.
	WeightDecay float64
	// Beta1, Beta2 and Eps are Adam's.
	Beta1, Beta2, Eps float64
	// Clip scales the gradient down to this global L2 norm when it is
	// larger (0: no clipping).
	Clip float64
	// Seed orders the batches (the initialisation has its own seed, Init's).
	Seed uint64
}

// MaxLR bounds the peak learning rate: an AdamW step moves every weight
// by about the learning rate, and past 1 training only diverges.
const MaxLR = 1

// Defaults returns settings that train a small GPT-2 in a few thousand steps.
func Defaults() Options {
	return Options{Steps: 2000, Batch: 8, LR: 3e-3, MinLR: 3e-4, Warmup: 100, WeightDecay: 0.1,
		Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Clip: 1, Seed: 1}
}

func (o Options) check() error {
	switch {
	case o.Steps <= 0:
		return fmt.Errorf("steps %d must be positive", o.Steps)
	case o.Batch <= 0:
		return fmt.Errorf("batch %d must be positive", o.Batch)
	case !(o.LR > 0) || o.LR > MaxLR || !(o.MinLR >= 0) || o.MinLR > o.LR:
		return fmt.Errorf("learning rates %g (peak) and %g (min) must satisfy 0 ≤ min ≤ peak, 0 < peak ≤ %g", o.LR, o.MinLR, float64(MaxLR))
	case o.Warmup < 0:
		return fmt.Errorf("warm-up %d must not be negative", o.Warmup)
	case !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0) || !(o.Clip >= 0) || math.IsInf(o.Clip, 0):
		return fmt.Errorf("weight decay %g and clip %g must be finite and not negative", o.WeightDecay, o.Clip)
	case !(o.Beta1 >= 0) || o.Beta1 >= 1 || !(o.Beta2 >= 0) || o.Beta2 >= 1 || !(o.Eps > 0) || math.IsInf(o.Eps, 0):
		return fmt.Errorf("the Adam betas %g, %g must be in [0, 1) and eps %g positive", o.Beta1, o.Beta2, o.Eps)
	}
	return nil
}

// LRAt returns the learning rate of step s (0-based): linear warm-up to LR
// over Warmup steps, then a cosine from LR down to MinLR at the last step.
func (o Options) LRAt(s int) float64 {
	if s < o.Warmup {
		return o.LR * float64(s+1) / float64(o.Warmup)
	}
	span := o.Steps - o.Warmup
	if span <= 1 {
		return o.LR
	}
	f := float64(s-o.Warmup) / float64(span-1)
	return o.MinLR + 0.5*(o.LR-o.MinLR)*(1+math.Cos(math.Pi*f))
}

// adamW holds the moments of every parameter.
type adamW struct {
	m, v [][]float32
	t    int
}

func newAdamW(ts [][]float32) *adamW {
	a := &adamW{}
	for _, t := range ts {
		a.m = append(a.m, make([]float32, len(t)))
		a.v = append(a.v, make([]float32, len(t)))
	}
	return a
}

// step applies one AdamW update to params with gradients grads.
func (a *adamW) step(params, grads [][]float32, decay []bool, lr float64, o Options) {
	a.t++
	bc1 := 1 - math.Pow(o.Beta1, float64(a.t))
	bc2 := 1 - math.Pow(o.Beta2, float64(a.t))
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	for i, p := range params {
		g, m, v := grads[i], a.m[i], a.v[i]
		wd := 0.0
		if decay[i] {
			wd = o.WeightDecay
		}
		for j := range p {
			m[j] = b1*m[j] + (1-b1)*g[j]
			v[j] = b2*v[j] + (1-b2)*g[j]*g[j]
			mh := float64(m[j]) / bc1
			vh := float64(v[j]) / bc2
			p[j] = float32(float64(p[j]) - lr*(mh/(math.Sqrt(vh)+o.Eps)+wd*float64(p[j])))
		}
	}
}

// clipGrads scales grads to global L2 norm max when larger and returns the
// norm before clipping.
func clipGrads(grads [][]float32, max float64) float64 {
	var s float64
	for _, g := range grads {
		for _, v := range g {
			s += float64(v) * float64(v)
		}
	}
	norm := math.Sqrt(s)
	if max > 0 && norm > max {
		f := float32(max / norm)
		for _, g := range grads {
			for j := range g {
				g[j] *= f
			}
		}
	}
	return norm
}

// Progress is reported after each step.
type Progress struct {
	Step, Steps int
	LR          float64
	// Loss is the step's training loss (nats per token), GradNorm the
	// gradient's norm before clipping.
	Loss, GradNorm float64
	// ValLoss is the validation loss when it was measured at this step,
	// NaN otherwise.
	ValLoss float64
}

// Data are the training and validation sequences (GPT-2 ids, each T long).
type Data struct {
	Train, Val [][]int32
}

// Trainer trains Params in place.
type Trainer struct {
	P    *Params
	Gemm cpu.Sgemmer
	Opt  Options
	// ValEvery measures the validation loss every that many steps and at
	// the last (0: only at the last).
	ValEvery int
}

// Train runs Opt.Steps steps over d.Train (epochs reshuffled with
// Opt.Seed) and returns the final validation loss. progress, if not nil, is
// called after each step. It stops with ctx's error when ctx ends, the
// parameters left as the last finished step made them.
func (tr *Trainer) Train(ctx context.Context, d Data, progress func(Progress)) (float64, error) {
	o := tr.Opt
	if err := o.check(); err != nil {
		return 0, fmt.Errorf("train: %w", err)
	}
	if len(d.Train) == 0 {
		return 0, errors.New("train: no training sequences")
	}
	if o.Batch > len(d.Train) {
		// a step would hold the same rows several times (and batch copies
		// of the activations: a careless batch runs out of memory)
		return 0, fmt.Errorf("train: batch %d: more than the %d training sequences", o.Batch, len(d.Train))
	}
	T := len(d.Train[0])
	for _, s := range append(append([][]int32{}, d.Train...), d.Val...) {
		if len(s) != T {
			return 0, fmt.Errorf("train: sequences of %d and %d tokens: all must have the same length", T, len(s))
		}
	}
	if T < 2 || T > tr.P.Config.NPositions {
		return 0, fmt.Errorf("train: sequences of %d tokens, need 2 to n_positions=%d", T, tr.P.Config.NPositions)
	}
	gemm := tr.Gemm
	if gemm == nil {
		gemm = Gonum()
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x7472))
	order := rng.Perm(len(d.Train))
	next := 0
	params, decay := tr.P.tensors()
	opt := newAdamW(params)
	val := math.NaN()
	tokens := make([]int32, o.Batch*T)
	for s := 0; s < o.Steps; s++ {
		for b := 0; b < o.Batch; b++ {
			if next == len(order) {
				order, next = rng.Perm(len(d.Train)), 0
			}
			copy(tokens[b*T:(b+1)*T], d.Train[order[next]])
			next++
		}
		grad := tr.P.zeroLike()
		loss, err := LossAndGrad(ctx, tr.P, gemm, tokens, T, grad)
		if err != nil {
			return 0, fmt.Errorf("train step %d: %w", s+1, err)
		}
		grads, _ := grad.tensors()
		norm := clipGrads(grads, o.Clip)
		if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) {
			return 0, fmt.Errorf("train step %d: loss %g, gradient norm %g: diverged (lower the learning rate)", s+1, loss, norm)
		}
		lr := o.LRAt(s)
		opt.step(params, grads, decay, lr, o)
		pr := Progress{Step: s + 1, Steps: o.Steps, LR: lr, Loss: loss, GradNorm: norm, ValLoss: math.NaN()}
		if len(d.Val) > 0 && (s == o.Steps-1 || (tr.ValEvery > 0 && (s+1)%tr.ValEvery == 0)) {
			if val, err = Evaluate(ctx, tr.P, gemm, d.Val, o.Batch); err != nil {
				return 0, fmt.Errorf("train step %d: %w", s+1, err)
			}
			pr.ValLoss = val
		}
		if progress != nil {
			progress(pr)
		}
	}
	return val, nil
}

// Evaluate returns the mean next-token loss (nats) over seqs, batch
// sequences at a time.
func Evaluate(ctx context.Context, p *Params, gemm cpu.Sgemmer, seqs [][]int32, batch int) (float64, error) {
	if len(seqs) == 0 {
		return math.NaN(), errors.New("evaluate: no sequences")
	}
	if gemm == nil {
		gemm = Gonum()
	}
	T := len(seqs[0])
	var sum float64
	var n int
	for lo := 0; lo < len(seqs); lo += batch {
		hi := min(lo+batch, len(seqs))
		tokens := make([]int32, 0, (hi-lo)*T)
		for _, s := range seqs[lo:hi] {
			if len(s) != T {
				return 0, fmt.Errorf("evaluate: sequences of %d and %d tokens", T, len(s))
			}
			tokens = append(tokens, s...)
		}
		l, err := LossAndGrad(ctx, p, gemm, tokens, T, nil)
		if err != nil {
			return 0, fmt.Errorf("evaluate: %w", err)
		}
		k := (hi - lo) * (T - 1)
		sum += l * float64(k)
		n += k
	}
	return sum / float64(n), nil
}

// UnigramLoss returns the cross-entropy (nats per token) on val's
// next-token targets of the unigram distribution of train's targets
// (add-one smoothed over vocab tokens): the loss of a model that ignores
// context, which a trained model must beat.
func UnigramLoss(train, val [][]int32, vocab int) float64 {
	counts := make([]float64, vocab)
	total := float64(vocab)
	for _, s := range train {
		for _, id := range s[1:] {
			counts[id]++
			total++
		}
	}
	var sum float64
	var n int
	for _, s := range val {
		for _, id := range s[1:] {
			sum -= math.Log((counts[id] + 1) / total)
			n++
		}
	}
	return sum / float64(n)
}
