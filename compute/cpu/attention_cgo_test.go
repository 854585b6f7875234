//go:build cgo && amd64

package cpu

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// The C attention kernel runs exactly where the CPU has the AVX-512 it is
// built for; without it TestCausalAttentionAgainstNaive would compare the
// BLAS tiles twice and the kernel never.
func TestAttentionKernelWhereAVX512(t *testing.T) {
	want := cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL && cpu.X86.HasFMA
	if got := attentionKernel(); got != want {
		t.Fatalf("attentionKernel() = %v on a CPU where AVX-512 (F, BW, DQ, VL) and FMA are %v", got, want)
	}
	t.Logf("attention kernel: %v", want)
}
