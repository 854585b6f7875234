package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/safetensors"
)

type patchOut struct {
	Metric        string           `json:"metric"`
	MetricTokens  []map[string]any `json:"metric_tokens"`
	MetricClean   float64          `json:"metric_clean"`
	MetricCorrupt float64          `json:"metric_corrupt"`
	Effect        []float64        `json:"effect"`
	Patched       []int            `json:"patched"`
	Position      any              `json:"position"`
}

func runPatchCLI(t *testing.T, args ...string) patchOut {
	t.Helper()
	out, errs, code := runCLI(t, append([]string{"patch", "--model", fixModel, "--blas", "gonum"}, args...)...)
	if code != 0 {
		t.Fatalf("patch %v: exit %d: %s", args, code, errs)
	}
	var res patchOut
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// patch's new options reach intervene.PatchWith unchanged: --metric loss
// with --pos, --metric-feature N@POS of another SAE (--metric-sae), and
// --metric-text, each compared with the library called directly (which
// its own tests check against direct computations); the feature metric's
// clean and corrupted values are PyTorch's sae0 activations (1e-4).
func TestPatchCommandMetrics(t *testing.T) {
	ref, err := safetensors.Open("../testdata/fixtures/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	tok, shape, err := ref.Int64("tokens")
	if err != nil {
		t.Fatal(err)
	}
	T := shape[1]
	clean, corrupt := make([]int32, T), make([]int32, T)
	for i := 0; i < T; i++ {
		clean[i], corrupt[i] = int32(tok[i]), int32(tok[T+i])
	}
	ck, err := gpt2.Load(fixModel)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(be, ck)
	if err != nil {
		t.Fatal(err)
	}
	load := func(path string) *encoder.Encoder {
		w, err := sae.Load(path, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		e, err := encoder.New(be, w)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	sae0, sae1 := load(fixSAE0), load(fixSAE1)
	same := func(what string, got patchOut, want *intervene.Patching) {
		t.Helper()
		if len(got.Effect) != len(want.Effect) || fmt.Sprint(got.Patched) != fmt.Sprint(want.Patched) {
			t.Fatalf("%s: %d effects, patched %v; want %d, %v", what, len(got.Effect), got.Patched, len(want.Effect), want.Patched)
		}
		for i, w := range append([]float64{want.MetricClean, want.MetricCorrupt}, want.Effect...) {
			g := append([]float64{got.MetricClean, got.MetricCorrupt}, got.Effect...)[i]
			if math.Abs(g-w) > 1e-6*math.Max(1, math.Abs(w)) {
				t.Fatalf("%s: value %d is %g, the library's %g", what, i, g, w)
			}
		}
	}
	ids := func(v []int32) string {
		s := make([]int64, len(v))
		for i, x := range v {
			s[i] = int64(x)
		}
		return idsArg(s)
	}

	got := runPatchCLI(t, "--sae", fixSAE0, "--clean", ids(clean), "--corrupt", ids(corrupt), "--metric", "loss", "--pos", "-3")
	want, err := intervene.PatchWith(context.Background(), m, sae0, clean, corrupt, intervene.LossMetric(), intervene.PatchOptions{OnePosition: true, Pos: -3, Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	same("--metric loss --pos -3", got, want)
	if got.Position != float64(T-3) || !strings.HasPrefix(got.Metric, "loss") {
		t.Errorf("position %v, metric %q", got.Position, got.Metric)
	}

	got = runPatchCLI(t, "--sae", fixSAE1, "--metric-sae", fixSAE0, "--clean", ids(clean), "--corrupt", ids(corrupt), "--metric-feature", "158@-1")
	want, err = intervene.PatchWith(context.Background(), m, sae1, clean, corrupt, intervene.FeatureMetric(sae0, 158, -1), intervene.PatchOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	same("--metric-feature 158@-1", got, want)
	acts, err := ref.Float32("sae0.feature_acts") // [3, T, 256]
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range []float64{got.MetricClean, got.MetricCorrupt} {
		if w := float64(acts.Data[(k*T+T-1)*256+158]); math.Abs(v-w) > 1e-4*math.Max(1, math.Abs(w)) {
			t.Errorf("feature 158 at the last position of prompt %d: %g, PyTorch %g", k, v, w)
		}
	}

	got = runPatchCLI(t, "--sae", fixSAE0, "--clean", ids(clean), "--corrupt", ids(corrupt), "--metric-text", " world,hello")
	want, err = intervene.PatchWith(context.Background(), m, sae0, clean, corrupt, intervene.LogitDiff(995, 31373), intervene.PatchOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	same("--metric-text", got, want)
	if len(got.MetricTokens) != 2 || got.MetricTokens[0]["id"] != float64(995) || got.MetricTokens[1]["text"] != "hello" {
		t.Errorf("metric tokens %v", got.MetricTokens)
	}
}

// patch refuses bad metrics and positions with a message naming the
// problem.
func TestPatchCommandRefuses(t *testing.T) {
	p := "50256,464,2068,7586"
	q := "50256,818,16450,7586"
	long := strings.TrimSuffix(strings.Repeat("50256,", 200), ",")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--metric-text", "hello world, world"}, `"hello world" is 2 tokens, not one: "hello" (31373) + " world" (995)`},
		{[]string{"--metric-text", "13,11", "--metric", "loss"}, "give one metric"},
		{[]string{"--metric", "loss", "--pos", "4"}, "position 4 outside prompts of 4 tokens"},
		{[]string{"--metric", "loss", "--pos", "x"}, `--pos "x" is not a position`},
		{[]string{"--metric-feature", "3@z"}, "POS after @ must be an integer"},
		{[]string{"--metric-feature", "999"}, "metric feature 999 out of range"},
		{[]string{"--metric-feature", "3", "--metric-sae", fixSAE1}, "comes before the patched hook"},
		{[]string{"--metric", "loss", "--metric-sae", fixSAE1}, "go with --metric-feature"},
		{[]string{"--metric", "loss", "--clean", long, "--corrupt", long}, "the prompts have 200 tokens, more than the model's context of 128"},
	} {
		args := append([]string{"patch", "--model", fixModel, "--sae", fixSAE0, "--clean", p, "--corrupt", q}, c.args...)
		_, errs, code := runCLI(t, args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want a message saying %q", c.args, code, errs, c.want)
		}
	}
}
