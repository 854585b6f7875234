package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights/gpt2"
)

// trainCorpus writes a .jsonl corpus of 30 short documents.
func trainCorpus(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "{\"text\": \"The cat sat on the mat. The dog sat on the rug. Number %d is here, and the cat sat again.\"}\n", i)
	}
	p := filepath.Join(t.TempDir(), "c.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTrainModelWritesLoadableCheckpoint: train-model on a small corpus
// writes a folder that gpt2.Load opens with the asked shape, and reports a
// validation loss below the unigram baseline on this repetitive text.
func TestTrainModelWritesLoadableCheckpoint(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m")
	stdout, stderr, code := runCLI(t, "train-model", "--corpus", trainCorpus(t), "--layers", "1", "--d-model", "16", "--heads", "2",
		"--ctx", "16", "--steps", "60", "--batch", "4", "--lr", "1e-2", "--warmup", "5", "--out", out, "--blas", "gonum")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Val     float64 `json:"validation_loss"`
		Unigram float64 `json:"unigram_validation_loss"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if !(res.Val < res.Unigram-0.5) {
		t.Errorf("validation loss %.3f, unigram %.3f: the model learnt nothing", res.Val, res.Unigram)
	}
	ck, err := gpt2.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if c := ck.Config; c.NLayer != 1 || c.DModel != 16 || c.NHead != 2 || c.NPositions != 16 || c.VocabSize != 50257 {
		t.Errorf("config %+v", c)
	}
}

// TestTrainModelRefusesBadInput: bad shapes and a missing --out are
// refused with the reason, and a cancelled run writes nothing.
func TestTrainModelRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--layers", "1"}, "--out"},
		{[]string{"--d-model", "10", "--heads", "3", "--out", t.TempDir()}, "n_head 3 does not divide"},
		{[]string{"--ctx", "1", "--out", t.TempDir()}, "--ctx 1"},
		{[]string{"--steps", "0", "--ctx", "16", "--out", t.TempDir()}, "steps 0"},
		// refused before the corpus is read: names the flag
		{[]string{"--lr", "Inf", "--out", t.TempDir()}, "--lr +Inf"},
		{[]string{"--lr", "1e30", "--out", t.TempDir()}, "--lr 1e+30"},
		{[]string{"--lr", "NaN", "--out", t.TempDir()}, "--lr NaN"},
		{[]string{"--weight-decay", "NaN", "--out", t.TempDir()}, "--weight-decay NaN"},
		{[]string{"--clip", "NaN", "--out", t.TempDir()}, "--clip NaN"},
		{[]string{"--clip", "-1", "--out", t.TempDir()}, "--clip -1"},
		{[]string{"--val-every", "0", "--out", t.TempDir()}, "--val-every 0"},
		{[]string{"--val-every", "-1", "--out", t.TempDir()}, "--val-every -1"},
		{[]string{"--batch", "0", "--out", t.TempDir()}, "--batch 0"},
		// 30 documents: 27 training documents, a few training rows of 16
		{[]string{"--batch", "1000000", "--ctx", "16", "--out", t.TempDir()}, "--batch 1000000: more than the corpus'"},
	} {
		_, stderr, code := runCLI(t, append([]string{"train-model", "--corpus", trainCorpus(t)}, c.args...)...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to say %q", c.args, code, stderr, c.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "m")
	var so, se bytes.Buffer
	err := runTrainModel(ctx, []string{"--corpus", trainCorpus(t), "--ctx", "16", "--d-model", "8", "--heads", "2", "--out", out}, &so, &se)
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a cancelled run left %s", out)
	}
}

// TestTrainModelOutChecked: --out naming an existing file, or a folder that
// already holds a model, is refused before training (the file and the
// model left as they were); --force replaces the model.
func TestTrainModelOutChecked(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(file, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "m")
	if err := os.Mkdir(model, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"train-model", "--corpus", trainCorpus(t), "--layers", "1", "--d-model", "8", "--heads", "2", "--ctx", "16", "--steps", "2", "--batch", "2", "--blas", "gonum"}
	for _, c := range []struct {
		out, want string
	}{
		{file, "--out " + file + " exists and is not a folder"},
		{model, "--out " + model + " already holds a model (config.json): give --force"},
	} {
		_, stderr, code := runCLI(t, append(append([]string{}, args...), "--out", c.out)...)
		if code == 0 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "step 1/") {
			t.Errorf("--out %s: exit %d, stderr %q, want it to say %q before training", c.out, code, stderr, c.want)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "mine" {
		t.Errorf("%s changed: %q, %v", file, b, err)
	}
	if b, err := os.ReadFile(filepath.Join(model, "config.json")); err != nil || string(b) != "{}" {
		t.Errorf("the model's config.json changed: %q, %v", b, err)
	}
	if _, stderr, code := runCLI(t, append(append([]string{}, args...), "--out", model, "--force")...); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	ck, err := gpt2.Load(model)
	if err != nil {
		t.Fatalf("the model replaced with --force: %v", err)
	}
	ck.Close()
}
