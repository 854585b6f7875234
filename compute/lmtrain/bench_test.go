package lmtrain

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/weights/gpt2"
)

// BenchmarkStep times one forward and backward of the demo's shape: 2
// blocks of width 64, 22k vocabulary rows in use, 4 sequences of 128.
func BenchmarkStep(b *testing.B) {
	cfg := gpt2.Config{VocabSize: 50257, NPositions: 128, DModel: 64, NHead: 4, NLayer: 2,
		LayerNormEps: 1e-5, Activation: "gelu_new", ModelType: "gpt2"}
	used := make([]int32, 22000)
	for i := range used {
		used[i] = int32(i)
	}
	v, err := NewVocab(50257, used)
	if err != nil {
		b.Fatal(err)
	}
	p, err := Init(cfg, v, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, choice := range []cpu.BLAS{cpu.BLASAuto, cpu.BLASGonum} {
		gemm, name, err := cpu.HostGemm(choice)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) { benchStep(b, p, gemm) })
	}
}

func benchStep(b *testing.B, p *Params, gemm cpu.Sgemmer) {
	rng := rand.New(rand.NewPCG(1, 1))
	tokens := make([]int32, 4*128)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(22000))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := LossAndGrad(context.Background(), p, gemm, tokens, 128, p.ZeroGrad()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(tokens))/b.Elapsed().Seconds(), "tokens/s")
}
