// Package model runs GPT-2 on a compute.Backend the way TransformerLens'
// HookedTransformer.from_pretrained does: every write into the residual
// stream is centred over d_model (center_writing_weights; Hooks.Uncentred
// runs a pass without, as from_pretrained_no_processing), hooks carry
// TransformerLens names, the pass can stop as soon as a hook is computed,
// and any hook can be patched.
package model

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
)

type layer struct {
	ln1W, ln1B, qkvW, qkvB, oW, oB, ln2W, ln2B, fcW, fcB, projW, projB compute.Tensor
}

// Model is GPT-2 with its weights on a backend. Its passes share one set of
// activation buffers: goroutines that share a model hold Lock from Run
// until they are done with its Output.
type Model struct {
	Config gpt2.Config
	be     compute.Backend
	wte    compute.Tensor // [vocab, d], also the (tied) unembedding
	wpe    compute.Tensor
	lnfW   compute.Tensor
	lnfB   compute.Tensor
	layers []layer
	// ones and zeros ([d_model]) make LayerNorm's plain normalisation,
	// ln2.hook_normalized, when a pass asks for it.
	ones, zeros compute.Tensor

	mu   sync.Mutex
	acts *activations // sized for the largest pass so far
	cut  *activations // views of acts for the last smaller pass
	// laneViews are the lanes' views of lanesOf (acts or cut) for
	// passes run in lanes (lanes.go), split as laneSplit says (lanes,
	// batch, sequence length)
	lanesOf   *activations
	laneSplit [3]int
	laneViews []*activations
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
	unit := weights.Tensor{Shape: []int{ck.Config.DModel}, Data: make([]float32, ck.Config.DModel)}
	up(&m.zeros, unit)
	unit = weights.Tensor{Shape: unit.Shape, Data: make([]float32, ck.Config.DModel)}
	for i := range unit.Data {
		unit.Data[i] = 1
	}
	up(&m.ones, unit)
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
// It takes Lock, so it waits for a caller that holds it; the model cannot
// be used after.
func (m *Model) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := []*compute.Tensor{&m.wte, &m.wpe, &m.lnfW, &m.lnfB, &m.final, &m.logits, &m.ones, &m.zeros}
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
		m.lanesOf, m.laneViews = nil, nil
	}
}

// Backend returns the backend the model runs on.
func (m *Model) Backend() compute.Backend { return m.be }

// WTE returns the token embedding, which is also the unembedding.
func (m *Model) WTE() compute.Tensor { return m.wte }

// Patch replaces a hook's activation in place. act is [batch·seq, width];
// rows are positions, sequence by sequence.
type Patch func(be compute.Backend, h hookname.Hook, act compute.Tensor, batch, seq int) error

// PosPatch is a Patch that is also told the absolute position of each
// sequence's first row in act: 0 in a Run, the position being computed in
// a Decoder step (row r of a sequence is position first + r). Patches
// limited to some positions need it: a Decoder step has one row whatever
// its position.
type PosPatch func(be compute.Backend, h hookname.Hook, act compute.Tensor, batch, seq, first int) error

