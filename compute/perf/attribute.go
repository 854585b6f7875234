package perf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/tokenizer"
)

// AttributeReport is the timing of one attribution (forward with the SAEs
// spliced in, then the backward pass), best of the repetitions.
type AttributeReport struct {
	Backend string   `json:"backend"`
	Tokens  int      `json:"tokens"`
	Hooks   []string `json:"hooks"`
	DSae    int      `json:"d_sae"`
	Metric  string   `json:"metric"`
	// ModelForwardS is model.Run's plain forward of the prompt (no SAE).
	ModelForwardS float64 `json:"model_forward_seconds"`
	// ForwardS is attribution's forward: the same ops, each SAE encoding
	// at its hook, the activations the backward needs kept.
	ForwardS float64 `json:"forward_seconds"`
	// BackwardS is the metric's gradient and the backward pass to the
	// first SAE, ∂m/∂f of every feature of every SAE at every position.
	BackwardS float64 `json:"backward_seconds"`
	// BackwardOverForward is BackwardS / ForwardS.
	BackwardOverForward float64 `json:"backward_over_forward"`
	// BackwardOverModel is BackwardS / ModelForwardS.
	BackwardOverModel float64 `json:"backward_over_model_forward"`
	// ForwardCPUS and BackwardCPUS are the process' CPU time (user +
	// system, every thread: OpenBLAS' too) in the same two phases, best of
	// the repetitions, and BackwardOverForwardCPU their ratio: a figure
	// that other processes loading the machine do not change. 0 where the
	// system does not say (not Linux).
	ForwardCPUS            float64 `json:"forward_cpu_seconds"`
	BackwardCPUS           float64 `json:"backward_cpu_seconds"`
	BackwardOverForwardCPU float64 `json:"backward_over_forward_cpu"`
	// GraphS is attribution.BuildGraph's time on the prompt's first
	// GraphTokens tokens (default options: 30 feature nodes per SAE), with
	// GraphNodes nodes (errors included) and GraphEdges edges.
	GraphS      float64 `json:"graph_seconds"`
	GraphTokens int     `json:"graph_tokens"`
	GraphNodes  int     `json:"graph_nodes"`
	GraphEdges  int     `json:"graph_edges"`
}

// Attribute times attribution.Run on full-size random GPT-2 small: a
// random prompt of seq tokens (BOS first), a random dSae-feature SAE at
// each hook (calibrated to fire about l0 features per token), the metric
// logits[-1, 13] − logits[-1, 11]; reps repetitions, the best kept. Then
// the attribution graph of the prompt's first 24 tokens with the same SAEs.
func Attribute(ctx context.Context, be compute.Backend, hooks []string, dSae, seq int, l0 float64, reps int, progress func(string)) (*AttributeReport, error) {
	cfg := gpt2.SmallConfig()
	if len(hooks) == 0 {
		return nil, fmt.Errorf("attribute benchmark: no hook")
	}
	progress("building a random full-size GPT-2 small")
	m, err := model.New(be, gpt2.Random(cfg, 1))
	if err != nil {
		return nil, err
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(9, 10))
	prompt := make([]int32, seq)
	prompt[0] = tokenizer.BOS
	for i := 1; i < seq; i++ {
		prompt[i] = int32(rng.IntN(cfg.VocabSize - 1))
	}
	var encs []*encoder.Encoder
	for i, name := range hooks {
		h, err := hookname.Parse(name, cfg.NLayer)
		if err != nil {
			return nil, err
		}
		s := sae.Random(cfg.DModel, dSae, h, -0.5, uint64(11+i))
		progress(fmt.Sprintf("calibrating the SAE at %s to fire about %g features per token", h, l0))
		if err := CalibrateBias(ctx, m, s, prompt, 1, seq, l0); err != nil {
			return nil, err
		}
		e, err := encoder.New(be, s)
		if err != nil {
			return nil, err
		}
		defer e.Close()
		encs = append(encs, e)
	}
	metric := attribution.Metric{Kind: attribution.LogitDiff, A: 13, B: 11}
	rep := &AttributeReport{Backend: compute.Describe(be), Tokens: seq, Hooks: hooks, DSae: dSae, Metric: metric.String()}
	best := func(cur *float64, v float64) {
		if *cur == 0 || v < *cur {
			*cur = v
		}
	}
	for r := 0; r < max(1, reps); r++ {
		progress(fmt.Sprintf("attribution %d/%d", r+1, max(1, reps)))
		t0 := time.Now()
		m.Lock()
		out, err := m.Run(ctx, prompt, 1, seq, model.Hooks{})
		if err == nil {
			_, err = m.Logits(out.Resid, []int{seq - 1})
		}
		m.Unlock()
		if err != nil {
			return nil, err
		}
		best(&rep.ModelForwardS, time.Since(t0).Seconds())
		// Run's two phases, timed apart: the forward with the SAEs
		// spliced in, then the backward
		c0, cpuOK := processCPUSeconds()
		t0 = time.Now()
		tp, err := attribution.NewTape(ctx, m, encs, prompt, false)
		if err != nil {
			return nil, err
		}
		c1, _ := processCPUSeconds()
		t1 := time.Now()
		if _, err := tp.Gradient(ctx, metric); err != nil {
			return nil, err
		}
		c2, _ := processCPUSeconds()
		best(&rep.ForwardS, t1.Sub(t0).Seconds())
		best(&rep.BackwardS, time.Since(t1).Seconds())
		if cpuOK {
			best(&rep.ForwardCPUS, c1-c0)
			best(&rep.BackwardCPUS, c2-c1)
		}
	}
	rep.BackwardOverForward = rep.BackwardS / rep.ForwardS
	if rep.ForwardCPUS > 0 {
		rep.BackwardOverForwardCPU = rep.BackwardCPUS / rep.ForwardCPUS
	}
	rep.BackwardOverModel = rep.BackwardS / rep.ModelForwardS
	rep.GraphTokens = min(24, seq)
	progress(fmt.Sprintf("attribution graph of the first %d tokens", rep.GraphTokens))
	t0 := time.Now()
	g, err := attribution.BuildGraph(ctx, m, encs, prompt[:rep.GraphTokens], metric, attribution.GraphOptions{})
	if err != nil {
		return nil, err
	}
	rep.GraphS = time.Since(t0).Seconds()
	rep.GraphNodes, rep.GraphEdges = len(g.Nodes), len(g.Edges)
	return rep, nil
}

// processCPUSeconds returns the process' user + system CPU time so far,
// from /proc/self/stat (Linux), in clock ticks of 1/100 s; ok is false
// where the system does not say.
func processCPUSeconds() (sec float64, ok bool) {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// the command name (field 2) may hold spaces: count from after it
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	// f[0] is field 3 (state): utime and stime are fields 14 and 15
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (u + st) / 100, true
}
