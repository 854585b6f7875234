// Package attribution computes gradients of a metric of GPT-2's output
// with respect to the features of sparse autoencoders spliced into it: one
// forward pass keeps the activations of one prompt, and a hand-written
// reverse-mode pass (the backward of each op of the forward, as llm.c
// writes GPT-2's) gives ∂m/∂f for every feature of every SAE at every
// position. Each SAE replaces its hook's activation x by x̂(x) + e with the
// error e = x − x̂ held constant: the forward is the model's own, and the
// gradient reaches earlier layers only through the SAEs' active features
// (Marks et al.'s sparse feature circuits, with the error nodes frozen).
//
// Matrix products run on the model's compute.Backend (BLAS on the CPU,
// cuBLAS on a GPU); the row-wise steps of the backward (LayerNorm,
// gelu_new, attention, the SAE's activation mask and normalisation) run on
// host memory.
//
// Run is one forward and one backward; a Tape keeps a forward for the
// gradients of many metrics (BuildGraph batches them); Estimate and
// PatchEstimate are attribution patching; AblationEffects measures what
// the attributions estimate, exactly; Flow splits a feature's
// pre-activation into what the block before it adds.
package attribution

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

// Kind says what a Metric measures.
type Kind int

// The metrics.
const (
	// LogitDiff is logits[T−1, A] − logits[T−1, B].
	LogitDiff Kind = iota + 1
	// Loss is the mean next-token cross-entropy over positions 0..T−2
	// (TransformerLens' return_type="loss").
	Loss
	// Feature is the activation of feature Feature of SAE number SAE (an
	// index into the SAEs given to Run) at position Pos (negative counts
	// from the end).
	Feature
)

// Metric is the number whose gradient Run computes.
type Metric struct {
	Kind         Kind
	A, B         int // LogitDiff's tokens
	SAE          int // Feature's SAE
	Feature, Pos int
}

// String describes the metric.
func (mt Metric) String() string {
	switch mt.Kind {
	case LogitDiff:
		return fmt.Sprintf("logits[-1, %d] - logits[-1, %d]", mt.A, mt.B)
	case Loss:
		return "loss: mean next-token cross-entropy"
	case Feature:
		return fmt.Sprintf("feature %d of SAE %d at position %d", mt.Feature, mt.SAE, mt.Pos)
	}
	return "unknown metric"
}

// Result is the metric of one prompt and its gradient with respect to
// every spliced SAE's features.
type Result struct {
	// T is the prompt's length.
	T int
	// Metric is the metric's value.
	Metric float64
	// Acts[i] and Grads[i] are the SAE i's features f and ∂m/∂f, [T, d_sae]
	// row-major each. Acts is shared by every Result of a Tape: read it,
	// do not change it.
	Acts, Grads [][]float32
	// ErrorAttr[i] ([T]), from a Tape kept with errors, is e·∂m/∂e for
	// SAE i's error e = x − x̂ at each position: the attribution of what
	// the SAE does not explain.
	ErrorAttr [][]float32
	// Forward is the time of the forward pass (the SAEs encoding, the
	// activations kept; 0 from a Tape's Gradient, see Tape.Forward);
	// Backward that of the metric's gradient and the backward pass, for
	// benchmarks.
	Forward, Backward time.Duration
}

// Attribution returns f·∂m/∂f for SAE i ([T, d_sae]): the linear estimate
// of each feature's contribution to the metric at each position (minus
// the estimate of what zero-ablating it changes).
func (r *Result) Attribution(i int) []float32 {
	out := make([]float32, len(r.Acts[i]))
	for j, f := range r.Acts[i] {
		out[j] = float32(float64(f) * float64(r.Grads[i][j]))
	}
	return out
}

// pass is one Run's state.
type pass struct {
	m          *model.Model
	be         compute.Backend
	T, d       int
	centre     bool
	eps        float64
	byIn       map[hookname.Hook]*splice // SAEs by the hook they read
	byOut      map[hookname.Hook]*splice // SAEs by the hook they write
	tape       []blockTape
	final      []float32 // the last block's output residual [T, d]
	mm         *products
	lastLayer  int // the forward runs blocks 0..lastLayer
	firstLayer int // the backward stops after this block
	tokens     []int32
}

// blockTape is what the backward of one block needs from its forward.
type blockTape struct {
	r0, r1 []float32 // ln_1's and ln_2's inputs [T, d]
	qkv    []float32 // [T, 3d]
	h      []float32 // c_fc's output before gelu_new [T, d_mlp]
}