// Hooks says what to do at hook points during a Run.
type Hooks struct {
	// StopAfter, when set, ends the pass as soon as that hook has been
	// computed, patched and observed (TransformerLens' stop_at_layer, but
	// at any hook).
	StopAfter *hookname.Hook
	// Patches replace activations, keyed by hook name.
	Patches map[string]Patch
	// PosPatches replace activations, keyed by hook name, knowing their
	// positions; at a hook with both, the Patch runs first.
	PosPatches map[string]PosPatch
	// Observe, when set, sees every hook's activation after patching. The
	// tensor is a buffer that the pass goes on to overwrite: copy what you
	// keep. Returning an error ends the pass with it.
	Observe func(h hookname.Hook, act compute.Tensor) error
	// ObserveAt, when not empty, limits Observe to these hooks: the pass
	// may then fuse the elementwise work between the other hooks (a scan
	// observes only its SAEs' hooks).
	ObserveAt []hookname.Hook
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

// errStopped ends a pass at Hooks.StopAfter: pass.visit returns it once
// that hook has been patched and observed, and Run reports it as
// Output.Stopped.
var errStopped = errors.New("stopped at the hook")

// checkPatchable refuses a patch at a hook that can be read but not
// patched, by its name's suffix.
func (h Hooks) checkPatchable() error {
	bad := func(name string) error {
		if strings.HasSuffix(name, "."+string(hookname.LN2Normalized)) {
			return fmt.Errorf("%s can be read, not patched (patch the MLP's input or output instead)", name)
		}
		return nil
	}
	for name := range h.Patches {
		if err := bad(name); err != nil {
			return err
		}
	}
	for name := range h.PosPatches {
		if err := bad(name); err != nil {
			return err
		}
	}
	return nil
}

// pass is one Run: the model, its activation buffers for this batch, and
// what the hooks ask.
type pass struct {
	m          *Model
	be         compute.Backend
	acts       *activations
	hooks      Hooks
	batch, seq int
	stop       int // StopAfter's Order(), -1 for none
	centre     bool
	eps        float32
	// first is the position of the pass's first token (a Decoder's step
	// continues a sequence); attend, when set, replaces the causal
	// attention of the batch with one over cached keys and values.
	first  int
	attend func(li int)
	// fused, when the backend has them, runs the work between hooks that
	// nobody patches or observes in fused kernels; lnReady says the last
	// block's fused residual write already left this block's ln_1 in
	// acts.ln.
	fused   compute.ResidualAdder
	gelu    compute.BiasGeluer
	biasAtt compute.BiasAttender
	lnReady bool
	// lanes, when the pass is one lane of a Run's batch (lanes.go), is
	// where it meets the other lanes at the hooks the pass wants.
	lanes *laneSet
}

// Run computes the forward pass on tokens ([batch·seq] ids, row-major), as
// llm.c's gpt2_forward: the embeddings, then each block (pass.block).
// The result stays valid until the next Run; when other goroutines share
// the model, hold Lock from Run until the Output is no longer used.
func (m *Model) Run(ctx context.Context, tokens []int32, batch, seq int, hooks Hooks) (out *Output, err error) {
	defer compute.RecoverBackend(m.be, &err)
	if err := m.CheckTokens(tokens, batch, seq); err != nil {
		return nil, err
	}
	cfg := m.Config
	rows := batch * seq
	p := &pass{m: m, hooks: hooks, batch: batch, seq: seq, stop: -1,
		centre: !hooks.Uncentred, eps: float32(cfg.LayerNormEps)}
	p.onBackend(m.be)
	if h := hooks.StopAfter; h != nil {
		p.stop = h.Order()
		if h.Layer >= cfg.NLayer || p.stop < 0 {
			return nil, fmt.Errorf("stop hook %s not in a %d-layer model", h, cfg.NLayer)
		}
	}
	if err := hooks.checkPatchable(); err != nil {
		return nil, err
	}
	first := 0
	if r := hooks.Resume; r != nil {
		if r.Layer < 0 || r.Layer >= cfg.NLayer {
			return nil, fmt.Errorf("resume at block %d of a %d-layer model", r.Layer, cfg.NLayer)
		}
		if r.Resid == nil || r.Resid.Rows() != rows || r.Resid.Cols() != cfg.DModel {
			return nil, fmt.Errorf("resume at block %d: saved residual is not [%d, %d]", r.Layer, rows, cfg.DModel)
		}
		if p.stop >= 0 && p.stop < (hookname.Hook{Layer: r.Layer, Point: hookname.ResidPre}).Order() {
			return nil, fmt.Errorf("stop hook %s comes before the resumed block %d", hooks.StopAfter, r.Layer)
		}
		first = r.Layer
	}

	p.acts = m.activationsFor(rows)
	out = &Output{Batch: batch, Seq: seq}
	if hooks.Resume != nil {
		p.be.Copy(p.acts.resid, hooks.Resume.Resid)
	} else if err := p.embed(tokens); err != nil {
		return out.end(err)
	}
	// the blocks, in lanes where the backend runs this batch so (lanes.go)
	lanes := 1
	laner, _ := m.be.(compute.Laner)
	if laner != nil {
		lanes = min(laner.Lanes(rows), batch)
	}
	var blocksErr error
	if lanes > 1 {
		blocksErr = p.runLanes(ctx, laner, first, lanes)
	} else {
		blocksErr = p.runBlocks(ctx, first)
	}
	if blocksErr != nil {
		if ctx.Err() != nil && errors.Is(blocksErr, ctx.Err()) {
			return nil, blocksErr
		}
		return out.end(blocksErr)
	}
	out.Resid = p.acts.resid
	return out, nil
}

// onBackend sets the backend the pass runs on and the fused kernels it
// offers.
func (p *pass) onBackend(be compute.Backend) {
	p.be = be
	p.fused, _ = be.(compute.ResidualAdder)
	p.gelu, _ = be.(compute.BiasGeluer)
	p.biasAtt, _ = be.(compute.BiasAttender)
}

// runBlocks runs the blocks from first, checking between them that ctx is
// not done and, for a lane, that no other lane failed; a panic of the
// backend or of a hook becomes an error.
func (p *pass) runBlocks(ctx context.Context, first int) (err error) {
	defer compute.RecoverBackend(p.be, &err)
	for li := first; li < len(p.m.layers); li++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.lanes != nil {
			if err := p.lanes.failed(); err != nil {
				return err
			}
		}
		if err := p.block(li); err != nil {
			return err
		}
	}
	return nil
}

