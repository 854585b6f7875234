package corpus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/saescope/saescope/internal/regularfile"
)

// DefaultSeqLen is the row length of TransformerLens'
// tokenize_and_concatenate(max_length=128) as the notebook used it: BOS and
// 127 corpus tokens.
const DefaultSeqLen = 128

// DefaultTextField is the JSON field and parquet column read by default.
const DefaultTextField = "text"

// Options says how to read a corpus and cut it into rows. The zero value
// means: 128-token rows, all of them, shuffled with seed 0, one document per
// .txt file, the "text" field or column, this package's own rule (not
// TLCompat), all documents.
type Options struct {
	// SeqLen is the length of a row, BOS included; 0 means DefaultSeqLen
	// (128). Each row holds SeqLen-1 corpus tokens.
	SeqLen int
	// Rows is how many rows to keep after shuffling; 0 keeps all. Asking
	// for more than the corpus has is not an error: see Corpus.Short.
	Rows int
	// Seed seeds the shuffle. It is recorded in Corpus.Options and in
	// Corpus.Hash, so a corpus can be rebuilt row for row.
	Seed uint64
	// NoShuffle keeps the rows in corpus order.
	NoShuffle bool
	// SplitBlankLines makes every paragraph of a .txt file (lines between
	// blank or whitespace-only lines) a document. By default a whole .txt
	// file is one document.
	SplitBlankLines bool
	// TextField is the JSON field of a .jsonl line and the column of a
	// .parquet file that hold the text; "" means DefaultTextField ("text").
	TextField string
	// TLCompat reproduces the tokenize_and_concatenate of TransformerLens
	// 2.8–2.17 exactly (20 character chunks per 1000-document batch, every
	// EOS removed, rows cut per batch) instead of this package's rule; see
	// the package documentation. ReadDocuments then keeps empty documents.
	TLCompat bool
	// MaxDocs stops reading after that many documents; 0 reads all.
	MaxDocs int
	// MaxTextBytes stops reading at the document whose text passes that
	// many bytes in all (Stats.Truncated); 0 means MaxCorpusTextBytes.
	MaxTextBytes int64
}

// withDefaults fills in the zero fields and checks the others.
func (o Options) withDefaults() (Options, error) {
	if o.SeqLen == 0 {
		o.SeqLen = DefaultSeqLen
	}
	if o.TextField == "" {
		o.TextField = DefaultTextField
	}
	switch {
	case o.SeqLen < 2:
		return o, fmt.Errorf("corpus options: row length %d, need at least 2 (BOS and one token)", o.SeqLen)
	case o.Rows < 0:
		return o, fmt.Errorf("corpus options: negative row count %d", o.Rows)
	case o.MaxDocs < 0:
		return o, fmt.Errorf("corpus options: negative document limit %d", o.MaxDocs)
	}
	return o, nil
}

// Document is one text of a corpus.
type Document struct {
	// Source says where the text came from: the file, and ":line" (1-based)
	// for a .jsonl line or a paragraph of a split .txt file, or "#row"
	// (0-based) for a parquet row.
	Source string
	// Text is the document, valid UTF-8.
	Text string
}

// Stats counts what reading a corpus found.
type Stats struct {
	// Files is the number of files read.
	Files int
	// Documents is the number of documents returned.
	Documents int
	// EmptyDocuments is the number of empty documents met. They are
	// skipped, except with Options.TLCompat, where they are kept (and also
	// counted in Documents).
	EmptyDocuments int
	// InvalidUTF8Bytes is the number of bytes that were not valid UTF-8 and
	// were replaced by U+FFFD.
	InvalidUTF8Bytes int
	// TextBytes is the size of the documents' text.
	TextBytes int64
	// Truncated says that reading stopped at MaxCorpusTextBytes: the
	// documents are the corpus' first ones.
	Truncated bool
}

// MaxCorpusTextBytes bounds the text read from a corpus: the documents
// and their tokens are held in memory (a few times the text's size), and
// an analysis uses a few hundred thousand tokens (openwebtext-10k is 50
// MB). Reading stops at the document that passes it, and the corpus' note
// says so.
const MaxCorpusTextBytes = 512 << 20

