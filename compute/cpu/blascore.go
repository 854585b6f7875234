package cpu

import "strings"

// Kernel generations of OpenBLAS' x86 cores, as coreLevel ranks them.
const (
	levelOld    = 1 // SSE and AVX kernels (Prescott … Steamroller)
	levelAVX2   = 2 // AVX2 and FMA kernels (Haswell, Zen)
	levelAVX512 = 3 // AVX-512 kernels (SkylakeX, Cooperlake, SapphireRapids)
)

// coreLevel ranks an OpenBLAS x86 core name (any case) by the instructions
// its SGEMM kernels use; 0 for names it does not rank (a non-x86 core, no
// name, or Excavator, whose own kernels the library chose on purpose).
func coreLevel(name string) int {
	switch strings.ToLower(name) {
	case "unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2",
		"penryn", "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona",
		"nano", "sandybridge", "bobcat", "bulldozer", "piledriver", "steamroller":
		return levelOld
	case "haswell", "zen":
		return levelAVX2
	case "skylakex", "cooperlake", "sapphirerapids":
		return levelAVX512
	}
	return 0
}

// betterCore says which core OpenBLAS should be loaded again with: cpuBest
// (the best family the CPU runs, "" when none is known) when the library
// chose a core of older instructions by itself, and "" when its choice
// stands — it ranks as high, is not ranked (non-x86, another CBLAS), or the
// user chose with OPENBLAS_CORETYPE.
//
// A DYNAMIC_ARCH OpenBLAS older than the CPU falls back by family: Debian
// 12's 0.3.21 ran Prescott (SSE3) kernels on an AVX-512 Xeon it did not
// know (a fifth of the speed), and releases before Zen 4 ran their Zen
// (AVX2) kernels on it, where newer ones choose SkylakeX or Cooperlake. On
// an AVX-512 AMD EPYC (family 0x1A) the AVX2 kernels ran SGEMM at 186–199
// GFLOPS against 365 on SkylakeX's (both forced with OPENBLAS_CORETYPE).
func betterCore(chosen, cpuBest string, userSet bool) string {
	if userSet || cpuBest == "" {
		return ""
	}
	have, can := coreLevel(chosen), coreLevel(cpuBest)
	if have == 0 || have >= can {
		return ""
	}
	return cpuBest
}
