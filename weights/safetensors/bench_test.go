package safetensors

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/weights"
)

// writeGPT2Small writes random weights with GPT-2 small's large matrices
// (about 494 MB of F32) and returns the file's path and size.
func writeGPT2Small(b *testing.B) (string, int64) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	randTensor := func(shape ...int) weights.Tensor {
		data := make([]float32, weights.NumElements(shape))
		for i := range data {
			data[i] = rng.Float32()*0.04 - 0.02
		}
		return weights.Tensor{Shape: shape, Data: data}
	}
	tensors := map[string]weights.Tensor{"wte.weight": randTensor(50257, 768)}
	for l := range 12 {
		p := fmt.Sprintf("h.%d.", l)
		tensors[p+"attn.c_attn.weight"] = randTensor(768, 2304)
		tensors[p+"attn.c_proj.weight"] = randTensor(768, 768)
		tensors[p+"mlp.c_fc.weight"] = randTensor(768, 3072)
		tensors[p+"mlp.c_proj.weight"] = randTensor(3072, 768)
	}
	path := filepath.Join(b.TempDir(), "gpt2-small.safetensors")
	if err := Write(path, tensors, map[string]string{"format": "pt"}); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// BenchmarkOpenFullSize measures Open plus Float32 on every tensor of a
// GPT-2-small-sized file. "views" only takes the zero-copy views; "sum" also
// reads every value (so every page of the file is touched).
func BenchmarkOpenFullSize(b *testing.B) {
	path, size := writeGPT2Small(b)
	b.Logf("file: %.1f MB", float64(size)/1e6)
	for _, touch := range []bool{false, true} {
		name := "views"
		if touch {
			name = "sum"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			var sink float32
			for b.Loop() {
				f, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				for _, n := range f.Names() {
					t, err := f.Float32(n)
					if err != nil {
						b.Fatal(err)
					}
					if touch {
						for _, v := range t.Data {
							sink += v
						}
					} else {
						sink += t.Data[len(t.Data)-1]
					}
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
			_ = sink
		})
	}
}
