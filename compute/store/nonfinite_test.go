package store

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// An activation of +Inf, -Inf or NaN (an encoder overflowing float32)
// makes Build return an error naming the feature and the token, and
// Finish, which does not check, still never panics (+Inf as a feature's
// maximum made Inf/Inf a histogram bin, an index out of range).
func TestBuilderNonFinite(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, c := range []struct {
		name   string
		random bool
		v      float32
	}{
		{"+Inf", false, inf}, {"-Inf", false, -inf}, {"NaN", false, nan}, {"random +Inf", true, inf},
	} {
		const d, seq = 16, 4
		build := func() *Builder {
			b := NewBuilder(Meta{DSae: d, Params: Params{SeqLen: seq, Rows: 2, SampleSeed: 1}}, make([]int32, 2*seq))
			for tok := 0; tok < 2*seq; tok++ {
				vals := []float32{0.5, 1, 2}
				if tok == 6 && !c.random {
					vals[1] = c.v
				}
				b.AddToken(tok, []uint32{2, 13, 15}, vals, true)
			}
			rv := []float32{1, 3}
			if c.random {
				rv[1] = c.v
			}
			b.AddRandomTokens([]int{5}, [][]uint32{{4, 13}}, [][]float32{rv})
			return b
		}
		_, err := build().Build()
		if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "feature 13") {
			t.Errorf("%s: Build: %v, want ErrNonFinite naming feature 13", c.name, err)
		}
		want := "token 6 (row 1, position 2)"
		if c.random {
			want = "random baseline feature 13 is +Inf at token 5 (row 1, position 1)"
		}
		if err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v does not say %q", c.name, err, want)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: Finish panicked: %v", c.name, r)
				}
			}()
			s := build().Finish()
			var n uint32
			for _, h := range s.Hist[13*HistBins : 14*HistBins] {
				n += h
			}
			if n > s.Learnt.Count[13] {
				t.Errorf("%s: feature 13's histogram holds %d values, it fired %d times", c.name, n, s.Learnt.Count[13])
			}
		}()
	}
	// Finite values build without error.
	b := NewBuilder(Meta{DSae: 4, Params: Params{SeqLen: 2, Rows: 1}}, make([]int32, 2))
	b.AddToken(0, []uint32{1}, []float32{math.MaxFloat32}, true)
	if _, err := b.Build(); err != nil {
		t.Errorf("finite values: %v", err)
	}
}
