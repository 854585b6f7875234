package corpus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readDocs(t *testing.T, path string, opt Options) ([]Document, Stats) {
	t.Helper()
	docs, st, err := ReadDocuments(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	return docs, st
}

func TestSanitizeUTF8LikePython(t *testing.T) {
	// Expected values are Python's bytes.decode("utf-8", errors="replace").
	cases := []struct {
		in, want string
		bad      int
	}{
		{"plain ascii", "plain ascii", 0},
		{"ok\xe2\x82\xac", "ok€", 0},
		{"\xe2\x82A", "\uFFFDA", 2},
		{"\xff", "\uFFFD", 1},
		{"\xf0\x9f\x98x", "\uFFFDx", 3},
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD", 3},
		{"a\xc3", "a\uFFFD", 1},
		{"\xc0\xaf", "\uFFFD\uFFFD", 2},
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD", 4},
		{"\xe0\x80\xaf", "\uFFFD\uFFFD\uFFFD", 3},
	}
	for _, c := range cases {
		got, bad := sanitizeUTF8([]byte(c.in))
		if got != c.want || bad != c.bad {
			t.Errorf("%q: got %q (%d bad), want %q (%d bad)", c.in, got, bad, c.want, c.bad)
		}
	}
}

func TestTxt(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	write(t, p, "First paragraph,\r\nstill first.\r\n\r\n  \nSecond\xff one.\n\n\nThird.\n")
	docs, st := readDocs(t, p, Options{})
	if len(docs) != 1 || docs[0].Text != "First paragraph,\nstill first.\n\n  \nSecond\uFFFD one.\n\n\nThird.\n" || docs[0].Source != p {
		t.Errorf("whole file: %+v", docs)
	}
	if st.Files != 1 || st.Documents != 1 || st.InvalidUTF8Bytes != 1 {
		t.Errorf("stats %+v", st)
	}
	docs, st = readDocs(t, p, Options{SplitBlankLines: true})
	want := []Document{
		{p + ":1", "First paragraph,\nstill first."},
		{p + ":5", "Second\uFFFD one."},
		{p + ":8", "Third."},
	}
	if !reflect.DeepEqual(docs, want) || st.Documents != 3 {
		t.Errorf("paragraphs:\n got %+v\nwant %+v", docs, want)
	}
	empty := filepath.Join(dir, "empty.txt")
	write(t, empty, "")
	docs, st = readDocs(t, empty, Options{})
	if len(docs) != 0 || st.EmptyDocuments != 1 {
		t.Errorf("empty file: %v %+v", docs, st)
	}
	docs, st = readDocs(t, empty, Options{TLCompat: true})
	if len(docs) != 1 || st.EmptyDocuments != 1 || st.Documents != 1 {
		t.Errorf("empty file, TLCompat: %v %+v", docs, st)
	}
}

func TestJSONL(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.jsonl")
	long := strings.Repeat("long line ", 20000) // longer than bufio.Scanner's default
	write(t, p, `{"text": "one", "id": 1}`+"\n\n   \n"+`{"text": ""}`+"\r\n"+`{"text":"bad `+"\xff"+` byte"}`+"\n"+`{"text":"`+long+`"}`)
	docs, st := readDocs(t, p, Options{})
	want := []Document{{p + ":1", "one"}, {p + ":5", "bad \uFFFD byte"}, {p + ":6", long}}
	if !reflect.DeepEqual(docs, want) {
		t.Errorf("docs %.200v", docs)
	}
	if st.EmptyDocuments != 1 || st.InvalidUTF8Bytes != 1 || st.Documents != 3 {
		t.Errorf("stats %+v", st)
	}
	// Another field.
	q := filepath.Join(dir, "body.jsonl")
	write(t, q, `{"body": "x", "text": 3}`+"\n")
	if docs, _ := readDocs(t, q, Options{TextField: "body"}); len(docs) != 1 || docs[0].Text != "x" {
		t.Errorf("TextField: %v", docs)
	}
	// Errors name the file and line.
	for content, msg := range map[string]string{
		`{"text": "ok"}` + "\n" + `not json`:         "d2.jsonl: line 2: not a JSON object",
		`{"text": "ok"}` + "\n\n" + `{"other": "x"}`: `d2.jsonl: line 3: no "text" field`,
		`{"text": 5}`:                 `d2.jsonl: line 1: field "text" is not a string`,
		`{"text": null}`:              `d2.jsonl: line 1: field "text" is not a string`,
		`["text"]`:                    "d2.jsonl: line 1: not a JSON object",
		`null`:                        "d2.jsonl: line 1: not a JSON object",
		`{"text": "a"} {"text": "b"}`: "d2.jsonl: line 1: not a JSON object",
	} {
		r := filepath.Join(dir, "d2.jsonl")
		write(t, r, content)
		_, _, err := ReadDocuments(context.Background(), r, Options{})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", content, err, msg)
		}
	}
}

