package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
)

func runActs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("acts", stderr)
	ef := addEngineFlags(fs, true)
	e, rows, err := ef.start(fs, args, false)
	if err != nil {
		return err
	}
	defer e.Close()
	if e.hook == "" {
		return fmt.Errorf("--hook NAME is required without --sae")
	}
	h, err := hookname.Parse(e.hook, e.ck.Config.NLayer)
	if err != nil {
		return err
	}
	B, T := len(rows), len(rows[0])
	tokens := flatten(rows)
	var acts []float32
	width := 0
	// With an SAE trained on uncentred activations, the hook's values as
	// that SAE sees them (from_pretrained_no_processing's), else
	// from_pretrained's.
	uncentred := e.enc != nil && e.enc.SAE.Uncentred
	e.m.Lock()
	_, err = e.m.Run(ctx, tokens, B, T, model.Hooks{StopAfter: &h, Uncentred: uncentred, Observe: func(hk hookname.Hook, act compute.Tensor) error {
		if hk == h {
			width = act.Cols()
			acts = make([]float32, act.Rows()*act.Cols())
			e.be.Read(act, acts)
		}
		return nil
	}})
	e.m.Unlock()
	if err != nil {
		return err
	}
	out := map[string]any{"hook": h.String(), "acts": reshape(acts, B, T, width), "uncentred": uncentred}
	if e.enc != nil {
		if h != e.enc.Hook() {
			return fmt.Errorf("--hook %s differs from the SAE's hook %s", h, e.enc.Hook())
		}
		fa, err := features.Activations(ctx, e.m, e.enc, tokens, B, T)
		if err != nil {
			return err
		}
		out["feature_acts"] = reshape(fa, B, T, e.enc.DSae())
	}
	var ids [][]int
	var strs [][]string
	for _, r := range rows {
		row := make([]int, len(r))
		for i, v := range r {
			row[i] = int(v)
		}
		ids = append(ids, row)
		strs = append(strs, e.tok.StrTokens(row))
	}
	out["tokens"] = ids
	out["str_tokens"] = strs
	return writeJSON(stdout, out)
}

func reshape(v []float32, B, T, W int) [][][]float32 {
	out := make([][][]float32, B)
	for b := range out {
		out[b] = make([][]float32, T)
		for t := range out[b] {
			o := (b*T + t) * W
			out[b][t] = v[o : o+W]
		}
	}
	return out
}

func runElicit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("elicit", stderr)
	ef := addEngineFlags(fs, true)
	top := fs.Int("top", 10, "number of features")
	pos := fs.String("pos", "", "rank at one position of the BOS-dropped text (negative counts from the end); default: mean over positions")
	e, rows, err := ef.start(fs, args, true)
	if err != nil {
		return err
	}
	defer e.Close()
	if len(rows) != 1 {
		return fmt.Errorf("elicit takes one text, got %d rows", len(rows))
	}
	var p *int
	if *pos != "" {
		var v int
		if _, err := fmt.Sscan(*pos, &v); err != nil {
			return fmt.Errorf("--pos %q is not an integer", *pos)
		}
		p = &v
	}
	res, err := features.Elicit(ctx, e.m, e.enc, rows[0], *top, p)
	if err != nil {
		return err
	}
	return writeJSON(stdout, map[string]any{"features": res})
}

func runRecons(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("recons", stderr)
	ef := addEngineFlags(fs, true)
	e, rows, err := ef.start(fs, args, true)
	if err != nil {
		return err
	}
	defer e.Close()
	if *ef.foldDec {
		return errors.New("--fold-dec-norm changes no loss and no L0 (it rescales each feature's activation and its decoder row inversely): leave it out")
	}
	res, err := features.Reconstruction(ctx, e.m, e.enc, flatten(rows), len(rows), len(rows[0]))
	if err != nil {
		return err
	}
	return writeJSON(stdout, res)
}
