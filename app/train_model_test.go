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
