package compute

import (
	"errors"
	"strings"
	"testing"
)

type namedBackend struct{ Backend }

func (namedBackend) Name() string { return "fake" }

func TestRecoverBackend(t *testing.T) {
	run := func() (err error) {
		defer RecoverBackend(namedBackend{}, &err)
		panic(errors.New("out of device memory"))
	}
	err := run()
	if err == nil || !strings.Contains(err.Error(), "fake backend failed: out of device memory") {
		t.Errorf("got %v", err)
	}
	ok := func() (err error) {
		defer RecoverBackend(namedBackend{}, &err)
		return nil
	}
	if err := ok(); err != nil {
		t.Errorf("no panic gave %v", err)
	}
}
