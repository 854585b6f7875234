package features_test

import (
	"context"
	"math"
	"path/filepath"
	"sort"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
)

// FeatureLogits gives the logit weights sae_vis and Neuronpedia show:
// W_dec[f] · W_U, with W_U processed as HookedTransformer.from_pretrained
// does. The reference builds that matrix step by step as TransformerLens'
// fold_layer_norm (W_U·ln_final.w, centred over d_model) and center_unembed
// (centred over the vocabulary) do, in float64, and multiplies.
func TestFeatureLogitsAgainstHostComputation(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	ck, err := gpt2.Load(filepath.Join(fixture.Dir(), "tiny-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	enc := s.SAEs["sae0"]
	const f, k = 17, 10
	got, err := features.FeatureLogits(s.Model, enc, f, k)
	if err != nil {
		t.Fatal(err)
	}
	d, V := enc.DIn(), ck.Config.VocabSize
	// W_U [d, V] = W_Eᵀ (tied), ln_final.w folded into its rows
	wu := make([]float64, d*V)
	for v := 0; v < V; v++ {
		for j := 0; j < d; j++ {
			wu[j*V+v] = float64(ck.WTE.Data[v*d+j]) * float64(ck.LNFW.Data[j])
		}
	}
	// centre subtracts from each of n lines of m entries (entry k of line
	// i at i·lineStride + k·step) the line's mean
	centre := func(n, m, lineStride, step int) {
		for i := 0; i < n; i++ {
			var mean float64
			for k := 0; k < m; k++ {
				mean += wu[i*lineStride+k*step]
			}
			mean /= float64(m)
			for k := 0; k < m; k++ {
				wu[i*lineStride+k*step] -= mean
			}
		}
	}
	centre(V, d, 1, V) // fold_layer_norm: each column over d_model
	centre(d, V, V, 1) // center_unembed: each row over the vocabulary
	logits := make([]float64, V)
	for j := 0; j < d; j++ {
		u := float64(enc.SAE.WDec.Data[f*d+j])
		for v := 0; v < V; v++ {
			logits[v] += u * wu[j*V+v]
		}
	}
	idx := make([]int, V)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	for i := 0; i < k; i++ {
		if got.Boosted[i].ID != idx[i] || math.Abs(float64(got.Boosted[i].Value)-logits[idx[i]]) > 1e-4 {
			t.Errorf("boosted %d: %+v, want id %d value %g", i, got.Boosted[i], idx[i], logits[idx[i]])
		}
		lo := idx[V-1-i]
		if got.Suppressed[i].ID != lo || math.Abs(float64(got.Suppressed[i].Value)-logits[lo]) > 1e-4 {
			t.Errorf("suppressed %d: %+v, want id %d value %g", i, got.Suppressed[i], lo, logits[lo])
		}
	}
	// the histogram of every token's weight: from the smallest to the
	// largest, the counts those of the host computation (a weight within
	// 1e-4 of an edge may fall either side)
	h := got.Hist
	n := len(h.Counts)
	if n != features.LogitHistBins || len(h.Edges) != n+1 {
		t.Fatalf("histogram of %d bins, %d edges", n, len(h.Edges))
	}
	lo, hi := logits[idx[V-1]], logits[idx[0]]
	if math.Abs(h.Edges[0]-lo) > 1e-4 || math.Abs(h.Edges[n]-hi) > 1e-4 {
		t.Errorf("histogram range [%g, %g], weights from %g to %g", h.Edges[0], h.Edges[n], lo, hi)
	}
	want := make([]int, n)
	slack := 0
	for _, x := range logits {
		b := max(0, min(n-1, int((x-h.Edges[0])/(h.Edges[n]-h.Edges[0])*float64(n))))
		want[b]++
		if b > 0 && x-h.Edges[b] < 1e-4 || b < n-1 && h.Edges[b+1]-x < 1e-4 {
			slack++
		}
	}
	total, diff := 0, 0
	for i := range want {
		total += h.Counts[i]
		diff += max(h.Counts[i]-want[i], want[i]-h.Counts[i])
	}
	if total != V || diff > 2*slack {
		t.Errorf("histogram counts %v (total %d), host %v (%d weights near an edge)", h.Counts, total, want, slack)
	}
}

// A host-function patch that zeroes the activation must equal zero
// ablation, and one that changes nothing must equal the clean run.
func TestHostFuncPatch(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	tokens, shape := ref.Ints(t, "tokens")
	B, T := shape[0], shape[1]
	loss := func(p model.Patch) float64 {
		s.Model.Lock()
		defer s.Model.Unlock()
		out, err := s.Model.Run(context.Background(), tokens, B, T, model.Hooks{Patches: map[string]model.Patch{"blocks.0.hook_mlp_out": p}})
		if err != nil {
			t.Fatal(err)
		}
		tl, err := s.Model.TokenLoss(out, tokens)
		if err != nil {
			t.Fatal(err)
		}
		return model.MeanLoss(tl)
	}
	zero := model.HostFunc(func(_ hookname.Hook, data []float32, b, q, w int) error {
		if len(data) != b*q*w || b != B || q != T || w != 32 {
			t.Errorf("host patch got %d values for %d×%d×%d", len(data), b, q, w)
		}
		for i := range data {
			data[i] = 0
		}
		return nil
	})
	keep := model.HostFunc(func(hookname.Hook, []float32, int, int, int) error { return nil })
	if a, b := loss(zero), loss(model.ZeroAblate()); math.Abs(a-b) > 1e-9 {
		t.Errorf("host zero %g, ZeroAblate %g", a, b)
	}
	clean := float64(ref.Float(t, "loss").Data[0])
	if a := loss(keep); math.Abs(a-clean) > 1e-4 {
		t.Errorf("identity patch loss %g, clean %g", a, clean)
	}
}

// The forward pass allocates the same amount whatever the number of
// tokens: buffers are reused, nothing is allocated per token.
func TestRunAllocationsDoNotGrowWithTokens(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector include its own (77 against 85 seen)")
	}
	ref := fixture.Load(t)
	// gonum's own Sgemm starts goroutines in proportion to the matrix
	// size, so the count is taken with OpenBLAS, whose calls allocate nothing.
	if _, err := cpu.New(cpu.BLASOpenBLAS); err != nil {
		t.Skipf("needs OpenBLAS: %v", err)
	}
	s := fixture.NewSetup(t, ref, cpu.BLASOpenBLAS)
	h := hookname.Hook{Layer: 1, Point: hookname.ResidPre}
	run := func(B, T int) float64 {
		tokens := make([]int32, B*T)
		for i := range tokens {
			tokens[i] = int32(i % 50000)
		}
		s.Model.Lock()
		defer s.Model.Unlock()
		s.Model.Run(context.Background(), make([]int32, 32*64), 32, 64, model.Hooks{}) // size the activation buffers
		return testing.AllocsPerRun(5, func() {
			if _, err := s.Model.Run(context.Background(), tokens, B, T, model.Hooks{StopAfter: &h}); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := run(32, 32), run(32, 64)
	if large > small+4 {
		t.Errorf("allocations grow with tokens: %v for 1024 tokens, %v for 2048", small, large)
	}
}

func TestNearestByDecoder(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	a, b := s.SAEs["sae0"].SAE, s.SAEs["sae1"].SAE
	got, err := features.NearestByDecoder(a, 5, a, 3)
	if err != nil {
		t.Fatal(err)
	}
	d := a.DIn
	cos := func(x, y []float32) float64 {
		var dot, nx, ny float64
		for i := range x {
			dot += float64(x[i]) * float64(y[i])
			nx += float64(x[i]) * float64(x[i])
			ny += float64(y[i]) * float64(y[i])
		}
		return dot / math.Sqrt(nx*ny)
	}
	best, bestID := -2.0, -1
	for g := 0; g < a.DSae; g++ {
		if g == 5 {
			continue
		}
		if c := cos(a.WDec.Data[5*d:6*d], a.WDec.Data[g*d:(g+1)*d]); c > best {
			best, bestID = c, g
		}
	}
	if got[0].ID != bestID || math.Abs(got[0].Cosine-best) > 1e-12 || got[0].Cosine < got[1].Cosine {
		t.Errorf("nearest %v, brute force %d (%g)", got, bestID, best)
	}
	across, err := features.NearestByDecoder(a, 5, b, 2)
	if err != nil || len(across) != 2 {
		t.Errorf("across SAEs: %v %v", across, err)
	}
	if _, err := features.NearestByDecoder(a, 256, a, 2); err == nil {
		t.Error("feature 256 accepted")
	}
}
