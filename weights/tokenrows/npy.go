package tokenrows

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/saescope/saescope/internal/regularfile"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds the header's length: NumPy writes under a hundred
// bytes for a 2-D array (and at most 64 KiB in format 1.0).
const maxNPYHeader = 1 << 16

// npyHeader is the parsed header dictionary of a .npy file.
type npyHeader struct {
	order   binary.ByteOrder
	signed  bool
	size    int    // bytes per element
	descr   string // as written, for messages
	fortran bool
	shape   []int
}

// readNPY reads a .npy file of shape [rows, seq] and integer dtype.
func readNPY(ctx context.Context, path string, lim Limits) ([][]int32, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return nil, invalidf("the file is empty")
	}
	br := bufio.NewReaderSize(f, 1<<16)
	pre := make([]byte, 10)
	if _, err := io.ReadFull(br, pre[:8]); err != nil {
		return nil, invalidf("not a .npy file: %d bytes, shorter than its magic and version", st.Size())
	}
	if string(pre[:6]) != npyMagic {
		return nil, invalidf("not a .npy file (it does not start with \\x93NUMPY)")
	}
	major := pre[6]
	var hlen, start int64
	switch major {
	case 1:
		if _, err := io.ReadFull(br, pre[8:10]); err != nil {
			return nil, invalidf("truncated .npy header")
		}
		hlen, start = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, invalidf("truncated .npy header")
		}
		hlen, start = int64(binary.LittleEndian.Uint32(b[:])), 12
	default:
		return nil, invalidf(".npy format version %d.%d is not one NumPy writes (1.0, 2.0 or 3.0)", major, pre[7])
	}
	if hlen > maxNPYHeader {
		return nil, invalidf(".npy header of %d bytes, longer than the %d accepted", hlen, maxNPYHeader)
	}
	if start+hlen > st.Size() {
		return nil, invalidf("truncated .npy header: it declares %d bytes, the file has %d after the preamble", hlen, st.Size()-start)
	}
	raw := make([]byte, hlen)
	if _, err := io.ReadFull(br, raw); err != nil {
		return nil, invalidf("truncated .npy header: %v", err)
	}
	h, err := parseNPYHeader(string(raw))
	if err != nil {
		return nil, err
	}
	if err := checkShape(h.shape, lim); err != nil {
		return nil, err
	}
	rows, seq := h.shape[0], h.shape[1]
	need := int64(rows) * int64(seq) * int64(h.size)
	have := st.Size() - start - hlen
	switch {
	case have < need:
		return nil, invalidf("truncated: shape (%d, %d) of %s needs %d bytes of data, the file holds %d", rows, seq, h.descr, need, have)
	case have > need:
		return nil, invalidf("%d bytes after the array of shape (%d, %d) of %s: not a single .npy array", have-need, rows, seq, h.descr)
	}
	ids := make([]int64, rows*seq)
	buf := make([]byte, seq*h.size)
	// ids are stored in row-major order: Fortran order is transposed as it
	// is read (the file's k-th element is [k%rows, k/rows]).
	chunk, nChunks := seq, rows
	if h.fortran {
		chunk, nChunks = rows, seq
		buf = make([]byte, rows*h.size)
	}
	for c := range nChunks {
		if c%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("read the data: %w", err)
		}
		for j := range chunk {
			v := h.value(buf[j*h.size:])
			if h.fortran {
				ids[j*seq+c] = v
			} else {
				ids[c*seq+j] = v
			}
		}
	}
	return split(ids, rows, seq, lim)
}

// value decodes one element. An unsigned 64-bit value above MaxInt64 comes
// out negative, and is refused as outside the vocabulary.
func (h *npyHeader) value(b []byte) int64 {
	switch h.size {
	case 1:
		if h.signed {
			return int64(int8(b[0]))
		}
		return int64(b[0])
	case 2:
		if h.signed {
			return int64(int16(h.order.Uint16(b)))
		}
		return int64(h.order.Uint16(b))
	case 4:
		if h.signed {
			return int64(int32(h.order.Uint32(b)))
		}
		return int64(h.order.Uint32(b))
	}
	return int64(h.order.Uint64(b))
}

