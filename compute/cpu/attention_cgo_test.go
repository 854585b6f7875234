//go:build cgo && amd64

package cpu

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// The C attention kernels run exactly where the CPU has the instructions
// they are built for, and New picks the best; without them
// TestCausalAttentionAgainstNaive would compare the BLAS tiles alone.
func TestAttentionKernelWhereAVX(t *testing.T) {
	want := attnTiles
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL && cpu.X86.HasFMA:
		want = attnAVX512
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		want = attnAVX2
	}
	if got := attentionVariant(); got != want {
		t.Fatalf("attentionVariant() = %s on a CPU whose best is %s", got, want)
	}
	be, err := New(BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	if be.attn != want {
		t.Fatalf("New chose attention %s, want %s", be.attn, want)
	}
	t.Logf("attention: %s", want)
}
