package corpus

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/weights/tokenizer"
)

func newTok(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.New()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func docsOf(texts ...string) []Document {
	out := make([]Document, len(texts))
	for i, s := range texts {
		out[i] = Document{Source: fmt.Sprintf("doc%d", i), Text: s}
	}
	return out
}

// bundled returns the documents of the embedded corpus.
func bundled(t testing.TB) []Document {
	t.Helper()
	docs, _, err := ReadDocumentsFS(context.Background(), assets.CorpusFS(), assets.CorpusDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// The hand-made example: "a b", "c", "d e f" are a=64 " b"=275 c=66 d=67
// " e"=304 " f"=277, so the stream is 64 275 EOS 66 EOS 67 304 277 and rows
// of 4 are BOS+3 tokens: two rows, the last two tokens dropped.
func TestRowsHandExample(t *testing.T) {
	tok := newTok(t)
	for text, want := range map[string][]int{"a b": {64, 275}, "c": {66}, "d e f": {67, 304, 277}} {
		if got := tok.Encode(text); !reflect.DeepEqual(got, want) {
			t.Fatalf("tokenizer: %q = %v, the example assumes %v", text, got, want)
		}
	}
	c, err := Rows(context.Background(), docsOf("a b", "", "c", "d e f"), tok, Options{SeqLen: 4, NoShuffle: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int32{{50256, 64, 275, 50256}, {50256, 66, 50256, 67}}
	if !reflect.DeepEqual(c.Rows, want) {
		t.Fatalf("rows %v, want %v", c.Rows, want)
	}
	if c.TotalTokens != 8 || c.AvailableRows != 2 || c.Short || c.Stats.EmptyDocuments != 1 || c.Stats.Documents != 3 {
		t.Errorf("corpus %+v", c)
	}
	// Exactly one row's worth: one row, nothing dropped.
	c, err = Rows(context.Background(), docsOf("a b", "c"), tok, Options{SeqLen: 5, NoShuffle: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int32{{50256, 64, 275, 50256, 66}}; !reflect.DeepEqual(c.Rows, want) {
		t.Fatalf("rows %v, want %v", c.Rows, want)
	}
}

// Rows must equal cutting the tokens of the whole joined text, computed the
// naive way: one Encode of the texts joined with "<|endoftext|>".
func TestRowsMatchJoinedText(t *testing.T) {
	tok := newTok(t)
	docs := bundled(t)[:120]
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	joined := tok.Encode(strings.Join(texts, "<|endoftext|>"))
	for _, seqLen := range []int{128, 64, 2} {
		c, err := Rows(context.Background(), docs, tok, Options{SeqLen: seqLen, NoShuffle: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		per := seqLen - 1
		if c.TotalTokens != len(joined) || c.AvailableRows != len(joined)/per || len(c.Rows) != c.AvailableRows {
			t.Fatalf("seq %d: %d tokens, %d rows; want %d tokens, %d rows", seqLen, c.TotalTokens, len(c.Rows), len(joined), len(joined)/per)
		}
		for i, row := range c.Rows {
			want := []int32{tokenizer.BOS}
			for _, id := range joined[i*per : (i+1)*per] {
				want = append(want, int32(id))
			}
			if !slices.Equal(row, want) {
				t.Fatalf("seq %d row %d:\n got %v\nwant %v", seqLen, i, row, want)
			}
		}
	}
}

func TestShuffle(t *testing.T) {
	tok := newTok(t)
	docs := bundled(t)[:200]
	get := func(opt Options) *Corpus {
		c, err := Rows(context.Background(), docs, tok, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	plain := get(Options{NoShuffle: true})
	a, b := get(Options{Seed: 7}), get(Options{Seed: 7})
	other := get(Options{Seed: 8})
	if !reflect.DeepEqual(a.Rows, b.Rows) || a.Hash != b.Hash {
		t.Error("same seed, different rows")
	}
	if reflect.DeepEqual(a.Rows, other.Rows) || a.Hash == other.Hash {
		t.Error("seeds 7 and 8 give the same rows")
	}
	if reflect.DeepEqual(a.Rows, plain.Rows) {
		t.Error("shuffle left the rows in order")
	}
	key := func(rows [][]int32) []string {
		var ks []string
		for _, r := range rows {
			ks = append(ks, fmt.Sprint(r))
		}
		slices.Sort(ks)
		return ks
	}
	if !reflect.DeepEqual(key(a.Rows), key(plain.Rows)) || !reflect.DeepEqual(key(other.Rows), key(plain.Rows)) {
		t.Error("shuffling changed the multiset of rows")
	}
	// Rows keeps the first N of the same shuffle.
	first := get(Options{Seed: 7, Rows: 10})
	if !reflect.DeepEqual(first.Rows, a.Rows[:10]) || first.AvailableRows != a.AvailableRows || first.Short {
		t.Error("Rows: 10 is not the first 10 shuffled rows")
	}
	if first.Hash == a.Hash {
		t.Error("hash ignores the row count")
	}
	// Asking for too many: all rows, and said so.
	many := get(Options{Seed: 7, Rows: a.AvailableRows + 5})
	if !many.Short || len(many.Rows) != a.AvailableRows || !strings.Contains(many.Note, "only") || !reflect.DeepEqual(many.Rows, a.Rows) {
		t.Errorf("too many rows asked: short=%v rows=%d note=%q", many.Short, len(many.Rows), many.Note)
	}
	if len(a.Hash) != 64 {
		t.Errorf("hash %q", a.Hash)
	}
}

// The permutation is pinned so that a change of generator, or a platform
// where it would differ, is caught.
func TestShufflePinned(t *testing.T) {
	p := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	shuffle(p, 42)
	want := []int{6, 2, 5, 3, 4, 7, 0, 1, 9, 8}
	if !slices.Equal(p, want) {
		t.Errorf("shuffle(0..9, 42) = %v, want %v", p, want)
	}
	// boundedUint64 stays in range and hits every value.
	seen := make([]bool, 7)
	src := rand.NewPCG(1, 0)
	for range 1000 {
		v := boundedUint64(src, 7)
		if v >= 7 {
			t.Fatalf("bounded value %d", v)
		}
		seen[v] = true
	}
	for i, s := range seen {
		if !s {
			t.Errorf("value %d never drawn", i)
		}
	}
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	tok := newTok(t)
	docs := bundled(t)[:150]
	var hashes []string
	for _, procs := range []int{1, 2, 5} {
		old := runtime.GOMAXPROCS(procs)
		c, err := Rows(context.Background(), docs, tok, Options{Seed: 3}, nil)
		runtime.GOMAXPROCS(old)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, c.Hash)
	}
	if hashes[0] != hashes[1] || hashes[0] != hashes[2] {
		t.Errorf("hash depends on the number of workers: %v", hashes)
	}
}

func TestTooSmall(t *testing.T) {
	tok := newTok(t)
	_, err := Rows(context.Background(), docsOf("Just a few words.", "And a few more."), tok, Options{}, nil)
	var ts *TooSmallError
	if !errors.Is(err, ErrTooSmall) || !errors.As(err, &ts) {
		t.Fatalf("err %v", err)
	}
	n := len(tok.Encode("Just a few words.")) + 1 + len(tok.Encode("And a few more."))
	want := fmt.Sprintf("corpus of 2 documents: only %d tokens, need at least 127 for one 128-token row", n)
	if err.Error() != want {
		t.Errorf("error %q\n want %q", err, want)
	}
	if _, err := Rows(context.Background(), nil, tok, Options{}, nil); !errors.Is(err, ErrTooSmall) {
		t.Errorf("no documents: %v", err)
	}
	if _, err := Rows(context.Background(), nil, tok, Options{SeqLen: 1}, nil); err == nil || errors.Is(err, ErrTooSmall) {
		t.Errorf("SeqLen 1: %v", err)
	}
	if _, err := Rows(context.Background(), nil, tok, Options{Rows: -1}, nil); err == nil {
		t.Error("negative Rows accepted")
	}
	if _, err := Rows(context.Background(), docsOf("x"), nil, Options{}, nil); err == nil {
		t.Error("nil tokenizer accepted")
	}
}

func TestInvalidUTF8InRows(t *testing.T) {
	tok := newTok(t)
	text := strings.Repeat("word ", 200)
	c, err := Rows(context.Background(), docsOf(text+"\xff\xe2\x82"), tok, Options{NoShuffle: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stats.InvalidUTF8Bytes != 3 {
		t.Errorf("invalid bytes %d, want 3", c.Stats.InvalidUTF8Bytes)
	}
}

func TestProgress(t *testing.T) {
	tok := newTok(t)
	docs := bundled(t)[:300]
	var mu sync.Mutex
	var calls [][2]int
	_, err := Rows(context.Background(), docs, tok, Options{}, func(done, total int) {
		mu.Lock()
		calls = append(calls, [2]int{done, total})
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 || calls[len(calls)-1] != [2]int{300, 300} || len(calls) > 201 {
		t.Fatalf("progress calls %v", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] <= calls[i-1][0] {
			t.Fatalf("progress not increasing: %v", calls)
		}
	}
}

func TestCancel(t *testing.T) {
	tok := newTok(t)
	docs := bundled(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Rows(ctx, docs, tok, Options{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}
	if _, _, err := ReadDocumentsFS(ctx, assets.CorpusFS(), assets.CorpusDir, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("read cancelled before: %v", err)
	}
	// Cancelled while tokenizing a large corpus: back promptly.
	many := make([]Document, 0, 8*len(docs))
	for range 8 {
		many = append(many, docs...)
	}
	for _, tl := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		var once sync.Once
		var cancelled time.Time
		_, err := Rows(ctx, many, tok, Options{TLCompat: tl}, func(done, total int) {
			once.Do(func() { cancelled = time.Now(); cancel() })
		})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("TLCompat %v: err %v", tl, err)
		}
		if d := time.Since(cancelled); d > 2*time.Second {
			t.Errorf("TLCompat %v: took %v after cancel", tl, d)
		}
	}
}

// Cancelled in the middle of one long document (one pre-tokenizer piece
// of 24 MB, which takes about 5 s to encode, and took hours when a
// document was encoded whole before ctx was looked at): Rows, which Load
// calls after reading, is back promptly.
func TestCancelInsideDocument(t *testing.T) {
	tok := newTok(t)
	docs := docsOf(strings.Repeat("=-", 12<<20))
	for _, tl := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var cancelled time.Time
		time.AfterFunc(100*time.Millisecond, func() {
			mu.Lock()
			cancelled = time.Now()
			mu.Unlock()
			cancel()
		})
		done := make(chan error, 1)
		go func() {
			_, err := Rows(ctx, docs, tok, Options{TLCompat: tl}, nil)
			done <- err
		}()
		// Tolerance: ctx is looked at every 65536 merges, milliseconds
		// apart (0.4 s at worst seen on a loaded machine); 1 s.
		select {
		case err := <-done:
			mu.Lock()
			d := time.Since(cancelled)
			mu.Unlock()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("TLCompat %v: err %v, want context.Canceled", tl, err)
			} else if d > time.Second {
				t.Errorf("TLCompat %v: back %v after the cancel", tl, d)
			}
			t.Logf("TLCompat %v: back %v after the cancel", tl, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("TLCompat %v: Rows still running 10 s after its cancel", tl)
		}
		cancel()
	}
}

// The bundled corpus gives well over the 1000 rows the demo scans.
func TestBundledCorpus(t *testing.T) {
	tok := newTok(t)
	start := time.Now()
	c, err := LoadFS(context.Background(), assets.CorpusFS(), assets.CorpusDir, tok, Options{Rows: 1000, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if len(c.Rows) != 1000 || c.AvailableRows < 1000 || c.Short {
		t.Fatalf("%d rows of %d available", len(c.Rows), c.AvailableRows)
	}
	for i, r := range c.Rows {
		if len(r) != 128 || r[0] != tokenizer.BOS {
			t.Fatalf("row %d: len %d first %d", i, len(r), r[0])
		}
		for _, id := range r {
			if id < 0 || id >= tokenizer.VocabSize {
				t.Fatalf("row %d: id %d", i, id)
			}
		}
	}
	if c.Stats.InvalidUTF8Bytes != 0 || c.Stats.EmptyDocuments != 0 || c.Stats.Files != 4 || c.Path != assets.CorpusDir {
		t.Errorf("stats %+v path %q", c.Stats, c.Path)
	}
	t.Logf("bundled corpus: %d files, %d documents, %d tokens, %d rows of 128, in %v (%.0f documents/s)",
		c.Stats.Files, c.Stats.Documents, c.TotalTokens, c.AvailableRows, d, float64(c.Stats.Documents)/d.Seconds())
}

// BenchmarkRows10k tokenizes 10,000 documents, like openwebtext-10k (the
// bundled documents repeated), and reports documents and megabytes a second.
func BenchmarkRows10k(b *testing.B) {
	tok := newTok(b)
	docs := bundled(b)
	many := make([]Document, 0, 10000)
	bytes := 0
	for len(many) < 10000 {
		d := docs[len(many)%len(docs)]
		many = append(many, d)
		bytes += len(d.Text)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := Rows(context.Background(), many, tok, Options{Rows: 1000}, nil); err != nil {
			b.Fatal(err)
		}
	}
	s := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(len(many))/s, "docs/s")
	b.ReportMetric(float64(bytes)/s/1e6, "MB/s")
}

// Rows without BOS on the hand-made example: the stream 64 275 EOS 66 EOS
// 67 304 277 cut into rows of 4 tokens with nothing in front, and into
// rows of 3 with the last two tokens dropped.
func TestWithoutBOSHandExample(t *testing.T) {
	tok := newTok(t)
	for seqLen, want := range map[int][][]int32{
		4: {{64, 275, 50256, 66}, {50256, 67, 304, 277}},
		3: {{64, 275, 50256}, {66, 50256, 67}},
	} {
		c, err := Rows(context.Background(), docsOf("a b", "", "c", "d e f"), tok, Options{SeqLen: seqLen, NoShuffle: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := c.WithoutBOS()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(nb.Rows, want) || !nb.NoBOS || c.NoBOS {
			t.Fatalf("seq %d: rows %v (NoBOS %v, the BOS corpus' %v), want %v", seqLen, nb.Rows, nb.NoBOS, c.NoBOS, want)
		}
		if nb.TotalTokens != 8 || nb.AvailableRows != 2 || nb.Short || nb.Stats != c.Stats || nb.Hash == c.Hash {
			t.Errorf("seq %d: corpus %+v", seqLen, nb)
		}
		if again, err := nb.WithoutBOS(); err != nil || again != nb {
			t.Errorf("WithoutBOS of a NoBOS corpus: %p, %v", again, err)
		}
	}
}

// Rows without BOS against an independent construction: one Encode of
// the texts joined with "<|endoftext|>", cut into rows of SeqLen tokens;
// the rows put end to end are the stream's prefix (the remainder
// dropped), and they hold exactly the stream's 50256s (the separators,
// no BOS added).
func TestWithoutBOSMatchesJoinedText(t *testing.T) {
	tok := newTok(t)
	docs := bundled(t)[:120]
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	joined := tok.Encode(strings.Join(texts, "<|endoftext|>"))
	for _, seqLen := range []int{128, 64, 2} {
		c, err := Rows(context.Background(), docs, tok, Options{SeqLen: seqLen, NoShuffle: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := c.WithoutBOS()
		if err != nil {
			t.Fatal(err)
		}
		n := len(joined) / seqLen
		if nb.TotalTokens != len(joined) || nb.AvailableRows != n || len(nb.Rows) != n {
			t.Fatalf("seq %d: %d tokens, %d rows; want %d tokens, %d rows", seqLen, nb.TotalTokens, len(nb.Rows), len(joined), n)
		}
		var flat []int32
		for i, row := range nb.Rows {
			if len(row) != seqLen {
				t.Fatalf("seq %d row %d: %d tokens", seqLen, i, len(row))
			}
			flat = append(flat, row...)
		}
		want := make([]int32, n*seqLen)
		eos := 0
		for i := range want {
			want[i] = int32(joined[i])
			if joined[i] == tokenizer.EOS {
				eos++
			}
		}
		if !slices.Equal(flat, want) {
			t.Fatalf("seq %d: the rows are not the stream's first %d tokens", seqLen, len(want))
		}
		if got := countID(flat, tokenizer.BOS); got != eos {
			t.Errorf("seq %d: %d tokens 50256 in the rows, the stream's prefix has %d", seqLen, got, eos)
		}
		// the BOS rows of the same corpus are unchanged
		if c.AvailableRows != len(joined)/(seqLen-1) || c.Rows[0][0] != tokenizer.BOS {
			t.Errorf("seq %d: the BOS rows changed: %d rows, first token %d", seqLen, c.AvailableRows, c.Rows[0][0])
		}
	}
}

func countID(ids []int32, id int32) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// Rows without BOS are shuffled as the BOS rows are: the same seed the
// same rows, the multiset of the unshuffled rows, the first Options.Rows
// of the same shuffle kept, and each layout its own hash.
func TestWithoutBOSShuffle(t *testing.T) {
	tok := newTok(t)
	docs := bundled(t)[:200]
	get := func(opt Options) *Corpus {
		c, err := Rows(context.Background(), docs, tok, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := c.WithoutBOS()
		if err != nil {
			t.Fatal(err)
		}
		return nb
	}
	plain := get(Options{NoShuffle: true})
	a, b, other := get(Options{Seed: 7}), get(Options{Seed: 7}), get(Options{Seed: 8})
	if !reflect.DeepEqual(a.Rows, b.Rows) || a.Hash != b.Hash {
		t.Error("same seed, different rows")
	}
	if reflect.DeepEqual(a.Rows, other.Rows) || a.Hash == other.Hash || reflect.DeepEqual(a.Rows, plain.Rows) {
		t.Error("the rows without BOS are not shuffled by the seed")
	}
	key := func(rows [][]int32) []string {
		var ks []string
		for _, r := range rows {
			ks = append(ks, fmt.Sprint(r))
		}
		slices.Sort(ks)
		return ks
	}
	if !reflect.DeepEqual(key(a.Rows), key(plain.Rows)) {
		t.Error("shuffling changed the multiset of rows")
	}
	// The permutation is the BOS rows' one for the same number of rows.
	order := make([]int, a.AvailableRows)
	for i := range order {
		order[i] = i
	}
	shuffle(order, 7)
	for k, i := range order {
		if !slices.Equal(a.Rows[k], plain.Rows[i]) {
			t.Fatalf("shuffled row %d is not unshuffled row %d", k, i)
		}
	}
	first := get(Options{Seed: 7, Rows: 10})
	if !reflect.DeepEqual(first.Rows, a.Rows[:10]) || first.AvailableRows != a.AvailableRows || first.Short {
		t.Error("Rows: 10 is not the first 10 shuffled rows")
	}
	many := get(Options{Seed: 7, Rows: a.AvailableRows + 5})
	if !many.Short || len(many.Rows) != a.AvailableRows || !strings.Contains(many.Note, "only") {
		t.Errorf("too many rows asked: short=%v rows=%d note=%q", many.Short, len(many.Rows), many.Note)
	}
}

// The hash of BOS rows is what it was before rows without BOS existed
// (store keys made from it stay valid): computed here from its definition.
func TestBOSHashUnchanged(t *testing.T) {
	tok := newTok(t)
	c, err := Rows(context.Background(), docsOf("a b", "c", "d e f"), tok, Options{SeqLen: 4, Seed: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "saescope corpus v1\nseq_len=4 rows=0 seed=5 no_shuffle=false tl_compat=false split_blank_lines=false text_field=\"text\" max_docs=0 n=%d\n", len(c.Rows))
	for _, r := range c.Rows {
		for _, id := range r {
			h.Write(binary.LittleEndian.AppendUint32(nil, uint32(id)))
		}
	}
	if want := hex.EncodeToString(h.Sum(nil)); c.Hash != want {
		t.Errorf("hash %s, want %s", c.Hash, want)
	}
	nb, err := c.WithoutBOS()
	if err != nil {
		t.Fatal(err)
	}
	if nb.Hash == c.Hash || len(nb.Hash) != 64 {
		t.Errorf("hash without BOS %q", nb.Hash)
	}
}

// A corpus of SeqLen-1 tokens gives one BOS row and no row without BOS;
// TLCompat makes none; a Corpus made by hand has none.
func TestWithoutBOSRefused(t *testing.T) {
	tok := newTok(t)
	c, err := Rows(context.Background(), docsOf("a b", "c"), tok, Options{SeqLen: 5, NoShuffle: true}, nil) // 4 tokens
	if err != nil {
		t.Fatal(err)
	}
	var ts *TooSmallError
	if _, err := c.WithoutBOS(); !errors.As(err, &ts) || ts.Tokens != 4 || ts.Need != 5 {
		t.Errorf("4 tokens for rows of 5 without BOS: %v", err)
	}
	docs := bundled(t)[:50]
	tl, err := Rows(context.Background(), docs, tok, Options{TLCompat: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tl.WithoutBOS(); err == nil || !strings.Contains(err.Error(), "TLCompat") {
		t.Errorf("TLCompat: %v", err)
	}
	if _, err := (&Corpus{Rows: [][]int32{{1, 2}}}).WithoutBOS(); err == nil {
		t.Error("a Corpus made by hand gave rows without BOS")
	}
}
