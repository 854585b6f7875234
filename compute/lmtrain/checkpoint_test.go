package lmtrain

import (
	"context"
	"math"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
)

func logSoftmax(row []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var z float64
	for _, v := range row {
		z += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(row))
	for i, v := range row {
		out[i] = float64(v) - mx - math.Log(z)
	}
	return out
}

// TestWrittenCheckpointMatchesTrainer: the checkpoint written with
// gpt2.Write opens with gpt2.Load and compute/model (which centres and
// folds as TransformerLens does), and its log-probabilities over the full
// vocabulary equal the trainer's forward within 1e-4 at every position.
func TestWrittenCheckpointMatchesTrainer(t *testing.T) {
	ctx := context.Background()
	p := tinyModel(t, 11)
	dir := t.TempDir()
	if err := gpt2.Write(dir, p.Checkpoint(), map[string]string{"made_by": "test"}); err != nil {
		t.Fatal(err)
	}
	ck, err := gpt2.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if ck.Config.VocabSize != 40 || ck.Config.NLayer != 2 || ck.Config.DModel != 8 {
		t.Fatalf("config read back as %+v", ck.Config)
	}
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(be, ck)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tokens := []int32{3, 17, 35, 0, 29, 8, 38, 12} // 35 and 38 are unused tokens: the shared row
	want, err := Logits(ctx, p, Gonum(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	m.Lock()
	defer m.Unlock()
	out, err := m.Run(ctx, tokens, 1, len(tokens), model.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]int, len(tokens))
	for i := range rows {
		rows[i] = i
	}
	got, err := m.Logits(out.Resid, rows)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for pos := range tokens {
		a, b := logSoftmax(got[pos]), logSoftmax(want[pos])
		for v := range a {
			worst = math.Max(worst, math.Abs(a[v]-b[v]))
		}
	}
	if worst > 1e-4 {
		t.Fatalf("log-probabilities differ by up to %.3g (tolerance 1e-4)", worst)
	}
	t.Logf("largest log-probability difference %.2g", worst)
}
