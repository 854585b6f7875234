package model

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/saescope/saescope/compute"
)

// Decoder runs one sequence a token at a time with a key/value cache, for
// generation: each Step computes only the new position, its attention
// reading the keys and values of the positions before it from the cache,
// with the hooks (patches, observers) applied to that position as a full
// pass would. The cache lives in host memory (a position's keys and values
// are 2·d_model floats a layer); only the new row's q, k, v and its mixed
// values cross to and from the backend. Hold the model's Lock from
// NewDecoder until the Decoder is no longer used.
type Decoder struct {
	m     *Model
	hooks Hooks
	pos   int
	max   int
	k, v  [][]float32 // per layer: max × d_model, row p the keys (values) of position p
	row   []float32   // the new position's qkv, read back
	z     []float32
}

// NewDecoder returns a decoder for a sequence of at most max tokens, with
// hooks applied at every step (Patches, PosPatches, Observe, Uncentred; StopAfter and
// Resume are for whole passes and refused).
func (m *Model) NewDecoder(max int, hooks Hooks) (*Decoder, error) {
	if hooks.StopAfter != nil || hooks.Resume != nil {
		return nil, errors.New("decoder: StopAfter and Resume are for whole passes")
	}
	if err := hooks.checkPatchable(); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if max <= 0 || max > m.Config.NPositions {
		return nil, fmt.Errorf("decoder: %d positions, the model has %d", max, m.Config.NPositions)
	}
	d := m.Config.DModel
	dec := &Decoder{m: m, hooks: hooks, max: max, row: make([]float32, 3*d), z: make([]float32, d)}
	for range m.layers {
		dec.k = append(dec.k, make([]float32, max*d))
		dec.v = append(dec.v, make([]float32, max*d))
	}
	return dec, nil
}

// Len is the number of positions run so far.
func (dec *Decoder) Len() int { return dec.pos }

// Step runs token at the next position and returns that position's final
// residual stream ([1, d_model], valid until the next Step or Run).
func (dec *Decoder) Step(ctx context.Context, token int32) (out compute.Tensor, err error) {
	m := dec.m
	defer compute.RecoverBackend(m.be, &err)
	if dec.pos >= dec.max {
		return nil, fmt.Errorf("decoder: the sequence is full (%d tokens)", dec.max)
	}
	if err := m.CheckTokens([]int32{token}, 1, 1); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &pass{m: m, be: m.be, hooks: dec.hooks, batch: 1, seq: 1, stop: -1,
		centre: !dec.hooks.Uncentred, eps: float32(m.Config.LayerNormEps), first: dec.pos}
	p.acts = m.activationsFor(1)
	p.attend = dec.attend(p)
	if err := p.embed([]int32{token}); err != nil {
		return nil, err
	}
	for li := range m.layers {
		if err := p.block(li); err != nil {
			return nil, err
		}
	}
	dec.pos++
	return p.acts.resid, nil
}

// attend returns the attention of layer li for the new position: its
// query against the cached keys of every position up to it, softmax
// scaled by 1/√d_head, mixing their values; it stores the new position's
// key and value in the cache first.
func (dec *Decoder) attend(p *pass) func(li int) {
	return func(li int) {
		m, d := dec.m, dec.m.Config.DModel
		heads := m.Config.NHead
		dh := d / heads
		p.be.Read(p.acts.qkv, dec.row)
		q, k, v := dec.row[:d], dec.row[d:2*d], dec.row[2*d:]
		n := dec.pos + 1
		copy(dec.k[li][dec.pos*d:], k)
		copy(dec.v[li][dec.pos*d:], v)
		scale := 1 / math.Sqrt(float64(dh))
		scores := make([]float64, n)
		for h := 0; h < heads; h++ {
			qh := q[h*dh : (h+1)*dh]
			mx := math.Inf(-1)
			for j := 0; j < n; j++ {
				kj := dec.k[li][j*d+h*dh : j*d+(h+1)*dh]
				var s float64
				for t, x := range qh {
					s += float64(x) * float64(kj[t])
				}
				scores[j] = s * scale
				mx = math.Max(mx, scores[j])
			}
			var sum float64
			for j := range scores {
				scores[j] = math.Exp(scores[j] - mx)
				sum += scores[j]
			}
			zh := dec.z[h*dh : (h+1)*dh]
			for t := range zh {
				var acc float64
				for j := 0; j < n; j++ {
					acc += scores[j] * float64(dec.v[li][j*d+h*dh+t])
				}
				zh[t] = float32(acc / sum)
			}
		}
		p.be.Write(p.acts.z, dec.z)
	}
}
