package cpu

import "strings"

// oldCores are the x86 kernel families of OpenBLAS without AVX2 kernels: a
// DYNAMIC_ARCH build falls back to one of them (Prescott, usually) on a CPU
// newer than the library, whose matrix products then run at a fraction of
// the CPU's speed (a fifth, measured on an AVX-512 Xeon that OpenBLAS 0.3.21
// does not know).
var oldCores = map[string]bool{
	"unknown": true, "katmai": true, "coppermine": true, "northwood": true, "prescott": true,
	"banias": true, "atom": true, "core2": true, "penryn": true, "dunnington": true,
	"nehalem": true, "athlon": true, "opteron": true, "opteron_sse3": true, "barcelona": true,
	"nano": true, "sandybridge": true, "bobcat": true, "bulldozer": true, "piledriver": true,
	"steamroller": true,
}

// betterCore says which core OpenBLAS should be loaded again with: cpuBest
// (the best family the CPU runs, "" when none is known) when the library
// chose an old one by itself, and "" when its choice stands — it named a
// modern or non-x86 core, said none (another CBLAS), or the user chose
// with OPENBLAS_CORETYPE.
func betterCore(chosen, cpuBest string, userSet bool) string {
	if userSet || cpuBest == "" || !oldCores[strings.ToLower(chosen)] {
		return ""
	}
	return cpuBest
}
