package ui

import (
	"errors"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/cpu"
)

// namedDevice is a CPU backend that reports a device, as the CUDA one does.
type namedDevice struct{ compute.Backend }

func (namedDevice) Name() string { return "test-gpu" }
func (namedDevice) Info() string { return "Imaginary 9000" }

// The window runs its models on the backend given to NewShell (the CUDA
// build's GPU in the app), makes it once for every workspace, names it in
// the status line, and reports a backend that cannot be made.
func TestShellUsesTheBackendItIsGiven(t *testing.T) {
	a := test.NewTempApp(t)
	made := 0
	s := NewShell(a, "test", func() (compute.Backend, error) {
		made++
		be, err := cpu.New(cpu.BLASGonum)
		return namedDevice{be}, err
	})
	if _, ok := compute.Backend(namedDevice{}).(compute.DeviceInfo); !ok {
		t.Fatal("namedDevice does not implement compute.DeviceInfo")
	}
	for i := 0; i < 2; i++ {
		if err := wait(t, func(done func(error)) { s.OpenModel(fixModel, done) }); err != nil {
			t.Fatal(err)
		}
		if got := s.Session().WS.Backend.Name(); got != "test-gpu" {
			t.Fatalf("workspace runs on %q", got)
		}
		if st := s.Status.Text; !strings.Contains(st, "test-gpu on Imaginary 9000") {
			t.Errorf("status %q does not name the backend", st)
		}
	}
	spec := WorkspaceSpec{Model: fixModel, Corpus: ShippedCorpus, Rows: testRows}
	if err := wait(t, func(done func(error)) { s.OpenWorkspace(spec, false, done) }); err != nil {
		t.Fatal(err)
	}
	if st := s.Status.Text; !strings.Contains(st, "running on test-gpu on Imaginary 9000") {
		t.Errorf("workspace status %q does not name the backend", st)
	}
	s.closeSession()
	if made != 1 {
		t.Errorf("backend made %d times, want once", made)
	}

	s2 := NewShell(test.NewTempApp(t), "test", func() (compute.Backend, error) { return nil, errors.New("no usable NVIDIA GPU: test") })
	err := wait(t, func(done func(error)) { s2.OpenModel(fixModel, done) })
	if err == nil || !strings.Contains(err.Error(), "no usable NVIDIA GPU") {
		t.Errorf("opening with a failing backend: %v", err)
	}
}
