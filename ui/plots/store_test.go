package plots

import (
	"math"
	"math/rand/v2"

	"github.com/saescope/saescope/compute/store"
)

// synth describes a synthetic store.
type synth struct {
	rows, seq, d int
	perToken     int          // learnt features firing per counted token, about
	randPerToken int          // random-baseline activations per baselined token, about
	stride       int          // one row in stride gets the baseline
	dead         map[int]bool // features that never fire
	seed         uint64
}

// build makes the store in memory with store.Builder: random sparse
// activations (BOS positions excluded, as the scan does by default),
// a random baseline, unembedding statistics and losses.
func (c synth) build() *store.Store {
	rng := rand.New(rand.NewPCG(c.seed, 3))
	n := c.rows * c.seq
	meta := store.Meta{DSae: c.d, DIn: 16, Hook: "blocks.0.hook_resid_pre",
		Params: store.Params{Rows: c.rows, SeqLen: c.seq, BaselineStride: c.stride}}
	b := store.NewBuilder(meta, make([]int32, n))
	b.Reserve(n*c.perToken, n/max(1, c.stride)*c.randPerToken)
	var ids []uint32
	var vals []float32
	gap := max(2, 2*c.d/max(1, c.perToken))
	rgap := max(2, 2*c.d/max(1, c.randPerToken))
	for t := 0; t < n; t++ {
		counted := t%c.seq != 0
		ids, vals = ids[:0], vals[:0]
		if counted {
			for f := rng.IntN(gap); f < c.d; f += 1 + rng.IntN(gap-1) {
				if c.dead[f] {
					continue
				}
				ids = append(ids, uint32(f))
				vals = append(vals, float32(rng.ExpFloat64()*0.4)+1e-3)
			}
		}
		b.AddToken(t, ids, vals, counted)
		if counted && c.randPerToken > 0 && (t/c.seq)%c.stride == 0 {
			ids, vals = ids[:0], vals[:0]
			for f := rng.IntN(rgap); f < c.d; f += 1 + rng.IntN(rgap-1) {
				ids = append(ids, uint32(f))
			}
			// The quantiles of an exponential law, decreasing as the
			// builder stores them (so that its sort has nothing to do).
			scale := 0.05 * (0.5 + rng.Float64())
			m := float64(len(ids))
			for k := range ids {
				vals = append(vals, float32(-scale*math.Log((float64(k)+1)/(m+1)))+1e-4)
			}
			b.AddRandomToken(t, ids, vals)
		}
	}
	ue := func(base, spread float64) []float32 {
		out := make([]float32, c.d)
		for i := range out {
			out[i] = float32(base + spread*rng.NormFloat64())
		}
		return out
	}
	b.SetUnembedding(ue(13, 1.5), ue(0.01, 0.002), ue(15.5, 0.05), ue(0.0002, 0.00002))
	sum := b.Summary()
	sum.LossClean, sum.LossRecons, sum.LossZero, sum.LossMean = 3.2, 3.5, 7.9, 4.4
	sum.ReconScore = (sum.LossZero - sum.LossRecons) / (sum.LossZero - sum.LossClean)
	return b.Finish()
}

// small is the store of the tests: 40 rows of 32 tokens, 96 features of
// which 3 dead, ~12 firing per token, a denser baseline on one row in 4.
var small = synth{rows: 40, seq: 32, d: 96, perToken: 12, randPerToken: 40, stride: 4,
	dead: map[int]bool{5: true, 17: true, 60: true}, seed: 1}
