package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// analyze --out and merge --out never overwrite a file that is not a store
// or an input of the command (the same path, or the same file by another
// name): the command fails saying so and the file is left as it was.
// A store (or an empty file) at --out is still replaced.
func TestStoreOutRefusesInputsAndOtherFiles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	notes := filepath.Join(dir, "notes.json")
	rowsFile := filepath.Join(dir, "rows.json")
	for path, text := range map[string]string{notes: `{"mine": true}`, rowsFile: "[[50256, 464, 2068], [50256, 7586, 464]]"} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// a copy of the SAE, so that a regression overwrites no fixture
	saeFile := filepath.Join(dir, filepath.Base(fixSAE0))
	saeBytes, err := os.ReadFile(fixSAE0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saeFile, saeBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"analyze", "--model", fixModel, "--sae", saeFile, "--recon-rows", "1", "--batch", "1", "--baseline-stride", "1", "--quiet", "--blas", "gonum"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	shards := []string{filepath.Join(dir, "s0.saestore"), filepath.Join(dir, "s1.saestore")}
	for i, p := range shards {
		if _, errs, code := runCLI(t, with("--tokens-file", rowsFile, "--shard", []string{"0/2", "1/2"}[i], "--out", p)...); code != 0 {
			t.Fatalf("shard %d: %s", i, errs)
		}
	}
	link := filepath.Join(dir, "s0-link.saestore")
	if err := os.Link(shards[0], link); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for _, p := range []string{notes, rowsFile, shards[0], saeFile} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		before[p] = b
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{with("--tokens-file", rowsFile, "--out", notes), "--out " + notes + " exists and is not a SAE Scope store"},
		{with("--tokens-file", rowsFile, "--out", rowsFile), "is an input of this command"},
		{with("--tokens-file", rowsFile, "--out", saeFile), "is an input of this command"},
		{with("--tokens-file", rowsFile, "--out", dir), "is a folder"},
		{with("--tokens-file", rowsFile, "--shard", "0/2", "--out", notes), "is not a SAE Scope store"},
		{[]string{"merge", "--quiet", "--out", shards[0], shards[0], shards[1]}, "--out " + shards[0] + " is an input"},
		{[]string{"merge", "--quiet", "--out", link, shards[0], shards[1]}, "is an input of this command (" + shards[0] + ")"},
		{[]string{"merge", "--quiet", "--out", notes, shards[0], shards[1]}, "is not a SAE Scope store"},
		{[]string{"merge", "--quiet", "--sae", saeFile, "--out", saeFile, shards[0], shards[1]}, "is an input of this command (" + saeFile + ")"},
	} {
		_, errs, code := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, %q; want an error saying %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
	for p, b := range before {
		if after, err := os.ReadFile(p); err != nil || !bytes.Equal(after, b) {
			t.Errorf("%s changed (%v)", p, err)
		}
	}
	// a store or an empty file at --out is replaced
	merged := filepath.Join(dir, "merged.saestore")
	if err := os.WriteFile(merged, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if out, errs, code := runCLI(t, "merge", "--quiet", "--blas", "gonum", "--out", merged, shards[0], shards[1]); code != 0 || !strings.Contains(out, `"shards":2`) {
			t.Fatalf("merge into an empty file, then over its store: exit %d: %s %s", code, out, errs)
		}
	}
}
