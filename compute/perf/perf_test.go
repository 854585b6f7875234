package perf_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/perf"
)

// Run on a backend that reads results back sparsely (the CPU dressed as a
// device) also times the scan with its read-back, on an SAE calibrated to
// the asked L0; on the plain CPU it does not.
func TestRunTimesTheReadBackOnDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a full-size random GPT-2 small")
	}
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		t.Fatal(err)
	}
	opts := perf.Options{Batch: 2, Seq: 32, Reps: 1, SkipFull: true, L0: 40}
	rep, err := perf.Run(context.Background(), fixture.SparseCPU{Backend: be}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ScanTokensPerS <= 0 || rep.ReadBackTokensPerS <= 0 {
		t.Errorf("scan %v tokens/s, with read-back %v", rep.ScanTokensPerS, rep.ReadBackTokensPerS)
	}
	// Calibrated on the batch's first rows, which are the whole batch
	// here: the L0 read back is the one asked for, give or take the BOS
	// rows and ties.
	if math.Abs(rep.ReadBackL0-40) > 4 {
		t.Errorf("read back %.1f features per token, calibrated for 40", rep.ReadBackL0)
	}
	rep, err = perf.Run(context.Background(), be, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ScanTokensPerS <= 0 || rep.ReadBackTokensPerS != 0 || rep.ReadBackL0 != 0 {
		t.Errorf("CPU: scan %v tokens/s, read-back %v at L0 %v (none expected)", rep.ScanTokensPerS, rep.ReadBackTokensPerS, rep.ReadBackL0)
	}
	// the paired fraction: a rate over a rate, each repetition's
	if rep.ScanFractionPaired <= 0 || rep.ScanFraction <= 0 {
		t.Errorf("fractions of SGEMM: %v, paired %v", rep.ScanFraction, rep.ScanFractionPaired)
	}
}

// With Options.Hooks, Run times the SAEs together and the single SAE at
// Hook in the same run: both figures are reported, the read-back L0 is
// per SAE (each calibrated to the asked L0), and a hook that is not
// d_model wide is refused.
func TestRunTimesSAEsTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a full-size random GPT-2 small")
	}
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		t.Fatal(err)
	}
	opts := perf.Options{Batch: 2, Seq: 32, Reps: 1, SkipFull: true, L0: 40, Hook: "blocks.2.hook_resid_pre",
		Hooks: []string{"blocks.0.hook_resid_pre", "blocks.1.hook_mlp_out", "blocks.2.hook_resid_pre"}}
	rep, err := perf.Run(context.Background(), fixture.SparseCPU{Backend: be}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Hooks) != 3 || rep.ScanTokensPerS <= 0 || rep.SingleTokensPerS <= 0 || rep.ReadBackTokensPerS <= 0 || rep.SingleReadBackTokensPerS <= 0 {
		t.Errorf("hooks %v: together %v tokens/s, single %v, read-back %v and %v", rep.Hooks, rep.ScanTokensPerS, rep.SingleTokensPerS, rep.ReadBackTokensPerS, rep.SingleReadBackTokensPerS)
	}
	if math.Abs(rep.TogetherVsSingle-rep.ScanTokensPerS/rep.SingleTokensPerS) > 1e-9 {
		t.Errorf("together/single %v, figures %v and %v", rep.TogetherVsSingle, rep.ScanTokensPerS, rep.SingleTokensPerS)
	}
	if math.Abs(rep.ReadBackL0-40) > 4 {
		t.Errorf("read back %.1f features per token and SAE, calibrated for 40", rep.ReadBackL0)
	}
	opts.Hooks = []string{"blocks.0.hook_resid_pre", "blocks.1.mlp.hook_post"}
	if _, err := perf.Run(context.Background(), be, opts); err == nil {
		t.Error("a hook of d_mlp width accepted")
	}
}

// A scan shape that is not positive, past the context or too large to fit
// in memory is refused before anything is allocated (batch 10^8 ran out of
// memory, batch −3 panicked in make).
func TestRunRefusesBadShape(t *testing.T) {
	be, err := cpu.New(cpu.BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts perf.Options
		want string
	}{
		{perf.Options{Batch: -3}, "batch -3"},
		{perf.Options{Batch: 100000000}, "batch 100000000 × sequence 128"},
		{perf.Options{Seq: -1}, "sequence length -1"},
		{perf.Options{Seq: 1025}, "sequence length 1025"},
		{perf.Options{DSae: -5}, "-5 SAE features"},
		{perf.Options{DSae: 100000000}, "100000000 SAE features"},
		{perf.Options{Reps: -1}, "-1 repetitions"},
	} {
		_, err := perf.Run(context.Background(), be, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error saying %q", c.opts, err, c.want)
		}
	}
}
