package main

import (
	"strings"
	"testing"
)

// bench runs full-size GPT-2 small, too slow to probe every flag by
// running it (TestEveryFlagIsRead skips it): here each mode must refuse,
// before any work, every flag it does not read, and two modes at once.
// The modes' flags below are written from reading runBench, apart from
// its benchModes table, and every flag of bench's -h listing must be in
// one of them: a new flag joins the check. What this cannot see is a flag
// listed for a mode that the mode then ignores.
func TestBenchFlagModes(t *testing.T) {
	common := []string{"json", "blas", "backend", "cpuprofile"}
	modes := map[string][]string{ // mode flag and its probe → flags read
		"--generate=2":   {"hook"},
		"--attribute":    {"d-sae", "seq", "l0", "reps"},
		"--patch":        {"hook", "d-sae", "l0"},
		"--analyze=2":    {"hook", "d-sae", "l0"},
		"--load=nowhere": nil,
		"":               {"batch", "seq", "hook", "hooks", "d-sae", "family", "k", "reps", "skip-full", "l0"},
	}
	flags := commandFlags(t, "bench")
	modeFlags := map[string]bool{} // each picks a mode: probed against the others only
	for m := range modes {
		if m != "" {
			modeFlags[strings.TrimPrefix(strings.SplitN(m, "=", 2)[0], "--")] = true
		}
	}
	known := map[string]bool{}
	for _, f := range common {
		known[f] = true
	}
	for m, uses := range modes {
		if m != "" {
			known[strings.TrimPrefix(strings.SplitN(m, "=", 2)[0], "--")] = true
		}
		for _, f := range uses {
			known[f] = true
		}
	}
	for _, f := range flags {
		if !known[f.name] {
			t.Errorf("bench --%s is in no mode of this test: say which modes read it", f.name)
		}
	}
	for m, uses := range modes {
		reads := map[string]bool{}
		for _, f := range append(append([]string{}, common...), uses...) {
			reads[f] = true
		}
		for _, f := range flags {
			if reads[f.name] || (m != "" && strings.HasPrefix(m, "--"+f.name)) || (m == "" && modeFlags[f.name]) {
				continue
			}
			v := probeValue("bench", f, nil)
			args := []string{"bench", "--" + f.name + "=" + v}
			if m != "" {
				args = append(args, m)
			}
			_, errs, code := runCLI(t, args...)
			if code == 0 || !strings.Contains(errs, "--"+f.name) {
				t.Errorf("%v: exit %d, %q: the flag is not read in this mode and must be refused", args, code, errs)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--generate", "2", "--patch"}, "--generate and --patch: bench times one thing at a time"},
		{[]string{"bench", "--k", "8"}, "--k is the k of a TopK SAE: give --family topk"},
	} {
		if _, errs, code := runCLI(t, c.args...); code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q, want %q", c.args, code, errs, c.want)
		}
	}
}
