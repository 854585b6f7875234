package corpus

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/saescope/saescope/weights/tokenizer"
)

// Corpus is a tokenized corpus: rows of SeqLen tokens, BOS first (or, for
// the corpus WithoutBOS returns, all text), ready to be fed to GPT-2.
type Corpus struct {
	// Path is the file or folder the corpus was read from ("" for Rows).
	Path string
	// Options are the options it was built with, defaults filled in.
	Options Options
	// Stats counts the files and documents read.
	Stats Stats
	// TotalTokens is the length of the joined token stream, EOS separators
	// included (with TLCompat: after TransformerLens' pad filter, summed
	// over its batches).
	TotalTokens int
	// AvailableRows is how many rows the whole corpus gives before
	// Options.Rows keeps the first of them.
	AvailableRows int
	// Rows are the token rows, each SeqLen long and starting with BOS
	// (holding SeqLen text tokens and no BOS when NoBOS), in shuffled order
	// (corpus order with NoShuffle).
	Rows [][]int32
	// NoBOS is true for the corpus WithoutBOS returns: its rows are SeqLen
	// tokens of the joined stream each, as tokenize_and_concatenate(...,
	// add_bos_token=False) cuts them for SAEs trained without BOS
	// (SAELens prepend_bos false).
	NoBOS bool
	// Short is true when Options.Rows asked for more rows than the corpus
	// has; Rows then holds all AvailableRows of them and Note says so.
	Short bool
	// Note is a sentence for the user about the rows kept, "" when there
	// is nothing to say.
	Note string
	// TokenRows is true for a corpus of exact token rows (FromTokenRows):
	// Rows are given, not cut from text, and Path is their file.
	TokenRows bool
	// Hash is the hex SHA-256 of the options that shape the rows and of
	// the rows themselves: two corpora with the same Hash hold the same
	// rows, so caches of activations can be keyed by it.
	Hash string

	// noBOS is the same text cut into rows without BOS (made with the
	// rows: only the kept rows are filled, so it costs what Rows costs),
	// or noBOSErr why it could not be (a corpus too small for one such
	// row). Both are nil for a Corpus not made by this package.
	noBOS    *Corpus
	noBOSErr error
}

// WithoutBOS returns the corpus' text cut into rows without BOS: the same
// documents joined with EOS (with Options.TLCompat, the same batches and
// pad filter), rows of SeqLen tokens with no BOS in front, the remainder
// dropped, shuffled with the same seed and the first Options.Rows kept,
// as tokenize_and_concatenate(..., add_bos_token=False) prepares the
// text of an SAE trained without BOS. Its Hash differs from the BOS
// rows'. A corpus whose text is shorter than SeqLen tokens gives a
// *TooSmallError; a corpus that is already NoBOS is returned as it is.
// The rows are made together with the BOS rows, so this reads and
// tokenizes nothing.
func (c *Corpus) WithoutBOS() (*Corpus, error) {
	switch {
	case c.NoBOS:
		return c, nil
	case c.noBOSErr != nil:
		return nil, c.noBOSErr
	case c.noBOS == nil:
		return nil, errors.New("corpus: no rows without BOS: the corpus was not made by Load, LoadFS or Rows")
	}
	return c.noBOS, nil
}

// ErrTooSmall is matched (errors.Is) by the error of a corpus that has too
// few tokens for one row; the error itself is a *TooSmallError.
var ErrTooSmall = errors.New("corpus too small for one row")

// TooSmallError says that a corpus has fewer tokens than one row needs.
type TooSmallError struct {
	// Corpus names the corpus: its path, or "of N documents".
	Corpus string
	// Tokens is the number of tokens it has, Need the number a row needs
	// (SeqLen-1) and SeqLen the row length.
	Tokens, Need, SeqLen int
}

// Error implements error.
func (e *TooSmallError) Error() string {
	return fmt.Sprintf("corpus %s: only %d tokens, need at least %d for one %d-token row", e.Corpus, e.Tokens, e.Need, e.SeqLen)
}

