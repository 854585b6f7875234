package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/xxh3"
)

// integrityStore is a small store with every section filled: learnt
// activations, a random baseline and unembedding statistics.
func integrityStore() *Store {
	rng := rand.New(rand.NewPCG(5, 6))
	const d, seq, rows = 12, 8, 6
	tokens := make([]int32, seq*rows)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(50257))
	}
	b := NewBuilder(Meta{DSae: d, Hook: "blocks.1.hook_resid_pre", Params: Params{SeqLen: seq, Rows: rows, SampleSeed: 3}}, tokens)
	for t := range tokens {
		var ids []uint32
		var vals []float32
		for f := rng.IntN(3); f < d; f += 1 + rng.IntN(3) {
			ids, vals = append(ids, uint32(f)), append(vals, 0.05+3*rng.Float32())
		}
		b.AddToken(t, ids, vals, t%seq != 0)
	}
	for t := 1; t < seq; t++ {
		var ids []uint32
		var vals []float32
		for f := rng.IntN(2); f < d; f += 1 + rng.IntN(2) {
			ids, vals = append(ids, uint32(f)), append(vals, 2*rng.Float32())
		}
		b.AddRandomToken(t, ids, vals)
	}
	u := func() []float32 {
		v := make([]float32, d)
		for i := range v {
			v[i] = rng.Float32()
		}
		return v
	}
	b.SetUnembedding(u(), u(), u(), u())
	sum := b.Summary()
	sum.AvgNorm, sum.LossClean, sum.ReconScore = 3.25, 4.5, 0.875
	s, err := b.Build()
	if err != nil {
		panic(err)
	}
	s.Meta.Key = "integrity"
	return s
}

// digest accumulates query results, floats by their bits.
type digest struct{ h *xxh3.Hasher }

func (d digest) u(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	d.h.Write(b[:])
}
func (d digest) i(v int)       { d.u(uint64(v)) }
func (d digest) f(v float64)   { d.u(math.Float64bits(v)) }
func (d digest) f32(v float32) { d.u(uint64(math.Float32bits(v))) }
func (d digest) s(v string)    { d.i(len(v)); d.h.WriteString(v) }
func (d digest) b(v bool)      { d.i(map[bool]int{false: 0, true: 1}[v]) }
func (d digest) fs(v []float64) {
	d.i(len(v))
	for _, x := range v {
		d.f(x)
	}
}
func (d digest) f32s(v []float32) {
	d.i(len(v))
	for _, x := range v {
		d.f32(x)
	}
}
func (d digest) is(v []int) {
	d.i(len(v))
	for _, x := range v {
		d.i(x)
	}
}
func (d digest) stats(st FeatureStats) {
	d.i(st.ID)
	d.i(st.Count)
	d.f(st.Frequency)
	d.f(st.Mean)
	d.f(st.Std)
	d.f(st.CV)
	d.f(st.Max)
	d.b(st.Dead)
}
func (d digest) contexts(cs []Context) {
	d.i(len(cs))
	for _, c := range cs {
		d.i(c.Row)
		d.i(c.Pos)
		d.f32(c.Value)
		d.i(c.Start)
		d.i(len(c.Tokens))
		for _, t := range c.Tokens {
			d.i(int(t))
		}
		d.f32s(c.Acts)
	}
}

