package torchpt

import (
	"encoding/binary"
	"strconv"
)

// Bounds applied to every pickle before gopickle sees it. A real state dict's
// data.pkl is a few hundred bytes per tensor and nests a handful of levels, so
// these limits only bite on hostile or corrupt input.
const (
	maxPickleBytes = 16 << 20 // data.pkl, or the legacy format's pickled prefix (GPT-2 small: ~20 KB)
	maxStackItems  = 1 << 20  // live values on the unpickler's stacks
	maxMarkDepth   = 1 << 12  // nested MARKs
	maxMarks       = 1 << 22  // MARK opcodes in total
	maxMemo        = 1 << 20  // distinct memo slots
	maxContainers  = 1 << 22  // lists, dicts and sets created
	maxItems       = 1 << 24  // elements appended or set into containers
	maxLongBytes   = 4096     // LONG4 payload (decoding is quadratic in it)
	maxLongDigits  = 4300     // LONG text payload (Python's own default limit)
	maxNameBytes   = 256      // a module or name longer than this is never allowed
)

// kind is the scanner's abstraction of a value on the pickle stack.
type kind uint8

const (
	kOther  kind = iota // None, bools, numbers, bytearrays, frozensets
	kStr                // text; s holds it when it is short enough to be a global's name
	kBytes              // []byte in gopickle: not hashable, never a dict key or set item
	kGlobal             // a whitelisted global; g holds its globalKind
	kTuple              // g holds the length
	kList               // g holds the container id
	kDict               // g holds the container id
	kODict              // an OrderedDict made by REDUCE; g holds the container id
	kSet                // g holds the container id
	kObj                // a persistent object or the result of a rebuild function
)

// sval is one abstract stack value.
type sval struct {
	k    kind
	long bool // kStr: the text was longer than maxNameBytes (s holds a prefix)
	g    int32
	s    string
}

// Container flags.
const nonStrKey = 1 // a dict that has had a key that is not a string

// scanner walks a pickle's opcodes without building any values, checking that
// each argument lies inside the buffer (so gopickle never allocates more than
// the input holds), that the stack never underflows, that memo reads hit
// defined slots, that every global is on the whitelist, and that the program
// only uses the opcodes and shapes a PyTorch state dict needs. Those shapes
// also keep gopickle away from its code paths that panic or that format
// attacker-sized values into error messages.
type scanner struct {
	buf      []byte
	pos      int
	opStart  int
	frameEnd int // end of the current protocol-4 frame; <= opStart when outside one
	st       []sval
	marks    []int
	memo     map[int]sval
	cont     []uint8
	nMarks   int
	nItems   int
}

// scanPickle validates the pickle at the start of buf and returns the offset
// just past its STOP opcode. Errors wrap ErrInvalid (with truncated set when
// buf ended early) or ErrForbiddenGlobal.
func scanPickle(buf []byte) (int, error) {
	s := &scanner{buf: buf, memo: make(map[int]sval)}
	for {
		if s.pos >= len(s.buf) {
			return 0, s.truncated()
		}
		s.opStart = s.pos
		op := s.buf[s.pos]
		s.pos++
		if err := s.step(op); err != nil {
			return 0, err
		}
		if op == '.' { // STOP
			return s.pos, nil
		}
	}
}

func (s *scanner) fail(format string, args ...any) error {
	return invalidf("pickle opcode at byte %d: "+format, append([]any{s.opStart}, args...)...)
}

func (s *scanner) truncated() error {
	return &formatError{msg: "pickle is truncated (it ends without a STOP opcode)", truncated: true}
}

// limit is where the current opcode's arguments must end: the end of the
// frame that holds the opcode, or the end of the buffer.
func (s *scanner) limit() int {
	if s.opStart < s.frameEnd {
		return s.frameEnd
	}
	return len(s.buf)
}

func (s *scanner) take(n int) ([]byte, error) {
	if n < 0 || n > len(s.buf)-s.pos {
		return nil, s.truncated()
	}
	if s.pos+n > s.limit() {
		return nil, s.fail("argument crosses the end of its frame")
	}
	b := s.buf[s.pos : s.pos+n]
	s.pos += n
	return b, nil
}

