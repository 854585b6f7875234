// Package features answers questions about SAE features that need the
// model: elicitation (which features a text evokes), the reconstruction
// score of an SAE spliced into the model, and the direct unembedding of
// decoder directions.
package features

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/tokenizer"
)

// Activations runs the model on one batch up to the SAE's hook and returns
// the feature activations [batch·seq][d_sae] flattened row-major.
func Activations(ctx context.Context, m *model.Model, enc *encoder.Encoder, tokens []int32, batch, seq int) ([]float32, error) {
	h := enc.Hook()
	be := m.Backend()
	var out []float32
	m.Lock()
	defer m.Unlock()
	_, err := m.Run(ctx, tokens, batch, seq, model.Hooks{
		StopAfter: &h,
		Uncentred: enc.SAE.Uncentred,
		Observe: func(hk hookname.Hook, act compute.Tensor) error {
			if hk != h {
				return nil
			}
			f := be.Alloc(act.Rows(), enc.DSae())
			defer be.Free(f)
			if err := enc.Encode(f, act); err != nil {
				return err
			}
			out = make([]float32, act.Rows()*enc.DSae())
			be.Read(f, out)
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Ranked is one feature with a value.
type Ranked struct {
	ID    int     `json:"id"`
	Value float32 `json:"value"`
}

// TopK returns the k largest values of v with their indices, largest
// first, ties broken by the smaller index.
func TopK(v []float32, k int) []Ranked {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] > v[idx[b]] })
	if k > len(idx) {
		k = len(idx)
	}
	out := make([]Ranked, k)
	for i := 0; i < k; i++ {
		out[i] = Ranked{ID: idx[i], Value: v[idx[i]]}
	}
	return out
}

// Elicit returns the top k features for one tokenized text (BOS first).
// With pos == nil it averages the activations over every position but the
// BOS; otherwise it ranks them at one position of the BOS-dropped sequence
// (0 is the first token after BOS; negative positions count from the end,
// -1 being the last token).
func Elicit(ctx context.Context, m *model.Model, enc *encoder.Encoder, tokens []int32, k int, pos *int) ([]Ranked, error) {
	T := len(tokens)
	if T < 2 {
		return nil, fmt.Errorf("elicit: the text has no tokens after BOS")
	}
	if k <= 0 {
		return nil, fmt.Errorf("elicit: k must be positive, got %d", k)
	}
	acts, err := Activations(ctx, m, enc, tokens, 1, T)
	if err != nil {
		return nil, err
	}
	return RankText(acts, T, enc.DSae(), k, pos)
}

// RankText ranks the features of one text's activations ([T][d], BOS at
// position 0): by their mean over positions 1..T-1 when pos is nil, else by
// their value at position *pos of the BOS-dropped text (negative counts
// from the end).
func RankText(acts []float32, T, d, k int, pos *int) ([]Ranked, error) {
	if T < 2 {
		return nil, fmt.Errorf("elicit: the text has no tokens after BOS")
	}
	if k <= 0 {
		return nil, fmt.Errorf("elicit: k must be positive, got %d", k)
	}
	scores := make([]float32, d)
	if pos == nil {
		acc := make([]float64, d)
		for t := 1; t < T; t++ {
			for j, v := range acts[t*d : (t+1)*d] {
				acc[j] += float64(v)
			}
		}
		for j := range acc {
			scores[j] = float32(acc[j] / float64(T-1))
		}
	} else {
		n := T - 1
		p := *pos
		if p < 0 {
			p += n
		}
		if p < 0 || p >= n {
			return nil, fmt.Errorf("elicit: position %d outside the text's %d tokens (use 0..%d or -%d..-1)", *pos, n, n-1, n)
		}
		copy(scores, acts[(p+1)*d:(p+2)*d])
	}
	return TopK(scores, k), nil
}

// Losses are the next-token losses with the hook the SAE writes left
// alone, replaced by the reconstruction, zero-ablated and mean-ablated
// (for a transcoder, the MLP's output it replaces).
type Losses struct {
	Clean  float64 `json:"loss_clean"`
	Recons float64 `json:"loss_recons"`
	Zero   float64 `json:"loss_zero"`
	Mean   float64 `json:"loss_mean"`
	// Score is (Zero - Recons) / (Zero - Clean): 1 for a perfect
	// reconstruction, 0 for one as bad as zero ablation.
	Score float64 `json:"score"`
	// L0 is the mean number of active features per token, BOS excluded.
	L0 float64 `json:"l0"`
}

// Reconstruction measures the SAE spliced into the model on a batch. The
// clean pass also saves the residual stream entering the hook's block and
// counts the active features at the hook; the three patched passes start
// from that block, since everything before it is the same as the clean
// pass's.
func Reconstruction(ctx context.Context, m *model.Model, enc *encoder.Encoder, tokens []int32, batch, seq int) (Losses, error) {
	var res Losses
	h := enc.Hook()
	be := m.Backend()
	m.Lock()
	defer m.Unlock()
	rows := batch * seq
	if err := m.CheckTokens(tokens, batch, seq); err != nil {
		return res, fmt.Errorf("reconstruction: %w", err)
	}
	saved := be.Alloc(rows, m.Config.DModel)
	defer be.Free(saved)
	d := enc.DSae()
	feats := be.Alloc(rows, d)
	defer be.Free(feats)
	const chunk = 64 // rows read back at a time
	host := make([]float32, min(rows, chunk)*d)
	var active, n int
	blockStart := hookname.Hook{Layer: h.Layer, Point: hookname.ResidPre}
	loss := func(hooks model.Hooks) (float64, error) {
		hooks.Uncentred = enc.SAE.Uncentred // the SAE's activations, and a resumable residual
		out, err := m.Run(ctx, tokens, batch, seq, hooks)
		if err != nil {
			return 0, err
		}
		tl, err := m.TokenLoss(out, tokens)
		if err != nil {
			return 0, err
		}
		return model.MeanLoss(tl), nil
	}
	var err error
	res.Clean, err = loss(model.Hooks{Observe: func(hk hookname.Hook, act compute.Tensor) error {
		if hk == blockStart {
			be.Copy(saved, act)
		}
		if hk != h {
			return nil
		}
		if err := enc.Encode(feats, act); err != nil {
			return err
		}
		for r0 := 0; r0 < rows; r0 += chunk {
			r1 := min(rows, r0+chunk)
			be.Read(be.RowsView(feats, r0, r1), host[:(r1-r0)*d])
			for r := r0; r < r1; r++ {
				if r%seq == 0 && tokens[r] == tokenizer.BOS { // BOS excluded
					continue
				}
				for _, v := range host[(r-r0)*d : (r-r0+1)*d] {
					if v > 0 {
						active++
					}
				}
				n++
			}
		}
		return nil
	}})
	if err != nil {
		return res, err
	}
	resume := &model.Resume{Layer: h.Layer, Resid: saved}
	out := enc.SAE.Output() // the hook the SAE writes: its own, or a transcoder's output
	patched := func(p model.Patch) (float64, error) {
		return loss(model.Hooks{Patches: map[string]model.Patch{out.String(): p}, Resume: resume})
	}
	splice, observe, release := enc.Splice(be)
	res.Recons, err = loss(model.Hooks{Patches: splice, Observe: observe, Resume: resume})
	release()
	if err != nil {
		return res, err
	}
	if res.Zero, err = patched(model.ZeroAblate()); err != nil {
		return res, err
	}
	if res.Mean, err = patched(model.MeanAblate()); err != nil {
		return res, err
	}
	res.Score = (res.Zero - res.Recons) / (res.Zero - res.Clean)
	if n > 0 {
		res.L0 = float64(active) / float64(n)
	} else {
		res.L0 = math.NaN()
	}
	return res, nil
}

// decoderRows writes scale·dir[f] + bias for features [lo, hi) into dst
// (d values a row).
func decoderRows(dirs, bias []float32, d, lo, hi int, scale float32, dst []float32) {
	for f := lo; f < hi; f++ {
		row := dirs[f*d : (f+1)*d]
		out := dst[(f-lo)*d : (f-lo+1)*d]
		for j, w := range row {
			out[j] = scale*w + bias[j]
		}
	}
}

// Unembedding holds, for each feature, the softmax statistics of
// softmax(W_U · ln_final(scale·W_dec[f] + b_dec)), W_dec[f] and b_dec as
// residual-stream directions (Encoder.ResidualDirections).
type Unembedding struct {
	Scale       float32   `json:"scale"`
	EntropyBits []float32 `json:"entropy_bits"`
	MaxProb     []float32 `json:"max_prob"`
}

// UnembedDecoder computes the Unembedding of every feature's decoder
// direction scaled by scale (the notebook used the average hidden norm).
func UnembedDecoder(ctx context.Context, m *model.Model, enc *encoder.Encoder, scale float32) (*Unembedding, error) {
	d, n := m.Config.DModel, enc.DSae()
	dirs, bias, err := enc.ResidualDirections(m)
	if err != nil {
		return nil, fmt.Errorf("unembed: %w", err)
	}
	res := &Unembedding{Scale: scale, EntropyBits: make([]float32, n), MaxProb: make([]float32, n)}
	be := m.Backend()
	const chunk = 256
	buf := make([]float32, chunk*d)
	x := be.Alloc(chunk, d)
	defer be.Free(x)
	m.Lock()
	defer m.Unlock()
	for lo := 0; lo < n; lo += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+chunk, n)
		decoderRows(dirs, bias, d, lo, hi, scale, buf)
		xv := be.RowsView(x, 0, hi-lo)
		be.Write(xv, buf[:(hi-lo)*d])
		h, p, err := m.UnembedStats(xv)
		if err != nil {
			return nil, err
		}
		copy(res.EntropyBits[lo:hi], h)
		copy(res.MaxProb[lo:hi], p)
	}
	return res, nil
}

