package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights"
)

// ShardAlign returns the multiple of rows that shard boundaries fall on
// for the parameters p: the least common multiple of the batch size and
// the baseline stride, so that each shard's batches and baseline rows
// are the single scan's (store.ShardRows).
func ShardAlign(p store.Params) int {
	fillDefaults(&p)
	a, b := p.Batch, p.BaselineStride
	g, h := a, b
	for h != 0 {
		g, h = h, g%h
	}
	return a / g * b
}

// CheckShards checks that shards (opened shard stores, named by names
// in the messages) are every shard of one scan, once each: the same
// model, SAE, corpus, hook and parameters, shard indices 0 to N−1 of the
// same N, each covering the rows store.ShardRows gives it. It returns
// them in shard order and the metadata of the merged store (a whole
// scan's: no shard, every row, the bounded format; summary empty).
func CheckShards(shards []*store.Store, names []string) ([]*store.Store, store.Meta, error) {
	if len(shards) == 0 {
		return nil, store.Meta{}, errors.New("no shard stores given")
	}
	name := func(i int) string {
		if i < len(names) {
			return names[i]
		}
		return fmt.Sprintf("store %d", i+1)
	}
	for i, s := range shards {
		sh := s.Meta.Params.Shard
		if sh == nil {
			return nil, store.Meta{}, fmt.Errorf("%s is not a shard store (analyze --shard I/N makes them)", name(i))
		}
		if s.Meta.Version != store.FullFormatVersion || s.Bounded() {
			return nil, store.Meta{}, fmt.Errorf("%s: shard %s is a format %d store; shard stores are format %d (every activation): scan it again with this version's analyze --shard", name(i), sh, s.Meta.Version, store.FullFormatVersion)
		}
	}
	m0, s0 := shards[0].Meta, *shards[0].Meta.Params.Shard
	want := m0.Params
	want.Shard, want.Rows = nil, 0
	for i, s := range shards[1:] {
		m, sh := s.Meta, *s.Meta.Params.Shard
		got := m.Params
		got.Shard, got.Rows = nil, 0
		var diff string
		switch {
		case m.Model.Hash != m0.Model.Hash:
			diff = sourceDiff("the model", m.Model.Path, m0.Model.Path, m.Model.Hash, m0.Model.Hash)
		case m.SAE.Hash != m0.SAE.Hash:
			diff = sourceDiff("the SAE", m.SAE.Path, m0.SAE.Path, m.SAE.Hash, m0.SAE.Hash)
		case m.Corpus.Hash != m0.Corpus.Hash || m.Corpus.Kind != m0.Corpus.Kind:
			diff = sourceDiff("the corpus", m.Corpus.Describe(), m0.Corpus.Describe(), m.Corpus.Hash, m0.Corpus.Hash)
		case m.Hook != m0.Hook || m.DIn != m0.DIn || m.DSae != m0.DSae:
			diff = fmt.Sprintf("the hook or width (%s, %d×%d, not %s, %d×%d)", m.Hook, m.DIn, m.DSae, m0.Hook, m0.DIn, m0.DSae)
		case got != want:
			diff = fmt.Sprintf("the settings (%s, not %s)", paramsJSON(got), paramsJSON(want))
		case sh.Count != s0.Count || sh.TotalRows != s0.TotalRows:
			diff = fmt.Sprintf("the split (shard %s of %d rows, not of %d shards of %d rows)", sh, sh.TotalRows, s0.Count, s0.TotalRows)
		}
		if diff != "" {
			return nil, store.Meta{}, fmt.Errorf("%s and %s are shards of different scans: they differ in %s", name(0), name(i+1), diff)
		}
	}
	order := make([]int, len(shards))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return shards[a].Meta.Params.Shard.Index - shards[b].Meta.Params.Shard.Index })
	align := ShardAlign(want)
	out := make([]*store.Store, 0, len(shards))
	next, prev := 0, ""
	for _, i := range order {
		s := shards[i]
		sh := *s.Meta.Params.Shard
		if sh.Index < next {
			return nil, store.Meta{}, fmt.Errorf("shard %s is given twice (%s and %s): the shards overlap", sh, prev, name(i))
		}
		if sh.Index > next {
			return nil, store.Meta{}, fmt.Errorf("shard %d/%d is missing (give every shard 0 to %d of the scan)", next, sh.Count, sh.Count-1)
		}
		lo, hi, err := store.ShardRows(sh.Index, sh.Count, sh.TotalRows, align)
		if err != nil {
			return nil, store.Meta{}, fmt.Errorf("%s: %w", name(i), err)
		}
		if sh.FirstRow != lo || s.Meta.Params.Rows != hi-lo || len(s.Tokens) != (hi-lo)*s.SeqLen() {
			return nil, store.Meta{}, fmt.Errorf("%s: shard %s holds rows %d to %d, but shard %s of %d rows is rows %d to %d", name(i), sh, sh.FirstRow, sh.FirstRow+s.Meta.Params.Rows-1, sh, sh.TotalRows, lo, hi-1)
		}
		out = append(out, s)
		next, prev = next+1, name(i)
	}
	if next != s0.Count {
		return nil, store.Meta{}, fmt.Errorf("shard %d/%d is missing (give every shard 0 to %d of the scan)", next, s0.Count, s0.Count-1)
	}
	meta := m0
	meta.Params = want
	meta.Params.Rows = s0.TotalRows
	meta.Version, meta.Created, meta.Key = store.FormatVersion, time.Now().UTC(), ""
	meta.Summary, meta.Sections = store.Summary{}, nil
	return out, meta, nil
}