// Is makes errors.Is(err, ErrTooSmall) true.
func (e *TooSmallError) Is(target error) bool { return target == ErrTooSmall }

// Load reads the documents at path (ReadDocuments) and cuts them into rows
// (Rows). progress, if not nil, is called as Rows describes.
func Load(ctx context.Context, path string, tok *tokenizer.Tokenizer, opt Options, progress func(done, total int)) (*Corpus, error) {
	docs, st, err := ReadDocuments(ctx, path, opt)
	if err != nil {
		return nil, err
	}
	return build(ctx, path, path, docs, st, tok, opt, progress)
}

// LoadFS is Load for a file or folder name of fsys, such as the corpus
// that package assets embeds (assets.CorpusFS(), "corpus"); nothing is read
// from disk.
func LoadFS(ctx context.Context, fsys fs.FS, name string, tok *tokenizer.Tokenizer, opt Options, progress func(done, total int)) (*Corpus, error) {
	docs, st, err := ReadDocumentsFS(ctx, fsys, name, opt)
	if err != nil {
		return nil, err
	}
	return build(ctx, name, name, docs, st, tok, opt, progress)
}

// Rows tokenizes docs with tok and cuts them into rows as the package
// documentation describes: documents joined with EOS, SeqLen-1 tokens a
// row after BOS, the remainder dropped, the rows shuffled with opt.Seed
// unless opt.NoShuffle, the first opt.Rows kept (all when 0). Empty
// documents are skipped unless opt.TLCompat. Text that is not valid UTF-8
// is repaired and counted as ReadDocuments does. The same text cut into
// rows without BOS, for an SAE trained without one, is made at the same
// time: see Corpus.WithoutBOS.
//
// Tokenization runs on every CPU; the result does not depend on how many.
// progress, if not nil, is called from the calling goroutine with the
// number of work items done (documents, or with TLCompat the 20 character
// chunks of each batch) and their total, a few hundred times at most, last
// with done == total.
// Rows returns ctx.Err() soon after ctx is cancelled, in the middle of a
// document too. A corpus with fewer than SeqLen-1 tokens is
// a *TooSmallError.
func Rows(ctx context.Context, docs []Document, tok *tokenizer.Tokenizer, opt Options, progress func(done, total int)) (*Corpus, error) {
	// Count as ReadDocuments does: empty documents are not documents,
	// except with TLCompat, which keeps them.
	st := Stats{Documents: len(docs)}
	for _, d := range docs {
		if d.Text == "" {
			st.EmptyDocuments++
			if !opt.TLCompat {
				st.Documents--
			}
		}
	}
	return build(ctx, "", fmt.Sprintf("of %d documents", len(docs)), docs, st, tok, opt, progress)
}

// rowSource gives the rows of a corpus in corpus order.
type rowSource struct {
	n     int
	total int
	fill  func(i int, dst []int32) // dst has SeqLen entries
	// cut, when not nil, cuts the stream into rows of per text tokens:
	// it returns how many there are and a function that copies row i's
	// tokens into dst (len(dst) == per). streamRows sets it (n and fill
	// are then its rows after BOS), tlRows does not: TLCompat corpora
	// have no rows without BOS.
	cut func(per int) (n int, fill func(i int, dst []int32))
}

