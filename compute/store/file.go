package store

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/zeebo/xxh3"

	"github.com/saescope/saescope/compute/parallel"
	"github.com/saescope/saescope/internal/regularfile"
)

// File layout: magic (8 bytes) · header length (uint64) · header checksum
// (uint64, XXH3-64 of the header) · JSON Meta · padding to 8 · sections
// (8-aligned, little-endian) · trailer magic (8 bytes) · total file length
// (uint64). The trailer makes a truncated file fail to open; files are only
// ever written under a temporary name and renamed into place once
// complete and synced. Every section carries its XXH3-64 checksum in the
// header, so a damaged byte anywhere that an answer depends on is an
// error (ErrCorrupt), never a different number: the small sections are
// verified by Open, the large ones (the sparse activations, the top and
// interval samples, the histograms) on their first use, so that reopening
// takes milliseconds.
var (
	magic   = [8]byte{'S', 'A', 'E', 'S', 'T', 'O', 'R', '2'}
	magicV1 = [8]byte{'S', 'A', 'E', 'S', 'T', 'O', 'R', '1'} // format version 1: no checksums
	trailer = [8]byte{'S', 'T', 'O', 'R', 'E', 'E', 'N', 'D'}
)

// prefixLen is the length of the fixed part before the JSON header.
const prefixLen = 24

// ErrCorrupt is wrapped by every error about a store file's content: a
// damaged or truncated file, to be rebuilt.
var ErrCorrupt = errors.New("store file corrupt or incomplete")

// rebuildHint ends the errors about a damaged section or header.
const rebuildHint = "delete the file or run analyze --force to rebuild it"

type section struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // u16 i32 u32 u64 f32 f64
	Offset int64  `json:"offset"`
	Count  int64  `json:"count"`
	Sum    uint64 `json:"xxh3"` // XXH3-64 of the section's bytes
}

// Names of the sections that are verified on first use (see lazy).
const (
	secTokFeat = "tok_feat"
	secTokVal  = "tok_val"
	secFeatTok = "feat_tok"
	secFeatVal = "feat_val"
	secRandVal = "rand_val"
	secTopTok  = "top_tok"
	secTopVal  = "top_val"
	secIntTok  = "int_tok"
	secIntVal  = "int_val"
	secHist    = "hist"
	secTokens  = "tokens"
	secSampPos = "samp_pos"
	secSampVal = "samp_val"
	secCoID    = "co_id"
	secCoCorr  = "co_corr"
)

// lazySection is a large section of an opened store, verified (checksum,
// then content) the first time a query needs it.
type lazySection struct {
	name  string
	sec   section
	data  []byte
	check func() error // content checks once the checksum matches; nil: none
	once  sync.Once
	err   error
}

func (l *lazySection) verify(path string) error {
	l.once.Do(func() {
		if got := xxh3.Hash(l.data); got != l.sec.Sum {
			l.err = fmt.Errorf("%w: store %s: section %s is damaged (checksum %016x, want %016x): %s", ErrCorrupt, path, l.name, got, l.sec.Sum, rebuildHint)
			return
		}
		if l.check != nil {
			if err := l.check(); err != nil {
				l.err = fmt.Errorf("%w: store %s: section %s: %v: %s", ErrCorrupt, path, l.name, err, rebuildHint)
			}
		}
	})
	return l.err
}

