//go:build race

package features_test

// raceEnabled says the tests run under the race detector, whose runtime
// allocates in sync operations: allocation counts mean nothing there.
const raceEnabled = true
