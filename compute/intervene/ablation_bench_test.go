package intervene_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/tokenizer"
)

// BenchmarkAblateAt times one hover of Contexts or the Neuroscope on
// full-size GPT-2 small (random weights) with a random 6144-feature SAE at
// blocks.6.hook_resid_pre: the plain pass up to the hovered position of a
// 128-token corpus row and the ablated pass from block 6, with the
// next-token log-softmax of both. "last" hovers position 127 (the longest
// pass), "early" position 16.
//
//	go test -run '^$' -bench AblateAt -benchtime 5x ./compute/intervene/
func BenchmarkAblateAt(b *testing.B) {
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		b.Fatal(err)
	}
	cfg := gpt2.SmallConfig()
	m, err := model.New(be, gpt2.Random(cfg, 1))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	h, err := hookname.Parse("blocks.6.hook_resid_pre", cfg.NLayer)
	if err != nil {
		b.Fatal(err)
	}
	enc, err := encoder.New(be, sae.Random(cfg.DModel, 6144, h, 1, 2))
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	row := make([]int32, 128)
	row[0] = tokenizer.BOS
	for i := 1; i < len(row); i++ {
		row[i] = int32(rng.IntN(cfg.VocabSize - 1))
	}
	b.Logf("backend %s", be.Name())
	for _, c := range []struct {
		name string
		pos  int
	}{{"last", 127}, {"early", 16}} {
		// a feature that fires there, so that the ablated pass runs
		f := -1
		for g := 0; g < 100 && f < 0; g++ {
			if a, err := intervene.AblateAt(context.Background(), m, enc, row, g, c.pos, 5); err == nil && a.Value > 0 {
				f = g
			}
		}
		if f < 0 {
			b.Fatalf("no feature of the first 100 fires at position %d", c.pos)
		}
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := intervene.AblateAt(context.Background(), m, enc, row, f, c.pos, 5); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