// need verifies the named sections of an opened store the first time they
// are used (at once for a store built in memory or a section verified by
// Open), and returns an error wrapping ErrCorrupt when one is damaged.
// Every method that reads a lazily verified section calls it first.
func (s *Store) need(names ...string) error {
	if s.lazy == nil {
		return nil
	}
	for _, n := range names {
		if l := s.lazy[n]; l != nil {
			if err := l.verify(s.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// Verify checks every section of an opened store against its checksum
// (Open checks only the small ones; the others are checked on first use),
// and returns an error wrapping ErrCorrupt for the first damaged one.
func (s *Store) Verify() error {
	for _, fl := range s.fields() {
		if err := s.need(fl.name); err != nil {
			return err
		}
	}
	return nil
}

func kindSize(k string) int64 {
	switch k {
	case "u16":
		return 2
	case "i32", "u32", "f32":
		return 4
	case "u64", "f64":
		return 8
	}
	return 0
}

type field struct {
	name string
	ptr  any
}

// fields lists every array of the store with its section name, so that
// writing and opening cannot disagree: a full store's (format 2) or a
// bounded store's (format 3).
func (s *Store) fields() []field {
	if s.bounded {
		return []field{
			{secTokens, &s.Tokens}, {"row_ids", &s.RowIDs},
			{"learnt_count", &s.Learnt.Count}, {"learnt_sum", &s.Learnt.Sum}, {"learnt_sumsq", &s.Learnt.SumSq}, {"learnt_max", &s.Learnt.Max},
			{"random_count", &s.Random.Count}, {"random_sum", &s.Random.Sum}, {"random_sumsq", &s.Random.SumSq}, {"random_max", &s.Random.Max},
			{secTopTok, &s.TopTok}, {secTopVal, &s.TopVal}, {"top_n", &s.TopN},
			{secIntTok, &s.IntTok}, {secIntVal, &s.IntVal}, {"int_count", &s.IntCount}, {"range", &s.Range},
			{secHist, &s.Hist},
			{"samp_ptr", &s.SampPtr}, {secSampPos, &s.SampPos}, {secSampVal, &s.SampVal},
			{"tok_counts", &s.TokCounts}, {"rand_counts", &s.RandCounts},
			{"co_n", &s.CoN}, {secCoID, &s.CoID}, {secCoCorr, &s.CoCorr},
			{"unembed_entropy", &s.UnembedEntropy}, {"unembed_maxprob", &s.UnembedMaxProb},
			{"random_unembed_entropy", &s.RandomUnembedEntropy}, {"random_unembed_maxprob", &s.RandomUnembedMaxProb},
		}
	}
	return []field{
		{secTokens, &s.Tokens},
		{"tok_ptr", &s.TokPtr}, {secTokFeat, &s.TokFeat}, {secTokVal, &s.TokVal},
		{"feat_ptr", &s.FeatPtr}, {secFeatTok, &s.FeatTok}, {secFeatVal, &s.FeatVal},
		{"learnt_count", &s.Learnt.Count}, {"learnt_sum", &s.Learnt.Sum}, {"learnt_sumsq", &s.Learnt.SumSq}, {"learnt_max", &s.Learnt.Max},
		{"random_count", &s.Random.Count}, {"random_sum", &s.Random.Sum}, {"random_sumsq", &s.Random.SumSq}, {"random_max", &s.Random.Max},
		{"rand_tok", &s.RandTok}, {"rand_ptr", &s.RandPtr}, {secRandVal, &s.RandVal},
		{secTopTok, &s.TopTok}, {secTopVal, &s.TopVal}, {"top_n", &s.TopN},
		{secIntTok, &s.IntTok}, {secIntVal, &s.IntVal},
		{secHist, &s.Hist},
		{"unembed_entropy", &s.UnembedEntropy}, {"unembed_maxprob", &s.UnembedMaxProb},
		{"random_unembed_entropy", &s.RandomUnembedEntropy}, {"random_unembed_maxprob", &s.RandomUnembedMaxProb},
	}
}

// raw returns the bytes of a slice field and its kind.
func raw(ptr any) ([]byte, string) {
	switch p := ptr.(type) {
	case *[]uint16:
		return sliceBytes(*p), "u16"
	case *[]int32:
		return sliceBytes(*p), "i32"
	case *[]uint32:
		return sliceBytes(*p), "u32"
	case *[]uint64:
		return sliceBytes(*p), "u64"
	case *[]float32:
		return sliceBytes(*p), "f32"
	case *[]float64:
		return sliceBytes(*p), "f64"
	}
	panic(fmt.Sprintf("store: unsupported field type %T", ptr))
}

func sliceBytes[T uint16 | int32 | uint32 | uint64 | float32 | float64](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(z)))
}

func view[T uint16 | int32 | uint32 | uint64 | float32 | float64](b []byte) []T {
	if len(b) == 0 {
		return []T{}
	}
	var z T
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/int(unsafe.Sizeof(z)))
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// Write saves s to path atomically: it writes a temporary file in the same
// folder, syncs it, and renames it over path, so that path always holds
// either the old complete store or the new one.
func (s *Store) Write(path string) (err error) {
	if !littleEndian() {
		return errors.New("store: big-endian machines are not supported")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write store %s: %w", path, err)
	}
	removeStaleTemps(dir, "."+filepath.Base(path)+".tmp-*")
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write store %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Held until the file is closed, or the process dies: a cleaner
	// never removes a temporary file a live writer holds.
	if err := lockTemp(f); err != nil {
		return fmt.Errorf("write store %s: lock %s: %w", path, tmp, err)
	}
	// Section table: offsets depend on the header length, which depends on
	// the offsets' digits; iterate until stable.
	fields := s.fields()
	meta := s.Meta
	meta.Version = FullFormatVersion
	if s.bounded {
		meta.Version = FormatVersion
	}
	var header []byte
	dataStart := int64(0)
	sums := make([]uint64, len(fields))
	parallel.Ranges(min(runtime.GOMAXPROCS(0), len(fields)), len(fields), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			b, _ := raw(fields[i].ptr)
			sums[i] = xxh3.Hash(b)
		}
	})
	meta.Sections = nil // not the caller's array
	for iter := 0; iter < 5; iter++ {
		meta.Sections = meta.Sections[:0]
		off := dataStart
		for i, fl := range fields {
			b, kind := raw(fl.ptr)
			meta.Sections = append(meta.Sections, section{Name: fl.name, Kind: kind, Offset: off, Count: int64(len(b)) / kindSize(kind), Sum: sums[i]})
			off += align8(int64(len(b)))
		}
		if header, err = json.Marshal(meta); err != nil {
			return fmt.Errorf("write store %s: %w", path, err)
		}
		next := align8(prefixLen + int64(len(header)))
		if next == dataStart {
			break
		}
		dataStart = next
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var n8 [8]byte
	w.Write(magic[:])
	binary.LittleEndian.PutUint64(n8[:], uint64(len(header)))
	w.Write(n8[:])
	binary.LittleEndian.PutUint64(n8[:], xxh3.Hash(header))
	w.Write(n8[:])
	w.Write(header)
	pos := prefixLen + int64(len(header))
	pad := func(to int64) {
		for ; pos < to; pos++ {
			w.WriteByte(0)
		}
	}
	pad(dataStart)
	for i, fl := range fields {
		b, _ := raw(fl.ptr)
		if pos != meta.Sections[i].Offset {
			return fmt.Errorf("write store %s: internal layout error at %s", path, fl.name)
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write store %s: %w", path, err)
		}
		pos += int64(len(b))
		pad(align8(pos))
	}
	w.Write(trailer[:])
	binary.LittleEndian.PutUint64(n8[:], uint64(pos+16))
	w.Write(n8[:])
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write store %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write store %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write store %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write store %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// staleTempAge is how old a temporary store file must be before a cleaner
// may remove it. A writer holds a lock on its temporary file from a few
// microseconds after creating it until just before renaming it, so the
// age only guards those gaps; a killed writer's lock is gone.
const staleTempAge = 2 * time.Minute

// RemoveStaleTemps deletes the temporary files that interrupted writes of
// stores left in dir (a killed process cannot clean up after itself): those
// older than two minutes whose writer's lock is gone. A temporary file a
// live process is writing is never removed. It returns how many it removed.
func RemoveStaleTemps(dir string) int {
	return removeStaleTemps(dir, ".*.saestore.tmp-*")
}

// removeStaleTemps is RemoveStaleTemps for the names matching pattern.
func removeStaleTemps(dir, pattern string) int {
	matches, _ := filepath.Glob(filepath.Join(dir, pattern))
	removed := 0
	for _, m := range matches {
		if removeIfStale(m) {
			removed++
		}
	}
	return removed
}

// removeIfStale removes the temporary file at p when it is old and no
// writer holds its lock (taken here while removing it, so that no writer
// can take it in between).
func removeIfStale(p string) bool {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || time.Since(st.ModTime()) < staleTempAge {
		return false
	}
	if !tryLockTemp(f) {
		return false // a live writer
	}
	return os.Remove(p) == nil
}

func align8(n int64) int64 { return (n + 7) &^ 7 }

// HasMagic reports whether the file at path begins as a store of any
// format version does (damaged or finished): what may be overwritten by a
// new store without losing something else. A missing file is false, nil.
func HasMagic(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read store %s: %w", path, err)
	}
	defer f.Close()
	var head [8]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, fmt.Errorf("read store %s: %w", path, err)
	}
	return head == magic || head == magicV1, nil
}