// Tape is one prompt's forward pass with SAEs spliced in, kept so that
// backward passes from any number of metrics (Gradient) share it.
type Tape struct {
	p    *pass
	saes []*encoder.Encoder
	// Forward is the time the forward pass took.
	Forward time.Duration
}

// Run splices saes into m, runs tokens (one prompt) forward, and
// backward from metric. It holds the model's lock meanwhile.
func Run(ctx context.Context, m *model.Model, saes []*encoder.Encoder, tokens []int32, metric Metric) (*Result, error) {
	last := m.Config.NLayer - 1
	if metric.Kind == Feature {
		// the blocks up to the last SAE's: nothing after changes a feature
		last = 0
		for _, e := range saes {
			if e != nil {
				last = max(last, e.SAE.Output().Layer)
			}
		}
	}
	tp, err := newTape(ctx, m, saes, tokens, last, false)
	if err != nil {
		return nil, err
	}
	res, err := tp.Gradient(ctx, metric)
	if err != nil {
		return nil, err
	}
	res.Forward = tp.Forward
	return res, nil
}

// NewTape splices saes into m and runs tokens (one prompt) forward to the
// logits, keeping what backward passes need (Gradient). With errors, each
// SAE's error x − x̂ is kept too, and each Result then carries the errors'
// attributions. It holds the model's lock meanwhile.
func NewTape(ctx context.Context, m *model.Model, saes []*encoder.Encoder, tokens []int32, errors bool) (*Tape, error) {
	return newTape(ctx, m, saes, tokens, m.Config.NLayer-1, errors)
}

func newTape(ctx context.Context, m *model.Model, saes []*encoder.Encoder, tokens []int32, last int, errs bool) (tp *Tape, err error) {
	T := len(tokens)
	if err := m.CheckTokens(tokens, 1, T); err != nil {
		return nil, err
	}
	p := &pass{m: m, be: m.Backend(), T: T, d: m.Config.DModel, eps: m.Config.LayerNormEps,
		byIn: map[hookname.Hook]*splice{}, byOut: map[hookname.Hook]*splice{}, lastLayer: last, tokens: tokens}
	if err := p.setup(saes); err != nil {
		return nil, err
	}
	for _, s := range p.byIn {
		s.keepError = errs
	}
	m.Lock()
	defer m.Unlock()
	defer compute.RecoverBackend(p.be, &err)
	t0 := time.Now()
	if err := p.forward(ctx, tokens); err != nil {
		return nil, err
	}
	return &Tape{p: p, saes: saes, Forward: time.Since(t0)}, nil
}

// Gradient runs the backward pass from metric on the tape: ∂m/∂f for every
// feature of every SAE at every position. A Feature metric's backward
// starts at its SAE's block. It holds the model's lock meanwhile.
func (tp *Tape) Gradient(ctx context.Context, metric Metric) (res *Result, err error) {
	return tp.gradient(ctx, metric, tp.p.firstLayer)
}

// gradient is Gradient with the backward stopped after block stop (the
// SAEs before it get no gradient).
func (tp *Tape) gradient(ctx context.Context, metric Metric, stop int) (res *Result, err error) {
	p := tp.p
	start, err := p.checkMetric(tp.saes, metric)
	if err != nil {
		return nil, err
	}
	p.m.Lock()
	defer p.m.Unlock()
	defer compute.RecoverBackend(p.be, &err)
	p.mm = &products{be: p.be, scratch: map[[3]int]compute.Tensor{}}
	defer p.mm.free()
	for _, s := range p.byIn {
		s.seeds, s.grad, s.errAttr = nil, nil, nil
	}
	T := p.T
	res = &Result{T: T}
	t0 := time.Now()
	var g []float32
	switch metric.Kind {
	case LogitDiff:
		res.Metric, g, err = p.logitDiff(metric.A, metric.B)
	case Loss:
		res.Metric, g, err = p.loss(p.tokens)
	case Feature:
		e := tp.saes[metric.SAE]
		pos := metric.Pos
		if pos < 0 {
			pos += T
		}
		s := p.byIn[e.SAE.Hook]
		s.seeds = []int{pos*e.DSae() + metric.Feature}
		res.Metric = float64(s.f[s.seeds[0]])
		g = make([]float32, T*p.d)
	}
	if err != nil {
		return nil, err
	}
	if err := p.backward(ctx, g, start, max(stop, p.firstLayer)); err != nil {
		return nil, err
	}
	res.Backward = time.Since(t0)
	for _, e := range tp.saes {
		s := p.byIn[e.SAE.Hook]
		grad := s.grad
		if grad == nil { // after the metric: no gradient
			grad = make([]float32, len(s.f))
		}
		res.Acts = append(res.Acts, s.f)
		res.Grads = append(res.Grads, grad)
		if s.keepError {
			ea := s.errAttr
			if ea == nil {
				ea = make([]float32, T)
			}
			res.ErrorAttr = append(res.ErrorAttr, ea)
		}
	}
	return res, nil
}

