package tokenizer

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

type reference struct {
	Texts    []string `json:"texts"`
	TokenIDs [][]int  `json:"token_ids"`
}

// The fixture's ids come from an independent GPT-2 BPE implementation.
func TestEncodeMatchesReference(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/fixtures/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
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