func paramsJSON(p store.Params) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// Merge combines the shard stores of a scan (every shard once, checked by
// CheckShards) into the bounded store the single scan would have made:
// the shards' tokens and activations are replayed, in row order, into a
// bounded builder, so that moments, top contexts, interval samples (the
// same reservoir draws), histograms, co-activations and the per-token
// counts are the single scan's, to the bit. The random baseline's
// per-feature moments are the sums of the shards' (equal to the single
// scan's up to the rounding of float64 sums in another order), as is
// the average activation norm; the unembedding statistics and the
// reconstruction score are computed again with m and enc (the scan's
// model and SAE, as loaded for it), on the merged average norm and the
// first Params.ReconRows rows; the summary's scan time is the sum of the
// shards'. progress sees the stages "merging" (rows
// replayed), then "unembedding", "reconstruction" and "indexing".
func Merge(ctx context.Context, m *model.Model, enc *encoder.Encoder, shards []*store.Store, names []string, progress func(Progress)) (*store.Store, error) {
	shards, meta, err := CheckShards(shards, names)
	if err != nil {
		return nil, err
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	s := enc.SAE
	if s.Hook.String() != meta.Hook || s.DIn != meta.DIn || s.DSae != meta.DSae {
		return nil, fmt.Errorf("merge: the SAE given (%s, %d×%d) is not the shards' (%s, %d×%d)", s.Hook, s.DIn, s.DSae, meta.Hook, meta.DIn, meta.DSae)
	}
	p := meta.Params
	seq := p.SeqLen
	tokens := make([]int32, 0, p.Rows*seq)
	for _, sh := range shards {
		if err := sh.Verify(); err != nil {
			return nil, fmt.Errorf("merge: shard %s: %w", sh.Meta.Params.Shard, err)
		}
		tokens = append(tokens, sh.Tokens...)
	}
	rows := make([][]int32, p.Rows)
	for r := range rows {
		rows[r] = tokens[r*seq : (r+1)*seq]
	}
	b := store.NewBoundedBuilder(meta, tokens)
	random := store.Moments{Count: make([]uint32, meta.DSae), Sum: make([]float64, meta.DSae),
		SumSq: make([]float64, meta.DSae), Max: make([]float32, meta.DSae)}
	var normSum float64
	var normN int
	var scanTime, hostTime float64
	perRow := seq
	if !p.NoBOS {
		perRow = seq - 1
	}
	start := time.Now()
	for _, sh := range shards {
		first := sh.Meta.Params.Shard.FirstRow
		off := first * seq
		for t := 0; t < len(sh.Tokens); t++ {
			if t%seq == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				if r := first + t/seq; r%64 == 0 {
					progress(Progress{Stage: "merging", Rows: r, TotalRows: p.Rows})
				}
			}
			lo, hi := sh.TokPtr[t], sh.TokPtr[t+1]
			bos := !p.NoBOS && t%seq == 0
			b.AddToken(off+t, sh.TokFeat[lo:hi], sh.TokVal[lo:hi], !bos || p.IncludeBOS)
		}
		toks := make([]int, len(sh.RandTok))
		ids := make([][]uint32, len(sh.RandTok))
		vals := make([][]float32, len(sh.RandTok))
		for j, rt := range sh.RandTok {
			toks[j] = off + int(rt)
			hv := sh.RandVal[sh.RandPtr[j]:sh.RandPtr[j+1]]
			vals[j] = make([]float32, len(hv))
			for k, h := range hv {
				vals[j][k] = weights.HalfToFloat32(h)
			}
		}
		b.AddRandomTokens(toks, ids, vals) // the grid counts; the moments are the shards' (below)
		for f := range random.Count {
			random.Count[f] += sh.Random.Count[f]
			random.Sum[f] += sh.Random.Sum[f]
			random.SumSq[f] += sh.Random.SumSq[f]
			random.Max[f] = max(random.Max[f], sh.Random.Max[f])
		}
		n := sh.Meta.Params.Rows * perRow
		normSum += sh.Meta.Summary.AvgNorm * float64(n)
		normN += n
		scanTime += sh.Meta.Summary.ScanSeconds
		hostTime += sh.Meta.Summary.HostSeconds
	}
	progress(Progress{Stage: "merging", Rows: p.Rows, TotalRows: p.Rows})
	b.Snapshot().Random = random
	if scanTime <= 0 || math.IsNaN(scanTime) {
		scanTime = time.Since(start).Seconds()
	}
	sc := &scanner{ctx: ctx, m: m, be: m.Backend(), enc: enc, rows: rows, tokens: tokens, meta: meta,
		progress: progress, sae: s, hook: s.Hook, seq: seq, b: b, d: meta.DSae, dIn: meta.DIn,
		normSum: normSum, normN: normN,
		scanTime: time.Duration(scanTime * float64(time.Second)), hostTime: time.Duration(hostTime * float64(time.Second))}
	sc.p = &sc.meta.Params
	st, err := sc.finish()
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return st, nil
}

// PlanShard makes meta the metadata of shard index of count of a scan of
// total rows (before its key is computed: each shard has its own) and
// returns the rows [lo, hi) the shard scans, contiguous and on multiples
// of ShardAlign (store.ShardRows). Scan them with ScanFull and the
// returned meta; Merge combines the shards.
func PlanShard(meta *store.Meta, total, index, count int) (lo, hi int, err error) {
	lo, hi, err = store.ShardRows(index, count, total, ShardAlign(meta.Params))
	if err != nil {
		return 0, 0, err
	}
	meta.Params.Shard = &store.Shard{Index: index, Count: count, FirstRow: lo, TotalRows: total}
	return lo, hi, nil
}

// sourceDiff says how two shards' sources of one kind (what) differ: by
// their descriptions, or, when those are the same, by their contents'
// hashes (the first 12 digits).
func sourceDiff(what, desc, desc0, hash, hash0 string) string {
	if desc != desc0 {
		return fmt.Sprintf("%s (%s, not %s)", what, desc, desc0)
	}
	short := func(h string) string { return h[:min(12, len(h))] }
	return fmt.Sprintf("%s: both %s, but different contents (hash %s, not %s)", what, desc, short(hash), short(hash0))
}
