package store

import "fmt"

// Shard says which part of a scan a shard store holds: rows
// [FirstRow, FirstRow+Params.Rows) of the TotalRows rows a single scan
// with the same parameters would scan, shard Index of Count. A shard
// store keeps every activation (format 2), so that merging the shards in
// row order replays the single scan's tokens into a bounded builder and
// gives the store that scan would have made (analysis.Merge).
type Shard struct {
	Index     int `json:"index"`
	Count     int `json:"count"`
	FirstRow  int `json:"first_row"`
	TotalRows int `json:"total_rows"`
}

// String is "I/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ShardRows returns the rows [lo, hi) of shard index of count of a scan
// of total rows: contiguous ranges in row order, as equal as they can be
// while every boundary is a multiple of align (the least common multiple of
// the scan's batch size and baseline stride: then every shard's batches
// and baseline rows are the single scan's). It refuses a shard
// that would be empty.
func ShardRows(index, count, total, align int) (lo, hi int, err error) {
	switch {
	case count < 1:
		return 0, 0, fmt.Errorf("shard %d/%d: need at least one shard", index, count)
	case index < 0 || index >= count:
		return 0, 0, fmt.Errorf("shard %d/%d: shards are numbered 0 to %d", index, count, count-1)
	case align < 1:
		align = 1
	}
	units := (total + align - 1) / align // the last unit may be short
	if count > units {
		return 0, 0, fmt.Errorf("shard %d/%d: %d rows split on multiples of %d rows (batch and baseline stride) make at most %d shards", index, count, total, align, units)
	}
	lo = min(total, index*units/count*align)
	hi = min(total, (index+1)*units/count*align)
	return lo, hi, nil
}

// ParseShard reads "I/N" (0 ≤ I < N).
func ParseShard(s string) (index, count int, err error) {
	var extra string
	if n, _ := fmt.Sscanf(s+" .", "%d/%d %s", &index, &count, &extra); n != 3 || extra != "." {
		return 0, 0, fmt.Errorf("shard %q: want I/N, e.g. 0/4 for the first of four", s)
	}
	if count < 1 || index < 0 || index >= count {
		return 0, 0, fmt.Errorf("shard %q: want I/N with 0 ≤ I < N", s)
	}
	return index, count, nil
}
