package features

import (
	"fmt"
	"math"
	"sort"

	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// Similar is a feature with its cosine similarity to another.
type Similar struct {
	ID     int     `json:"id"`
	Cosine float64 `json:"cosine"`
}

// NearestByDecoder returns the k features of other whose decoder
// directions have the largest cosine similarity with feature f of s (f
// itself excluded when other is s). The two SAEs must share d_in (two SAEs
// of the same model at d_model-wide hooks, say); NearestByDirection
// compares SAEs of any hooks through their residual-stream directions.
func NearestByDecoder(s *sae.SAE, f int, other *sae.SAE, k int) ([]Similar, error) {
	if f < 0 || f >= s.DSae {
		return nil, fmt.Errorf("feature %d out of range: the SAE has features 0 to %d", f, s.DSae-1)
	}
	if other.OutDim() != s.OutDim() {
		return nil, fmt.Errorf("decoder cosine: the SAEs write %d and %d values", s.OutDim(), other.OutDim())
	}
	d := s.OutDim()
	self := -1
	if other == s {
		self = f
	}
	return nearest(s.WDec.Data[f*d:(f+1)*d], other.WDec.Data, d, self, k), nil
}

// NearestByDirection returns the k features of other whose residual-stream
// directions (Encoder.ResidualDirections: W_dec[f], or W_dec[f]·W_O for an
// attn.hook_z SAE, W_dec[f]·W_out for mlp.hook_post) have the largest
// cosine similarity with feature f of e: SAEs of different families and
// hooks of the same model compare (f itself excluded when other is e).
func NearestByDirection(m *model.Model, e *encoder.Encoder, f int, other *encoder.Encoder, k int) ([]Similar, error) {
	if f < 0 || f >= e.DSae() {
		return nil, fmt.Errorf("feature %d out of range: the SAE has features 0 to %d", f, e.DSae()-1)
	}
	a, _, err := e.ResidualDirections(m)
	if err != nil {
		return nil, err
	}
	b, _, err := other.ResidualDirections(m)
	if err != nil {
		return nil, err
	}
	d := m.Config.DModel
	self := -1
	if other == e {
		self = f
	}
	return nearest(a[f*d:(f+1)*d], b, d, self, k), nil
}

// nearest ranks the rows of dirs (d values each) by cosine similarity with
// q, leaving out row self (-1: none), and keeps the k first.
func nearest(q, dirs []float32, d, self, k int) []Similar {
	var qn float64
	for _, v := range q {
		qn += float64(v) * float64(v)
	}
	qn = math.Sqrt(qn)
	n := len(dirs) / d
	out := make([]Similar, 0, n)
	for g := 0; g < n; g++ {
		if g == self {
			continue
		}
		row := dirs[g*d : (g+1)*d]
		var dot, nn float64
		for j, v := range row {
			dot += float64(v) * float64(q[j])
			nn += float64(v) * float64(v)
		}
		c := 0.0
		if nn > 0 && qn > 0 {
			c = dot / (math.Sqrt(nn) * qn)
		}
		out = append(out, Similar{ID: g, Cosine: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cosine != out[j].Cosine {
			return out[i].Cosine > out[j].Cosine
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// HeadNorms returns, for feature f of an attn.hook_z SAE, the norm of its
// decoder direction within each attention head (W_dec[f] viewed as
// [n_heads, d_head]): which heads the feature writes through.
func HeadNorms(s *sae.SAE, f, nHeads int) ([]float64, error) {
	if s.Hook.Point != hookname.AttnZ {
		return nil, fmt.Errorf("head norms: %s is not an attn.hook_z SAE", s.Hook)
	}
	if f < 0 || f >= s.DSae {
		return nil, fmt.Errorf("feature %d out of range: the SAE has features 0 to %d", f, s.DSae-1)
	}
	d := s.OutDim()
	if nHeads <= 0 || d%nHeads != 0 {
		return nil, fmt.Errorf("head norms: %d values do not split into %d heads", d, nHeads)
	}
	dh := d / nHeads
	row := s.WDec.Data[f*d : (f+1)*d]
	out := make([]float64, nHeads)
	for h := range out {
		var ss float64
		for _, v := range row[h*dh : (h+1)*dh] {
			ss += float64(v) * float64(v)
		}
		out[h] = math.Sqrt(ss)
	}
	return out, nil
}
