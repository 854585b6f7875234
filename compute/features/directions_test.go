package features_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/sae"
)

// An attn.hook_z SAE's features write W_dec[f]·W_O into the residual
// stream (centred over d_model, as from_pretrained centres W_O): the
// directions, the logit weights built on them and the per-head norms
// against a float64 computation from the checkpoint; a residual SAE's
// directions are its decoder rows; neighbours compare across the two.
func TestResidualDirections(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	m := s.Model
	ck, err := gpt2.Load(filepath.Join(fixture.Dir(), "tiny-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	w, err := sae.Load(filepath.Join(fixture.Dir(), "v2", "saelens-attn-hook_z-1"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	enc, err := encoder.New(s.Backend, w)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dirs, _, err := enc.ResidualDirections(m)
	if err != nil {
		t.Fatal(err)
	}
	d := m.Config.DModel
	oW := ck.Layers[1].OW.Data // [d, d], x·W
	want := make([]float32, len(dirs))
	for f := 0; f < w.DSae; f++ {
		row := make([]float64, d)
		var mean float64
		for j := range row {
			for i := 0; i < d; i++ {
				row[j] += float64(w.WDec.Data[f*d+i]) * float64(oW[i*d+j])
			}
			mean += row[j]
		}
		mean /= float64(d)
		for j := range row {
			want[f*d+j] = float32(row[j] - mean)
		}
	}
	fixture.Close(t, "hook_z directions", dirs, want, 1e-5)

	// logit weights of feature 5 are those of its residual direction
	le, err := features.FeatureLogits(m, enc, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Lock()
	lg, err := m.DirectionLogits([][]float32{want[5*d : 6*d]})
	m.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if top := le.Boosted[0]; math.Abs(float64(top.Value-lg[0][top.ID])) > 1e-5 {
		t.Errorf("logit weight of token %d: %g, direction gives %g", top.ID, top.Value, lg[0][top.ID])
	}

	hn, err := features.HeadNorms(w, 5, m.Config.NHead)
	if err != nil {
		t.Fatal(err)
	}
	dh := d / m.Config.NHead
	for h, n := range hn {
		var ss float64
		for _, v := range w.WDec.Data[5*d+h*dh : 5*d+(h+1)*dh] {
			ss += float64(v) * float64(v)
		}
		if math.Abs(n-math.Sqrt(ss)) > 1e-9 {
			t.Errorf("head %d norm %g, want %g", h, n, math.Sqrt(ss))
		}
	}
	if _, err := features.HeadNorms(s.SAEs["sae0"].SAE, 5, 4); err == nil {
		t.Error("head norms of a residual SAE")
	}

	// a residual SAE's directions are its decoder rows
	res := s.SAEs["sae0"]
	rd, _, err := res.ResidualDirections(m)
	if err != nil {
		t.Fatal(err)
	}
	fixture.Close(t, "resid_pre directions", rd, res.SAE.WDec.Data, 0)
	// neighbours across the two families, and within one (self left out)
	near, err := features.NearestByDirection(m, enc, 5, res, 4)
	if err != nil || len(near) != 4 {
		t.Fatalf("across: %v %v", near, err)
	}
	self, err := features.NearestByDirection(m, enc, 5, enc, w.DSae)
	if err != nil || len(self) != w.DSae-1 {
		t.Fatalf("within: %d, %v", len(self), err)
	}
	for _, n := range self {
		if n.ID == 5 {
			t.Fatal("feature 5 is its own neighbour")
		}
	}
}
