// Package tokenizer turns text into GPT-2 token ids and back, offline.
//
// It encodes with the r50k_base byte-pair encoding (GPT-2's vocabulary),
// whose merge table github.com/pkoukk/tiktoken-go-loader embeds in the
// binary, so nothing is ever downloaded. The ids are those of
// github.com/pkoukk/tiktoken-go with that encoding (its tests compare them),
// in time linear in the text's length, or n log n for one long piece: a
// run of characters without whitespace is one pre-tokenizer piece, and
// tiktoken's byte-pair merge is quadratic in a piece's length.
package tokenizer

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"unicode/utf8"

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
	ranks   map[string]int32 // token bytes -> rank, which is its id
	bytes   [][]byte         // token id -> its bytes
	display []string         // token id -> display string
}

var (
	loadOnce sync.Once
	shared   *Tokenizer
	loadErr  error
)

// r50kFile is the name tiktoken-go asks its loader for.
const r50kFile = "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken"

// New returns the GPT-2 tokenizer. The encoding tables are built once per
// process (about 50k entries) and shared, since they never change.
func New() (*Tokenizer, error) {
	loadOnce.Do(func() {
		shared, loadErr = load()
	})
	return shared, loadErr
}

// load reads r50k_base's ranks from the offline loader and checks that they
// are GPT-2's: ids 0 to 50255, each once, every single byte a token.
func load() (*Tokenizer, error) {
	ranks, err := tiktoken_loader.NewOfflineLoader().LoadTiktokenBpe(r50kFile)
	if err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer (%s): %w", path.Base(r50kFile), err)
	}
	if len(ranks) != BOS {
		return nil, fmt.Errorf("load GPT-2 tokenizer (%s): %d tokens, want %d", path.Base(r50kFile), len(ranks), BOS)
	}
	t := &Tokenizer{ranks: make(map[string]int32, len(ranks)), bytes: make([][]byte, VocabSize), display: make([]string, VocabSize)}
	for s, id := range ranks {
		if id < 0 || id >= BOS || t.bytes[id] != nil {
			return nil, fmt.Errorf("load GPT-2 tokenizer (%s): token %q has id %d, out of range or repeated", path.Base(r50kFile), s, id)
		}
		t.ranks[s] = int32(id)
		t.bytes[id] = []byte(s)
	}
	for b := 0; b < 256; b++ {
		if _, ok := t.ranks[string([]byte{byte(b)})]; !ok {
			return nil, fmt.Errorf("load GPT-2 tokenizer (%s): byte 0x%02x is not a token", path.Base(r50kFile), b)
		}
	}
	t.bytes[BOS] = []byte(endOfText)
	for id, b := range t.bytes {
		t.display[id] = Display(b)
	}
	return t, nil
}

// Encode returns the token ids of text without a BOS token. The special
// token text "<|endoftext|>" is encoded as the special token, as the
// Hugging Face GPT-2 tokenizer does. The ids are those of tiktoken's
// Encode with special tokens allowed; bytes that are not UTF-8 are read as
// U+FFFD each, as there.
//
// The text is split at each "<|endoftext|>" and the pieces are encoded
// ordinarily (tiktoken's special-token path copies the rest of the text
// at every special token found: a corpus of stories separated by
// "<|endoftext|>" took time and memory quadratic in its length, 30 s and
// 33 GB for 1.7 MB).
func (t *Tokenizer) Encode(text string) []int {
	out, _ := t.EncodeContext(context.Background(), text)
	return out
}

// EncodeContext is Encode that stops with ctx.Err() soon after ctx is
// cancelled (it looks every 64 KB of text, and every 65536 merges inside
// one long piece).
func (t *Tokenizer) EncodeContext(ctx context.Context, text string) ([]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !utf8.ValidString(text) {
		text = runeString(text)
	}
	stop := ctx.Err
	var out []int
	var err error
	since := 0 // bytes encoded since ctx was last looked at
	for text != "" {
		// A piece never runs into a special token: the text is encoded
		// up to it, then from after it.
		k := strings.Index(text, endOfText)
		seg := text
		if k >= 0 {
			seg = text[:k]
		}
		for i := 0; i < len(seg); {
			j := pieceEnd(seg, i)
			if out, err = t.appendPiece(out, seg[i:j], stop); err != nil {
				return nil, err
			}
			if since += j - i; since >= 1<<16 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				since = 0
			}
			i = j
		}
		if k < 0 {
			break
		}
		out = append(out, BOS) // <|endoftext|> is BOS, EOS and the separator
		text = text[k+len(endOfText):]
	}
	return out, nil
}

// runeString returns s with every byte that is not part of a UTF-8
// character replaced by U+FFFD, as string([]rune(s)) does, which is how
// tiktoken-go (and its regexp2) read such text.
func runeString(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			sb.WriteString("\uFFFD")
		} else {
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	return sb.String()
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
		return badID(id)
	}
	return t.display[id]
}

// InlineString returns the token as written inside running text (labels,
// lists, titles): see Inline. Ids outside the vocabulary show as
// "<bad id N>".
func (t *Tokenizer) InlineString(id int) string {
	if id < 0 || id >= VocabSize {
		return badID(id)
	}
	return Inline(t.bytes[id])
}

// badID is how an id outside the vocabulary is shown: "<bad id N>".
func badID(id int) string { return fmt.Sprintf("<bad id %d>", id) }

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
			out[i] = badID(id)
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
	return display(b, "↩", "→")
}

// Inline renders token bytes as Display does, except a newline as \n and a
// tab as \t: the form for proportional text. The app's proportional font
// (Noto Sans, bundled with Fyne) has no arrows: Fyne draws ↩ from its
// colour-emoji font instead (a coloured disc) and → from whatever system
// font has it. The token chips, in the monospace font, keep Display's
// arrows.
func Inline(b []byte) string {
	return display(b, `\n`, `\t`)
}

// display is Display with the newline and tab written as nl and tab.
func display(b []byte, nl, tab string) string {
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
			sb.WriteString(nl)
		case r == '\t':
			sb.WriteString(tab)
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
