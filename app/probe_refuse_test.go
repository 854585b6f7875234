package main

import (
	"strings"
	"testing"
)

// Values that the commands used to take silently and act on in a way
// the user did not ask for are refused with a message naming the flag:
// steer --top-p 0 sampled from every token (the sampler reads 0 as "no
// nucleus"), patch --batch 0 or negative ran with a batch of 1; steer
// --top 0 was refused only after both generations had run.
func TestCarelessValuesRefused(t *testing.T) {
	prompt := "50256,464,2068,7586"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"steer", "--feature", "3", "--add", "1", "--tokens", prompt, "--generate", "2", "--temperature", "1", "--top-p", "0"}, "--top-p 0: want a number above 0"},
		{[]string{"steer", "--feature", "3", "--add", "1", "--tokens", prompt, "--generate", "2", "--temperature", "1", "--top-p", "-0.5"}, "--top-p -0.5: want a number above 0"},
		// refused before generating (the context check comes with the runs)
		{[]string{"steer", "--feature", "3", "--add", "1", "--tokens", prompt, "--generate", "500", "--top", "0"}, "--top 0: at least 1"},
		{[]string{"patch", "--clean", prompt, "--corrupt", "50256,818,16450,7586", "--metric", "13,11", "--batch", "0"}, "--batch 0: at least 1"},
		{[]string{"patch", "--clean", prompt, "--corrupt", "50256,818,16450,7586", "--metric", "13,11", "--batch", "-3"}, "--batch -3: at least 1"},
	} {
		args := append([]string{c.args[0], "--model", fixModel, "--sae", fixSAE0, "--blas", "gonum"}, c.args[1:]...)
		_, errs, code := runCLI(t, args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want a message saying %q", c.args, code, errs, c.want)
		}
	}
	// a top-p within (0, 1] still samples
	_, errs, code := runCLI(t, "steer", "--model", fixModel, "--sae", fixSAE0, "--blas", "gonum", "--feature", "3", "--add", "1",
		"--tokens", prompt, "--generate", "2", "--temperature", "1", "--top-p", "0.5")
	if code != 0 {
		t.Errorf("--top-p 0.5: exit %d, stderr %q", code, errs)
	}
}
