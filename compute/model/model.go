// Package model runs GPT-2 on a compute.Backend the way TransformerLens'
// HookedTransformer.from_pretrained does: every write into the residual
// stream is centred over d_model (center_writing_weights; Hooks.Uncentred
// runs a pass without, as from_pretrained_no_processing), hooks carry
// TransformerLens names, the pass can stop as soon as a hook is computed,
// and any hook can be patched.
package model

import (
	"context"
	"fmt"
	"sync"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
)

type layer struct {
	ln1W, ln1B, qkvW, qkvB, oW, oB, ln2W, ln2B, fcW, fcB, projW, projB compute.Tensor
}

// Model is GPT-2 with its weights on a backend. Run may be called from
// several goroutines; calls are serialized because they share buffers.
type Model struct {
	Config gpt2.Config
	be     compute.Backend
	wte    compute.Tensor // [vocab, d], also the (tied) unembedding
	wpe    compute.Tensor
	lnfW   compute.Tensor
	lnfB   compute.Tensor
	layers []layer

	mu   sync.Mutex
	acts *activations // sized for the largest pass so far
	cut  *activations // views of acts for the last smaller pass
	// final and logits hold ln_final's output and the logits of
	// logitChunk rows (logits.go), allocated on first use.
	final, logits compute.Tensor
}

// New uploads a checkpoint's weights to be. On the CPU they stay where the
// checkpoint holds them (a memory mapping): keep ck open while m is used.
func New(be compute.Backend, ck *gpt2.Checkpoint) (*Model, error) {
	m := &Model{Config: ck.Config, be: be, layers: make([]layer, len(ck.Layers))}
	var err error
	up := func(dst *compute.Tensor, w weights.Tensor) {
		if err != nil {
			return
		}
		*dst, err = be.Upload(w)
	}
	up(&m.wte, ck.WTE)
	up(&m.wpe, ck.WPE)
	up(&m.lnfW, ck.LNFW)
	up(&m.lnfB, ck.LNFB)
	for i, L := range ck.Layers {
		l := &m.layers[i]
		up(&l.ln1W, L.LN1W)
		up(&l.ln1B, L.LN1B)
		up(&l.qkvW, L.QKVW)
		up(&l.qkvB, L.QKVB)
		up(&l.oW, L.OW)
		up(&l.oB, L.OB)
		up(&l.ln2W, L.LN2W)
		up(&l.ln2B, L.LN2B)
		up(&l.fcW, L.FCW)
		up(&l.fcB, L.FCB)
		up(&l.projW, L.ProjW)
		up(&l.projB, L.ProjB)
	}
	if err != nil {
		m.Close() // what was uploaded before the error
		return nil, fmt.Errorf("upload GPT-2 weights to %s: %w", be.Name(), err)
	}
	return m, nil
}

// Close frees the model's weights and buffers on its backend (device
// memory on a GPU; nothing on the CPU, where the checkpoint holds them).
// It waits for a Run in progress; the model cannot be used after.
func (m *Model) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := []*compute.Tensor{&m.wte, &m.wpe, &m.lnfW, &m.lnfB, &m.final, &m.logits}
	for i := range m.layers {
		l := &m.layers[i]
		ts = append(ts, &l.ln1W, &l.ln1B, &l.qkvW, &l.qkvB, &l.oW, &l.oB, &l.ln2W, &l.ln2B, &l.fcW, &l.fcB, &l.projW, &l.projB)
	}
	for _, t := range ts {
		if *t != nil {
			m.be.Free(*t)
			*t = nil
		}
	}
	if m.acts != nil {
		m.acts.free(m.be)
		m.acts, m.cut = nil, nil
	}
}

// Backend returns the backend the model runs on.
func (m *Model) Backend() compute.Backend { return m.be }

// WTE returns the token embedding, which is also the unembedding.
func (m *Model) WTE() compute.Tensor { return m.wte }

// Patch replaces a hook's activation in place. act is [batch·seq, width];
// rows are positions, sequence by sequence.
type Patch func(be compute.Backend, h hookname.Hook, act compute.Tensor, batch, seq int) error