// build cuts docs into rows; path is the corpus read ("" for Rows) and
// label names it in errors.
func build(ctx context.Context, path, label string, docs []Document, st Stats, tok *tokenizer.Tokenizer, opt Options, progress func(done, total int)) (*Corpus, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, errors.New("corpus: no tokenizer")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	texts := make([]string, 0, len(docs))
	for _, d := range docs {
		text := d.Text
		if !utf8.ValidString(text) {
			var bad int
			text, bad = sanitizeUTF8([]byte(text))
			st.InvalidUTF8Bytes += bad
		}
		if text == "" && !opt.TLCompat {
			continue
		}
		texts = append(texts, text)
	}
	var src rowSource
	if opt.TLCompat {
		src, err = tlRows(ctx, texts, tok, opt.SeqLen, progress)
	} else {
		src, err = streamRows(ctx, texts, tok, opt.SeqLen, progress)
	}
	if err != nil {
		return nil, err
	}
	if src.total < opt.SeqLen-1 {
		return nil, &TooSmallError{Corpus: label, Tokens: src.total, Need: opt.SeqLen - 1, SeqLen: opt.SeqLen}
	}
	c := cutRows(src.n, src.total, src.fill, path, st, opt, false)
	switch {
	case src.cut == nil:
		c.noBOSErr = errors.New("corpus: rows without BOS are not made with TLCompat (TransformerLens 2.x's tokenize_and_concatenate is reproduced with BOS only)")
	case src.total < opt.SeqLen:
		c.noBOSErr = &TooSmallError{Corpus: label, Tokens: src.total, Need: opt.SeqLen, SeqLen: opt.SeqLen}
	default:
		n, fill := src.cut(opt.SeqLen)
		c.noBOS = cutRows(n, src.total, fill, path, st, opt, true)
	}
	return c, nil
}

// cutRows makes the corpus of n rows of a stream of total tokens, in
// corpus order, row i's SeqLen tokens written by fill (SeqLen-1 tokens after BOS, or SeqLen tokens and
// no BOS when noBOS): shuffled unless opt.NoShuffle, the first opt.Rows
// kept, the notes written and the rows hashed.
func cutRows(n, total int, fill func(i int, dst []int32), path string, st Stats, opt Options, noBOS bool) *Corpus {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if !opt.NoShuffle {
		shuffle(order, opt.Seed)
	}
	keep := n
	c := &Corpus{Path: path, Options: opt, Stats: st, TotalTokens: total, AvailableRows: n, NoBOS: noBOS}
	if opt.Rows > 0 && opt.Rows < keep {
		keep = opt.Rows
	} else if opt.Rows > keep {
		c.Short = true
		c.Note = fmt.Sprintf("asked for %d rows of %d tokens, the corpus has only %d: using all of them", opt.Rows, opt.SeqLen, n)
	}
	flat := make([]int32, keep*opt.SeqLen)
	c.Rows = make([][]int32, keep)
	for k := range keep {
		row := flat[k*opt.SeqLen : (k+1)*opt.SeqLen : (k+1)*opt.SeqLen]
		fill(order[k], row)
		c.Rows[k] = row
	}
	notes := []string{}
	if c.Note != "" {
		notes = append(notes, c.Note)
	}
	if st.Truncated {
		notes = append(notes, fmt.Sprintf("the corpus holds more text than is read (%s): its first %d documents (%s) were used",
			megabytes(opt.maxTextBytes()), st.Documents, megabytes(st.TextBytes)))
	}
	if st.InvalidUTF8Bytes > 0 {
		notes = append(notes, fmt.Sprintf("%d bytes that are not UTF-8 were replaced by U+FFFD (is the corpus in another encoding?)", st.InvalidUTF8Bytes))
	}
	c.Note = strings.Join(notes, "; ")
	c.Hash = hashRows(opt, noBOS, c.Rows)
	return c
}

// megabytes writes a size in MB, with three significant digits.
func megabytes(n int64) string {
	return fmt.Sprintf("%.3g MB", float64(n)/(1<<20))
}