// line returns the bytes up to (not including) the next newline.
func (s *scanner) line() ([]byte, error) {
	lim := s.limit()
	for i := s.pos; i < len(s.buf); i++ {
		if s.buf[i] == '\n' {
			if i >= lim {
				return nil, s.fail("argument crosses the end of its frame")
			}
			b := s.buf[s.pos:i]
			s.pos = i + 1
			return b, nil
		}
	}
	return nil, s.truncated()
}

func (s *scanner) u32() (int, error) {
	b, err := s.take(4)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint32(b)), nil
}

func (s *scanner) i32() (int, error) {
	b, err := s.take(4)
	if err != nil {
		return 0, err
	}
	return int(int32(binary.LittleEndian.Uint32(b))), nil
}

// u64len reads an 8-byte length and checks it against the remaining input
// before converting it to int.
func (s *scanner) u64len() (int, error) {
	b, err := s.take(8)
	if err != nil {
		return 0, err
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(s.buf)-s.pos) {
		return 0, s.truncated()
	}
	return int(n), nil
}

func (s *scanner) byte1() (int, error) {
	b, err := s.take(1)
	if err != nil {
		return 0, err
	}
	return int(b[0]), nil
}

// argLen returns the size of the binary argument that follows op: fixed for
// BININT, BININT1, BININT2 and BINFLOAT, read from a length prefix (and
// checked) for the longs, strings and bytes.
func (s *scanner) argLen(op byte) (int, error) {
	switch op {
	case 'K':
		return 1, nil
	case 'M':
		return 2, nil
	case 'J':
		return 4, nil
	case 'G':
		return 8, nil
	case 'U', 0x8c, 'C':
		return s.byte1()
	case 'X', 'B':
		return s.u32()
	case 0x8d, 0x8e, 0x96:
		return s.u64len()
	case 0x8a: // LONG1
		n, err := s.byte1()
		if err == nil && n == 0 {
			err = s.fail("LONG1 with no bytes")
		}
		return n, err
	case 0x8b: // LONG4
		n, err := s.i32()
		if err == nil && (n <= 0 || n > maxLongBytes) {
			err = s.fail("LONG4 with %d bytes", n)
		}
		return n, err
	case 'T': // BINSTRING
		n, err := s.i32()
		if err == nil && n < 0 {
			err = s.fail("BINSTRING with negative length")
		}
		return n, err
	}
	return 0, s.fail("unknown opcode 0x%02x", op)
}

// memoIndex reads the memo index argument of a GET or PUT opcode: a decimal
// line for GET and PUT, one byte for BINGET and BINPUT, four for LONG_BINGET
// and LONG_BINPUT.
func (s *scanner) memoIndex(op byte) (int, error) {
	switch op {
	case 'h', 'q':
		return s.byte1()
	case 'j', 'r':
		return s.u32()
	}
	b, err := s.line()
	if err != nil {
		return 0, err
	}
	i, err := strconv.Atoi(string(b))
	if err != nil || i < 0 {
		return 0, s.fail("bad memo index %q", truncate(string(b), 40))
	}
	return i, nil
}

// lineNames reads the module and name lines that follow GLOBAL and INST.
func (s *scanner) lineNames() (mod, name sval, err error) {
	m, err := s.line()
	if err != nil {
		return sval{}, sval{}, err
	}
	n, err := s.line()
	if err != nil {
		return sval{}, sval{}, err
	}
	return s.str(m), s.str(n), nil
}

func (s *scanner) base() int {
	if len(s.marks) == 0 {
		return 0
	}
	return s.marks[len(s.marks)-1]
}

func (s *scanner) push(v sval) error {
	if len(s.st) >= maxStackItems {
		return s.fail("more than %d values on the stack", maxStackItems)
	}
	s.st = append(s.st, v)
	return nil
}

func (s *scanner) pop() (sval, error) {
	if len(s.st) <= s.base() {
		return sval{}, s.fail("stack underflow")
	}
	v := s.st[len(s.st)-1]
	s.st = s.st[:len(s.st)-1]
	return v, nil
}

// popN pops the top n values, which must all lie above the innermost MARK,
// and returns them bottom first. Like popMark's result, the slice shares the
// stack's memory: it is only valid until the next push.
func (s *scanner) popN(n int) ([]sval, error) {
	if len(s.st)-s.base() < n {
		return nil, s.fail("stack underflow")
	}
	items := s.st[len(s.st)-n:]
	s.st = s.st[:len(s.st)-n]
	return items, nil
}

func (s *scanner) last() (sval, error) {
	if len(s.st) <= s.base() {
		return sval{}, s.fail("stack underflow")
	}
	return s.st[len(s.st)-1], nil
}

func (s *scanner) popMark() ([]sval, error) {
	if len(s.marks) == 0 {
		return nil, s.fail("no MARK on the stack")
	}
	b := s.marks[len(s.marks)-1]
	s.marks = s.marks[:len(s.marks)-1]
	items := s.st[b:]
	s.st = s.st[:b]
	return items, nil
}

// operands pops the values that op consumes: one for APPEND and TUPLE1, two
// for SETITEM and TUPLE2, three for TUPLE3, and everything above the
// innermost MARK (which it removes) for the others.
func (s *scanner) operands(op byte) ([]sval, error) {
	switch op {
	case 'a', 0x85:
		return s.popN(1)
	case 's', 0x86:
		return s.popN(2)
	case 0x87:
		return s.popN(3)
	}
	return s.popMark()
}

func (s *scanner) container(k kind) (sval, error) {
	if len(s.cont) >= maxContainers {
		return sval{}, s.fail("more than %d containers", maxContainers)
	}
	s.cont = append(s.cont, 0)
	return sval{k: k, g: int32(len(s.cont) - 1)}, nil
}

// pushContainer pushes a new, empty container of kind k.
func (s *scanner) pushContainer(k kind) error {
	v, err := s.container(k)
	if err != nil {
		return err
	}
	return s.push(v)
}

func (s *scanner) addItems(n int) error {
	s.nItems += n
	if s.nItems > maxItems {
		return s.fail("more than %d container elements", maxItems)
	}
	return nil
}

func (s *scanner) str(b []byte) sval {
	if len(b) > maxNameBytes {
		return sval{k: kStr, long: true, s: string(b[:maxNameBytes])}
	}
	return sval{k: kStr, s: string(b)}
}

func (s *scanner) global(module, name sval) (sval, error) {
	mod, nm := module.s, name.s
	if module.long {
		mod += "…"
	}
	if name.long {
		nm += "…"
	}
	gk := globalKind(0)
	if !module.long && !name.long {
		gk = allowedGlobals[[2]string{mod, nm}]
	}
	if gk == 0 {
		return sval{}, forbidden(mod, nm)
	}
	return sval{k: kGlobal, g: int32(gk)}, nil
}

// pushGlobal pushes the global module.name, which must be on the whitelist.
func (s *scanner) pushGlobal(module, name sval) error {
	g, err := s.global(module, name)
	if err != nil {
		return err
	}
	return s.push(g)
}

func (s *scanner) memoPut(i int) error {
	v, err := s.last()
	if err != nil {
		return err
	}
	s.memo[i] = v
	if len(s.memo) > maxMemo {
		return s.fail("more than %d memo entries", maxMemo)
	}
	return nil
}

func (s *scanner) memoGet(i int) error {
	v, ok := s.memo[i]
	if !ok {
		return s.fail("memo slot %d read before it was written", i)
	}
	return s.push(v)
}

// setKeys checks key/value pairs stored into the dict d.
func (s *scanner) setKeys(d sval, pairs []sval) error {
	if len(pairs)%2 != 0 {
		return s.fail("odd number of items for a dict")
	}
	if d.k != kDict && d.k != kODict {
		return s.fail("SETITEM(S) on a value that is not a dict")
	}
	for i := 0; i < len(pairs); i += 2 {
		switch pairs[i].k {
		case kStr:
		case kBytes:
			return s.fail("bytes used as a dict key")
		default:
			s.cont[d.g] |= nonStrKey
		}
	}
	return s.addItems(len(pairs) / 2)
}

func noBytes(s *scanner, items []sval) error {
	for _, v := range items {
		if v.k == kBytes {
			return s.fail("bytes used as a set element")
		}
	}
	return nil
}

// step handles one opcode.
func (s *scanner) step(op byte) error {
	other := sval{k: kOther}
	switch op {
	case '(': // MARK
		if len(s.marks) >= maxMarkDepth {
			return s.fail("MARKs nested more than %d deep", maxMarkDepth)
		}
		s.nMarks++
		if s.nMarks > maxMarks {
			return s.fail("more than %d MARKs", maxMarks)
		}
		s.marks = append(s.marks, len(s.st))
		return nil
	case '.': // STOP
		_, err := s.pop()
		return err
	case '0': // POP (gopickle pops a MARK when the current stack is empty)
		if len(s.st) > s.base() {
			s.st = s.st[:len(s.st)-1]
			return nil
		}
		_, err := s.popMark()
		return err
	case '1': // POP_MARK
		_, err := s.popMark()
		return err
	case '2': // DUP
		v, err := s.last()
		if err != nil {
			return err
		}
		return s.push(v)

	case 'F', 'I', 'L': // FLOAT, INT, LONG (text)
		b, err := s.line()
		if err != nil {
			return err
		}
		if op == 'L' && len(b) > maxLongDigits+2 {
			return s.fail("LONG with %d digits", len(b))
		}
		return s.push(other)
	case 'S', 'V': // STRING (quoted text), UNICODE (text)
		b, err := s.line()
		if err != nil {
			return err
		}
		if op == 'S' {
			if len(b) < 2 || b[0] != b[len(b)-1] || (b[0] != '\'' && b[0] != '"') {
				return s.fail("STRING argument is not quoted")
			}
			b = b[1 : len(b)-1]
		}
		return s.push(s.str(b))
	case 'J', 'K', 'M', 'G', 0x8a, 0x8b, 'T', 'X', 'U', 0x8c, 0x8d, 'B', 'C', 0x8e, 0x96:
		// BININT, BININT1, BININT2, BINFLOAT, LONG1, LONG4, BINSTRING,
		// BINUNICODE, SHORT_BINSTRING, SHORT_BINUNICODE, BINUNICODE8,
		// BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		n, err := s.argLen(op)
		if err != nil {
			return err
		}
		b, err := s.take(n)
		if err != nil {
			return err
		}
		switch op {
		case 'B', 'C', 0x8e:
			return s.push(sval{k: kBytes})
		case 'T', 'X', 'U', 0x8c, 0x8d:
			return s.push(s.str(b))
		}
		return s.push(other)
	case 'N', 0x88, 0x89: // NONE, NEWTRUE, NEWFALSE
		return s.push(other)

	case ')': // EMPTY_TUPLE
		return s.push(sval{k: kTuple})
	case 't', 0x85, 0x86, 0x87: // TUPLE, TUPLE1, TUPLE2, TUPLE3
		items, err := s.operands(op)
		if err != nil {
			return err
		}
		return s.push(sval{k: kTuple, g: int32(len(items))})
	case ']': // EMPTY_LIST
		return s.pushContainer(kList)
	case '}': // EMPTY_DICT
		return s.pushContainer(kDict)
	case 0x8f: // EMPTY_SET
		return s.pushContainer(kSet)
	case 'l': // LIST
		items, err := s.popMark()
		if err != nil {
			return err
		}
		if err := s.addItems(len(items)); err != nil {
			return err
		}
		return s.pushContainer(kList)
	case 'd': // DICT
		items, err := s.popMark()
		if err != nil {
			return err
		}
		v, err := s.container(kDict)
		if err != nil {
			return err
		}
		if err := s.setKeys(v, items); err != nil {
			return err
		}
		return s.push(v)
	case 0x91: // FROZENSET
		items, err := s.popMark()
		if err != nil {
			return err
		}
		if err := noBytes(s, items); err != nil {
			return err
		}
		if err := s.addItems(len(items)); err != nil {
			return err
		}
		return s.push(other)
	case 'a', 'e', 's', 'u', 0x90: // APPEND, APPENDS, SETITEM, SETITEMS, ADDITEMS
		return s.fill(op)

	case 'c': // GLOBAL
		mod, name, err := s.lineNames()
		if err != nil {
			return err
		}
		return s.pushGlobal(mod, name)
	case 0x93: // STACK_GLOBAL
		v, err := s.popN(2)
		if err != nil {
			return err
		}
		if v[0].k != kStr || v[1].k != kStr {
			return s.fail("STACK_GLOBAL operands are not strings")
		}
		return s.pushGlobal(v[0], v[1])
	case 'R': // REDUCE
		return s.reduce()
	case 'b': // BUILD
		state, err := s.pop()
		if err != nil {
			return err
		}
		inst, err := s.last()
		if err != nil {
			return err
		}
		// torch pickles use BUILD only to restore an OrderedDict's
		// attributes (a state dict's _metadata), from a dict with str keys.
		if inst.k != kODict || state.k != kDict || s.cont[state.g]&nonStrKey != 0 {
			return s.fail("BUILD is only supported for an OrderedDict with a dict of str attributes")
		}
		return nil
	case 'Q': // BINPERSID
		if _, err := s.pop(); err != nil {
			return err
		}
		return s.push(sval{k: kObj})

	case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
		i, err := s.memoIndex(op)
		if err != nil {
			return err
		}
		return s.memoGet(i)
	case 'p', 'q', 'r': // PUT, BINPUT, LONG_BINPUT
		i, err := s.memoIndex(op)
		if err != nil {
			return err
		}
		return s.memoPut(i)
	case 0x94: // MEMOIZE (gopickle, like Python, uses the memo's size as the index)
		return s.memoPut(len(s.memo))

	case 0x80: // PROTO
		p, err := s.byte1()
		if err != nil {
			return err
		}
		if p > 5 {
			return s.fail("unsupported pickle protocol %d", p)
		}
		return nil
	case 0x95: // FRAME
		if s.opStart < s.frameEnd {
			return s.fail("FRAME inside a frame")
		}
		n, err := s.u64len()
		if err != nil {
			return err
		}
		s.frameEnd = s.pos + n
		return nil

	case 'P':
		return s.fail("PERSID (text persistent id) is not used by torch.save")
	case 'i': // INST: name the global first, so a forbidden one is reported as such
		mod, name, err := s.lineNames()
		if err != nil {
			return err
		}
		if _, err := s.global(mod, name); err != nil {
			return err
		}
		return s.fail("INST builds class instances, which a state dict does not need")
	case 'o', 0x81, 0x92:
		return s.fail("opcode %q builds class instances, which a state dict does not need", op)
	case 0x82, 0x83, 0x84:
		return s.fail("extension registry opcodes are not supported")
	case 0x97, 0x98:
		return s.fail("out-of-band buffers are not supported")
	}
	return s.fail("unknown opcode 0x%02x", op)
}

// fill handles the opcodes that add elements to the container below them:
// APPEND and APPENDS to a list, SETITEM and SETITEMS to a dict, ADDITEMS to
// a set. The container is pushed back once the elements are checked.
func (s *scanner) fill(op byte) error {
	items, err := s.operands(op)
	if err != nil {
		return err
	}
	c, err := s.pop()
	if err != nil {
		return err
	}
	switch op {
	case 'a', 'e':
		if c.k != kList {
			name := "APPEND"
			if op == 'e' {
				name = "APPENDS"
			}
			return s.fail("%s to a value that is not a list", name)
		}
		err = s.addItems(len(items))
	case 's', 'u':
		err = s.setKeys(c, items) // it counts the pairs
	default: // ADDITEMS
		if c.k != kSet {
			return s.fail("ADDITEMS to a value that is not a set")
		}
		if err = noBytes(s, items); err == nil {
			err = s.addItems(len(items))
		}
	}
	if err != nil {
		return err
	}
	return s.push(c)
}

// reduce handles REDUCE: only whitelisted globals may be called, with a
// tuple of arguments. OrderedDict() makes a dict; a rebuild function's
// result is opaque.
func (s *scanner) reduce() error {
	v, err := s.popN(2)
	if err != nil {
		return err
	}
	fn, args := v[0], v[1]
	if fn.k != kGlobal {
		return s.fail("REDUCE of a value that is not a global")
	}
	if args.k != kTuple {
		return s.fail("REDUCE arguments are not a tuple")
	}
	switch globalKind(fn.g) {
	case gkOrderedDict:
		if args.g != 0 {
			return s.fail("collections.OrderedDict called with arguments (a Python 2 pickle?)")
		}
		return s.pushContainer(kODict)
	case gkStorage:
		return s.fail("a storage class is called")
	}
	return s.push(sval{k: kObj})
}
