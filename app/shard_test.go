package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// analyze --shard and merge from the command line: three shards of the
// shipped corpus merged rank and give contexts as one analyze does (the
// store-level equality is compute/analysis' test), and each wrong use is
// refused with its reason.
func TestShardAndMergeCLI(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	base := []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--rows", "30", "--batch", "2", "--recon-rows", "2", "--quiet", "--blas", "gonum"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	if _, errs, code := runCLI(t, with("--out", filepath.Join(dir, "one.saestore"))...); code != 0 {
		t.Fatalf("analyze: %s", errs)
	}
	var shards []string
	for _, i := range []string{"0", "1", "2"} {
		p := filepath.Join(dir, "s"+i+".saestore")
		out, errs, code := runCLI(t, with("--shard", i+"/3", "--out", p)...)
		if code != 0 || !strings.Contains(out, `"shard":"`+i+`/3"`) {
			t.Fatalf("shard %s: %s %s", i, out, errs)
		}
		shards = append(shards, p)
	}
	merged := filepath.Join(dir, "merged.saestore")
	if out, errs, code := runCLI(t, append([]string{"merge", "--quiet", "--blas", "gonum", "--out", merged}, shards[2], shards[0], shards[1])...); code != 0 || !strings.Contains(out, `"shards":3`) {
		t.Fatalf("merge: %s %s", out, errs)
	}
	for _, q := range [][]string{{"rank", "--by", "cv", "--csv"}, {"contexts", "--feature", "5", "--k", "20"}, {"contexts", "--feature", "5", "--intervals"}} {
		a, _, ca := runCLI(t, append(q, "--store", filepath.Join(dir, "one.saestore"))...)
		b, _, cb := runCLI(t, append(q, "--store", merged)...)
		if ca != 0 || cb != 0 || a != b || a == "" {
			t.Errorf("%s: the merged store answers otherwise than one run's", strings.Join(q, " "))
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{with("--shard", "3/3"), "0 ≤ I < N"},
		{with("--shard", "two"), "want I/N"},
		{with("--shard", "0/4"), "at most 3 shards"},
		{with("--shard", "0/2", "--sae", fixSAE1), "--shard with several --sae"},
		{[]string{"merge", shards[0], shards[2]}, "shard 1/3 is missing"},
		{[]string{"merge", shards[0], shards[1], shards[1], shards[2]}, "shard 1/3 is given twice"},
		{[]string{"merge", shards[0], shards[1], filepath.Join(dir, "one.saestore")}, "is not a shard store"},
		{[]string{"merge", "--sae", fixSAE1, shards[0], shards[1], shards[2]}, "is not the one the shards were scanned with"},
		{[]string{"merge"}, "give the shard stores"},
	} {
		_, errs, code := runCLI(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, %q; want an error saying %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
}