// Hooks says what to do at hook points during a Run.
type Hooks struct {
	// StopAfter, when set, ends the pass as soon as that hook has been
	// computed, patched and observed (TransformerLens' stop_at_layer, but
	// at any hook).
	StopAfter *hookname.Hook
	// Patches replace activations, keyed by hook name.
	Patches map[string]Patch
	// Observe, when set, sees every hook's activation after patching. The
	// tensor is a buffer that the pass goes on to overwrite: copy what you
	// keep. Returning an error ends the pass with it.
	Observe func(h hookname.Hook, act compute.Tensor) error
	// Uncentred runs the pass as HookedTransformer
	// .from_pretrained_no_processing does for the residual stream: its
	// writes (embeddings, attention and MLP outputs) are not centred over
	// d_model, so hooks see the raw values (each the centred value plus
	// its row's mean). LayerNorm removes the mean either way: logits and
	// loss are the same.
	// For SAEs trained on uncentred activations (sae.SAE.Uncentred).
	Uncentred bool
	// Resume, when set, starts the pass at a block from a residual stream
	// saved by an earlier pass over the same tokens, skipping the
	// embeddings and the blocks before it: passes that differ only from a
	// late hook on share the work before it. Hooks before the block are
	// neither patched nor observed.
	Resume *Resume
}

// Resume is a pass's starting point: Resid is blocks.{Layer}.hook_resid_pre
// ([batch·seq, d_model]) of the same tokens, copied out of an earlier pass.
type Resume struct {
	Layer int
	Resid compute.Tensor
}

// Output is what a Run leaves: the final residual stream (resid_post of the
// last block), or nil when the pass stopped early. It is valid until the
// next Run.
type Output struct {
	Resid   compute.Tensor
	Batch   int
	Seq     int
	Stopped bool
}

// CheckTokens verifies that tokens ([batch·seq] ids) fit the model.
func (m *Model) CheckTokens(tokens []int32, batch, seq int) error {
	if batch <= 0 || seq <= 0 {
		return fmt.Errorf("empty batch (%d sequences of %d tokens)", batch, seq)
	}
	if len(tokens) != batch*seq {
		return fmt.Errorf("%d tokens for %d sequences of %d", len(tokens), batch, seq)
	}
	if seq > m.Config.NPositions {
		return fmt.Errorf("sequence of %d tokens is longer than the model's context of %d", seq, m.Config.NPositions)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= m.Config.VocabSize {
			return fmt.Errorf("token %d at position %d outside the vocabulary [0, %d)", t, i%seq, m.Config.VocabSize)
		}
	}
	return nil
}

// Run computes the forward pass on tokens ([batch·seq] ids, row-major).
// The result stays valid until the next Run; hold Lock around Run and the
// use of its output when other goroutines share the model (RunLocked does).
func (m *Model) Run(ctx context.Context, tokens []int32, batch, seq int, hooks Hooks) (out *Output, err error) {
	defer compute.RecoverBackend(m.be, &err)
	if err := m.CheckTokens(tokens, batch, seq); err != nil {
		return nil, err
	}
	cfg := m.Config
	be := m.be
	acts := m.activationsFor(batch * seq)
	rows := batch * seq

	var stop int = -1
	if hooks.StopAfter != nil {
		stop = hooks.StopAfter.Order()
		if hooks.StopAfter.Layer >= cfg.NLayer || stop < 0 {
			return nil, fmt.Errorf("stop hook %s not in a %d-layer model", hooks.StopAfter, cfg.NLayer)
		}
	}
	visit := func(h hookname.Hook, act compute.Tensor) (bool, error) {
		if p, ok := hooks.Patches[h.String()]; ok && p != nil {
			if err := p(be, h, act, batch, seq); err != nil {
				return false, fmt.Errorf("patch at %s: %w", h, err)
			}
		}
		if hooks.Observe != nil {
			if err := hooks.Observe(h, act); err != nil {
				return false, err
			}
		}
		return h.Order() == stop, nil
	}
	out = &Output{Batch: batch, Seq: seq}
	first := 0
	if r := hooks.Resume; r != nil {
		if r.Layer < 0 || r.Layer >= cfg.NLayer {
			return nil, fmt.Errorf("resume at block %d of a %d-layer model", r.Layer, cfg.NLayer)
		}
		if r.Resid == nil || r.Resid.Rows() != rows || r.Resid.Cols() != cfg.DModel {
			return nil, fmt.Errorf("resume at block %d: saved residual is not [%d, %d]", r.Layer, rows, cfg.DModel)
		}
		if stop >= 0 && stop < (hookname.Hook{Layer: r.Layer, Point: hookname.ResidPre}).Order() {
			return nil, fmt.Errorf("stop hook %s comes before the resumed block %d", hooks.StopAfter, r.Layer)
		}
		be.Copy(acts.resid, r.Resid)
		first = r.Layer
	} else if done, err := m.embed(acts, tokens, batch, seq, !hooks.Uncentred, visit); err != nil || done {
		out.Stopped = done
		return out, err
	}

	eps := float32(cfg.LayerNormEps)
	for li := first; li < len(m.layers); li++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l := &m.layers[li]
		hk := func(p hookname.Point) hookname.Hook { return hookname.Hook{Layer: li, Point: p} }
		if done, err := visit(hk(hookname.ResidPre), acts.resid); err != nil || done {
			out.Stopped = done
			return out, err
		}
		be.LayerNorm(acts.ln, acts.resid, l.ln1W, l.ln1B, eps)
		be.MatMul(acts.qkv, acts.ln, l.qkvW, l.qkvB)
		be.CausalAttention(acts.z, acts.qkv, batch, seq, cfg.NHead)
		be.MatMul(acts.attnOut, acts.z, l.oW, l.oB)
		if !hooks.Uncentred {
			be.CenterRows(acts.attnOut)
		}
		if done, err := visit(hk(hookname.AttnOut), acts.attnOut); err != nil || done {
			out.Stopped = done
			return out, err
		}
		be.Add(acts.resid, acts.resid, acts.attnOut)
		if done, err := visit(hk(hookname.ResidMid), acts.resid); err != nil || done {
			out.Stopped = done
			return out, err
		}
		be.LayerNorm(acts.ln, acts.resid, l.ln2W, l.ln2B, eps)
		be.MatMul(acts.hidden, acts.ln, l.fcW, l.fcB)
		be.GeluNew(acts.hidden)
		if done, err := visit(hk(hookname.MLPPost), acts.hidden); err != nil || done {
			out.Stopped = done
			return out, err
		}
		be.MatMul(acts.mlpOut, acts.hidden, l.projW, l.projB)
		if !hooks.Uncentred {
			be.CenterRows(acts.mlpOut)
		}
		if done, err := visit(hk(hookname.MLPOut), acts.mlpOut); err != nil || done {
			out.Stopped = done
			return out, err
		}
		be.Add(acts.resid, acts.resid, acts.mlpOut)
		if done, err := visit(hk(hookname.ResidPost), acts.resid); err != nil || done {
			out.Stopped = done
			return out, err
		}
	}
	out.Resid = acts.resid
	return out, nil
}

// Lock serializes users of the model's shared buffers: hold it from Run
// until the Output is no longer needed.
func (m *Model) Lock() { m.mu.Lock() }

// Unlock releases Lock.
func (m *Model) Unlock() { m.mu.Unlock() }

// embed fills acts.resid with the token and position embeddings of tokens
// (centred over d_model when centre is set), visiting hook_embed and
// hook_pos_embed; done reports that the pass stops there.
func (m *Model) embed(acts *activations, tokens []int32, batch, seq int, centre bool, visit func(hookname.Hook, compute.Tensor) (bool, error)) (done bool, err error) {
	be := m.be
	rows := batch * seq
	for i := 0; i < rows; i++ {
		acts.pos[i] = int32(i % seq)
	}
	be.Gather(acts.embed, m.wte, tokens)
	if centre {
		be.CenterRows(acts.embed)
	}
	if done, err := visit(hookname.Hook{Layer: -1, Point: hookname.Embed}, acts.embed); err != nil || done {
		return done, err
	}
	be.Gather(acts.posEmbed, m.wpe, acts.pos[:rows])
	if centre {
		be.CenterRows(acts.posEmbed)
	}
	if done, err := visit(hookname.Hook{Layer: -1, Point: hookname.PosEmbed}, acts.posEmbed); err != nil || done {
		return done, err
	}
	be.Add(acts.resid, acts.embed, acts.posEmbed)
	return false, nil
}
