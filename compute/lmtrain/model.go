// Package lmtrain trains a GPT-2 language model from scratch on host
// memory: the plain Hugging Face GPT-2 forward (LayerNorm gains and biases
// unfolded, residual writes not centred, tied unembedding), its hand-written
// backward giving the gradient of every parameter (the row-wise ops are
// compute/attribution's), AdamW with a cosine schedule, warm-up and
// gradient clipping, deterministic for a seed. The trained model is written
// as a Hugging Face GPT-2 checkpoint (config.json + model.safetensors) that
// weights/gpt2 and compute/model open.
//
// The vocabulary is GPT-2's, but a corpus uses only part of it. Tokens the
// corpus never holds share one embedding row while training (an exact
// full-vocabulary softmax: their common logit counts once per token), so
// the unembedding costs what the used vocabulary costs; the written
// checkpoint repeats that row for each of them.
package lmtrain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/gpt2"
)

// Vocab maps GPT-2 token ids to the rows of the trained embedding: the
// tokens in use get one row each, in id order; the others (if any) share
// the last row.
type Vocab struct {
	// Size is the full vocabulary (GPT-2: 50257).
	Size int
	// Used are the token ids with a row of their own, ascending.
	Used []int32
	// row[id] is id's embedding row.
	row []int32
}

// NewVocab returns the vocabulary of size tokens in which the ids of used
// (any order, repeats allowed) get rows of their own. An id outside
// [0, size) is an error.
func NewVocab(size int, used []int32) (*Vocab, error) {
	if size <= 0 {
		return nil, fmt.Errorf("vocab: size %d must be positive", size)
	}
	seen := make([]bool, size)
	for _, id := range used {
		if id < 0 || int(id) >= size {
			return nil, fmt.Errorf("vocab: token id %d outside [0, %d)", id, size)
		}
		seen[id] = true
	}
	v := &Vocab{Size: size, row: make([]int32, size)}
	for id, s := range seen {
		if s {
			v.Used = append(v.Used, int32(id))
		}
	}
	shared := int32(len(v.Used))
	for id := range v.row {
		v.row[id] = shared
	}
	for r, id := range v.Used {
		v.row[id] = int32(r)
	}
	return v, nil
}

// Shared is how many tokens share the last embedding row (0: none, every
// token has its own).
func (v *Vocab) Shared() int { return v.Size - len(v.Used) }

// Rows is the number of rows of the trained embedding.
func (v *Vocab) Rows() int {
	if v.Shared() > 0 {
		return len(v.Used) + 1
	}
	return len(v.Used)
}

// Row returns id's embedding row.
func (v *Vocab) Row(id int32) int32 { return v.row[id] }

// Layer is one block's parameters in Hugging Face's Conv1D layout
// (weights [in, out], y = x·W + b).
type Layer struct {
	LN1W, LN1B, QKVW, QKVB, OW, OB, LN2W, LN2B, FCW, FCB, ProjW, ProjB []float32
}

// Params are a GPT-2's parameters as the trainer holds them: WTE has
// Vocab.Rows() rows.
type Params struct {
	Config     gpt2.Config
	Vocab      *Vocab
	WTE, WPE   []float32 // [Vocab.Rows(), d], [n_positions, d]
	Layers     []Layer
	LNFW, LNFB []float32
}

// tensors lists every parameter in a fixed order, with whether weight
// decay applies to it (matrices and embeddings, not biases or gains).
func (p *Params) tensors() (ts [][]float32, decay []bool) {
	add := func(t []float32, dec bool) { ts, decay = append(ts, t), append(decay, dec) }
	add(p.WTE, true)
	add(p.WPE, true)
	for i := range p.Layers {
		L := &p.Layers[i]
		add(L.LN1W, false)
		add(L.LN1B, false)
		add(L.QKVW, true)
		add(L.QKVB, false)
		add(L.OW, true)
		add(L.OB, false)
		add(L.LN2W, false)
		add(L.LN2B, false)
		add(L.FCW, true)
		add(L.FCB, false)
		add(L.ProjW, true)
		add(L.ProjB, false)
	}
	add(p.LNFW, false)
	add(p.LNFB, false)
	return ts, decay
}