// Kinds of file read, by extension (case-insensitive).
var readers = map[string]func(*reader, fs.FS, string, string) error{
	".txt":     (*reader).readTxt,
	".jsonl":   (*reader).readJSONL,
	".parquet": (*reader).readParquet,
}

// errStop ends reading early once Options.MaxDocs documents are read.
var errStop = errors.New("enough documents")

// ReadDocuments reads the documents of a .txt, .jsonl or .parquet file, or
// of every such file in a folder and its subfolders (in sorted path order;
// other files are ignored). See the package documentation for each format.
// A folder without such files, a file of another kind, a malformed .jsonl
// line or a parquet file without the text column is an error that names
// the file. So is a corpus file that is not a regular file once symbolic
// links are followed (a device such as /dev/zero, a FIFO, a folder named
// like one): its error wraps regularfile.ErrNotRegular. It stops with
// ctx.Err() when ctx is cancelled.
func ReadDocuments(ctx context.Context, p string, opt Options) ([]Document, Stats, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, Stats{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("corpus: %w", err)
	}
	if st.IsDir() {
		return read(ctx, diskFS{os.DirFS(p), p}, ".", func(name string) string { return filepath.Join(p, filepath.FromSlash(name)) }, opt)
	}
	if !st.Mode().IsRegular() {
		return nil, Stats{}, errNotRegular(p, st.Mode())
	}
	dir, base := filepath.Split(p)
	if dir == "" {
		dir = "."
	}
	return read(ctx, diskFS{os.DirFS(dir), dir}, base, func(string) string { return p }, opt)
}

// errNotRegular is the error for a corpus file shown that is not a regular
// file, of mode m (after following symbolic links).
func errNotRegular(shown string, m fs.FileMode) error {
	return fmt.Errorf("corpus %s: %w, it is %s: a corpus is made of .txt, .jsonl and .parquet files", shown, regularfile.ErrNotRegular, regularfile.Kind(m))
}

// diskFS is os.DirFS(dir) whose files are opened by regularfile.Open: a
// FIFO, a device or anything else that is not a regular file is refused,
// and a FIFO is opened without blocking.
type diskFS struct {
	fs.FS // os.DirFS(dir)
	dir   string
}

// Stat implements fs.StatFS (following symbolic links), so that fs.Stat
// opens nothing.
func (d diskFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(d.FS, name) }

// ReadDir implements fs.ReadDirFS.
func (d diskFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(d.FS, name) }

// openRegular opens name, a regular file.
func (d diskFS) openRegular(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return regularfile.Open(filepath.Join(d.dir, filepath.FromSlash(name)))
}

// openRegular opens name of fsys for reading and returns its size: it
// refuses, with an error wrapping regularfile.ErrNotRegular, what is not
// a regular file (following symbolic links), before opening it, and again
// once open. Readers still bound what they read by the bytes read.
func openRegular(fsys fs.FS, name, shown string) (fs.File, int64, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, 0, fmt.Errorf("corpus %s: %w", shown, err)
	}
	if !st.Mode().IsRegular() {
		return nil, 0, errNotRegular(shown, st.Mode())
	}
	var f fs.File
	if d, ok := fsys.(diskFS); ok {
		f, err = d.openRegular(name)
	} else {
		f, err = fsys.Open(name)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("corpus %s: %w", shown, err)
	}
	if st, err = f.Stat(); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("corpus %s: %w", shown, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, errNotRegular(shown, st.Mode())
	}
	return f, st.Size(), nil
}

// ReadDocumentsFS is ReadDocuments for a file or folder name of fsys, such
// as the corpus that package assets embeds. Sources are named by their path
// in fsys. A file whose mode in fsys is not regular is refused as there, and
// what is read is bounded by the bytes read, whatever size fsys says.
func ReadDocumentsFS(ctx context.Context, fsys fs.FS, name string, opt Options) ([]Document, Stats, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, Stats{}, err
	}
	return read(ctx, fsys, name, func(n string) string { return n }, opt)
}