// setup checks the SAEs and plans the passes.
func (p *pass) setup(saes []*encoder.Encoder) error {
	cfg := p.m.Config
	if len(saes) == 0 {
		return errors.New("attribution needs at least one SAE")
	}
	p.firstLayer = cfg.NLayer
	uncentred := 0
	for i, e := range saes {
		if e == nil {
			return fmt.Errorf("SAE %d is missing", i)
		}
		w := e.SAE
		if err := w.CheckModel(cfg.DModel, cfg.DMLP(), cfg.NLayer); err != nil {
			return fmt.Errorf("SAE %s: %w", w.Name(), err)
		}
		in, out := w.Hook, w.Output()
		switch {
		case in.Layer < 0 || in.Layer >= cfg.NLayer:
			return fmt.Errorf("SAE %s: attribution runs SAEs inside the blocks, not at %s", w.Name(), in)
		case in.Point == hookname.LN2Normalized && !w.Transcoder:
			return fmt.Errorf("SAE %s: %s can be read, not replaced: only a transcoder may read it", w.Name(), in)
		case w.Transcoder && (in.Point != hookname.LN2Normalized || out != hookname.Hook{Layer: in.Layer, Point: hookname.MLPOut}):
			return fmt.Errorf("SAE %s: attribution runs transcoders from ln2.hook_normalized to hook_mlp_out of one block, not %s → %s", w.Name(), in, out)
		case p.byIn[in] != nil:
			return fmt.Errorf("two SAEs read %s: attribution splices one SAE per hook", in)
		case p.byOut[out] != nil:
			return fmt.Errorf("two SAEs write %s: attribution splices one SAE per hook", out)
		case out.Layer > p.lastLayer:
			return fmt.Errorf("SAE %s: after the last block run (%d)", w.Name(), p.lastLayer)
		}
		s := &splice{enc: e}
		p.byIn[in], p.byOut[out] = s, s
		p.firstLayer = min(p.firstLayer, in.Layer)
		if w.Uncentred {
			uncentred++
		}
	}
	if uncentred != 0 && uncentred != len(saes) {
		return errors.New("the SAEs disagree about centring (some were trained on the uncentred residual stream): open them separately")
	}
	p.centre = uncentred == 0
	return nil
}

// checkMetric says what is wrong with metric on this pass, if anything,
// and returns the block its backward starts at.
func (p *pass) checkMetric(saes []*encoder.Encoder, metric Metric) (int, error) {
	cfg := p.m.Config
	switch metric.Kind {
	case LogitDiff, Loss:
		if p.lastLayer != cfg.NLayer-1 {
			return 0, errors.New("this forward pass stopped before the logits")
		}
		if metric.Kind == Loss && p.T < 2 {
			return 0, errors.New("the loss needs a prompt of at least 2 tokens")
		}
		for _, id := range []int{metric.A, metric.B} {
			if metric.Kind == LogitDiff && (id < 0 || id >= cfg.VocabSize) {
				return 0, fmt.Errorf("metric token %d outside the vocabulary [0, %d)", id, cfg.VocabSize)
			}
		}
		return p.lastLayer, nil
	case Feature:
		if metric.SAE < 0 || metric.SAE >= len(saes) {
			return 0, fmt.Errorf("metric SAE %d: there are %d SAEs", metric.SAE, len(saes))
		}
		e := saes[metric.SAE]
		if metric.Feature < 0 || metric.Feature >= e.DSae() {
			return 0, fmt.Errorf("feature %d out of range: the SAE has features 0 to %d", metric.Feature, e.DSae()-1)
		}
		if pos := metric.Pos; pos < -p.T || pos >= p.T {
			return 0, fmt.Errorf("position %d outside a prompt of %d tokens", pos, p.T)
		}
		return e.SAE.Output().Layer, nil
	}
	return 0, fmt.Errorf("unknown metric kind %d", metric.Kind)
}

