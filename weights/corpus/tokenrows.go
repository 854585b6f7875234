package corpus

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/saescope/saescope/weights/tokenizer"
)

// FromTokenRows makes a corpus of exact token rows, scanned as given and
// in the given order: rows read from the file path (package
// weights/tokenrows reads them), or given on the command line when path
// is "". The rows must all have the same length, at least one token, and
// either all start with BOS or none does (NoBOS: every position is then
// text, counted like any other). Options.SeqLen and Options.Rows record
// their shape, Options.NoShuffle is set. Hash depends on the rows alone,
// not on path or file format, and never equals the Hash of rows cut from
// text: the same rows give the same analysis key whatever file held them.
// The rows are used, not copied.
func FromTokenRows(path string, rows [][]int32) (*Corpus, error) {
	if len(rows) == 0 {
		return nil, errors.New("token rows: no rows")
	}
	seq := len(rows[0])
	bos := seq > 0 && rows[0][0] == tokenizer.BOS
	total := 0
	for i, r := range rows {
		switch {
		case len(r) == 0:
			return nil, fmt.Errorf("token rows: row %d is empty", i)
		case len(r) != seq:
			return nil, fmt.Errorf("token rows: row %d has %d tokens, row 0 has %d (all rows must be the same length)", i, len(r), seq)
		case (r[0] == tokenizer.BOS) != bos:
			first := func(r []int32) string {
				if r[0] == tokenizer.BOS {
					return fmt.Sprintf("BOS (%d)", tokenizer.BOS)
				}
				return fmt.Sprintf("token %d", r[0])
			}
			return nil, fmt.Errorf("token rows: row %d starts with %s and row 0 with %s: give rows that all start with BOS, or none (rows without BOS are scanned with every position counted)", i, first(r), first(rows[0]))
		}
		total += len(r)
	}
	c := &Corpus{Path: path, TokenRows: true, Rows: rows, AvailableRows: len(rows), TotalTokens: total, NoBOS: !bos,
		Options: Options{SeqLen: seq, Rows: len(rows), NoShuffle: true, TextField: DefaultTextField}}
	if bos {
		c.noBOSErr = errors.New("corpus: exact token rows are scanned as given: these start with BOS, and no rows without it are cut from them")
	}
	c.Hash = hashTokenRows(rows)
	return c, nil
}

// hashTokenRows hashes exact token rows: a header of its own (so no
// corpus cut from text shares the hash) and the ids.
func hashTokenRows(rows [][]int32) string {
	h := sha256.New()
	fmt.Fprintf(h, "saescope token rows v1\nseq_len=%d n=%d\n", len(rows[0]), len(rows))
	var buf []byte
	for _, r := range rows {
		buf = buf[:0]
		for _, t := range r {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(t))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}
