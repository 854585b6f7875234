package torchpt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"testing"
)

func fuzzSeeds(f *testing.F) [][]byte {
	fix, err := os.ReadFile(fixture)
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{
		fix,
		handMadeZip(f),
		proto4Zip(f),
		legacyFile(f, true),
		torchZip(f, []byte("cos\nsystem\n(S'echo pwned'\ntR.")),
		// amplification: a deflated storage far larger than declared, one
		// declared large with a small tensor at its end, many views of one
		// storage
		deflatedZip(f, stateDict(item{"W", tspec{class: "FloatStorage", key: "0", numel: 12, shape: []int{3, 4}}}), 1<<20),
		deflatedZip(f, stateDict(item{"b", tspec{class: "FloatStorage", key: "0", numel: 1 << 18, offset: 1<<18 - 8, shape: []int{8}}}), 1<<20),
		manyViews(f, 64),
		[]byte("cos\nsystem\n(S'echo pwned'\ntR."),
	}
}

// manyViews is an archive of n tensors viewing one storage at offsets 0..n-1.
func manyViews(f *testing.F, n int) []byte {
	items := make([]item, n)
	for i := range items {
		items[i] = item{"t" + string(rune('A'+i%26)) + string(rune('a'+i/26)), tspec{class: "FloatStorage", key: "0", numel: 4 * n, offset: i, shape: []int{2 * n}}}
	}
	return torchZip(f, stateDict(items...), entry{"0", make([]byte, 16*n)})
}

// checkResult fails on an error that wraps neither sentinel.
func checkResult(t *testing.T, err error) {
	if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrForbiddenGlobal) {
		t.Fatalf("error wraps neither ErrInvalid nor ErrForbiddenGlobal: %v", err)
	}
}

// FuzzLoad feeds arbitrary bytes to LoadReader: it must return, without
// panicking, a state dict or an error wrapping one of the sentinels.
func FuzzLoad(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadReader(bytes.NewReader(data), int64(len(data)), "fuzz.pt")
		checkResult(t, err)
		for name, ts := range m {
			if n, ok := numElements(ts.Shape); !ok || n != len(ts.Data) {
				t.Fatalf("%s: shape %v with %d values", name, ts.Shape, len(ts.Data))
			}
		}
	})
}

// FuzzUnpickle feeds arbitrary bytes as the data.pkl of an otherwise valid
// archive whose storages 0..3 exist, so that the fuzzer's pickles can reach
// tensor reconstruction.
func FuzzUnpickle(f *testing.F) {
	f.Add(stateDict(item{"w", tspec{class: "FloatStorage", key: "0", numel: 4, shape: []int{2, 2}}}))
	f.Add(stateDict(item{"h", tspec{class: "HalfStorage", key: "1", numel: 8, offset: 2, shape: []int{3}}},
		item{"d", tspec{class: "DoubleStorage", key: "2", numel: 2, shape: []int{2}}}))
	f.Add([]byte("cos\nsystem\n(S'echo pwned'\ntR."))
	for _, c := range pythonPickles {
		if b, err := hexDecode(c.hex); err == nil {
			f.Add(b)
		}
	}
	storages := []entry{
		{"0", f32bytes(1, 2, 3, 4)},
		{"1", u16bytes(1, 2, 3, 4, 5, 6, 7, 8)},
		{"2", f64bytes(1, 2)},
		{"3", i64bytes(1, 2, 3)},
	}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		data := torchZip(t, pkl, storages...)
		_, err := LoadReader(bytes.NewReader(data), int64(len(data)), "fuzz.pt")
		checkResult(t, err)
	})
}

func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }
