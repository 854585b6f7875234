package tokenrows

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/saescope/saescope/internal/regularfile"
)

// readJSON reads a list of lists of integer ids, streaming: no more than
// MaxTokens ids are ever held.
func readJSON(ctx context.Context, path string, lim Limits) ([][]int32, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<16))
	dec.UseNumber()
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil, invalidf("the file is empty")
	case err != nil:
		return nil, invalidf("not JSON: %v", err)
	case tok != json.Delim('['):
		return nil, invalidf("want a list of rows [[50256, 464, …], …], the file starts with %v", describe(tok))
	}
	var rows [][]int32
	total := 0
	for r := 0; dec.More(); r++ {
		if r%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, invalidf("row %d: %v", r, err)
		}
		if tok != json.Delim('[') {
			return nil, invalidf("row %d is %v, not a list of ids", r, describe(tok))
		}
		var row []int32
		for p := 0; dec.More(); p++ {
			tok, err := dec.Token()
			if err != nil {
				return nil, invalidf("row %d, position %d: %v", r, p, err)
			}
			n, ok := tok.(json.Number)
			if !ok {
				return nil, invalidf("row %d, position %d: %v is not a token id", r, p, describe(tok))
			}
			v, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil {
				return nil, invalidf("row %d, position %d: %s is not an integer token id", r, p, n)
			}
			if err := checkID(v, r, p, lim); err != nil {
				return nil, err
			}
			if lim.MaxSeq > 0 && p >= lim.MaxSeq {
				return nil, invalidf("row %d is longer than the model's context of %d tokens", r, lim.MaxSeq)
			}
			if total++; total > MaxTokens {
				return nil, invalidf("more than %d tokens", MaxTokens)
			}
			row = append(row, int32(v))
		}
		if _, err := dec.Token(); err != nil { // the row's ']'
			return nil, invalidf("row %d: %v", r, err)
		}
		switch {
		case len(row) == 0:
			return nil, invalidf("row %d is empty", r)
		case r > 0 && len(row) != len(rows[0]):
			return nil, invalidf("row %d has %d ids, row 0 has %d (all rows must be the same length)", r, len(row), len(rows[0]))
		}
		rows = append(rows, row)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, invalidf("after row %d: %v", len(rows)-1, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalidf("text after the list of rows")
	}
	if len(rows) == 0 {
		return nil, invalidf("the list holds no rows")
	}
	return rows, nil
}

// describe names a JSON token in a message.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		return fmt.Sprintf("the string %q", v)
	case nil:
		return "null"
	case json.Number:
		return "the number " + string(v)
	}
	return fmt.Sprintf("%v", tok)
}
