package features

import (
	"fmt"
	"math"
	"sort"

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
// of the same model at d_model-wide hooks, say).
func NearestByDecoder(s *sae.SAE, f int, other *sae.SAE, k int) ([]Similar, error) {
	if f < 0 || f >= s.DSae {
		return nil, fmt.Errorf("feature %d out of range: the SAE has features 0 to %d", f, s.DSae-1)
	}
	if other.DIn != s.DIn {
		return nil, fmt.Errorf("decoder cosine: the SAEs have d_in %d and %d", s.DIn, other.DIn)
	}
	d := s.DIn
	q := s.WDec.Data[f*d : (f+1)*d]
	var qn float64
	for _, v := range q {
		qn += float64(v) * float64(v)
	}
	qn = math.Sqrt(qn)
	out := make([]Similar, 0, other.DSae)
	for g := 0; g < other.DSae; g++ {
		if other == s && g == f {
			continue
		}
		row := other.WDec.Data[g*d : (g+1)*d]
		var dot, n float64
		for j, v := range row {
			dot += float64(v) * float64(q[j])
			n += float64(v) * float64(v)
		}
		c := 0.0
		if n > 0 && qn > 0 {
			c = dot / (math.Sqrt(n) * qn)
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
	return out, nil
}