// read copies t to a new host slice.
func (p *pass) read(t compute.Tensor) []float32 {
	v := make([]float32, t.Rows()*t.Cols())
	p.be.Read(t, v)
	return v
}

// visit splices in the SAE that reads h, if any, and records the error of
// the SAE that writes h.
func (p *pass) visit(h hookname.Hook, act compute.Tensor) error {
	if s := p.byIn[h]; s != nil {
		if err := s.forward(p.be, act); err != nil {
			return err
		}
	}
	if s := p.byOut[h]; s != nil {
		s.output(p.be, act)
	}
	return nil
}

// centreRows centres a write into the residual stream, unless the pass is
// uncentred.
func (p *pass) centreRows(t compute.Tensor) {
	if p.centre {
		p.be.CenterRows(t)
	}
}

// forward runs the model's forward (model.Run's ops, in its order) up to
// the end of block lastLayer, keeping each block's tape and encoding each
// SAE at its hook.
func (p *pass) forward(ctx context.Context, tokens []int32) error {
	be, m, T, d := p.be, p.m, p.T, p.d
	dMLP := m.Config.DMLP()
	eps := float32(p.eps)
	alloc := func(c int) compute.Tensor { return be.Alloc(T, c) }
	embed, posEmbed, resid, ln := alloc(d), alloc(d), alloc(d), alloc(d)
	qkv, z, attnOut, hidden, mlpOut := alloc(3*d), alloc(d), alloc(d), alloc(dMLP), alloc(d)
	ones, zeros := be.Alloc(1, d), be.Alloc(1, d)
	defer func() {
		for _, t := range []compute.Tensor{embed, posEmbed, resid, ln, qkv, z, attnOut, hidden, mlpOut, ones, zeros} {
			be.Free(t)
		}
	}()
	be.Fill(ones, 1)
	pos := make([]int32, T)
	for i := range pos {
		pos[i] = int32(i)
	}
	be.Gather(embed, m.WTE(), tokens)
	p.centreRows(embed)
	be.Gather(posEmbed, m.WPE(), pos)
	p.centreRows(posEmbed)
	be.Add(resid, embed, posEmbed)
	p.tape = make([]blockTape, p.lastLayer+1)
	for li := 0; li <= p.lastLayer; li++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		w, tp := m.Block(li), &p.tape[li]
		hook := func(point hookname.Point, act compute.Tensor) error {
			return p.visit(hookname.Hook{Layer: li, Point: point}, act)
		}
		if err := hook(hookname.ResidPre, resid); err != nil {
			return err
		}
		if li >= p.firstLayer {
			tp.r0 = p.read(resid)
		}
		be.LayerNorm(ln, resid, w.LN1W, w.LN1B, eps)
		be.MatMul(qkv, ln, w.QKVW, w.QKVB)
		if li >= p.firstLayer {
			tp.qkv = p.read(qkv)
		}
		be.CausalAttention(z, qkv, 1, T, m.Config.NHead)
		if err := hook(hookname.AttnZ, z); err != nil {
			return err
		}
		be.MatMul(attnOut, z, w.OW, w.OB)
		p.centreRows(attnOut)
		if err := hook(hookname.AttnOut, attnOut); err != nil {
			return err
		}
		be.Add(resid, resid, attnOut)
		if err := hook(hookname.ResidMid, resid); err != nil {
			return err
		}
		if li >= p.firstLayer {
			tp.r1 = p.read(resid)
		}
		if h := (hookname.Hook{Layer: li, Point: hookname.LN2Normalized}); p.byIn[h] != nil {
			be.LayerNorm(z, resid, ones, zeros, eps) // z is free once c_proj has read it
			if err := p.visit(h, z); err != nil {
				return err
			}
		}
		be.LayerNorm(ln, resid, w.LN2W, w.LN2B, eps)
		be.MatMul(hidden, ln, w.FCW, w.FCB)
		if li >= p.firstLayer {
			tp.h = p.read(hidden)
		}
		be.GeluNew(hidden)
		if err := hook(hookname.MLPPost, hidden); err != nil {
			return err
		}
		be.MatMul(mlpOut, hidden, w.ProjW, w.ProjB)
		p.centreRows(mlpOut)
		if err := hook(hookname.MLPOut, mlpOut); err != nil {
			return err
		}
		be.Add(resid, resid, mlpOut)
		if err := hook(hookname.ResidPost, resid); err != nil {
			return err
		}
	}
	p.final = p.read(resid)
	return nil
}

