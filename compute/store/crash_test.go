package store

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// bigStore makes a valid store with n tokens and about 8 activations each.
func bigStore(n int, seed uint64) *Store {
	rng := rand.New(rand.NewPCG(seed, 1))
	const d, seq = 64, 128
	n = n / seq * seq
	tokens := make([]int32, n)
	b := NewBuilder(Meta{DSae: d, Params: Params{SeqLen: seq, Rows: n / seq}}, tokens)
	for t := 0; t < n; t++ {
		var ids []uint32
		var vals []float32
		for f := 0; f < d; f += 1 + rng.IntN(12) {
			ids = append(ids, uint32(f))
			vals = append(vals, rng.Float32()+0.01)
		}
		b.AddToken(t, ids, vals, t%seq != 0)
	}
	s := b.Finish()
	s.Meta.Key = "crash"
	return s
}

// TestHelperWriter is run as a child process by TestKillDuringWrite: it
// rewrites the store at $SAESCOPE_CRASH_PATH until it is killed.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv("SAESCOPE_CRASH_PATH")
	if path == "" {
		t.Skip("child process of TestKillDuringWrite")
	}
	s := bigStore(1<<20, 2)
	for {
		if err := s.Write(path); err != nil {
			t.Fatal(err)
		}
	}
}

// A writer killed with SIGKILL in the middle of writing never leaves a
// store that fails to open, nor one that opens with wrong content.
func TestKillDuringWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a writer process")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "s.saestore")
	old := bigStore(4096, 1)
	if err := old.Write(path); err != nil {
		t.Fatal(err)
	}
	for i, delay := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), "SAESCOPE_CRASH_PATH="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill() // SIGKILL
		cmd.Wait()
		s, err := Open(path)
		if err != nil {
			t.Fatalf("kill %d after %v: the store no longer opens: %v", i, delay, err)
		}
		n := len(s.Tokens)
		if n != 4096 && n != (1<<20)/128*128 {
			t.Errorf("kill %d: store has %d tokens, neither the old nor the new store", i, n)
		}
		s.Close()
	}
}