// end returns o as a pass that stopped at its hook (err is errStopped) or
// failed with err.
func (o *Output) end(err error) (*Output, error) {
	if errors.Is(err, errStopped) {
		o.Stopped = true
		return o, nil
	}
	return o, err
}

// Lock serializes users of the model's shared buffers: hold it from Run
// until the Output is no longer needed.
func (m *Model) Lock() { m.mu.Lock() }

// Unlock releases Lock.
func (m *Model) Unlock() { m.mu.Unlock() }

// visit runs the hook h on its activation act: the patch registered for
// it, then the observer. It returns errStopped when h is Hooks.StopAfter.
func (p *pass) visit(h hookname.Hook, act compute.Tensor) error {
	if p.lanes != nil {
		if !p.wants(h) {
			return nil
		}
		return p.lanes.visit(p, h, act)
	}
	if patch := p.hooks.Patches[h.String()]; patch != nil {
		if err := patch(p.be, h, act, p.batch, p.seq); err != nil {
			return fmt.Errorf("patch at %s: %w", h, err)
		}
	}
	if patch := p.hooks.PosPatches[h.String()]; patch != nil {
		if err := patch(p.be, h, act, p.batch, p.seq, p.first); err != nil {
			return fmt.Errorf("patch at %s: %w", h, err)
		}
	}
	if p.observes(h) {
		if err := p.hooks.Observe(h, act); err != nil {
			return err
		}
	}
	if h.Order() == p.stop {
		return errStopped
	}
	return nil
}

// wants says whether the pass patches, observes or stops at h: hooks
// that cost work of their own (ln2.hook_normalized) are computed only then.
func (p *pass) wants(h hookname.Hook) bool {
	return p.observes(h) || h.Order() == p.stop || p.hooks.Patches[h.String()] != nil || p.hooks.PosPatches[h.String()] != nil
}

// observes says whether Observe sees h.
func (p *pass) observes(h hookname.Hook) bool {
	if p.hooks.Observe == nil {
		return false
	}
	if len(p.hooks.ObserveAt) == 0 {
		return true
	}
	for _, o := range p.hooks.ObserveAt {
		if o == h {
			return true
		}
	}
	return false
}

// centreRows centres each row of a write into the residual stream over
// d_model, unless the pass is uncentred.
func (p *pass) centreRows(x compute.Tensor) {
	if p.centre {
		p.be.CenterRows(x)
	}
}

// embed sets the residual stream to the token plus the position embedding
// of tokens: hook_embed, hook_pos_embed.
func (p *pass) embed(tokens []int32) error {
	be, a := p.be, p.acts
	for i := range a.pos {
		a.pos[i] = int32(p.first + i%p.seq)
	}
	be.Gather(a.embed, p.m.wte, tokens)
	p.centreRows(a.embed)
	if err := p.visit(hookname.Hook{Layer: -1, Point: hookname.Embed}, a.embed); err != nil {
		return err
	}
	be.Gather(a.posEmbed, p.m.wpe, a.pos)
	p.centreRows(a.posEmbed)
	if err := p.visit(hookname.Hook{Layer: -1, Point: hookname.PosEmbed}, a.posEmbed); err != nil {
		return err
	}
	be.Add(a.resid, a.embed, a.posEmbed)
	return nil
}

// productBias is a product's bias as MatMul takes it: nil where the fused
// step after the product adds it (fused).
func productBias(fused bool, bias compute.Tensor) compute.Tensor {
	if fused {
		return nil
	}
	return bias
}

