package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/tokenizer"
)

// engineFlags are the flags shared by the commands that run the model.
type engineFlags struct {
	model   *string
	saePath *string
	hook    *string
	text    *string
	tokens  *string
	blas    *string
	backend *string
	foldDec *bool
}

func addEngineFlags(fs *flag.FlagSet, withSAE bool) *engineFlags {
	ef := &engineFlags{
		model:   fs.String("model", "", "GPT-2 checkpoint folder (config.json + model.safetensors or pytorch_model.bin)"),
		text:    fs.String("text", "", "input text (tokenized with BOS prepended)"),
		tokens:  fs.String("tokens", "", `exact token ids: "50256,464,2068;50256,818,16450" (rows separated by ';', all the same length)`),
		blas:    fs.String("blas", "auto", "CPU matrix products: auto, openblas or gonum"),
		backend: fs.String("backend", "auto", "compute backend: "+strings.Join(backendNames(), ", ")),
		hook:    fs.String("hook", "", "hook point (default: the SAE's own hook)"),
	}
	empty, no := "", false
	ef.saePath, ef.foldDec = &empty, &no
	if withSAE {
		ef.saePath = fs.String("sae", "", "SAE .pt file, SAELens folder, or OpenAI sparse_autoencoder .pt (with --hook)")
		ef.foldDec = fs.Bool("fold-dec-norm", false, "fold the decoder norms into the encoder (SAELens' fold_W_dec_norm: unit decoder rows, each feature's activations scaled by its old norm, as Neuronpedia shows them)")
	}
	return ef
}

// engine is a loaded model (and SAE) ready to run.
type engine struct {
	be   compute.Backend
	ck   *gpt2.Checkpoint
	m    *model.Model
	sae  *sae.SAE
	enc  *encoder.Encoder
	tok  *tokenizer.Tokenizer
	hook string
}

func (e *engine) Close() {
	if e.sae != nil {
		e.sae.Close()
	}
	if e.ck != nil {
		e.ck.Close()
	}
}

func (ef *engineFlags) load(needSAE bool) (*engine, error) {
	if *ef.model == "" {
		return nil, errors.New("--model DIR is required")
	}
	if needSAE && *ef.saePath == "" {
		return nil, errors.New("--sae PATH is required")
	}
	if *ef.foldDec && *ef.saePath == "" {
		return nil, errors.New("--fold-dec-norm folds an SAE's decoder norms: give --sae PATH")
	}
	be, err := newBackend(*ef.backend, *ef.blas)
	if err != nil {
		return nil, err
	}
	e := &engine{be: be}
	if e.tok, err = tokenizer.New(); err != nil {
		return nil, err
	}
	if e.ck, err = gpt2.Load(*ef.model); err != nil {
		return nil, err
	}
	if e.m, err = model.New(be, e.ck); err != nil {
		e.Close()
		return nil, err
	}
	cfg := e.ck.Config
	if *ef.saePath != "" {
		if e.sae, err = sae.Load(*ef.saePath, *ef.hook); err != nil {
			e.Close()
			return nil, err
		}
		if *ef.foldDec {
			if err = e.sae.FoldDecoderNorm(); err != nil {
				e.Close()
				return nil, err
			}
		}
		if err = e.sae.Fits(cfg); err != nil {
			e.Close()
			return nil, err
		}
		if e.enc, err = encoder.New(be, e.sae); err != nil {
			e.Close()
			return nil, err
		}
		e.hook = e.sae.Hook.String()
	}
	if *ef.hook != "" {
		e.hook = *ef.hook
	}
	return e, nil
}

// start parses args, loads the model (and the SAE, required when needSAE)
// and reads the --text or --tokens input: the common opening of the
// commands that run the model on a given input. The caller closes the
// engine.
func (ef *engineFlags) start(fs *flag.FlagSet, args []string, needSAE bool) (*engine, [][]int32, error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, nil, err
	}
	e, err := ef.load(needSAE)
	if err != nil {
		return nil, nil, err
	}
	rows, err := ef.input(e.tok)
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	if e.sae != nil && e.sae.NoBOS && *ef.text != "" {
		// an SAE trained on text without BOS (prepend_bos false) sees
		// the typed text as it saw its training data
		for i, r := range rows {
			if len(r) > 1 && r[0] == tokenizer.BOS {
				rows[i] = r[1:]
			}
		}
	}
	return e, rows, nil
}

// input returns the token rows given by --text or --tokens.
func (ef *engineFlags) input(tok *tokenizer.Tokenizer) ([][]int32, error) {
	switch {
	case *ef.text != "" && *ef.tokens != "":
		return nil, errors.New("give --text or --tokens, not both")
	case *ef.text != "":
		ids := tok.ToTokens(*ef.text)
		row := make([]int32, len(ids))
		for i, id := range ids {
			row[i] = int32(id)
		}
		return [][]int32{row}, nil
	case *ef.tokens != "":
		return parseTokens(*ef.tokens)
	}
	return nil, errors.New("give --text TEXT or --tokens IDS")
}

// parseTokens reads "1,2,3;4,5,6" into equal-length rows.
func parseTokens(s string) ([][]int32, error) {
	var rows [][]int32
	for ri, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("--tokens: row %d is empty", ri)
		}
		var row []int32
		for _, f := range strings.Split(part, ",") {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--tokens: row %d: %q is not a token id", ri, f)
			}
			if v < 0 || v >= tokenizer.VocabSize {
				return nil, fmt.Errorf("--tokens: row %d: id %d outside the vocabulary [0, %d)", ri, v, tokenizer.VocabSize)
			}
			row = append(row, int32(v))
		}
		if len(rows) > 0 && len(row) != len(rows[0]) {
			return nil, fmt.Errorf("--tokens: row %d has %d ids, row 0 has %d (all rows must be the same length)", ri, len(row), len(rows[0]))
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func flatten(rows [][]int32) []int32 {
	var out []int32
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}
