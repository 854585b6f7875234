package kernels

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestPTXUpToDate checks that kernels.ptx was generated from the current
// kernels.cu (packaging/cuda/regen-ptx.sh records the source's SHA-256) and
// defines every kernel the backend launches.
func TestPTXUpToDate(t *testing.T) {
	sum := sha256.Sum256([]byte(Source))
	want := "// kernels.cu sha256 " + hex.EncodeToString(sum[:])
	first, _, _ := strings.Cut(PTX, "\n")
	if first != want {
		t.Fatalf("kernels.ptx is stale: its first line is %q, kernels.cu hashes to %q; run go generate ./compute/cuda/kernels/ (needs nvcc)", first, want)
	}
	for _, name := range []string{"fill_rows", "add", "sub_row", "bias_relu", "gelu_new", "gather_rows", "center_rows", "layernorm",
		"mean_rows", "cross_entropy", "softmax_stats", "attention", "count_positive", "compact_positive", "row_sumsq",
		"topk_rows", "jump_relu", "gate", "normalize_rows", "denormalize_rows", "add_row", "bias_gelu_new", "add_residual"} {
		if !strings.Contains(PTX, ".entry "+name+"(") {
			t.Errorf("kernels.ptx has no entry %s", name)
		}
	}
	if !strings.Contains(PTX, ".target sm_60") {
		t.Error("kernels.ptx does not target compute_60")
	}
}
