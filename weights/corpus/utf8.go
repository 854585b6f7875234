package corpus

import (
	"strings"
	"unicode/utf8"
)

// sanitizeUTF8 returns b as a string with every maximal ill-formed
// subsequence replaced by one U+FFFD, as Python's bytes.decode("utf-8",
// errors="replace") does (the Unicode "maximal subpart" practice), and the
// number of bytes that were replaced.
func sanitizeUTF8(b []byte) (string, int) {
	if utf8.Valid(b) {
		return string(b), 0
	}
	var sb strings.Builder
	sb.Grow(len(b) + 16)
	bad := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			sb.WriteByte(c)
			i++
			continue
		}
		n := validPrefix(b[i:])
		if n > 0 {
			sb.Write(b[i : i+n])
			i += n
			continue
		}
		n = -n
		sb.WriteRune(utf8.RuneError)
		bad += n
		i += n
	}
	return sb.String(), bad
}

// validPrefix looks at the sequence starting with the non-ASCII byte b[0].
// It returns the length of a well-formed character there, or minus the
// length of the maximal ill-formed subpart to replace (at least 1).
func validPrefix(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // range of the second byte
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default: // 0x80–0xC1, 0xF5–0xFF never start a character
		return -1
	}
	for k := 1; k <= need; k++ {
		if k >= len(b) {
			return -k
		}
		x := b[k]
		if k == 1 {
			if x < lo || x > hi {
				return -1
			}
		} else if x < 0x80 || x > 0xBF {
			return -k
		}
	}
	return need + 1
}