// streamRows is this package's rule: each text tokenized, EOS between
// texts, rows of seqLen-1 tokens after BOS (its cut: of any number of
// tokens, seqLen for rows without BOS), the remainder dropped. Rows are
// copied out of the per-document token lists on demand.
func streamRows(ctx context.Context, texts []string, tok *tokenizer.Tokenizer, seqLen int, progress func(done, total int)) (rowSource, error) {
	toks, err := tokenizeAll(ctx, texts, tok, progress)
	if err != nil {
		return rowSource{}, err
	}
	// starts[k] is where text k begins in the joined stream; an EOS follows
	// every text but the last.
	starts := make([]int, len(toks)+1)
	for k, t := range toks {
		starts[k+1] = starts[k] + len(t) + 1
	}
	total := 0
	if len(toks) > 0 {
		total = starts[len(toks)] - 1
	}
	cut := func(per int) (int, func(int, []int32)) {
		fill := func(i int, out []int32) {
			pos, end := i*per, (i+1)*per
			k := sort.Search(len(toks), func(k int) bool { return starts[k+1] > pos }) // text holding pos
			for pos < end {
				off := pos - starts[k]
				if off < len(toks[k]) {
					n := copy(out, toks[k][off:min(len(toks[k]), off+end-pos)])
					out, pos = out[n:], pos+n
					continue
				}
				out[0] = tokenizer.EOS
				out, pos, k = out[1:], pos+1, k+1
			}
		}
		return total / per, fill
	}
	per := seqLen - 1
	n, fill := cut(per)
	withBOS := func(i int, dst []int32) {
		dst[0] = tokenizer.BOS
		fill(i, dst[1:])
	}
	return rowSource{n: n, total: total, fill: withBOS, cut: cut}, nil
}

// tokenizeAll encodes every text on all CPUs, keeping the order.
func tokenizeAll(ctx context.Context, texts []string, tok *tokenizer.Tokenizer, progress func(done, total int)) ([][]int32, error) {
	out := make([][]int32, len(texts))
	total := len(texts)
	workers := min(runtime.GOMAXPROCS(0), total)
	var next atomic.Int64
	done := make(chan int, 4*workers+1)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if ctx.Err() != nil {
					return
				}
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				ids, err := tok.EncodeContext(ctx, texts[i])
				if err != nil {
					return // ctx is cancelled: reported below
				}
				t := make([]int32, len(ids))
				for j, id := range ids {
					t[j] = int32(id)
				}
				out[i] = t
				done <- 1
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	step := max(1, (total+199)/200)
	n, last := 0, 0
	for d := range done {
		n += d
		if progress != nil && (n-last >= step || n == total) {
			progress(n, total)
			last = n
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if progress != nil && total == 0 {
		progress(0, 0)
	}
	return out, nil
}

// shuffle permutes p with a Fisher–Yates shuffle driven by PCG(seed, 0).
func shuffle(p []int, seed uint64) {
	rng := rand.NewPCG(seed, 0)
	for i := len(p) - 1; i > 0; i-- {
		j := int(boundedUint64(rng, uint64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
}

// boundedUint64 returns a uniform number in [0, n) from src's 64-bit output
// with Lemire's multiply-and-reject method, the same on every platform
// (math/rand/v2's IntN takes another path on 32-bit ones).
func boundedUint64(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// hashRows hashes the options that shape the rows, and the rows. Rows
// without BOS add "no_bos=true" to the header; the header of BOS rows is
// what it always was, so their hash, and the store keys made from it,
// stay the same.
func hashRows(opt Options, noBOS bool, rows [][]int32) string {
	h := sha256.New()
	layout := ""
	if noBOS {
		layout = " no_bos=true"
	}
	fmt.Fprintf(h, "saescope corpus v1\nseq_len=%d rows=%d seed=%d no_shuffle=%t tl_compat=%t split_blank_lines=%t text_field=%q max_docs=%d%s n=%d\n",
		opt.SeqLen, opt.Rows, opt.Seed, opt.NoShuffle, opt.TLCompat, opt.SplitBlankLines, opt.TextField, opt.MaxDocs, layout, len(rows))
	buf := make([]byte, 0, 4*opt.SeqLen)
	for _, r := range rows {
		buf = buf[:0]
		for _, t := range r {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(t))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}