// answers runs every query of the panes and commands on the store and
// returns a digest of their results (floats by their bits) and the
// header the stats command prints, or the first error.
func answers(s *Store) (uint64, error) {
	d := digest{xxh3.New()}
	m := s.Meta
	m.Sections = nil
	d.s(fmt.Sprintf("%+v", m))
	for _, st := range s.AllStats() {
		d.stats(st)
	}
	for _, metric := range []Metric{ByMean, ByCV, ByFrequency, ByMax, ByID} {
		for _, desc := range []bool{true, false} {
			r := s.Rank(metric, desc)
			for _, st := range r.Live {
				d.stats(st)
			}
			d.is(r.Dead)
		}
	}
	for _, kind := range PlotKinds {
		for _, th := range []float32{0, 0.1, 0.5, 2} {
			ser, err := s.Distribution(kind, th)
			if err != nil {
				return 0, err
			}
			d.fs(ser.Learnt)
			d.fs(ser.Random)
			bin := ser.Bin(7, 0, 0)
			d.fs(bin.Edges)
			d.is(bin.Learnt)
			d.is(bin.Random)
		}
	}
	for f := 0; f < s.DSae(); f++ {
		st, err := s.Stats(f)
		if err != nil {
			return 0, err
		}
		rs, err := s.RandomStats(f)
		if err != nil {
			return 0, err
		}
		top, err := s.TopContexts(f, TopK, 4, 2)
		if err != nil {
			return 0, err
		}
		iv, err := s.IntervalSamples(f, 3, 1)
		if err != nil {
			return 0, err
		}
		edges, counts, err := s.Histogram(f)
		if err != nil {
			return 0, err
		}
		co, err := s.CoActivation(f, s.DSae())
		if err != nil {
			return 0, err
		}
		vals, err := s.FeatureValues(f)
		if err != nil {
			return 0, err
		}
		d.stats(st)
		d.stats(rs)
		d.contexts(top)
		for _, g := range iv {
			d.f32(g.Lo)
			d.f32(g.Hi)
			d.contexts(g.Contexts)
		}
		d.fs(edges)
		d.is(counts)
		for _, c := range co {
			d.i(c.ID)
			d.f(c.Correlation)
		}
		d.f32s(vals)
	}
	for _, t := range s.Tokens {
		d.i(int(t))
	}
	return d.h.Sum64(), nil
}

// A stored analysis with any one byte changed (every offset of the file
// with one bit flipped, every fifth with all eight) either fails with ErrCorrupt, at Open
// or at the query that reads the damaged section, or answers every query
// exactly as before (a padding byte): never with different numbers.
func TestDamagedStoreNeverAnswersDifferently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.saestore")
	if err := integrityStore().Write(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := answers(s)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	var atOpen, atQuery, same, tried int
	step := 1 // -short: every 11th offset
	if testing.Short() {
		step = 11
	}
	for k, flip := range []func(i int) byte{func(i int) byte { return 1 << (i % 8) }, func(int) byte { return 0xff }} {
		for i := 0; i < len(data); i += step * (1 + 4*k) { // all eight bits: every 5th byte
			tried++
			b := bytes.Clone(data)
			b[i] ^= flip(i)
			s, err := parse(b, path)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("byte %d ^ %#x: Open: %v, want ErrCorrupt", i, flip(i), err)
				}
				atOpen++
				continue
			}
			got, err := answers(s)
			switch {
			case err != nil && !errors.Is(err, ErrCorrupt):
				t.Fatalf("byte %d ^ %#x: query: %v, want ErrCorrupt", i, flip(i), err)
			case err != nil:
				if !strings.Contains(err.Error(), "rebuild") {
					t.Fatalf("byte %d: %v does not say to rebuild", i, err)
				}
				atQuery++
			case got != want:
				t.Fatalf("byte %d ^ %#x: the damaged store answers differently", i, flip(i))
			default:
				same++
			}
		}
	}
	t.Logf("%d changes of a %d-byte store: %d refused by Open, %d by the first query of the damaged section, %d answered exactly as before (padding)", tried, len(data), atOpen, atQuery, same)
	if atQuery == 0 || atOpen == 0 {
		t.Errorf("no damage found at Open (%d) or at a query (%d)", atOpen, atQuery)
	}
}

// Every error about damage wraps ErrCorrupt, and a store of format version
// 1 (no checksums) is ErrOldVersion, so that the cache rebuilds both.
func TestOldVersionRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.saestore")
	if err := integrityStore().Write(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	copy(data, magicV1[:])
	if _, err := parse(data, path); !errors.Is(err, ErrOldVersion) {
		t.Errorf("a version 1 store: %v, want ErrOldVersion", err)
	}
}
