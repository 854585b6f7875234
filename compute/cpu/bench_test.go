package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGeluNew is gelu_new over one layer's MLP activations at batch
// 32×128 for GPT-2 small (4096×3072 values).
func BenchmarkGeluNew(b *testing.B) {
	be, _ := New(BLASAuto)
	x := be.Alloc(4096, 3072)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range x.(*Mat).Data() {
		x.(*Mat).Data()[i] = float32(rng.NormFloat64())
	}
	b.SetBytes(4096 * 3072 * 4)
	for b.Loop() {
		be.GeluNew(x)
	}
}

// BenchmarkCausalAttention is one GPT-2 small layer's attention, at batch
// 32×128 and 4×1024 (12 heads of 64), by each path this CPU runs: the C
// kernels (AVX-512, AVX2) and the products through the BLAS in tiles.
func BenchmarkCausalAttention(b *testing.B) {
	be, _ := New(BLASAuto)
	rng := rand.New(rand.NewPCG(2, 2))
	qkv := randMat(rng, 4096, 3*768, 1)
	z := be.Alloc(4096, 768)
	for _, shape := range [][2]int{{32, 128}, {4, 1024}} {
		for _, path := range attnPaths() {
			pb := *be
			pb.attn = path
			b.Run(fmt.Sprintf("%dx%d/%s", shape[0], shape[1], path), func(b *testing.B) {
				for b.Loop() {
					pb.CausalAttention(z, qkv, shape[0], shape[1], 12)
				}
			})
		}
	}
}

// BenchmarkLayerNorm is one LayerNorm over 4096×768.
func BenchmarkLayerNorm(b *testing.B) {
	be, _ := New(BLASAuto)
	rng := rand.New(rand.NewPCG(3, 3))
	x, w, bias := randMat(rng, 4096, 768, 1), randMat(rng, 1, 768, 1), randMat(rng, 1, 768, 1)
	dst := be.Alloc(4096, 768)
	for b.Loop() {
		be.LayerNorm(dst, x, w, bias, 1e-5)
	}
}

// BenchmarkSGEMM is the 4096×768×3072 product of the MLP's first layer.
func BenchmarkSGEMM(b *testing.B) {
	for _, choice := range []BLAS{BLASOpenBLAS, BLASGonum} {
		be, err := New(choice)
		if err != nil {
			b.Logf("%s: %v", choice, err)
			continue
		}
		b.Run(string(choice), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(4, 4))
			x, w := randMat(rng, 4096, 768, 1), randMat(rng, 768, 3072, 1)
			dst := be.Alloc(4096, 3072)
			for b.Loop() {
				be.MatMul(dst, x, w, nil)
			}
			b.ReportMetric(2*4096*768*3072*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

// BenchmarkSoftmaxStats is the unembedding statistics of one chunk of 256
// directions over GPT-2's 50257-token vocabulary.
func BenchmarkSoftmaxStats(b *testing.B) {
	be, _ := New(BLASAuto)
	rng := rand.New(rand.NewPCG(5, 5))
	logits := randMat(rng, 256, 50257, 3)
	ent, mp := make([]float32, 256), make([]float32, 256)
	b.SetBytes(256 * 50257 * 4)
	for b.Loop() {
		be.SoftmaxStats(ent, mp, logits)
	}
}

// BenchmarkCrossEntropy is the next-token loss of a 16×128 batch.
func BenchmarkCrossEntropy(b *testing.B) {
	be, _ := New(BLASAuto)
	rng := rand.New(rand.NewPCG(6, 6))
	logits := randMat(rng, 2048, 50257, 3)
	loss := make([]float32, 2048)
	targets := make([]int32, 2048)
	for i := range targets {
		targets[i] = int32(rng.IntN(50257))
	}
	b.SetBytes(2048 * 50257 * 4)
	for b.Loop() {
		be.CrossEntropy(loss, logits, targets)
	}
}

// BenchmarkModelShapes times the products of a GPT-2 small scan at batch
// 32×128, each with its bias as the model passes it, against which the
// 4096×768×3072 figure of BenchmarkSGEMM (and of `bench`) is the
// reference: qkv, attention output, MLP in, MLP out, and a 6144-feature
// SAE encode.
func BenchmarkModelShapes(b *testing.B) {
	be, err := New(BLASOpenBLAS)
	if err != nil {
		b.Skip(err)
	}
	for _, s := range []struct {
		name    string
		m, k, n int
	}{{"qkv", 4096, 768, 2304}, {"o", 4096, 768, 768}, {"fc", 4096, 768, 3072}, {"proj", 4096, 3072, 768}, {"encode", 4096, 768, 6144}} {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(4, 4))
			x, w, bias := randMat(rng, s.m, s.k, 1), randMat(rng, s.k, s.n, 1), randMat(rng, 1, s.n, 1)
			dst := be.Alloc(s.m, s.n)
			for b.Loop() {
				be.MatMul(dst, x, w, bias)
			}
			b.ReportMetric(2*float64(s.m*s.k*s.n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