// reader collects documents; display turns a name of the fs.FS into the
// name shown in sources and errors.
type reader struct {
	ctx     context.Context
	opt     Options
	display func(string) string
	docs    []Document
	stats   Stats
}

func read(ctx context.Context, fsys fs.FS, root string, display func(string) string, opt Options) ([]Document, Stats, error) {
	if err := ctx.Err(); err != nil {
		return nil, Stats{}, err
	}
	r := &reader{ctx: ctx, opt: opt, display: display}
	st, err := fs.Stat(fsys, root)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("corpus %s: %w", display(root), err)
	}
	var files []string
	if st.IsDir() {
		err := fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if !d.IsDir() && readers[strings.ToLower(path.Ext(name))] != nil {
				files = append(files, name)
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, Stats{}, ctx.Err()
			}
			return nil, Stats{}, fmt.Errorf("corpus %s: %w", display(root), err)
		}
		if len(files) == 0 {
			return nil, Stats{}, fmt.Errorf("corpus %s: folder has no .txt, .jsonl or .parquet file", display(root))
		}
		sort.Strings(files)
	} else {
		if readers[strings.ToLower(path.Ext(root))] == nil {
			return nil, Stats{}, fmt.Errorf("corpus %s: not a .txt, .jsonl or .parquet file", display(root))
		}
		files = []string{root}
	}
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return nil, Stats{}, err
		}
		r.stats.Files++
		err := readers[strings.ToLower(path.Ext(name))](r, fsys, name, display(name))
		if errors.Is(err, errStop) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, Stats{}, ctx.Err()
			}
			return nil, Stats{}, err
		}
	}
	r.stats.Documents = len(r.docs)
	return r.docs, r.stats, nil
}

// add records one document; it returns errStop once MaxDocs are read or
// the text passes the budget.
func (r *reader) add(source, text string) error {
	if text == "" {
		r.stats.EmptyDocuments++
		if !r.opt.TLCompat {
			return nil
		}
	}
	r.docs = append(r.docs, Document{Source: source, Text: text})
	r.stats.TextBytes += int64(len(text))
	if r.opt.MaxDocs > 0 && len(r.docs) >= r.opt.MaxDocs {
		return errStop
	}
	if r.stats.TextBytes >= r.opt.maxTextBytes() {
		r.stats.Truncated = true
		return errStop
	}
	return nil
}

// maxTextBytes is the text budget: MaxTextBytes, else MaxCorpusTextBytes.
func (o Options) maxTextBytes() int64 {
	if o.MaxTextBytes > 0 {
		return o.MaxTextBytes
	}
	return MaxCorpusTextBytes
}

// MaxTextFileBytes and MaxJSONLLineBytes bound what is read into memory
// at once: a .txt file is read whole, a .jsonl line too, and tokenizing
// takes several times the text's size again. Larger inputs are refused
// with a message saying how to split them, rather than exhaust memory.
const (
	MaxTextFileBytes  = 512 << 20
	MaxJSONLLineBytes = 64 << 20
)

// maxTextFileBytes is MaxTextFileBytes, which tests lower.
var maxTextFileBytes int64 = MaxTextFileBytes