// Open maps a store file read-only and checks its structure and the
// checksums of its header and small sections (those of the large sections
// are checked on their first use). The arrays of the returned store alias
// the mapping until Close.
func Open(path string) (*Store, error) {
	data, closer, err := mapFile(path)
	if errors.Is(err, regularfile.ErrNotRegular) {
		return nil, fmt.Errorf("open store: %w: a store is the file that analyze writes (it prints its path)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s, err := parse(data, path)
	if err != nil {
		closer()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.closer = closer
	return s, nil
}

// parse reads a store file's bytes; path names it in later errors.
func parse(data []byte, path string) (*Store, error) {
	if !littleEndian() {
		return nil, errors.New("big-endian machines are not supported")
	}
	n := int64(len(data))
	if n >= 8 && bytes.Equal(data[:8], magicV1[:]) {
		return nil, fmt.Errorf("%w: format version 1, this build reads %d", ErrOldVersion, FormatVersion)
	}
	if n < prefixLen+16 || !bytes.Equal(data[:8], magic[:]) {
		return nil, fmt.Errorf("%w: not a SAE Scope store (bad magic)", ErrCorrupt)
	}
	if !bytes.Equal(data[n-16:n-8], trailer[:]) || int64(binary.LittleEndian.Uint64(data[n-8:])) != n {
		return nil, fmt.Errorf("%w: truncated (no end marker)", ErrCorrupt)
	}
	hl := int64(binary.LittleEndian.Uint64(data[8:16]))
	if hl <= 0 || hl > n-prefixLen-16 { // prefixLen+hl > n-16, without overflowing
		return nil, fmt.Errorf("%w: header length %d", ErrCorrupt, hl)
	}
	header := data[prefixLen : prefixLen+hl]
	if got, want := xxh3.Hash(header), binary.LittleEndian.Uint64(data[16:24]); got != want {
		return nil, fmt.Errorf("%w: the header is damaged (checksum %016x, want %016x): %s", ErrCorrupt, got, want, rebuildHint)
	}
	s := &Store{path: path}
	if err := json.Unmarshal(header, &s.Meta); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	switch s.Meta.Version {
	case FormatVersion:
		s.bounded = true
	case FullFormatVersion:
	default:
		return nil, fmt.Errorf("%w: format version %d, this build reads %d and %d", ErrOldVersion, s.Meta.Version, FullFormatVersion, FormatVersion)
	}
	byName := map[string]section{}
	for _, sec := range s.Meta.Sections {
		byName[sec.Name] = sec
	}
	s.lazy = map[string]*lazySection{}
	for _, fl := range s.fields() {
		sec, ok := byName[fl.name]
		_, kind := raw(fl.ptr)
		if !ok || sec.Kind != kind {
			return nil, fmt.Errorf("%w: section %s missing or of the wrong kind", ErrCorrupt, fl.name)
		}
		if sec.Count < 0 || sec.Count > n/kindSize(kind) || sec.Offset < prefixLen+hl || sec.Offset%8 != 0 || sec.Offset > n-16 {
			return nil, fmt.Errorf("%w: section %s out of bounds", ErrCorrupt, fl.name)
		}
		size := sec.Count * kindSize(kind) // no overflow: Count ≤ n/kindSize
		if size > n-16-sec.Offset {
			return nil, fmt.Errorf("%w: section %s out of bounds", ErrCorrupt, fl.name)
		}
		b := data[sec.Offset : sec.Offset+size]
		if s.isLazy(fl.name) {
			s.lazy[fl.name] = &lazySection{name: fl.name, sec: sec, data: b}
		} else if got := xxh3.Hash(b); got != sec.Sum {
			return nil, fmt.Errorf("%w: section %s is damaged (checksum %016x, want %016x): %s", ErrCorrupt, fl.name, got, sec.Sum, rebuildHint)
		}
		switch p := fl.ptr.(type) {
		case *[]uint16:
			*p = view[uint16](b)
		case *[]int32:
			*p = view[int32](b)
		case *[]uint32:
			*p = view[uint32](b)
		case *[]uint64:
			*p = view[uint64](b)
		case *[]float32:
			*p = view[float32](b)
		case *[]float64:
			*p = view[float64](b)
		}
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if s.bounded {
		s.lazy[secTopTok].check = s.checkTopTokBounded
		s.lazy[secIntTok].check = s.checkIntTokBounded
		s.lazy[secSampPos].check = s.checkSampPos
		s.lazy[secCoID].check = s.checkCoID
		return s, nil
	}
	s.lazy[secTokFeat].check = s.checkTokFeat
	s.lazy[secFeatTok].check = s.checkFeatTok
	s.lazy[secTopTok].check = s.checkTopTok
	s.lazy[secIntTok].check = s.checkIntTok
	return s, nil
}

// isLazy reports whether section name is verified on first use rather
// than by Open: the arrays whose size grows with the tokens or with the
// features times a per-feature sample count.
func (s *Store) isLazy(name string) bool {
	switch name {
	case secTopTok, secTopVal, secIntTok, secIntVal, secHist:
		return true
	case secTokFeat, secTokVal, secFeatTok, secFeatVal, secRandVal:
		return !s.bounded
	case secTokens, secSampPos, secSampVal, secCoID, secCoCorr:
		return s.bounded
	}
	return false
}

// ErrOldVersion is wrapped when a store was written by another format version.
var ErrOldVersion = errors.New("store of another format version")

// validate checks the array lengths and index bounds that queries rely on,
// so that a damaged file gives an error instead of a crash later.
func (s *Store) validate() error {
	if s.bounded {
		return s.validateBounded()
	}
	m := s.Meta
	d := m.DSae
	seq := m.Params.SeqLen
	if d <= 0 || seq <= 0 || len(s.Tokens)%seq != 0 {
		return fmt.Errorf("bad shape: d_sae %d, seq_len %d, %d tokens", d, seq, len(s.Tokens))
	}
	nt := len(s.Tokens)
	if len(s.TokFeat) != len(s.TokVal) || len(s.FeatTok) != len(s.FeatVal) || len(s.TokFeat) != len(s.FeatTok) {
		return errors.New("sparse arrays of different lengths")
	}
	if err := checkPtr("tok_ptr", s.TokPtr, nt, len(s.TokFeat)); err != nil {
		return err
	}
	if err := checkPtr("feat_ptr", s.FeatPtr, d, len(s.FeatTok)); err != nil {
		return err
	}
	for _, mm := range []Moments{s.Learnt, s.Random} {
		if len(mm.Count) != d || len(mm.Sum) != d || len(mm.SumSq) != d || len(mm.Max) != d {
			return errors.New("moment arrays of the wrong length")
		}
	}
	if err := checkPtr("rand_ptr", s.RandPtr, len(s.RandTok), len(s.RandVal)); err != nil {
		return err
	}
	for _, t := range s.RandTok {
		if int(t) >= nt {
			return errors.New("baseline token index out of range")
		}
	}
	if len(s.TopTok) != d*TopK || len(s.TopVal) != d*TopK || len(s.TopN) != d {
		return errors.New("top arrays of the wrong length")
	}
	for f, n := range s.TopN {
		if n > TopK {
			return fmt.Errorf("feature %d: %d top entries", f, n)
		}
	}
	if len(s.IntTok) != d*Intervals*PerInterval || len(s.IntVal) != len(s.IntTok) {
		return errors.New("interval arrays of the wrong length")
	}
	if len(s.Hist) != d*HistBins {
		return errors.New("histogram of the wrong length")
	}
	for _, u := range [][]float32{s.UnembedEntropy, s.UnembedMaxProb, s.RandomUnembedEntropy, s.RandomUnembedMaxProb} {
		if len(u) != d && len(u) != 0 {
			return errors.New("unembedding arrays of the wrong length")
		}
	}
	return nil
}

// checkPtr checks an index of n ranges into nnz entries.
func checkPtr(name string, ptr []uint64, n, nnz int) error {
	if len(ptr) != n+1 || ptr[0] != 0 || ptr[n] != uint64(nnz) {
		return fmt.Errorf("%s: bad index", name)
	}
	for i := 0; i < n; i++ {
		if ptr[i] > ptr[i+1] {
			return fmt.Errorf("%s: index not increasing at %d", name, i)
		}
	}
	return nil
}

// The content checks of the lazily verified sections that hold indexes,
// run once their checksum matches (a crafted file can have a matching
// checksum): an index out of range would crash a query.

func (s *Store) checkTokFeat() error {
	for _, f := range s.TokFeat {
		if int(f) >= s.Meta.DSae {
			return errors.New("feature id out of range")
		}
	}
	return nil
}

func (s *Store) checkFeatTok() error {
	for _, t := range s.FeatTok {
		if int(t) >= len(s.Tokens) {
			return errors.New("token index out of range")
		}
	}
	return nil
}

func (s *Store) checkTopTok() error {
	for f, n := range s.TopN {
		for _, t := range s.TopTok[f*TopK : f*TopK+int(n)] {
			if int(t) >= len(s.Tokens) {
				return errors.New("top token index out of range")
			}
		}
	}
	return nil
}

func (s *Store) checkIntTok() error {
	for _, t := range s.IntTok {
		if t != NoToken && int(t) >= len(s.Tokens) {
			return errors.New("interval token index out of range")
		}
	}
	return nil
}

// mapFile is replaced on systems without mmap by a plain read.
var _ io.Closer = (*os.File)(nil)
