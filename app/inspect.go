package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/sae"
)

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses a command's flags and refuses anything left after
// them: Go's flag parsing stops at the first argument that is not a flag,
// so "rank --store s oops --by max" would otherwise rank by the default
// order without a word.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (every value comes after its flag, e.g. --corpus FILE; flags after it were not read)", fs.Arg(0))
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

func runInspect(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", stderr)
	model := fs.String("model", "", "GPT-2 checkpoint folder (config.json + weights)")
	saePath := fs.String("sae", "", "SAE .pt file or SAELens folder")
	hook := fs.String("hook", "", "hook point of the SAE, when its file does not say")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *model == "" && *saePath == "" {
		return errors.New("give --model DIR and/or --sae PATH")
	}
	out := map[string]any{}
	if *model != "" {
		ck, err := gpt2.Load(*model)
		if err != nil {
			return err
		}
		defer ck.Close()
		out["model"] = map[string]any{"dir": *model, "config": ck.Config, "d_mlp": ck.Config.DMLP()}
		if *saePath != "" {
			s, err := sae.Load(*saePath, *hook)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Fits(ck.Config); err != nil {
				return err
			}
		}
	}
	if *saePath != "" {
		s, err := sae.Load(*saePath, *hook)
		if err != nil {
			return err
		}
		defer s.Close()
		info := map[string]any{"path": s.Path, "format": s.Format, "hook": s.Hook.String(), "d_in": s.DIn, "d_sae": s.DSae,
			"apply_b_dec_to_input": s.ApplyBDecToInput, "uncentred": s.Uncentred,
			"architecture": s.Arch, "normalize_activations": s.Norm, "family": s.Describe(), "prepend_bos": !s.NoBOS}
		if s.Arch == sae.TopK {
			info["k"] = s.K
		}
		if s.Transcoder {
			info["hook_out"], info["d_out"] = s.Output().String(), s.OutDim()
		}
		if s.NeuronpediaID != "" {
			info["neuronpedia_id"] = s.NeuronpediaID
		}
		out["sae"] = info
	}
	return writeJSON(stdout, out)
}
