package plots

import (
	"sync"
	"testing"

	"github.com/saescope/saescope/compute/store"
)

// The notebook-sized store: 1000 rows of 128 tokens, a 6144-feature SAE
// firing on about 60 features per token, and the random baseline (about
// 3000 positive values per token) on one row in 5. Built once, in memory.
var (
	fullOnce  sync.Once
	fullStore *store.Store
)

func full(b *testing.B) *store.Store {
	fullOnce.Do(func() {
		fullStore = synth{rows: 1000, seq: 128, d: 6144, perToken: 60, randPerToken: 3000, stride: 5, seed: 7}.build()
	})
	m := fullStore.Meta.Summary
	b.Logf("store: %d tokens, L0 %.1f; %d baseline tokens, random L0 %.0f", m.Tokens, m.L0, m.RandomTokens, m.RandomL0)
	return fullStore
}

// BenchmarkThresholdRedraw times what the statistics pane does when the
// threshold of the features-per-token plot changes: query the store
// (per-token counts of learnt and random activations above the
// threshold), bin, build the plot and rasterise it at 900 × 500 for the
// window ("image"), or also encode the PNG ("png"). The thresholds cycle
// through the notebook's. Target: under 200 ms. Measured on 2 shared CPU
// cores (Go 1.26, 20-30 iterations, over several runs as the load
// varied): query 16-58 ms, image 22-55 ms, png 28-63 ms per redraw; the
// store's per-token counts are most of it.
//
//	go test -run '^$' -bench ThresholdRedraw -benchtime 20x ./ui/plots/
func BenchmarkThresholdRedraw(b *testing.B) {
	s := full(b)
	b.Run("query", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.Distribution(store.PlotFeaturesPerToken, NotebookThresholds[i%4]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			f, err := Distribution(s, store.PlotFeaturesPerToken, Options{Threshold: NotebookThresholds[i%4]})
			if err != nil {
				b.Fatal(err)
			}
			Image(f.Plot, 900, 500)
		}
	})
	b.Run("png", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			f, err := Distribution(s, store.PlotFeaturesPerToken, Options{Threshold: NotebookThresholds[i%4]})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Render(f.Plot, 900, 500, "png"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFeatureDistributions times the per-feature plots (frequency,
// mean) on the same store, rasterised at 900 × 500.
func BenchmarkFeatureDistributions(b *testing.B) {
	s := full(b)
	for _, kind := range []store.PlotKind{store.PlotFrequency, store.PlotMean} {
		b.Run(string(kind), func(b *testing.B) {
			for b.Loop() {
				f, err := Distribution(s, kind, DefaultOptions())
				if err != nil {
					b.Fatal(err)
				}
				Image(f.Plot, 900, 500)
			}
		})
	}
}
