package ui

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/saescope/saescope/weights/tokenizer"
)

// Byte-level tokens that form a character together become one chip
// showing it, with the raw bytes in the hover text; other tokens are
// left alone.
func TestMergeByteTokens(t *testing.T) {
	tok, err := tokenizer.New()
	if err != nil {
		t.Fatal(err)
	}
	text := "He said “hi” 🙂 then"
	ids := tok.Encode(text)
	toks := make([]Token, len(ids))
	partial := 0
	for i, id := range ids {
		b, _ := tok.Bytes(id)
		if !utf8.Valid(b) {
			partial++
		}
		toks[i] = Token{Text: tok.DisplayString(id), ID: id, Value: float32(i)}
	}
	if partial < 4 {
		t.Fatalf("the text gives %d byte-level tokens: the test needs some (%v)", partial, tok.DisplayStrings(ids))
	}
	m := mergeByteTokens(tok, toks)
	var texts []string
	for _, c := range m.chips {
		texts = append(texts, c.Text)
		if strings.Contains(c.Text, "<0x") {
			t.Errorf("chip %q still shows raw bytes", c.Text)
		}
	}
	// the chips read as the text (space shown as ·)
	if got, want := strings.Join(texts, ""), strings.ReplaceAll(text, " ", "·"); got != want {
		t.Errorf("chips %q, want %q", got, want)
	}
	found := false
	for i, c := range m.chips {
		if strings.Contains(c.Text, "“") {
			found = true
			if c.Raw == "" || !strings.Contains(c.Raw, "<0x") || !strings.Contains(c.Describe(), "bytes") {
				t.Errorf("merged chip %q: raw %q", c.Text, c.Raw)
			}
			// the strongest token of the run: the last (values rise)
			if c.Value != float32(m.at[i]) || c.ID != ids[m.at[i]] || m.chipOf[m.at[i]] != i {
				t.Errorf("merged chip %q shows %+v, at %d", c.Text, c, m.at[i])
			}
		}
	}
	if !found {
		t.Errorf("no chip shows “: %q", texts)
	}
	// every token has a chip, in order
	for i := 1; i < len(ids); i++ {
		if m.chipOf[i] < m.chipOf[i-1] || m.chipOf[i] > m.chipOf[i-1]+1 {
			t.Fatalf("chipOf %v", m.chipOf)
		}
	}
	// a run cut by the window's edge keeps its bytes
	first := -1
	for i, id := range ids {
		if b, _ := tok.Bytes(id); !utf8.Valid(b) {
			first = i
			break
		}
	}
	cut := mergeByteTokens(tok, toks[:first+1])
	if last := cut.chips[len(cut.chips)-1]; !strings.Contains(last.Text, "<0x") || last.Raw != "" {
		t.Errorf("cut run: %+v", last)
	}
}