// parseNPYHeader parses the header dictionary, a Python literal such as
// {'descr': '<i8', 'fortran_order': False, 'shape': (2, 128), }.
func parseNPYHeader(s string) (*npyHeader, error) {
	p := &pyLit{s: strings.TrimRight(s, " \n\x00")}
	d, err := p.dict()
	if err != nil {
		return nil, invalidf(".npy header %q: %v", s, err)
	}
	h := &npyHeader{}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := d[k]; !ok {
			return nil, invalidf(".npy header %q: no %q", s, k)
		}
	}
	descr, ok := d["descr"].(string)
	if !ok {
		return nil, invalidf(".npy dtype %v is a structured dtype: token ids are one integer per element", d["descr"])
	}
	if h.fortran, ok = d["fortran_order"].(bool); !ok {
		return nil, invalidf(".npy header: fortran_order is not True or False")
	}
	shape, ok := d["shape"].([]int)
	if !ok {
		return nil, invalidf(".npy header: shape is not a tuple of integers")
	}
	h.shape, h.descr = shape, descr
	if len(descr) < 3 {
		return nil, invalidf(".npy dtype %q is not an integer dtype", descr)
	}
	switch descr[0] {
	case '<', '|', '=':
		h.order = binary.LittleEndian
	case '>':
		h.order = binary.BigEndian
	default:
		return nil, invalidf(".npy dtype %q: unknown byte order %q", descr, descr[0])
	}
	size, err := strconv.Atoi(descr[2:])
	if err != nil {
		return nil, invalidf(".npy dtype %q is not an integer dtype", descr)
	}
	switch descr[1] {
	case 'i', 'u':
		h.signed = descr[1] == 'i'
	case 'f':
		return nil, invalidf(".npy array of floats (dtype %s): token ids are integers (np.save the tokens as int32 or int64, e.g. tokens.astype(np.int64))", descr)
	default:
		return nil, invalidf(".npy dtype %s is not an integer dtype (want int32 or int64)", descr)
	}
	switch size {
	case 1, 2, 4, 8:
	default:
		return nil, invalidf(".npy dtype %s: integers of %d bytes", descr, size)
	}
	h.size = size
	return h, nil
}

// pyLit parses the small subset of Python literals a .npy header uses:
// a dict of string keys whose values are strings, True/False, or tuples
// of non-negative integers (or a list, for structured dtypes, refused).
type pyLit struct {
	s string
	i int
}

func (p *pyLit) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *pyLit) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyLit) dict() (map[string]any, error) {
	if !p.eat('{') {
		return nil, fmt.Errorf("not a dictionary")
	}
	d := map[string]any{}
	for {
		if p.eat('}') {
			break
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		if !p.eat(':') {
			return nil, fmt.Errorf("no ':' after key %q", k)
		}
		v, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		if _, dup := d[k]; dup {
			return nil, fmt.Errorf("key %q twice", k)
		}
		d[k] = v
		if !p.eat(',') {
			if !p.eat('}') {
				return nil, fmt.Errorf("no ',' or '}' at byte %d", p.i)
			}
			break
		}
	}
	if p.skip(); p.i != len(p.s) {
		return nil, fmt.Errorf("text after the dictionary at byte %d", p.i)
	}
	return d, nil
}

func (p *pyLit) str() (string, error) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("expected a string at byte %d", p.i)
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated string at byte %d", p.i)
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *pyLit) value() (any, error) {
	p.skip()
	switch {
	case p.i >= len(p.s):
		return nil, fmt.Errorf("no value")
	case p.s[p.i] == '\'' || p.s[p.i] == '"':
		return p.str()
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	case p.s[p.i] == '(':
		p.i++
		var dims []int
		for {
			if p.eat(')') {
				return dims, nil
			}
			p.skip()
			j := p.i
			for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
				j++
			}
			if j == p.i {
				return nil, fmt.Errorf("a shape of non-negative integers, got %q", p.s[p.i:min(len(p.s), p.i+12)])
			}
			n, err := strconv.Atoi(p.s[p.i:j])
			if err != nil || n > MaxTokens {
				return nil, fmt.Errorf("dimension %s: more than %d tokens", p.s[p.i:j], MaxTokens)
			}
			dims = append(dims, n)
			p.i = j
			// optional L suffix (Python 2 longs)
			if p.i < len(p.s) && p.s[p.i] == 'L' {
				p.i++
			}
			if !p.eat(',') {
				if !p.eat(')') {
					return nil, fmt.Errorf("no ',' or ')' in the shape at byte %d", p.i)
				}
				return dims, nil
			}
		}
	case p.s[p.i] == '[':
		return nil, fmt.Errorf("a list (a structured dtype): token ids are one integer per element")
	}
	return nil, fmt.Errorf("unexpected %q", p.s[p.i:min(len(p.s), p.i+12)])
}
