package perf

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/safetensors"
)

// LoadReport holds the cost of opening a full-size GPT-2 small checkpoint.
type LoadReport struct {
	FileMB          float64 `json:"file_mb"`
	LoadSeconds     float64 `json:"load_seconds"`
	RSSBeforeMB     float64 `json:"rss_before_mb"`
	RSSAddedLoadMB  float64 `json:"rss_added_by_load_mb"`
	RSSAddedForward float64 `json:"rss_added_after_forward_mb"`
	ForwardSeconds  float64 `json:"first_forward_seconds"`
	ForwardTokens   int     `json:"first_forward_tokens"`
}

// WriteRandomCheckpoint writes a random full-size GPT-2 small folder
// (config.json + model.safetensors) into dir.
func WriteRandomCheckpoint(dir string) error {
	cfg := gpt2.SmallConfig()
	ck := gpt2.Random(cfg, 11)
	raw := fmt.Sprintf(`{"model_type":"gpt2","vocab_size":%d,"n_positions":%d,"n_ctx":%d,"n_embd":%d,"n_head":%d,"n_layer":%d,"layer_norm_epsilon":1e-05,"activation_function":"gelu_new"}`,
		cfg.VocabSize, cfg.NPositions, cfg.NPositions, cfg.DModel, cfg.NHead, cfg.NLayer)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(raw), 0o644); err != nil {
		return err
	}
	return safetensors.Write(filepath.Join(dir, "model.safetensors"), ck.StateDict(), map[string]string{"format": "pt"})
}

// rssMB reads the process's resident set size from /proc (Linux only; 0
// elsewhere).
func rssMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// MeasureLoad writes a random full-size checkpoint into dir (unless one is
// there), then times gpt2.Load + model.New on be and reports the RSS they
// add, and the RSS after a first 128-token forward pass (which touches
// every weight page).
func MeasureLoad(ctx context.Context, be compute.Backend, dir string) (*LoadReport, error) {
	st := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(st); err != nil {
		if err := WriteRandomCheckpoint(dir); err != nil {
			return nil, fmt.Errorf("write random checkpoint: %w", err)
		}
	}
	fi, err := os.Stat(st)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	rep := &LoadReport{FileMB: float64(fi.Size()) / (1 << 20), RSSBeforeMB: rssMB()}
	t0 := time.Now()
	ck, err := gpt2.Load(dir)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	m, err := model.New(be, ck)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	rep.LoadSeconds = time.Since(t0).Seconds()
	rep.RSSAddedLoadMB = rssMB() - rep.RSSBeforeMB
	T := 128
	tokens := make([]int32, T)
	for i := range tokens {
		tokens[i] = int32((i * 7919) % m.Config.VocabSize)
	}
	t1 := time.Now()
	m.Lock()
	out, err := m.Run(ctx, tokens, 1, T, model.Hooks{})
	if err == nil {
		_, err = m.TokenLoss(out, tokens)
	}
	m.Unlock()
	if err != nil {
		return nil, err
	}
	rep.ForwardSeconds = time.Since(t1).Seconds()
	rep.ForwardTokens = T
	rep.RSSAddedForward = rssMB() - rep.RSSBeforeMB
	return rep, nil
}
