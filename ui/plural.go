package ui

import "github.com/saescope/saescope/internal/numfmt"

// nOf writes a count with its noun in the singular or the plural:
// "1 sample", "0 samples", "12,345 tokens". noun is the singular; nouns
// whose plural is not noun+"s" are not passed here.
func nOf(n int, noun string) string {
	if n == 1 || n == -1 {
		return numfmt.Thousands(n) + " " + noun
	}
	return numfmt.Thousands(n) + " " + noun + "s"
}
