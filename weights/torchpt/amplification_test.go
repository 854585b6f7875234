package torchpt

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// allocated runs f and returns the bytes it allocated on the heap.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// deflatedZip builds a torch archive whose storage "0" is a deflated entry
// of zeros bytes of zeros (a few hundred kilobytes on disk).
func deflatedZip(t testing.TB, pkl []byte, zeros int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(pkl)
	w, err = zw.CreateHeader(&zip.FileHeader{Name: "archive/data/0", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for left := zeros; left > 0; left -= len(chunk) {
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The probe's "4 GiB of deflated zeros in a 4 MB file", scaled down: a
// storage entry far larger than the elements its header declares is
// refused before anything is inflated.
func TestDeflatedEntryLargerThanDeclaredRefused(t *testing.T) {
	const zeros = 64 << 20
	file := deflatedZip(t, stateDict(item{"W_enc", tspec{class: "FloatStorage", key: "0", numel: 12, shape: []int{3, 4}}}), zeros)
	t.Logf("archive: %d bytes announcing %d", len(file), zeros)
	var err error
	alloc := allocated(func() { _, err = OpenReader(bytes.NewReader(file), int64(len(file)), "test.pt") })
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `storage "0": 67108864 bytes, but its header declares 12 float32 elements (48 bytes)`) {
		t.Fatalf("got %v", err)
	}
	if alloc > 8<<20 {
		t.Errorf("refusing it allocated %d bytes, want < 8 MiB", alloc)
	}
}

// A storage that declares (and holds) many deflated elements, of which the
// checkpoint's tensor covers a few at its end: only those are kept, the
// stream is inflated up to them and no further, in constant memory.
func TestDeflatedStorageReadsOnlyTheTensor(t *testing.T) {
	const numel = 16 << 20 // 64 MiB of float32 zeros
	file := deflatedZip(t, stateDict(item{"b_dec", tspec{class: "FloatStorage", key: "0", numel: numel, offset: numel - 8, shape: []int{8}}}), 4*numel)
	var (
		f   *File
		err error
	)
	alloc := allocated(func() {
		f, err = OpenReader(bytes.NewReader(file), int64(len(file)), "test.pt")
		if err != nil {
			return
		}
		var tt struct{ Data []float32 }
		td, e := f.Float32("b_dec")
		tt.Data, err = td.Data, e
		if err == nil && len(tt.Data) != 8 {
			err = fmt.Errorf("got %d elements", len(tt.Data))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if alloc > 8<<20 {
		t.Errorf("opening and decoding 8 elements allocated %d bytes, want < 8 MiB", alloc)
	}
	t.Logf("allocated %d bytes for a tensor of 8 elements in a 64 MiB deflated storage", alloc)
}

// A deflate stream that ends before its announced size is an error when a
// tensor reaches past its end, not a tensor of zeros.
func TestDeflatedStreamShorterThanAnnounced(t *testing.T) {
	var comp bytes.Buffer
	{
		zw := zip.NewWriter(&comp)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "x", Method: zip.Deflate})
		w.Write(f32bytes(1, 2))
		zw.Close()
	}
	zr, err := zip.NewReader(bytes.NewReader(comp.Bytes()), int64(comp.Len()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zr.File[0].OpenRaw()
	if err != nil {
		t.Fatal(err)
	}
	var deflated bytes.Buffer
	deflated.ReadFrom(raw)

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store})
	w.Write(stateDict(item{"w", tspec{class: "FloatStorage", key: "0", numel: 4, shape: []int{4}}}))
	w, err = zw.CreateRaw(&zip.FileHeader{Name: "archive/data/0", Method: zip.Deflate,
		CompressedSize64: uint64(deflated.Len()), UncompressedSize64: 16, CRC32: zr.File[0].CRC32})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(deflated.Bytes())
	zw.Close()
	f, err := OpenReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "test.pt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Float32("w"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `storage "0": reading 16 bytes at element 0`) {
		t.Fatalf("got %v", err)
	}
}

// The probe's "6000 tensors viewing one 1 MB storage at offsets 0..5999":
// opening decodes none of them, and asking for one decodes that one.
func TestManyViewsOfOneStorage(t *testing.T) {
	const numel = 1 << 18 // 1 MiB of float32
	const views = 6000
	data := make([]float32, numel)
	for i := range data {
		data[i] = float32(i)
	}
	items := make([]item, views)
	for i := range items {
		items[i] = item{fmt.Sprintf("t%d", i), tspec{class: "FloatStorage", key: "0", numel: numel, offset: i, shape: []int{numel - views}}}
	}
	file := torchZip(t, stateDict(items...), entry{"0", f32bytes(data...)})
	var (
		f   *File
		err error
	)
	alloc := allocated(func() {
		f, err = OpenReader(bytes.NewReader(file), int64(len(file)), "test.pt")
		if err != nil {
			return
		}
		var tt []float32
		td, e := f.Float32("t5999")
		tt, err = td.Data, e
		if err == nil && (tt[0] != 5999 || tt[len(tt)-1] != numel-2) {
			err = fmt.Errorf("t5999 = [%v … %v]", tt[0], tt[len(tt)-1])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(f.FloatNames()); got != views {
		t.Fatalf("%d names, want %d", got, views)
	}
	// the pickle (~0.5 MB) and its parsed form, plus one 1 MiB tensor and
	// the 1 MiB read buffer; decoding all 6000 would take 6 GB
	if alloc > 32<<20 {
		t.Errorf("opening and decoding one view allocated %d bytes, want < 32 MiB", alloc)
	}
	t.Logf("file %d bytes, %d views: open + one view allocated %d bytes", len(file), views, alloc)
}