type textRow struct {
	Text string `parquet:"text"`
	N    int64  `parquet:"n"`
}

// writeParquet writes rows with the codec, one row group per slice.
func writeParquet(t *testing.T, path string, codec compress.Codec, groups ...[]textRow) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[textRow](f, parquet.Compression(codec))
	for _, g := range groups {
		if _, err := w.Write(g); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil { // ends the row group
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkLayout opens path and checks its row groups and codec.
func checkLayout(t *testing.T, path string, groups int, codec format.CompressionCodec) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	md := pf.Metadata()
	if len(md.RowGroups) != groups {
		t.Fatalf("%d row groups, want %d", len(md.RowGroups), groups)
	}
	for _, rg := range md.RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != codec {
				t.Fatalf("column %v codec %v, want %v", c.MetaData.PathInSchema, c.MetaData.Codec, codec)
			}
		}
	}
}

func TestParquet(t *testing.T) {
	dir := t.TempDir()
	g1 := []textRow{{"First document.", 1}, {"", 2}, {"Third, with \xe2\x82 bad bytes.", 3}}
	g2 := []textRow{{strings.Repeat("Long. ", 5000), 4}, {"Last.", 5}}
	for name, c := range map[string]struct {
		codec compress.Codec
		id    format.CompressionCodec
	}{
		"snappy": {&parquet.Snappy, format.Snappy},
		"zstd":   {&parquet.Zstd, format.Zstd},
		"gzip":   {&parquet.Gzip, format.Gzip},
	} {
		p := filepath.Join(dir, name+".parquet")
		writeParquet(t, p, c.codec, g1, g2)
		checkLayout(t, p, 2, c.id)
		docs, st := readDocs(t, p, Options{})
		want := []Document{
			{p + "#0", "First document."},
			{p + "#2", "Third, with \uFFFD bad bytes."},
			{p + "#3", strings.Repeat("Long. ", 5000)},
			{p + "#4", "Last."},
		}
		if !reflect.DeepEqual(docs, want) {
			t.Errorf("%s: docs %.300v", name, docs)
		}
		if st.EmptyDocuments != 1 || st.InvalidUTF8Bytes != 2 || st.Documents != 4 || st.Files != 1 {
			t.Errorf("%s: stats %+v", name, st)
		}
		if docs, _ := readDocs(t, p, Options{MaxDocs: 2}); len(docs) != 2 {
			t.Errorf("%s: MaxDocs 2 gave %d", name, len(docs))
		}
	}
	// A column that is missing, or is not text.
	p := filepath.Join(dir, "snappy.parquet")
	_, _, err := ReadDocuments(context.Background(), p, Options{TextField: "content"})
	if err == nil || !strings.Contains(err.Error(), `snappy.parquet: parquet file has no "content" column (columns: text, n)`) {
		t.Errorf("missing column: %v", err)
	}
	_, _, err = ReadDocuments(context.Background(), p, Options{TextField: "n"})
	if err == nil || !strings.Contains(err.Error(), `parquet column "n" holds INT64 values, not strings`) {
		t.Errorf("int column: %v", err)
	}
	// Not a parquet file at all.
	bad := filepath.Join(dir, "bad.parquet")
	write(t, bad, "this is not parquet")
	if _, _, err := ReadDocuments(context.Background(), bad, Options{}); err == nil || !strings.Contains(err.Error(), "bad.parquet: not a readable parquet file") {
		t.Errorf("bad file: %v", err)
	}
}

type optionalRow struct {
	Text *string `parquet:"text,optional"`
}