// block runs transformer block li on the residual stream, op by op, each
// hook visited where its activation is computed:
//
//	hook_resid_pre · ln_1 · c_attn (qkv) · causal attention · attn.hook_z ·
//	c_proj · hook_attn_out · residual add · hook_resid_mid · ln_2
//	(ln2.hook_normalized: its normalisation before gain and bias) · c_fc ·
//	gelu_new · hook_post · c_proj · hook_mlp_out · residual add ·
//	hook_resid_post
func (p *pass) block(li int) error {
	be, a, l := p.be, p.acts, &p.m.layers[li]
	hook := func(point hookname.Point, act compute.Tensor) error {
		return p.visit(hookname.Hook{Layer: li, Point: point}, act)
	}
	wants := func(point hookname.Point) bool { return p.wants(hookname.Hook{Layer: li, Point: point}) }
	if err := hook(hookname.ResidPre, a.resid); err != nil {
		return err
	}
	if !p.lnReady {
		be.LayerNorm(a.ln, a.resid, l.ln1W, l.ln1B, p.eps)
	}
	p.lnReady = false
	// no hook between the product and the attention: where the batch's own
	// attention runs, the bias is added as it reads q, k and v
	fuseAtt := p.attend == nil && p.biasAtt != nil
	be.MatMul(a.qkv, a.ln, l.qkvW, productBias(fuseAtt, l.qkvB))
	switch {
	case p.attend != nil:
		p.attend(li)
	case fuseAtt:
		p.biasAtt.CausalAttentionBias(a.z, a.qkv, l.qkvB, p.batch, p.seq, p.m.Config.NHead)
	default:
		be.CausalAttention(a.z, a.qkv, p.batch, p.seq, p.m.Config.NHead)
	}
	if err := hook(hookname.AttnZ, a.z); err != nil {
		return err
	}
	fuseMid := p.fused != nil && !wants(hookname.AttnOut) && !wants(hookname.ResidMid) && !wants(hookname.LN2Normalized)
	be.MatMul(a.attnOut, a.z, l.oW, productBias(fuseMid, l.oB))
	if fuseMid {
		// the product's bias, centring, the residual write and ln_2 in one
		// pass
		p.fused.AddResidual(a.resid, a.attnOut, l.oB, p.centre, a.ln, l.ln2W, l.ln2B, p.eps)
	} else {
		p.centreRows(a.attnOut)
		if err := hook(hookname.AttnOut, a.attnOut); err != nil {
			return err
		}
		be.Add(a.resid, a.resid, a.attnOut)
		if err := hook(hookname.ResidMid, a.resid); err != nil {
			return err
		}
		if h := (hookname.Hook{Layer: li, Point: hookname.LN2Normalized}); p.wants(h) {
			// a.z is free once c_proj has read it
			be.LayerNorm(a.z, a.resid, p.m.ones, p.m.zeros, p.eps)
			if err := p.visit(h, a.z); err != nil {
				return err
			}
		}
		be.LayerNorm(a.ln, a.resid, l.ln2W, l.ln2B, p.eps)
	}
	be.MatMul(a.hidden, a.ln, l.fcW, productBias(p.gelu != nil, l.fcB))
	if p.gelu != nil {
		// no hook between the product and gelu_new: the bias in gelu's pass
		p.gelu.BiasGeluNew(a.hidden, l.fcB)
	} else {
		be.GeluNew(a.hidden)
	}
	if err := hook(hookname.MLPPost, a.hidden); err != nil {
		return err
	}
	fuseEnd := p.fused != nil && !wants(hookname.MLPOut)
	be.MatMul(a.mlpOut, a.hidden, l.projW, productBias(fuseEnd, l.projB))
	if fuseEnd {
		// the product's bias, centring, the residual write and, when the
		// next block runs and nobody sees its residual input, its ln_1
		next := hookname.Hook{Layer: li + 1, Point: hookname.ResidPre}
		if li+1 < len(p.m.layers) && !wants(hookname.ResidPost) && !p.wants(next) {
			nl := &p.m.layers[li+1]
			p.fused.AddResidual(a.resid, a.mlpOut, l.projB, p.centre, a.ln, nl.ln1W, nl.ln1B, p.eps)
			p.lnReady = true
		} else {
			p.fused.AddResidual(a.resid, a.mlpOut, l.projB, p.centre, nil, nil, nil, p.eps)
		}
		return hook(hookname.ResidPost, a.resid)
	}
	p.centreRows(a.mlpOut)
	if err := hook(hookname.MLPOut, a.mlpOut); err != nil {
		return err
	}
	be.Add(a.resid, a.resid, a.mlpOut)
	return hook(hookname.ResidPost, a.resid)
}
