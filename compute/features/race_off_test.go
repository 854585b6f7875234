//go:build !race

package features_test

// raceEnabled says the tests run under the race detector.
const raceEnabled = false
