package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// GPT-2's pre-tokenizer splits text with the regular expression
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// before byte-pair encoding each piece on its own. tiktoken-go runs it with
// github.com/dlclark/regexp2, a backtracking engine, where \s is
// unicode.IsSpace, \p{L} unicode.L and \p{N} unicode.N, alternatives are
// tried in order and the first that matches wins. pieceEnd below is that
// expression written out by hand: the same pieces, in one pass over the
// text, and no conversion of the whole text to runes.

// Character classes of the pre-tokenizer.
const (
	classOther  = iota // [^\s\p{L}\p{N}]
	classLetter        // \p{L}
	classNumber        // \p{N}
	classSpace         // \s
)

// asciiClass is the class of each ASCII byte.
var asciiClass = func() (c [utf8.RuneSelf]uint8) {
	for b := range c {
		c[b] = runeClass(rune(b))
	}
	return c
}()

// runeClass is the pre-tokenizer's class of r.
func runeClass(r rune) uint8 {
	switch {
	case unicode.Is(unicode.L, r):
		return classLetter
	case unicode.Is(unicode.N, r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// classAt returns the class of the character at s[i] and its length in
// bytes; s is valid UTF-8 and i < len(s).
func classAt(s string, i int) (uint8, int) {
	if b := s[i]; b < utf8.RuneSelf {
		return asciiClass[b], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return runeClass(r), n
}

// pieceEnd returns the end of the pre-tokenizer piece that starts at s[i],
// i < len(s), s valid UTF-8. Each piece costs time linear in its length.
func pieceEnd(s string, i int) int {
	// 's|'t|'re|'ve|'m|'ll|'d
	if s[i] == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	c, n := classAt(s, i)
	j := i + n
	// ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a space (U+0020
	// only) joins the run that follows it, if any.
	if s[i] == ' ' && j < len(s) {
		if c2, n2 := classAt(s, j); c2 != classSpace {
			c, j = c2, j+n2
		}
	}
	if c != classSpace {
		for j < len(s) {
			c2, n2 := classAt(s, j)
			if c2 != c {
				break
			}
			j += n2
		}
		return j
	}
	// A whitespace run: `\s+(?!\S)` takes it all at the end of the text,
	// else all but its last character, which then starts the next piece
	// (a space joins the word after it); a run of one character before
	// a non-space is `\s+`.
	last := i
	for j < len(s) {
		c2, n2 := classAt(s, j)
		if c2 != classSpace {
			if last > i {
				return last
			}
			return j
		}
		last, j = j, j+n2
	}
	return j
}
