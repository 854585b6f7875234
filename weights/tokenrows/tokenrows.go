// Package tokenrows reads exact token rows from a file, so that an
// analysis can scan the very rows another tool used:
//
//   - .npy: a NumPy array of shape [rows, seq] of integers (int8 to int64,
//     uint8 to uint64, either byte order, C or Fortran order), what
//     np.save("rows.npy", dataset["tokens"]) writes;
//   - .safetensors: a file holding one integer tensor [rows, seq] (any
//     name), what safetensors.torch.save_file({"tokens": t}, …) writes;
//   - .json: a list of lists of integers, [[50256, 464, …], …].
//
// Rows are returned in the file's order. Every id is checked against the
// vocabulary and every row's length against the model's context; a float
// array, ragged rows, an empty file, a truncated file or a declared shape
// larger than the file or than MaxTokens is an error that says what is
// wrong (and, for an id or a row, which one), before anything of the
// declared size is allocated.
package tokenrows

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/saescope/saescope/weights/safetensors"
)

// MaxTokens bounds the ids a file may hold (64 Mi tokens, 256 MiB as
// int32): an analysis scans a few hundred thousand tokens, and a file
// declaring more is refused before its data is read.
const MaxTokens = 64 << 20

// Extensions are the file name endings Read accepts.
var Extensions = []string{".npy", ".safetensors", ".json"}

// ErrInvalid is wrapped by every error about the contents of a file (not
// about opening or reading it).
var ErrInvalid = errors.New("invalid token rows")

// Limits are what the rows must fit.
type Limits struct {
	// Vocab is the vocabulary size: ids must lie in [0, Vocab).
	Vocab int
	// MaxSeq is the longest row accepted (the model's context); 0 means
	// no limit.
	MaxSeq int
}

// IsTokenRowsFile says whether path's extension is one Read accepts.
func IsTokenRowsFile(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	for _, e := range Extensions {
		if ext == e {
			return true
		}
	}
	return false
}

// Read reads the token rows of path (a .npy, .safetensors or .json file)
// and checks them against lim. All rows have the same length, at least 1.
func Read(ctx context.Context, path string, lim Limits) ([][]int32, error) {
	if lim.Vocab <= 0 {
		return nil, fmt.Errorf("token rows %s: no vocabulary size given", path)
	}
	var (
		rows [][]int32
		err  error
	)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		rows, err = readNPY(ctx, path, lim)
	case ".safetensors":
		rows, err = readSafetensors(path, lim)
	case ".json":
		rows, err = readJSON(ctx, path, lim)
	default:
		return nil, fmt.Errorf("token rows %s: unknown extension %q (want %s)", path, filepath.Ext(path), strings.Join(Extensions, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("token rows %s: %w", path, err)
	}
	return rows, nil
}

// invalidf is an error wrapping ErrInvalid.
func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// checkShape checks a declared [rows, seq] shape against the limits.
func checkShape(shape []int, lim Limits) error {
	if len(shape) != 2 {
		return invalidf("shape %v has %d dimensions, want 2: [rows, seq]", shape, len(shape))
	}
	r, s := shape[0], shape[1]
	switch {
	case r < 0 || s < 0:
		return invalidf("negative dimension in shape %v", shape)
	case r == 0:
		return invalidf("shape %v has no rows", shape)
	case s == 0:
		return invalidf("shape %v: the rows are empty", shape)
	case lim.MaxSeq > 0 && s > lim.MaxSeq:
		return invalidf("rows of %d tokens are longer than the model's context of %d", s, lim.MaxSeq)
	case r > MaxTokens/s:
		return invalidf("shape %v holds more than %d tokens", shape, MaxTokens)
	}
	return nil
}

// checkID checks one id of row r, position p.
func checkID(v int64, r, p int, lim Limits) error {
	if v < 0 || v >= int64(lim.Vocab) {
		return invalidf("row %d, position %d: id %d outside the vocabulary [0, %d)", r, p, v, lim.Vocab)
	}
	return nil
}

// split cuts ids into rows of seq (all checked against lim).
func split(ids []int64, rows, seq int, lim Limits) ([][]int32, error) {
	flat := make([]int32, rows*seq)
	out := make([][]int32, rows)
	for r := range rows {
		row := flat[r*seq : (r+1)*seq : (r+1)*seq]
		for p := range row {
			v := ids[r*seq+p]
			if err := checkID(v, r, p, lim); err != nil {
				return nil, err
			}
			row[p] = int32(v)
		}
		out[r] = row
	}
	return out, nil
}

// readSafetensors reads the one integer tensor of a safetensors file.
func readSafetensors(path string, lim Limits) ([][]int32, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := f.Names()
	switch len(names) {
	case 0:
		return nil, invalidf("the file holds no tensor")
	case 1:
	default:
		return nil, invalidf("the file holds %d tensors (%s), want one integer tensor [rows, seq]", len(names), strings.Join(names, ", "))
	}
	in, _ := f.Info(names[0])
	switch in.DType {
	case safetensors.I64, safetensors.I32, safetensors.I16, safetensors.I8,
		safetensors.U64, safetensors.U32, safetensors.U16, safetensors.U8:
	default:
		return nil, invalidf("tensor %q has dtype %s: token ids are integers (I64 or I32)", names[0], in.DType)
	}
	if err := checkShape(in.Shape, lim); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", names[0], err)
	}
	// The reader has checked that the tensor's bytes match its shape and
	// lie inside the file, so the allocation below is bounded by the
	// file's size (and by MaxTokens).
	ids, shape, err := f.Int64(names[0])
	if err != nil {
		return nil, err
	}
	return split(ids, shape[0], shape[1], lim)
}

// Check checks rows given another way (such as on the command line)
// against lim as Read checks a file's: at least one row, all of one
// length of at least one token and at most lim.MaxSeq, every id in the
// vocabulary. The error names the first row (and position) at fault.
func Check(rows [][]int32, lim Limits) error {
	if len(rows) == 0 {
		return invalidf("no rows")
	}
	seq := len(rows[0])
	for r, row := range rows {
		switch {
		case len(row) == 0:
			return invalidf("row %d is empty", r)
		case len(row) != seq:
			return invalidf("row %d has %d ids, row 0 has %d (all rows must be the same length)", r, len(row), seq)
		case lim.MaxSeq > 0 && len(row) > lim.MaxSeq:
			return invalidf("row %d has %d tokens, longer than the model's context of %d", r, len(row), lim.MaxSeq)
		}
		for p, v := range row {
			if err := checkID(int64(v), r, p, lim); err != nil {
				return err
			}
		}
	}
	return nil
}
