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

// Info names the attention path with the BLAS's kernels, so that bench
// output and the status line say which ran.
func TestInfoNamesAttention(t *testing.T) {
	be, err := New(BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	want := map[attnPath]string{attnTiles: "", attnAVX2: "AVX2 attention", attnAVX512: "AVX-512 attention"}[be.attn]
	if got := be.Info(); got != want {
		t.Fatalf("Info() with gonum and attention %s = %q, want %q", be.attn, got, want)
	}
}
