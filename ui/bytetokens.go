package ui

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/saescope/saescope/weights/tokenizer"
)

// maxCharTokens bounds a run of byte-level tokens merged into one chip: a
// UTF-8 character has at most 4 bytes, and each token of the run holds
// at least one of them.
const maxCharTokens = 4

// mergedTokens is a run of tokens as chips: byte-level tokens that only
// together form whole UTF-8 characters (“ is <0xE2><0x80> then <0x9C> in
// GPT-2's vocabulary) become one chip.
type mergedTokens struct {
	chips []Token
	// at is, per chip, the index of the token whose id and activation
	// the chip shows (the strongest of its run; the last on a tie).
	at []int
	// chipOf is, per token, the index of its chip.
	chipOf []int
}

// mergeByteTokens joins each run of tokens whose bytes are not valid
// UTF-8 on their own but are once the run's bytes are put together, and
// leaves every other token as it is (a run cut by the window's edge keeps
// its <0xAB> bytes). A merged chip shows the characters, the strongest
// activation of the run (and that token's id), and describes the raw
// bytes and ids in its hover text.
func mergeByteTokens(tok *tokenizer.Tokenizer, toks []Token) mergedTokens {
	m := mergedTokens{chips: make([]Token, 0, len(toks)), at: make([]int, 0, len(toks)), chipOf: make([]int, len(toks))}
	bytesOf := func(id int) []byte {
		b, err := tok.Bytes(id)
		if err != nil {
			return nil // a bad id is shown as it is, never merged
		}
		return b
	}
	for i := 0; i < len(toks); {
		end := i + 1 // the run is toks[i:end]
		if b := bytesOf(toks[i].ID); b != nil && !utf8.Valid(b) {
			joined := append([]byte(nil), b...)
			for j := i + 1; j < len(toks) && j < i+maxCharTokens; j++ {
				nb := bytesOf(toks[j].ID)
				if nb == nil {
					break
				}
				joined = append(joined, nb...)
				if utf8.Valid(joined) {
					end = j + 1
					break
				}
			}
		}
		c := len(m.chips)
		if end == i+1 {
			m.chips = append(m.chips, toks[i])
			m.at = append(m.at, i)
			m.chipOf[i] = c
			i++
			continue
		}
		best := i
		var joined []byte
		ids := make([]string, 0, end-i)
		raw := make([]string, 0, end-i)
		for j := i; j < end; j++ {
			if toks[j].Value >= toks[best].Value {
				best = j
			}
			b := bytesOf(toks[j].ID)
			joined = append(joined, b...)
			ids = append(ids, fmt.Sprint(toks[j].ID))
			raw = append(raw, tokenizer.Display(b))
			m.chipOf[j] = c
		}
		m.chips = append(m.chips, Token{
			Text:  tokenizer.Display(joined),
			ID:    toks[best].ID,
			Value: toks[best].Value,
			Raw:   fmt.Sprintf("%d byte tokens, ids %s, bytes %s", end-i, strings.Join(ids, " "), strings.Join(raw, " ")),
		})
		m.at = append(m.at, best)
		i = end
	}
	return m
}

// marked returns the chip of token i (-1 for none).
func (m mergedTokens) marked(i int) int {
	if i < 0 || i >= len(m.chipOf) {
		return -1
	}
	return m.chipOf[i]
}
