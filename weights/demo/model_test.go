package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/tokenizer"
)

// shippedSHA256 pins every file of the demo (assets/demo) but its README
// by its SHA-256: the demo is rebuilt by packaging/make-demo.sh, never by
// hand, and a changed file must come with its new hash here.
var shippedSHA256 = map[string]string{
	"demo/tiny-gpt2-saelens-mlp_out-0/cfg.json":                       "d44deddf2fbc1e8b9ab68e71c06bfba7698f530eb6bb2189cd064b31b45e9d5c",
	"demo/tiny-gpt2-saelens-mlp_out-0/sae_weights.safetensors":        "eff1c1525d6f5c1285a1e1b5be6862839d679cf056e623540dd8732ef5a315e6",
	"demo/tiny-gpt2-saelens-topk-resid_pre-1/cfg.json":                "f71f271df2a997d26da45c66e9daa9b8baf32749ad4dfd03b4ab5c67c419ff48",
	"demo/tiny-gpt2-saelens-topk-resid_pre-1/sae_weights.safetensors": "4128457b63ed5cad7918b67ac8b0f4ffe6128855458e2bc6cdc719979a6d96a9",
	"demo/tiny-gpt2/config.json":                                      "6c231d331b283fccf7124202b6e9a0786de1da6c6f3926208768c07ad0d4dfa5",
	"demo/tiny-gpt2/model.safetensors":                                "7300f8879374777c53c2ee96811bc04031e41ee2273495460c7b72ab7a2e8081",
}

func TestShippedFilesHashes(t *testing.T) {
	got := map[string]string{}
	err := fs.WalkDir(assets.DemoFS(), "demo", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "demo/README.md" {
			return err
		}
		data, err := fs.ReadFile(assets.DemoFS(), p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		got[p] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for p := range got {
		names = append(names, p)
	}
	sort.Strings(names)
	var table strings.Builder
	for _, p := range names {
		fmt.Fprintf(&table, "\t%q: %q,\n", p, got[p])
	}
	bad := len(got) != len(shippedSHA256)
	for p, h := range got {
		if shippedSHA256[p] != h {
			t.Errorf("%s: SHA-256 %s, want %s", p, h, shippedSHA256[p])
			bad = true
		}
	}
	if bad {
		t.Errorf("the shipped demo files differ from the pinned ones; if they were remade by packaging/make-demo.sh, the table is:\n%s", table.String())
	}
}

// TestDemoModelIsTrained: the demo model, run by the app's forward
// (compute/model), predicts 24 rows of the shipped corpus at least half a
// nat per token better than the unigram distribution of the whole corpus
// (counted on its rows, so the baseline has seen these rows too; a model
// with random weights starts at ln 50257 ≈ 10.8 nats).
func TestDemoModelIsTrained(t *testing.T) {
	p, err := Materialize(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ck, err := gpt2.Load(p.Model)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	be, err := cpu.New(cpu.BLASAuto)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(be, ck)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := corpus.LoadFS(ctx, assets.CorpusFS(), assets.CorpusDir, tok, corpus.Options{SeqLen: 128, Seed: 99}, nil)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int32]float64{}
	var total float64
	for _, row := range c.Rows {
		for _, id := range row[1:] {
			counts[id]++
			total++
		}
	}
	var unigram, loss, n float64
	m.Lock()
	defer m.Unlock()
	for _, row := range c.Rows[:24] {
		for _, id := range row[1:] {
			unigram -= math.Log(counts[id] / total)
			n++
		}
		out, err := m.Run(ctx, row, 1, len(row), model.Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.TokenLoss(out, row)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range l[0] {
			loss += float64(v)
		}
	}
	unigram /= n
	loss /= n
	t.Logf("demo model: %.3f nats per token, the whole corpus' unigram distribution %.3f", loss, unigram)
	if loss > unigram-0.5 {
		t.Errorf("demo model loss %.3f nats, not clearly below the corpus' unigram cross-entropy %.3f: is it trained?", loss, unigram)
	}
}