// finalBackward returns the gradient at the final residual stream given
// the gradient at ln_final's output.
func (p *pass) finalBackward(dFinal []float32) []float32 {
	w, _ := p.m.FinalLN()
	gain := p.read(w)
	g := make([]float32, len(p.final))
	layerNormBackward(g, p.final, gain, dFinal, p.d, p.eps)
	return g
}

// finalResid uploads the final residual rows [lo, hi).
func (p *pass) finalRows(lo, hi int) compute.Tensor {
	t := p.be.Alloc(hi-lo, p.d)
	p.be.Write(t, p.final[lo*p.d:hi*p.d])
	return t
}

// logitDiff returns logits[T−1, a] − logits[T−1, b] and its gradient at
// the final residual stream.
func (p *pass) logitDiff(a, b int) (float64, []float32, error) {
	T, d, be := p.T, p.d, p.be
	last := p.finalRows(T-1, T)
	defer be.Free(last)
	lg, err := p.m.Logits(last, []int{0})
	if err != nil {
		return 0, nil, err
	}
	val := float64(lg[0][a]) - float64(lg[0][b])
	wa, wb := make([]float32, d), make([]float32, d)
	be.Read(be.RowsView(p.m.WTE(), a, a+1), wa)
	be.Read(be.RowsView(p.m.WTE(), b, b+1), wb)
	dFinal := make([]float32, T*d)
	for j := range wa {
		dFinal[(T-1)*d+j] = wa[j] - wb[j]
	}
	return val, p.finalBackward(dFinal), nil
}

// loss returns the mean next-token cross-entropy of positions 0..T−2 and
// its gradient at the final residual stream: (softmax − onehot)/(T−1) at
// the logits, times the unembedding.
func (p *pass) loss(tokens []int32) (float64, []float32, error) {
	T, d, be := p.T, p.d, p.be
	V := p.m.Config.VocabSize
	const chunk = 64
	dFinal := make([]float32, T*d)
	var total float64
	dl := be.Alloc(min(chunk, T-1), V)
	defer be.Free(dl)
	df := be.Alloc(min(chunk, T-1), d)
	defer be.Free(df)
	n := float64(T - 1)
	for lo := 0; lo < T-1; lo += chunk {
		hi := min(T-1, lo+chunk)
		resid := p.finalRows(lo, hi)
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = i
		}
		lg, err := p.m.Logits(resid, idx)
		be.Free(resid)
		if err != nil {
			return 0, nil, err
		}
		grad := make([]float32, (hi-lo)*V)
		for i, row := range lg {
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, float64(v))
			}
			var s float64
			for _, v := range row {
				s += math.Exp(float64(v) - mx)
			}
			lse := mx + math.Log(s)
			tgt := tokens[lo+i+1]
			total += lse - float64(row[tgt])
			g := grad[i*V : (i+1)*V]
			for j, v := range row {
				g[j] = float32(math.Exp(float64(v)-lse) / n)
			}
			g[tgt] -= float32(1 / n)
		}
		a, o := be.RowsView(dl, 0, hi-lo), be.RowsView(df, 0, hi-lo)
		be.Write(a, grad)
		be.MatMul(o, a, p.m.WTE(), nil)
		be.Read(o, dFinal[lo*d:hi*d])
	}
	return total / n, p.finalBackward(dFinal), nil
}

// back runs the backward of the SAE that writes h, if any: g is the
// gradient at its output, the result the gradient at its input (for a
// transcoder, at ln2.hook_normalized).
func (p *pass) back(h hookname.Hook, g []float32) []float32 {
	if s := p.byOut[h]; s != nil {
		return s.backward(p.mm, g)
	}
	return g
}

