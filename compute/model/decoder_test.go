package model_test

import (
	"context"
	"testing"

	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/model"
)

// A decoder run a token at a time with its key/value cache gives, at every
// position, the final residual stream of a full pass over the sequence
// (1e-5), and refuses a step past its length.
func TestDecoderMatchesFullPass(t *testing.T) {
	tokens, _, T, m, be := fixtureModel(t)
	seq := tokens[:T]
	out, err := m.Run(context.Background(), seq, 1, T, model.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	d := m.Config.DModel
	full := make([]float32, T*d)
	be.Read(out.Resid, full)
	dec, err := m.NewDecoder(T, model.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, d)
	for p, tok := range seq {
		r, err := dec.Step(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		be.Read(r, row)
		fixture.Close(t, "position", row, full[p*d:(p+1)*d], 1e-5)
	}
	if _, err := dec.Step(context.Background(), 5); err == nil {
		t.Error("a step past the decoder's length")
	}
	if _, err := m.NewDecoder(m.Config.NPositions+1, model.Hooks{}); err == nil {
		t.Error("a decoder longer than the context")
	}
}
