//go:build !cuda && cgo

package kernels_test

import (
	"context"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cuda/conformance"
	"github.com/saescope/saescope/compute/cuda/engine"
	"github.com/saescope/saescope/compute/cuda/kernels"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/internal/fixture"
	"github.com/saescope/saescope/compute/store"
)

// The CUDA backend's logic and kernels, run on the CPU emulator.

func TestEmulatedOps(t *testing.T) {
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	conformance.Ops(t, be, conformance.Small)
	t.Logf("%d launches, %d SGEMMs: %v", dev.Stats.Launches, dev.Stats.Sgemms, dev.Stats.Kernels)
}

// The SAE families' device kernels (compute.FamilyOps) against host
// references.
func TestEmulatedFamilyOps(t *testing.T) {
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	conformance.Families(t, be, conformance.Small)
	t.Logf("%d launches: %v", dev.Stats.Launches, dev.Stats.Kernels)
}

func TestEmulatedSparseReadBack(t *testing.T) {
	be := engine.New(kernels.NewEmulator(), "cuda-emulated")
	conformance.SparseReadBack(t, be, be, conformance.Small)
}

func TestEmulatedParity(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated fixture forward passes take seconds")
	}
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	fixture.Parity(t, be, 1e-3, 1e-3)
	t.Logf("%d launches, %d SGEMMs", dev.Stats.Launches, dev.Stats.Sgemms)
}

// Every SAE family on the device path, through the emulator: the family
// steps run in the device's own kernels (compute.FamilyOps), never on the
// host.
func TestEmulatedFamilyParity(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated fixture forward passes take seconds")
	}
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	fixture.FamilyParity(t, be, 1e-3, 1e-3)
	for _, k := range []string{"topk_rows", "jump_relu", "gate", "normalize_rows", "denormalize_rows"} {
		if dev.Stats.Kernels[k] == 0 {
			t.Errorf("no %s launched by the families' parity: %v", k, dev.Stats.Kernels)
		}
	}
}

// Steering, generation with the key/value cache and patching on the device
// path, through the emulator, against the PyTorch references.
func TestEmulatedCausalParity(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated forward passes take seconds")
	}
	fixture.CausalParity(t, engine.New(kernels.NewEmulator(), "cuda-emulated"), 1e-3)
}

func TestEmulatorFreesScratch(t *testing.T) {
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	x := be.Alloc(4, 40)
	var ptr []uint64
	var ids []uint32
	var vals []float32
	be.Fill(x, 1)
	ptr, ids, vals = be.SparseRows(x, ptr, ids, vals)
	if len(ids) != 160 || len(vals) != 160 || ptr[4] != 160 {
		t.Fatalf("sparse rows of ones: %d ids, %d vals, ptr %v", len(ids), len(vals), ptr)
	}
	be.Free(x)
	be.Close()
	if n := dev.LiveBytes(); n != 0 {
		t.Errorf("%d bytes still allocated after freeing every tensor and closing", n)
	}
}

// TestEmulatedTimed runs the fixture model through the timing wrapper the
// GPU breakdown test uses.
func TestEmulatedTimed(t *testing.T) {
	tb := conformance.NewTimed(engine.New(kernels.NewEmulator(), "cuda-emulated"))
	ref := fixture.Load(t)
	s := fixture.NewSetupOn(t, ref, tb)
	tokens, shape := ref.Ints(t, "tokens")
	acts, err := features.Activations(context.Background(), s.Model, s.SAEs["sae0"], tokens, shape[0], shape[1])
	if err != nil {
		t.Fatal(err)
	}
	if d := conformance.Compare(acts, ref.Float(t, "sae0.feature_acts").Data); d.MaxScaled > 1e-3 {
		t.Errorf("features through the timing wrapper: %v", d)
	}
	rep := tb.Report()
	for _, op := range []string{"MatMul", "CausalAttention", "LayerNorm", "SAEEncode", "Gather"} {
		if !strings.Contains(rep, op) {
			t.Errorf("no %s in the timing report:\n%s", op, rep)
		}
	}
	t.Log("\n" + rep)
}

// TestEmulatedScan runs a corpus scan on the emulated device and compares
// its store with the CPU's.
func TestEmulatedScan(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated scan takes seconds")
	}
	conformance.Scan(t, engine.New(kernels.NewEmulator(), "cuda-emulated"))
}

// Everything a scan allocates on the device — batch buffers, baseline and
// random-direction encoders, reconstruction buffers — is freed when it
// ends, and closing the model and its SAEs frees the rest: a window that
// opens workspace after workspace on a GPU does not run out of memory.
func TestEmulatedScanLeavesNoDeviceMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated scan takes seconds")
	}
	dev := kernels.NewEmulator()
	be := engine.New(dev, "cuda-emulated")
	ref := fixture.Load(t)
	s := fixture.NewSetupOn(t, ref, be)
	rows := [][]int32{{50256, 464, 3290, 318}, {50256, 257, 1110, 13}, {50256, 11, 12, 13}}
	p := analysis.DefaultParams()
	p.Batch, p.BaselineStride, p.ReconRows = 2, 2, 2
	weightsOnly := dev.LiveBytes()
	if _, err := analysis.Scan(context.Background(), s.Model, s.SAEs["sae0"], rows, store.Meta{Params: p}, nil); err != nil {
		t.Fatal(err)
	}
	s.Model.Close()
	for _, enc := range s.SAEs {
		enc.Close()
	}
	be.Close()
	if n := dev.LiveBytes(); n != 0 {
		t.Errorf("%d bytes still on the device after the scan and closing everything (%d before the scan)", n, weightsOnly)
	}
}

// TestEmulatedScanMany scans both fixture SAEs together on the emulated
// device: each batch of each SAE comes back compacted on the device, and
// each store equals its scan alone, byte for byte.
func TestEmulatedScanMany(t *testing.T) {
	if testing.Short() {
		t.Skip("the emulated scan takes seconds")
	}
	conformance.ScanMany(t, engine.New(kernels.NewEmulator(), "cuda-emulated"))
}
