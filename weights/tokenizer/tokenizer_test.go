package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

var (
	tiktokenOnce sync.Once
	tiktokenEnc  *tiktoken.Tiktoken
	tiktokenErr  error
)

// reference returns tiktoken-go's r50k_base encoding, read offline: the
// ids Encode must give.
func reference(t testing.TB) *tiktoken.Tiktoken {
	t.Helper()
	tiktokenOnce.Do(func() {
		tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
		tiktokenEnc, tiktokenErr = tiktoken.GetEncoding("r50k_base")
	})
	if tiktokenErr != nil {
		t.Fatal(tiktokenErr)
	}
	return tiktokenEnc
}

type referenceFixture struct {
	Texts    []string `json:"texts"`
	TokenIDs [][]int  `json:"token_ids"`
}

// The fixture's ids come from an independent GPT-2 BPE implementation.
func TestEncodeMatchesReference(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/fixtures/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref referenceFixture
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Texts) != 3 {
		t.Fatalf("reference has %d texts", len(ref.Texts))
	}
	for i, text := range ref.Texts {
		got := tok.Encode(text)
		if !reflect.DeepEqual(got, ref.TokenIDs[i]) {
			t.Errorf("text %d: ids\n got %v\nwant %v", i, got, ref.TokenIDs[i])
		}
		withBOS := tok.ToTokens(text)
		if withBOS[0] != BOS || !reflect.DeepEqual(withBOS[1:], ref.TokenIDs[i]) {
			t.Errorf("text %d: ToTokens = %v", i, withBOS)
		}
		back, err := tok.Decode(got)
		if err != nil || back != text {
			t.Errorf("text %d: round trip %q, %v", i, back, err)
		}
	}
}

func TestSpecialTokenInText(t *testing.T) {
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	got := tok.Encode("a<|endoftext|>b")
	want := []int{64, BOS, 65}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
	if tok.Encode("") != nil {
		t.Error("empty text should give no tokens")
	}
	// The split at the special token gives tiktoken's own ids, wherever it
	// sits: at the ends, twice in a row, inside words and spaces, next to
	// a partial "<|endoftext" that stays text.
	enc := reference(t)
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []string{"<|endoftext|>", " ", "  ", "Hello", " world", "\n\n", "<|endoftext", "|>", "é", "日本", "=", "123"}
	for i := 0; i < 2000; i++ {
		var sb strings.Builder
		for n := rng.IntN(12); n >= 0; n-- {
			sb.WriteString(parts[rng.IntN(len(parts))])
		}
		text := sb.String()
		want := enc.Encode(text, []string{"all"}, nil)
		if got := tok.Encode(text); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("%q: %v, tiktoken %v", text, got, want)
		}
	}
}

// BenchmarkEncodeSeparatedStories encodes 4000 short documents joined by
// "<|endoftext|>" (a TinyStories-style file): linear in the text's length
// (tiktoken's own special-token path took 7.8 s and 8 GB for this).
func BenchmarkEncodeSeparatedStories(b *testing.B) {
	tok, err := New()
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat(strings.Repeat("Once upon a time there was a cat. ", 6)+"<|endoftext|>", 4000)
	b.SetBytes(int64(len(text)))
	for i := 0; i < b.N; i++ {
		tok.Encode(text)
	}
}

func TestDisplay(t *testing.T) {
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[int]string{
		262:   "·the",          // " the"
		198:   "↩",             // "\n"
		197:   "→",             // "\t"
		12520: "·<0xF0><0x9F>", // " \xf0\x9f": the start of an emoji
		248:   "<0x9A>",
		50256: "<|endoftext|>",
	}
	for id, want := range cases {
		if got := tok.DisplayString(id); got != want {
			t.Errorf("DisplayString(%d) = %q, want %q", id, got, want)
		}
	}
	if got := tok.DisplayString(-1); got != "<bad id -1>" {
		t.Errorf("bad id: %q", got)
	}
	if _, err := tok.Decode([]int{50257}); err == nil {
		t.Error("Decode accepted id 50257")
	}
	if got := Display([]byte("a\x00b\r")); got != `a\u0000b\r` {
		t.Errorf("control chars: %q", got)
	}
	if s := tok.StrTokens([]int{12520}); s[0] != " \uFFFD" {
		t.Errorf("StrTokens partial byte = %q", s[0])
	}
}

func TestInvalidUTF8Text(t *testing.T) {
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("ok \xff\xfe bytes")
	s, err := tok.Decode(ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 || s == "" {
		t.Fatalf("ids %v decode %q", ids, s)
	}
}

// TestInline checks the proportional-text form: Display's, with a newline
// and a tab as escapes (no arrows, which the proportional font lacks).
func TestInline(t *testing.T) {
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[int]string{
		262:   "·the",
		198:   `\n`,
		197:   `\t`,
		628:   `\n\n`,
		12520: "·<0xF0><0x9F>",
		50256: "<|endoftext|>",
	}
	for id, want := range cases {
		if got := tok.InlineString(id); got != want {
			t.Errorf("InlineString(%d) = %q, want %q", id, got, want)
		}
	}
	if got := tok.InlineString(50257); got != "<bad id 50257>" {
		t.Errorf("bad id: %q", got)
	}
	if got := Inline([]byte("a\tb\r\x00 c\n")); got != `a\tb\r\u0000·c\n` {
		t.Errorf("Inline = %q", got)
	}
	for id := 0; id < VocabSize; id++ {
		s := tok.InlineString(id)
		b, _ := tok.Bytes(id)
		if strings.ContainsAny(s, "\n\t") || (strings.ContainsAny(s, "↩→") && !strings.ContainsAny(string(b), "↩→")) {
			t.Fatalf("InlineString(%d) = %q holds a raw control character or an arrow its token lacks", id, s)
		}
	}
}