// LogitEffect is the direct effect of one feature on the logits, as
// sae_vis and Neuronpedia show it: the tokens whose logit weights
// W_dec[f] · W_U (W_dec[f] as a residual-stream direction) (W_U as TransformerLens processes it: ln_final's gain
// folded in, centred over d_model and over the vocabulary) are largest
// and smallest (model.DirectionLogits).
type LogitEffect struct {
	Boosted    []Ranked `json:"boosted"`
	Suppressed []Ranked `json:"suppressed"`
	// Hist is the histogram of every token's logit weight (sae_vis shows
	// it beside the two lists).
	Hist LogitHistogram `json:"histogram"`
}

// LogitHistBins is the number of bins of LogitEffect.Hist.
const LogitHistBins = 60

// LogitHistogram counts the logit weights of the whole vocabulary over
// equal bins from the smallest weight to the largest.
type LogitHistogram struct {
	Edges  []float64 `json:"edges"`  // len(Counts)+1, Edges[0] the smallest weight, the last the largest
	Counts []int     `json:"counts"` // tokens per bin (the last bin holds the largest)
}

// histogramOf bins v over bins equal bins of [min v, max v].
func histogramOf(v []float32, bins int) LogitHistogram {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, float64(x)), math.Max(hi, float64(x))
	}
	if len(v) == 0 {
		lo, hi = 0, 1
	}
	if hi == lo {
		hi = lo + 1
	}
	h := LogitHistogram{Edges: make([]float64, bins+1), Counts: make([]int, bins)}
	for i := range h.Edges {
		h.Edges[i] = lo + (hi-lo)*float64(i)/float64(bins)
	}
	for _, x := range v {
		i := int((float64(x) - lo) / (hi - lo) * float64(bins))
		h.Counts[max(0, min(bins-1, i))]++
	}
	return h
}

// FeatureLogits returns the k most boosted and suppressed tokens of feature f.
func FeatureLogits(m *model.Model, enc *encoder.Encoder, f int, k int) (*LogitEffect, error) {
	if f < 0 || f >= enc.DSae() {
		return nil, fmt.Errorf("feature %d outside [0, %d)", f, enc.DSae())
	}
	d := m.Config.DModel
	dirs, _, err := enc.ResidualDirections(m)
	if err != nil {
		return nil, fmt.Errorf("logit effect: %w", err)
	}
	m.Lock()
	rows, err := m.DirectionLogits([][]float32{dirs[f*d : (f+1)*d]})
	m.Unlock()
	if err != nil {
		return nil, err
	}
	centred := rows[0]
	neg := make([]float32, len(centred))
	for i, v := range centred {
		neg[i] = -v
	}
	res := &LogitEffect{Boosted: TopK(centred, k), Suppressed: TopK(neg, k), Hist: histogramOf(centred, LogitHistBins)}
	for i := range res.Suppressed {
		res.Suppressed[i].Value = -res.Suppressed[i].Value
	}
	return res, nil
}
