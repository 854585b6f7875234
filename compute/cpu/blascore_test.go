package cpu

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"
)

func TestBetterCore(t *testing.T) {
	for _, c := range []struct {
		chosen, best string
		userSet      bool
		want         string
	}{
		{"Prescott", "SkylakeX", false, "SkylakeX"}, // a CPU newer than the library
		{"Sandybridge", "Haswell", false, "Haswell"},
		{"prescott", "Haswell", false, "Haswell"},  // case as the library spells it
		{"Prescott", "SkylakeX", true, ""},         // OPENBLAS_CORETYPE is the user's
		{"Prescott", "", false, ""},                // an old CPU: the library knows best
		{"Haswell", "SkylakeX", false, "SkylakeX"}, // AVX2 kernels on an AVX-512 CPU
		{"Zen", "SkylakeX", false, "SkylakeX"},     // Zen 4 on a library older than it
		{"Haswell", "Haswell", false, ""},          // the CPU's best already
		{"zen", "Haswell", false, ""},              // an AVX2 AMD CPU
		{"SkylakeX", "Haswell", false, ""},         // never downwards
		{"Cooperlake", "SkylakeX", false, ""},      // as good as ours, for SGEMM
		{"Excavator", "Haswell", false, ""},        // its own kernels, chosen on purpose
		{"SapphireRapids", "SkylakeX", false, ""},  // a newer choice than ours
		{"", "SkylakeX", false, ""},                // not OpenBLAS: no core named
		{"NEOVERSEN1", "", false, ""},              // not x86
	} {
		if got := betterCore(c.chosen, c.best, c.userSet); got != c.want {
			t.Errorf("betterCore(%q, %q, %v) = %q, want %q", c.chosen, c.best, c.userSet, got, c.want)
		}
	}
}

// TestOpenBLASRunsTheCPUsKernels: on a CPU with AVX2 and FMA, the loaded
// OpenBLAS must run AVX2 or AVX-512 kernels, not an SSE3 fallback chosen
// because the library predates the CPU (it was Prescott on this project's
// AVX-512 test machine, a fifth of the speed), nor AVX2 kernels on an
// AVX-512 CPU. Where OPENBLAS_CORETYPE chooses the core in the test's
// environment (a machine set up for benchmarks), the check runs in a child
// process without it.
func TestOpenBLASRunsTheCPUsKernels(t *testing.T) {
	if os.Getenv("OPENBLAS_CORETYPE") != "" {
		if os.Getenv("SAESCOPE_TEST_NO_CORETYPE") != "" {
			t.Fatal("the child process still has OPENBLAS_CORETYPE")
		}
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "OPENBLAS_CORETYPE=") {
				env = append(env, kv)
			}
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestOpenBLASRunsTheCPUsKernels$", "-test.v", "-test.count=1")
		cmd.Env = append(env, "SAESCOPE_TEST_NO_CORETYPE=1")
		out, err := cmd.CombinedOutput()
		t.Logf("OPENBLAS_CORETYPE=%s here; without it:\n%s", os.Getenv("OPENBLAS_CORETYPE"), out)
		if err != nil {
			t.Fatalf("without OPENBLAS_CORETYPE: %v", err)
		}
		return
	}
	if loadOpenBLAS() == "" {
		t.Skip("OpenBLAS is not installed")
	}
	core := blasCore()
	if core == "" {
		t.Skip("the library does not name its core")
	}
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skipf("no AVX2 and FMA; OpenBLAS runs %s", core)
	}
	want := "Haswell"
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512CD && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL {
		want = "SkylakeX"
	}
	t.Logf("OpenBLAS runs %s kernels (this CPU: %s or newer)", core, want)
	if level := coreLevel(core); level != 0 && level < coreLevel(want) {
		t.Fatalf("OpenBLAS runs %s kernels on a CPU that runs %s's", core, want)
	}
	if _, set := os.LookupEnv("OPENBLAS_CORETYPE"); set {
		t.Fatal("loading OpenBLAS left OPENBLAS_CORETYPE in the environment")
	}
	if os.Getenv("OPENBLAS_THREAD_TIMEOUT") == "4" { // the value loading sets
		t.Fatal("loading OpenBLAS left OPENBLAS_THREAD_TIMEOUT in the environment")
	}
	b, err := New(BLASOpenBLAS)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Info(); !strings.HasPrefix(got, core+" kernels") {
		t.Fatalf("Info() = %q, want it to begin %q", got, core+" kernels")
	}
}
