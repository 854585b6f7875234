package corpus

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights/tokenizer"
)

func TestTLBatches(t *testing.T) {
	sizes := func(n int) []int {
		var out []int
		prev := 0
		for _, b := range tlBatches(n) {
			if b[0] != prev {
				t.Fatalf("n=%d: gap at %v", n, b)
			}
			out = append(out, b[1]-b[0])
			prev = b[1]
		}
		if prev != n {
			t.Fatalf("n=%d: batches end at %d", n, prev)
		}
		return out
	}
	cases := map[int][]int{
		0:     nil,
		1:     {1},
		3:     {1, 1, 1},
		25:    {3, 3, 3, 3, 3, 2, 2, 2, 2, 2},
		10000: {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000},
		// 10 shards of 2500, each in batches of 1000, 1000, 500.
		25000: {1000, 1000, 500, 1000, 1000, 500, 1000, 1000, 500, 1000, 1000, 500, 1000, 1000, 500,
			1000, 1000, 500, 1000, 1000, 500, 1000, 1000, 500, 1000, 1000, 500, 1000, 1000, 500},
	}
	for n, want := range cases {
		if got := sizes(n); !slices.Equal(got, want) {
			t.Errorf("n=%d: %v, want %v", n, got, want)
		}
	}
}

// pyChunks is the Python expression itself, on code points:
// [full_text[i*L:(i+1)*L] for i in range(20)], L = (len-1)//20 + 1.
func pyChunks(s string) []string {
	r := []rune(s)
	l := (len(r)-1)/20 + 1
	out := make([]string, 20)
	for i := range out {
		a, b := min(i*l, len(r)), min((i+1)*l, len(r))
		out[i] = string(r[a:b])
	}
	return out
}

func TestTLChunks(t *testing.T) {
	for _, s := range []string{
		"x",
		strings.Repeat("abc", 15), // 45 code points: 15 chunks of 3, 5 empty
		strings.Repeat("é—😀 word ", 37) + "!", // multi-byte characters
		strings.Repeat("a", 400),
		strings.Repeat("a", 401),
	} {
		got := tlChunks(s)
		if want := pyChunks(s); !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %q\nwant %q", s, got, want)
		}
		if strings.Join(got, "") != s {
			t.Errorf("%q: chunks do not add up", s)
		}
	}
}

// tlReference recomputes TransformerLens 1.0–2.17 for a corpus of one batch
// step by step, independently of tlRows' bookkeeping.
func tlReference(tok *tokenizer.Tokenizer, texts []string, seqLen int) [][]int32 {
	full := strings.Join(texts, "<|endoftext|>")
	var toks []int32
	for _, c := range pyChunks(full) {
		for _, id := range tok.Encode(c) {
			if id != 50256 { // tokens[tokens != pad_token_id]
				toks = append(toks, int32(id))
			}
		}
	}
	per := seqLen - 1
	var rows [][]int32
	for i := 0; i+per <= len(toks); i += per {
		rows = append(rows, append([]int32{50256}, toks[i:i+per]...))
	}
	return rows
}

func TestTLCompat(t *testing.T) {
	tok := newTok(t)
	docs := bundled(t)[:60] // ten shards of six documents, each one batch
	texts := make([]string, len(docs))
	for i, d := range docs {
		texts[i] = d.Text
	}
	docs = append(docs, Document{Source: "inner", Text: "A document with <|endoftext|> inside."})
	texts = append(texts, docs[len(docs)-1].Text)
	c, err := Rows(context.Background(), docs, tok, Options{TLCompat: true, NoShuffle: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]int32
	for _, b := range tlBatches(len(texts)) {
		want = append(want, tlReference(tok, texts[b[0]:b[1]], 128)...)
	}
	if !reflect.DeepEqual(c.Rows, want) {
		t.Fatalf("TLCompat rows differ from the reference (%d vs %d rows)", len(c.Rows), len(want))
	}
	for i, r := range c.Rows {
		if slices.Contains(r[1:], tokenizer.EOS) {
			t.Fatalf("row %d keeps an EOS, the pad filter removes them all", i)
		}
	}
	// Our own rule keeps the separators, so the two differ.
	ours, err := Rows(context.Background(), docs, tok, Options{NoShuffle: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(ours.Rows, c.Rows) {
		t.Error("TLCompat and the default rule agree on a corpus where they should not")
	}
}

// Rows never span two batches, and a short batch gives one padded row.
func TestTLCompatBatches(t *testing.T) {
	tok := newTok(t)
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40) // about 400 tokens
	var docs []Document
	var texts []string
	for i := range 11 { // 11 documents: shards of 2,1,1,...: the first batch holds two
		s := long
		if i == 10 {
			s = "Short last one." // its own batch, under 127 tokens
		}
		docs = append(docs, Document{Text: s})
		texts = append(texts, s)
	}
	c, err := Rows(context.Background(), docs, tok, Options{TLCompat: true, NoShuffle: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]int32
	for _, b := range tlBatches(len(texts)) {
		want = append(want, tlReference(tok, texts[b[0]:b[1]], 128)...)
	}
	// 15 characters make 15 chunks of one character: every character is
	// tokenized on its own, as TransformerLens does.
	short := []int32{50256}
	for _, ch := range "Short last one." {
		for _, id := range tok.Encode(string(ch)) {
			short = append(short, int32(id))
		}
	}
	for len(short) < 128 {
		short = append(short, 50256)
	}
	// tlReference drops a batch shorter than a row; TransformerLens pads it
	// into one row, which is the last batch here.
	want = append(want, short)
	if !reflect.DeepEqual(c.Rows, want) {
		for i := range c.Rows {
			if !slices.Equal(c.Rows[i], want[i]) {
				t.Errorf("row %d:\n got %v\nwant %v", i, c.Rows[i], want[i])
			}
		}
		t.Fatalf("got %d rows, want %d", len(c.Rows), len(want))
	}
	if c.Stats.Documents != 11 {
		t.Errorf("stats %+v", c.Stats)
	}
}