// backward runs the blocks' backward from g, the gradient at block
// start's output, down to block stop.
func (p *pass) backward(ctx context.Context, g []float32, start, stop int) error {
	m, T, d := p.m, p.T, p.d
	dMLP := m.Config.DMLP()
	R := len(g) / d // rows: copies of the prompt's T in a batched backward
	// a gradient that is still zero (a feature metric's backward before
	// its SAE) skips the products: only the hooks, where a seed may
	// start it, are visited
	for li := start; li >= stop; li-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		w, tp := m.Block(li), &p.tape[li]
		at := func(point hookname.Point) hookname.Hook { return hookname.Hook{Layer: li, Point: point} }
		g = p.back(at(hookname.ResidPost), g)
		// resid_post = resid_mid + mlp_out
		gm := append([]float32(nil), g...)
		if tc := p.byOut[at(hookname.MLPOut)]; tc != nil && tc.enc.SAE.Transcoder {
			// the MLP's own output is in the constant error: only the
			// transcoder's input, ln_2's plain normalisation, gets a gradient
			if dn := tc.backward(p.mm, gm); !zero(dn) {
				layerNormBackward(g, tp.r1, nil, dn, d, p.eps)
			}
		} else {
			gm = p.back(at(hookname.MLPOut), gm)
			dPost := make([]float32, R*dMLP)
			if !zero(gm) {
				if p.centre {
					centreRows(gm, d)
				}
				dPost = p.mm.transB(gm, R, w.ProjW, dMLP)
			}
			dPost = p.back(at(hookname.MLPPost), dPost)
			if !zero(dPost) {
				geluBackward(dPost, tp.h, dPost)
				dln := p.mm.transB(dPost, R, w.FCW, d)
				layerNormBackward(g, tp.r1, p.read(w.LN2W), dln, d, p.eps)
			}
		}
		g = p.back(at(hookname.ResidMid), g)
		// resid_mid = resid_pre + attn_out
		ga := append([]float32(nil), g...)
		ga = p.back(at(hookname.AttnOut), ga)
		dz := make([]float32, R*d)
		if !zero(ga) {
			if p.centre {
				centreRows(ga, d)
			}
			dz = p.mm.transB(ga, R, w.OW, d)
		}
		dz = p.back(at(hookname.AttnZ), dz)
		if !zero(dz) {
			dqkv := make([]float32, R*3*d)
			attentionBackward(dqkv, tp.qkv, dz, T, d, m.Config.NHead)
			dln := p.mm.transB(dqkv, R, w.QKVW, d)
			layerNormBackward(g, tp.r0, p.read(w.LN1W), dln, d, p.eps)
		}
		g = p.back(at(hookname.ResidPre), g)
	}
	return nil
}

// zero says whether every value of v is 0.
func zero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// featureGradients is Gradient for several Feature metrics at once: one
// backward pass over len(metrics) copies of the prompt's gradient (their
// products batched), stopped after block stop. Result k is metric k's.
func (tp *Tape) featureGradients(ctx context.Context, metrics []Metric, stop int) (res []*Result, err error) {
	p := tp.p
	start := -1
	for _, mt := range metrics {
		if mt.Kind != Feature {
			return nil, errors.New("batched gradients are for feature metrics")
		}
		st, err := p.checkMetric(tp.saes, mt)
		if err != nil {
			return nil, err
		}
		start = max(start, st)
	}
	if len(metrics) == 0 {
		return nil, nil
	}
	p.m.Lock()
	defer p.m.Unlock()
	defer compute.RecoverBackend(p.be, &err)
	p.mm = &products{be: p.be, scratch: map[[3]int]compute.Tensor{}}
	defer p.mm.free()
	for _, s := range p.byIn {
		s.seeds, s.grad, s.errAttr = nil, nil, nil
	}
	T, K := p.T, len(metrics)
	vals := make([]float64, K)
	for k, mt := range metrics {
		e := tp.saes[mt.SAE]
		pos := mt.Pos
		if pos < 0 {
			pos += T
		}
		s := p.byIn[e.SAE.Hook]
		s.seeds = append(s.seeds, (k*T+pos)*e.DSae()+mt.Feature)
		vals[k] = float64(s.f[pos*e.DSae()+mt.Feature])
	}
	t0 := time.Now()
	if err := p.backward(ctx, make([]float32, K*T*p.d), start, max(stop, p.firstLayer)); err != nil {
		return nil, err
	}
	took := time.Since(t0) / time.Duration(K)
	for k := range metrics {
		r := &Result{T: T, Metric: vals[k], Backward: took}
		for _, e := range tp.saes {
			s := p.byIn[e.SAE.Hook]
			n := e.DSae()
			grad := make([]float32, T*n)
			if s.grad != nil {
				copy(grad, s.grad[k*T*n:(k+1)*T*n])
			}
			r.Acts = append(r.Acts, s.f)
			r.Grads = append(r.Grads, grad)
			if s.keepError {
				ea := make([]float32, T)
				if s.errAttr != nil {
					copy(ea, s.errAttr[k*T:(k+1)*T])
				}
				r.ErrorAttr = append(r.ErrorAttr, ea)
			}
		}
		res = append(res, r)
	}
	return res, nil
}
