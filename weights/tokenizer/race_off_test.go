//go:build !race

package tokenizer

// raceEnabled says the tests run under the race detector.
const raceEnabled = false