// readTxt reads a .txt file: one document, or one a paragraph.
func (r *reader) readTxt(fsys fs.FS, name, shown string) error {
	f, size, err := openRegular(fsys, name, shown)
	if err != nil {
		return err
	}
	defer f.Close()
	tooLarge := func(what string) error {
		return fmt.Errorf("corpus %s: %s in one text file, more than the %d MB read at once: split it into several files (a folder of them is a corpus), or make it a .jsonl of documents", shown, what, maxTextFileBytes>>20)
	}
	if size > maxTextFileBytes {
		return tooLarge(fmt.Sprintf("%d MB", size>>20))
	}
	// The size said is not trusted: at most one byte more than the limit
	// is read.
	raw, err := io.ReadAll(io.LimitReader(f, maxTextFileBytes+1))
	if err != nil {
		return fmt.Errorf("corpus %s: %w", shown, err)
	}
	if int64(len(raw)) > maxTextFileBytes {
		return tooLarge(fmt.Sprintf("more than %d MB", maxTextFileBytes>>20))
	}
	if bytes.HasPrefix(raw, []byte{0xff, 0xfe}) || bytes.HasPrefix(raw, []byte{0xfe, 0xff}) {
		return fmt.Errorf("corpus %s: the file is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8", shown)
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // a UTF-8 byte-order mark is no text
	text, bad := sanitizeUTF8(raw)
	r.stats.InvalidUTF8Bytes += bad
	if strings.IndexByte(text, '\r') >= 0 {
		text = strings.ReplaceAll(text, "\r\n", "\n")
		text = strings.ReplaceAll(text, "\r", "\n")
	}
	if !r.opt.SplitBlankLines {
		return r.add(shown, text)
	}
	lines := strings.Split(text, "\n")
	start := -1 // first line of the paragraph being read
	flush := func(end int) error {
		if start < 0 {
			return nil
		}
		para := strings.Join(lines[start:end], "\n")
		src := shown + ":" + strconv.Itoa(start+1)
		start = -1
		return r.add(src, para)
	}
	for i, line := range lines {
		if i%4096 == 0 {
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
		if strings.TrimSpace(line) == "" {
			if err := flush(i); err != nil {
				return err
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return flush(len(lines))
}

var errLongLine = errors.New("line too long")

// readLine reads up to and including the next '\n' (io.EOF after the
// last line), refusing a line of more than max bytes before it is all in
// memory.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		if len(line)+len(part) > max {
			return nil, errLongLine
		}
		line = append(line, part...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// readJSONL reads one JSON object a line.
func (r *reader) readJSONL(fsys fs.FS, name, shown string) error {
	f, _, err := openRegular(fsys, name, shown)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	field := r.opt.TextField
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br, MaxJSONLLineBytes)
		if errors.Is(err, errLongLine) {
			return fmt.Errorf("corpus %s: line %d is longer than %d MB: one document a line, split it", shown, lineNo, MaxJSONLLineBytes>>20)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("corpus %s: line %d: %w", shown, lineNo, err)
		}
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a UTF-8 byte-order mark
		}
		if lineNo%1024 == 0 {
			if cerr := r.ctx.Err(); cerr != nil {
				return cerr
			}
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			s, bad := sanitizeUTF8(trimmed)
			r.stats.InvalidUTF8Bytes += bad
			var obj map[string]json.RawMessage
			if jerr := json.Unmarshal([]byte(s), &obj); jerr != nil || obj == nil {
				if jerr == nil {
					jerr = errors.New("null")
				}
				return fmt.Errorf("corpus %s: line %d: not a JSON object: %v", shown, lineNo, jerr)
			}
			raw, ok := obj[field]
			if !ok {
				return fmt.Errorf("corpus %s: line %d: no %q field", shown, lineNo, field)
			}
			var text string
			if bytes.Equal(raw, []byte("null")) || json.Unmarshal(raw, &text) != nil {
				return fmt.Errorf("corpus %s: line %d: field %q is not a string", shown, lineNo, field)
			}
			if aerr := r.add(shown+":"+strconv.Itoa(lineNo), text); aerr != nil {
				return aerr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readParquet reads the text column of a parquet file, row group by row
// group and page by page.
func (r *reader) readParquet(fsys fs.FS, name, shown string) (err error) {
	// parquet-go trusts the file's offsets and lengths in places and can
	// panic (a slice out of range) on a damaged file: that is this file's
	// error, not the application's end.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corpus %s: not a readable parquet file (the decoder failed: %v)", shown, p)
		}
	}()
	f, size, err := openRegular(fsys, name, shown)
	if err != nil {
		return err
	}
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	if !ok {
		// A file of an fs.FS that cannot read at an offset is read whole,
		// up to the size a text file may have.
		raw, rerr := io.ReadAll(io.LimitReader(f, maxTextFileBytes+1))
		if rerr != nil {
			return fmt.Errorf("corpus %s: %w", shown, rerr)
		}
		if int64(len(raw)) > maxTextFileBytes {
			return fmt.Errorf("corpus %s: a parquet file of more than %d MB that cannot be read at an offset", shown, maxTextFileBytes>>20)
		}
		ra, size = bytes.NewReader(raw), int64(len(raw))
	}
	if err := checkParquetFooter(ra, size); err != nil {
		return fmt.Errorf("corpus %s: not a readable parquet file: %w", shown, err)
	}
	pf, err := parquet.OpenFile(ra, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("corpus %s: not a readable parquet file: %w", shown, err)
	}
	field := r.opt.TextField
	leaf, ok := pf.Schema().Lookup(field)
	if !ok || leaf.Node == nil || !leaf.Node.Leaf() {
		return fmt.Errorf("corpus %s: parquet file has no %q column (columns: %s)", shown, field, columnNames(pf.Schema()))
	}
	if k := leaf.Node.Type().Kind(); k != parquet.ByteArray {
		return fmt.Errorf("corpus %s: parquet column %q holds %s values, not strings", shown, field, k)
	}
	if leaf.MaxRepetitionLevel > 0 {
		return fmt.Errorf("corpus %s: parquet column %q is a list, not one string a row", shown, field)
	}
	row, textBytes := 0, 0
	buf := make([]parquet.Value, 256)
	for _, rg := range pf.RowGroups() {
		if err := r.readParquetChunk(rg.ColumnChunks()[leaf.ColumnIndex], shown, &row, &textBytes, buf); err != nil {
			return err
		}
	}
	// A column that holds data but decodes to nothing but empty strings
	// means the page decoder went wrong: say so rather than return an
	// empty corpus.
	var stored int64
	for _, rg := range pf.Metadata().RowGroups {
		if leaf.ColumnIndex < len(rg.Columns) {
			stored += rg.Columns[leaf.ColumnIndex].MetaData.TotalUncompressedSize
		}
	}
	if textBytes == 0 && row > 0 && stored > 4*int64(row)+4096 {
		return fmt.Errorf("corpus %s: parquet column %q holds %d bytes but decoded to %d empty strings: unsupported page layout", shown, field, stored, row)
	}
	return nil
}

// checkParquetFooter checks the file's frame: "PAR1" at both ends and a
// footer length that fits between them. parquet-go allocates the footer's
// stated length before it reads it, so a damaged length (up to 4 GiB)
// would cost that much memory and seconds before the error.
func checkParquetFooter(ra io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("%d bytes: too short", size)
	}
	var head, tail [8]byte
	if _, err := ra.ReadAt(head[:4], 0); err != nil {
		return err
	}
	if _, err := ra.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(head[:4]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return errors.New("no PAR1 marker at its start and end")
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return fmt.Errorf("footer of %d bytes in a file of %d", n, size)
	}
	return nil
}

// readParquetChunk reads one row group's column chunk; row counts the rows
// read and textBytes the bytes of text.
func (r *reader) readParquetChunk(cc parquet.ColumnChunk, shown string, row, textBytes *int, buf []parquet.Value) error {
	pages := cc.Pages()
	defer pages.Close()
	for {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		page, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("corpus %s: parquet row %d: %w", shown, *row, err)
		}
		values := page.Values()
		for {
			n, verr := values.ReadValues(buf)
			for _, v := range buf[:n] {
				text := ""
				if !v.IsNull() {
					var bad int
					text, bad = sanitizeUTF8(v.ByteArray())
					r.stats.InvalidUTF8Bytes += bad
					*textBytes += len(text)
				}
				src := shown + "#" + strconv.Itoa(*row)
				*row++
				if aerr := r.add(src, text); aerr != nil {
					parquet.Release(page)
					return aerr
				}
			}
			if verr == io.EOF {
				break
			}
			if verr != nil {
				parquet.Release(page)
				return fmt.Errorf("corpus %s: parquet row %d: %w", shown, *row, verr)
			}
		}
		parquet.Release(page)
	}
}

// columnNames lists the leaf columns of a parquet schema, for errors.
func columnNames(s *parquet.Schema) string {
	var names []string
	for _, c := range s.Columns() {
		names = append(names, strings.Join(c, "."))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