// zeroLike returns parameters of p's shape, all zero (a gradient).
func (p *Params) zeroLike() *Params {
	d, m := p.Config.DModel, p.Config.DMLP()
	z := func(n int) []float32 { return make([]float32, n) }
	q := &Params{Config: p.Config, Vocab: p.Vocab, WTE: z(len(p.WTE)), WPE: z(len(p.WPE)),
		LNFW: z(d), LNFB: z(d), Layers: make([]Layer, len(p.Layers))}
	for i := range q.Layers {
		q.Layers[i] = Layer{LN1W: z(d), LN1B: z(d), QKVW: z(d * 3 * d), QKVB: z(3 * d), OW: z(d * d), OB: z(d),
			LN2W: z(d), LN2B: z(d), FCW: z(d * m), FCB: z(m), ProjW: z(m * d), ProjB: z(d)}
	}
	return q
}

// CheckConfig says whether cfg is a GPT-2 this package trains.
func CheckConfig(cfg gpt2.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("model config: %w", err)
	}
	return nil
}

// Init returns parameters with GPT-2's initialisation, seeded: weights and
// embeddings N(0, 0.02²), the residual projections (attn.c_proj,
// mlp.c_proj) N(0, (0.02/√(2·n_layer))²), gains 1, biases 0, the shared
// row of unused tokens 0.
func Init(cfg gpt2.Config, v *Vocab, seed uint64) (*Params, error) {
	if err := CheckConfig(cfg); err != nil {
		return nil, err
	}
	if v.Size != cfg.VocabSize {
		return nil, fmt.Errorf("init: vocabulary of %d tokens for a model of vocab_size %d", v.Size, cfg.VocabSize)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6d7472))
	d := cfg.DModel
	p := (&Params{Config: cfg, Vocab: v, WTE: make([]float32, v.Rows()*d), WPE: make([]float32, cfg.NPositions*d),
		Layers: make([]Layer, cfg.NLayer)}).zeroLike()
	normal := func(t []float32, std float64) {
		for i := range t {
			t[i] = float32(rng.NormFloat64() * std)
		}
	}
	ones := func(t []float32) {
		for i := range t {
			t[i] = 1
		}
	}
	normal(p.WTE[:len(v.Used)*d], 0.02)
	normal(p.WPE, 0.02)
	proj := 0.02 / math.Sqrt(2*float64(cfg.NLayer))
	for i := range p.Layers {
		L := &p.Layers[i]
		ones(L.LN1W)
		ones(L.LN2W)
		normal(L.QKVW, 0.02)
		normal(L.OW, proj)
		normal(L.FCW, 0.02)
		normal(L.ProjW, proj)
	}
	ones(p.LNFW)
	return p, nil
}

// Checkpoint returns the parameters as a GPT-2 checkpoint with the full
// vocabulary (the shared row copied to every unused token), copies of the
// trainer's slices.
func (p *Params) Checkpoint() *gpt2.Checkpoint {
	d := p.Config.DModel
	t := func(data []float32, shape ...int) weights.Tensor {
		return weights.Tensor{Shape: shape, Data: slices.Clone(data)}
	}
	wte := make([]float32, p.Vocab.Size*d)
	for id := 0; id < p.Vocab.Size; id++ {
		r := int(p.Vocab.Row(int32(id)))
		copy(wte[id*d:(id+1)*d], p.WTE[r*d:(r+1)*d])
	}
	m := p.Config.DMLP()
	ck := &gpt2.Checkpoint{Config: p.Config, WTE: weights.Tensor{Shape: []int{p.Vocab.Size, d}, Data: wte},
		WPE: t(p.WPE, p.Config.NPositions, d), LNFW: t(p.LNFW, d), LNFB: t(p.LNFB, d), Layers: make([]gpt2.Layer, len(p.Layers))}
	for i, L := range p.Layers {
		ck.Layers[i] = gpt2.Layer{LN1W: t(L.LN1W, d), LN1B: t(L.LN1B, d), QKVW: t(L.QKVW, d, 3*d), QKVB: t(L.QKVB, 3*d),
			OW: t(L.OW, d, d), OB: t(L.OB, d), LN2W: t(L.LN2W, d), LN2B: t(L.LN2B, d),
			FCW: t(L.FCW, d, m), FCB: t(L.FCB, m), ProjW: t(L.ProjW, m, d), ProjB: t(L.ProjB, d)}
	}
	return ck
}