func TestParquetNulls(t *testing.T) {
	p := filepath.Join(t.TempDir(), "opt.parquet")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	a, b := "alpha", "beta"
	w := parquet.NewGenericWriter[optionalRow](f, parquet.Compression(&parquet.Snappy))
	if _, err := w.Write([]optionalRow{{&a}, {nil}, {&b}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	docs, st := readDocs(t, p, Options{})
	if want := []Document{{p + "#0", "alpha"}, {p + "#2", "beta"}}; !reflect.DeepEqual(docs, want) || st.EmptyDocuments != 1 {
		t.Errorf("docs %v stats %+v", docs, st)
	}
}

func TestFolder(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.txt"), "bee")
	write(t, filepath.Join(dir, "a", "z.jsonl"), `{"text":"zed"}`)
	write(t, filepath.Join(dir, "a.txt"), "ay")
	write(t, filepath.Join(dir, "notes.md"), "ignored")
	write(t, filepath.Join(dir, "c", "deep", "d.TXT"), "dee")
	writeParquet(t, filepath.Join(dir, "c", "p.parquet"), &parquet.Snappy, []textRow{{"pea", 0}})
	docs, st := readDocs(t, dir, Options{})
	var got []string
	for _, d := range docs {
		got = append(got, d.Text+"@"+strings.TrimPrefix(d.Source, dir))
	}
	sep := string(filepath.Separator)
	// Sorted by path: "a.txt" < "a/z.jsonl" since '.' < '/'.
	want := []string{"ay@" + sep + "a.txt", "zed@" + sep + "a" + sep + "z.jsonl:1", "bee@" + sep + "b.txt",
		"dee@" + sep + "c" + sep + "deep" + sep + "d.TXT", "pea@" + sep + "c" + sep + "p.parquet#0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("folder:\n got %v\nwant %v", got, want)
	}
	if st.Files != 5 || st.Documents != 5 {
		t.Errorf("stats %+v", st)
	}
	if docs, st := readDocs(t, dir, Options{MaxDocs: 2}); len(docs) != 2 || st.Files != 2 {
		t.Errorf("MaxDocs: %d docs from %d files", len(docs), st.Files)
	}
	// Empty folder, folder of other files, other file kinds, missing path.
	empty := t.TempDir()
	if _, _, err := ReadDocuments(context.Background(), empty, Options{}); err == nil || !strings.Contains(err.Error(), "folder has no .txt, .jsonl or .parquet file") {
		t.Errorf("empty folder: %v", err)
	}
	if _, _, err := ReadDocuments(context.Background(), filepath.Join(dir, "notes.md"), Options{}); err == nil || !strings.Contains(err.Error(), "not a .txt, .jsonl or .parquet file") {
		t.Errorf("markdown file: %v", err)
	}
	if _, _, err := ReadDocuments(context.Background(), filepath.Join(dir, "nope"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestReadFS(t *testing.T) {
	fsys := fstest.MapFS{
		"c/one.txt":    {Data: []byte("One.\n\nTwo.")},
		"c/two.jsonl":  {Data: []byte(`{"text":"Three."}` + "\n")},
		"c/README.md":  {Data: []byte("not read")},
		"other/x.txt":  {Data: []byte("no")},
		"c/sub/y.txt":  {Data: []byte("")},
		"c/sub/z.json": {Data: []byte("{}")},
	}
	docs, st, err := ReadDocumentsFS(context.Background(), fsys, "c", Options{SplitBlankLines: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Document{{"c/one.txt:1", "One."}, {"c/one.txt:3", "Two."}, {"c/two.jsonl:1", "Three."}}
	// c/sub/y.txt is read but, split into paragraphs, has none.
	if !reflect.DeepEqual(docs, want) || st.Files != 3 || st.EmptyDocuments != 0 {
		t.Errorf("docs %v stats %+v", docs, st)
	}
	// A parquet file inside an fs.FS whose files have no ReadAt.
	var buf strings.Builder
	w := parquet.NewGenericWriter[textRow](&buf)
	w.Write([]textRow{{"From memory.", 0}})
	w.Close()
	mem := fstest.MapFS{"p.parquet": {Data: []byte(buf.String())}}
	docs, _, err = ReadDocumentsFS(context.Background(), mem, "p.parquet", Options{})
	if err != nil || len(docs) != 1 || docs[0].Text != "From memory." {
		t.Errorf("parquet in memory: %v %v", docs, err)
	}
}

// A damaged parquet file (random bytes changed in a valid one) is an error
// or a corpus, never a panic: parquet-go panics on some damaged files.
func TestParquetDamaged(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.parquet")
	writeParquet(t, good, &parquet.Snappy, []textRow{{"First document.", 1}, {"Second one, longer than the first.", 2}}, []textRow{{"Last.", 3}})
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	p := filepath.Join(dir, "bad.parquet")
	errs, slowest := 0, time.Duration(0)
	for i := 0; i < 3000; i++ {
		bad := bytes.Clone(data)
		for k := 1 + rng.IntN(4); k > 0; k-- {
			bad[rng.IntN(len(bad))] = byte(rng.IntN(256))
		}
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		_, _, err := ReadDocuments(context.Background(), p, Options{})
		slowest = max(slowest, time.Since(t0))
		if err != nil {
			errs++
			if !strings.Contains(err.Error(), "bad.parquet") {
				t.Fatalf("error without the file's name: %v", err)
			}
		}
	}
	// A footer length past the file's start is refused before parquet-go
	// allocates that much (it took seconds and up to 4 GiB).
	bad := bytes.Clone(data)
	binary.LittleEndian.PutUint32(bad[len(bad)-8:], 0xFFFFFFF0)
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadDocuments(context.Background(), p, Options{}); err == nil || !strings.Contains(err.Error(), "footer of 4294967280 bytes") {
		t.Errorf("damaged footer length: %v", err)
	}
	t.Logf("3000 damaged files: %d errors, the slowest read in %v", errs, slowest)
}

// readLine returns lines whole, the last one without '\n', and refuses a
// line over its bound before reading all of it.
func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", 3000)
	br := bufio.NewReaderSize(strings.NewReader("a\n"+long+"\nlast"), 16)
	for _, want := range []string{"a\n", long + "\n", "last"} {
		got, err := readLine(br, 4000)
		if string(got) != want || (err != nil && err != io.EOF) {
			t.Fatalf("line %q (%v), want %q", got, err, want)
		}
	}
	br = bufio.NewReaderSize(strings.NewReader(long+"\n"), 16)
	if _, err := readLine(br, 1000); !errors.Is(err, errLongLine) {
		t.Errorf("3000-byte line with a bound of 1000: %v", err)
	}
}

// A .jsonl that starts with a UTF-8 byte-order mark reads like one without.
func TestJSONLWithBOM(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.jsonl")
	write(t, p, "\xef\xbb\xbf{\"text\": \"first\"}\n{\"text\": \"second\"}\n")
	docs, _, err := ReadDocuments(context.Background(), p, Options{})
	if err != nil || len(docs) != 2 || docs[0].Text != "first" {
		t.Errorf("docs %v, %v", docs, err)
	}
}

// A UTF-16 text file is refused with what it is; replaced bytes are said
// in the corpus' note.
func TestEncodingsSaid(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "u16.txt")
	write(t, p, "\xff\xfeh\x00i\x00")
	if _, _, err := ReadDocuments(context.Background(), p, Options{}); err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Errorf("UTF-16 file: %v", err)
	}
	p = filepath.Join(dir, "latin1.txt")
	write(t, p, strings.Repeat("caf\xe9 au lait, ", 100))
	c, err := Load(context.Background(), p, newTok(t), Options{SeqLen: 8}, nil)
	if err != nil || !strings.Contains(c.Note, "100 bytes that are not UTF-8") {
		t.Errorf("Latin-1 file: note %q, %v", c.Note, err)
	}
}

// Reading stops at the document whose text passes the budget, and the
// corpus' note says that only its first documents were used.
func TestTextBudget(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 10; i++ {
		write(t, filepath.Join(dir, fmt.Sprintf("%02d.txt", i)), strings.Repeat(fmt.Sprintf("document %d. ", i), 10)[:100])
	}
	docs, st, err := ReadDocuments(context.Background(), dir, Options{MaxTextBytes: 350})
	if err != nil || len(docs) != 4 || !st.Truncated || st.TextBytes != 400 {
		t.Fatalf("%d documents, stats %+v, %v", len(docs), st, err)
	}
	c, err := Load(context.Background(), dir, newTok(t), Options{SeqLen: 8, MaxTextBytes: 350}, nil)
	if err != nil || !strings.Contains(c.Note, "its first 4 documents") {
		t.Errorf("note %q, %v", c.Note, err)
	}
	if _, st, _ := ReadDocuments(context.Background(), dir, Options{}); st.Truncated || st.Documents != 10 {
		t.Errorf("default budget: %+v", st)
	}
}
