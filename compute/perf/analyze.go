package perf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// AnalyzeReport holds the figures of a full-size analysis.
type AnalyzeReport struct {
	Rows         int     `json:"rows"`
	Tokens       int     `json:"tokens"`
	L0           float64 `json:"l0"`
	RandomL0     float64 `json:"random_l0"`
	ScanSeconds  float64 `json:"scan_seconds"`
	HostSeconds  float64 `json:"scan_host_seconds"` // of ScanSeconds: the host's share (store arrays)
	WriteSeconds float64 `json:"write_seconds"`     // writing the store file
	TotalSeconds float64 `json:"total_seconds"`
	TokensPerS   float64 `json:"tokens_per_s"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
	StoreMB      float64 `json:"store_mb"`
	ReopenMS     float64 `json:"reopen_ms"`
}

// peakRSSMB reads the process's high-water resident set size (Linux).
func peakRSSMB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb / 1024
		}
	}
	return 0
}

// CalibrateBias sets every b_enc of s so that about targetL0 features fire
// per token on tokens (one batch run through m to s's hook).
func CalibrateBias(ctx context.Context, m *model.Model, s *sae.SAE, tokens []int32, batch, seq int, targetL0 float64) error {
	be := m.Backend()
	for i := range s.BEnc.Data {
		s.BEnc.Data[i] = 0
	}
	enc, err := encoder.New(be, s)
	if err != nil {
		return err
	}
	defer enc.Close()
	h := s.Hook
	var pre []float32
	m.Lock()
	_, err = m.Run(ctx, tokens, batch, seq, model.Hooks{StopAfter: &h, Observe: func(hk hookname.Hook, act compute.Tensor) error {
		if hk != h {
			return nil
		}
		f := be.Alloc(act.Rows(), s.DSae)
		defer be.Free(f)
		// relu(x·W) keeps the positive half; the quantile we need is there.
		if err := enc.Encode(f, act); err != nil {
			return err
		}
		pre = make([]float32, act.Rows()*s.DSae)
		be.Read(f, pre)
		return nil
	}})
	m.Unlock()
	if err != nil {
		return err
	}
	sort.Slice(pre, func(i, j int) bool { return pre[i] > pre[j] })
	k := int(targetL0 * float64(len(pre)) / float64(s.DSae))
	k = max(1, min(k, len(pre)-1))
	for i := range s.BEnc.Data {
		s.BEnc.Data[i] = -pre[k]
	}
	return nil
}

// Analyze runs the full analysis on a random full-size GPT-2 small and a
// random SAE calibrated to fire about targetL0 features per token, over
// rows random token rows, writes the store into dir and reopens it.
func Analyze(ctx context.Context, be compute.Backend, rows int, hookName string, dSae int, targetL0 float64, dir string, progress func(analysis.Progress)) (*AnalyzeReport, error) {
	cfg := gpt2.SmallConfig()
	h, err := hookname.Parse(hookName, cfg.NLayer)
	if err != nil {
		return nil, err
	}
	ck := gpt2.Random(cfg, 1)
	m, err := model.New(be, ck)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	const seq = 128
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([][]int32, rows)
	for i := range data {
		data[i] = make([]int32, seq)
		data[i][0] = 50256
		for j := 1; j < seq; j++ {
			data[i][j] = int32(rng.IntN(cfg.VocabSize))
		}
	}
	s := sae.Random(cfg.DModel, dSae, h, 0, 2)
	calib := min(rows, 8)
	var flat []int32
	for _, r := range data[:calib] {
		flat = append(flat, r...)
	}
	if err := CalibrateBias(ctx, m, s, flat, calib, seq, targetL0); err != nil {
		return nil, err
	}
	enc, err := encoder.New(be, s)
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	runtime.GC()
	debug.FreeOSMemory()
	t0 := time.Now()
	meta := store.Meta{Params: analysis.DefaultParams(), Model: store.Source{Path: "random", Hash: "random"},
		SAE: store.Source{Path: "random", Hash: "random"}, Corpus: store.Source{Path: "random", Hash: "random"}}
	meta.Params.Rows = rows
	st, err := analysis.Scan(ctx, m, enc, data, meta, progress)
	if err != nil {
		return nil, err
	}
	st.Meta.Key = analysis.Key(st.Meta)
	path := analysis.StorePath(dir, st.Meta.Key)
	tw := time.Now()
	if err := st.Write(path); err != nil {
		return nil, err
	}
	sum := st.Meta.Summary
	rep := &AnalyzeReport{Rows: rows, Tokens: sum.Tokens, L0: sum.L0, RandomL0: sum.RandomL0,
		ScanSeconds: sum.ScanSeconds, HostSeconds: sum.HostSeconds, WriteSeconds: time.Since(tw).Seconds(),
		TotalSeconds: time.Since(t0).Seconds(), TokensPerS: sum.TokensPerS}
	rep.PeakRSSMB = peakRSSMB()
	if fi, err := os.Stat(path); err == nil {
		rep.StoreMB = float64(fi.Size()) / (1 << 20)
	}
	st = nil
	t1 := time.Now()
	back, err := store.Open(path)
	if err != nil {
		return nil, err
	}
	_ = back.Rank(store.ByMean, true)
	rep.ReopenMS = float64(time.Since(t1).Microseconds()) / 1000
	back.Close()
	_ = filepath.Base(path)
	return rep, nil
}
