// Package tokenizer turns text into GPT-2 token ids and back, offline.
//
// It wraps github.com/pkoukk/tiktoken-go with the r50k_base byte-pair
// encoding (GPT-2's vocabulary), whose merge table is embedded in the binary
// by github.com/pkoukk/tiktoken-go-loader, so nothing is ever downloaded.
package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// Vocabulary constants of GPT-2.
const (
	// VocabSize is the number of token ids of GPT-2.
	VocabSize = 50257
	// BOS is <|endoftext|>, which TransformerLens prepends as beginning of
	// sequence and which separates documents in a concatenated corpus.
	BOS = 50256
	// EOS is the same token used as a document separator.
	EOS = 50256
)

// Tokenizer encodes and decodes GPT-2 tokens. It is safe for concurrent use.
type Tokenizer struct {
	enc     *tiktoken.Tiktoken
	bytes   [][]byte // token id -> its bytes
	display []string // token id -> display string
}

var (
	loadOnce sync.Once
	shared   *Tokenizer
	loadErr  error
)

// New returns the GPT-2 tokenizer. The encoding tables are built once per
// process (about 50k entries) and shared, since they never change.
func New() (*Tokenizer, error) {
	loadOnce.Do(func() {
		tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
		enc, err := tiktoken.GetEncoding("r50k_base")
		if err != nil {
			loadErr = fmt.Errorf("load GPT-2 tokenizer (r50k_base): %w", err)
			return
		}
		t := &Tokenizer{enc: enc, bytes: make([][]byte, VocabSize), display: make([]string, VocabSize)}
		for id := 0; id < VocabSize; id++ {
			b := []byte(enc.Decode([]int{id}))
			t.bytes[id] = b
			t.display[id] = Display(b)
		}
		shared = t
	})
	return shared, loadErr
}

// Encode returns the token ids of text without a BOS token. The special
// token text "<|endoftext|>" is encoded as the special token, as the
// Hugging Face GPT-2 tokenizer does.
//
// The text is split at each "<|endoftext|>" and the pieces are encoded
// ordinarily: the same ids as tiktoken's Encode with special tokens
// allowed, which copies the rest of the text at every special token found
// (a corpus of stories separated by "<|endoftext|>" took time and memory
// quadratic in its length: 30 s and 33 GB for 1.7 MB).
func (t *Tokenizer) Encode(text string) []int {
	var out []int
	for text != "" {
		i := strings.Index(text, endOfText)
		if i < 0 {
			return append(out, t.enc.EncodeOrdinary(text)...)
		}
		if i > 0 {
			out = append(out, t.enc.EncodeOrdinary(text[:i])...)
		}
		out = append(out, BOS) // <|endoftext|> is BOS, EOS and the separator
		text = text[i+len(endOfText):]
	}
	return out
}

// endOfText is the text of GPT-2's only special token.
const endOfText = "<|endoftext|>"

// ToTokens returns BOS followed by the ids of text, like TransformerLens'
// HookedTransformer.to_tokens with prepend_bos=True.
func (t *Tokenizer) ToTokens(text string) []int {
	return append([]int{BOS}, t.Encode(text)...)
}

// Decode returns the text of ids. Ids outside the vocabulary give an error.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	var sb strings.Builder
	for _, id := range ids {
		b, err := t.Bytes(id)
		if err != nil {
			return "", err
		}
		sb.Write(b)
	}
	return sb.String(), nil
}

// Bytes returns the raw bytes of one token, which may be part of a UTF-8
// character.
func (t *Tokenizer) Bytes(id int) ([]byte, error) {
	if id < 0 || id >= VocabSize {
		return nil, fmt.Errorf("token id %d outside the GPT-2 vocabulary [0, %d)", id, VocabSize)
	}
	return t.bytes[id], nil
}

// DisplayString returns the token as shown in the app: see Display. Ids
// outside the vocabulary show as "<bad id N>".
func (t *Tokenizer) DisplayString(id int) string {
	if id < 0 || id >= VocabSize {
		return fmt.Sprintf("<bad id %d>", id)
	}
	return t.display[id]
}

// DisplayStrings maps DisplayString over ids.
func (t *Tokenizer) DisplayStrings(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.DisplayString(id)
	}
	return out
}

// StrTokens returns each token's text, as TransformerLens' to_str_tokens
// (bytes that are not valid UTF-8 become U+FFFD).
func (t *Tokenizer) StrTokens(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if id < 0 || id >= VocabSize {
			out[i] = fmt.Sprintf("<bad id %d>", id)
			continue
		}
		out[i] = strings.ToValidUTF8(string(t.bytes[id]), "\uFFFD")
	}
	return out
}

// Display renders token bytes the way the notebook showed them: a space as
// '·', a newline as '↩', a tab as '→', other control characters as their
// \uXXXX escape, and bytes that are not a whole UTF-8 character (a token
// holding part of an emoji, say) as <0xAB>.
func Display(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			fmt.Fprintf(&sb, "<0x%02X>", b[0])
			b = b[1:]
			continue
		}
		switch {
		case r == ' ':
			sb.WriteRune('·')
		case r == '\n':
			sb.WriteRune('↩')
		case r == '\t':
			sb.WriteRune('→')
		case r == '\r':
			sb.WriteString("\\r")
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, "\\u%04x", r)
		default:
			sb.WriteRune(r)
		}
		b = b[size:]
	}
	return sb.String()
}
