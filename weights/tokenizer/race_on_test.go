//go:build race

package tokenizer

// raceEnabled says the tests run under the race detector, which slows the
// tokenizer's loops several times over.
const raceEnabled = true
