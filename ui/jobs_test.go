package ui

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/store"
)

// AfterRunning waits for the jobs running when it is called, not for
// those started later.
func TestJobsAfterRunning(t *testing.T) {
	j := NewJobs()
	defer j.Close()
	release, later := make(chan struct{}), make(chan struct{})
	j.Go(func(context.Context) { <-release })
	ran := make(chan struct{})
	j.AfterRunning(func() { close(ran) })
	j.Go(func(context.Context) { <-later })
	select {
	case <-ran:
		t.Fatal("ran while a job that was running still runs")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("did not run once the running job returned (a later job held it)")
	}
	close(later)
}

// A store the view opened itself, let go while a job still reads it, is
// unmapped only once that job is done (it used to be unmapped at once: a
// fault no recover catches).
func TestViewClosesItsStoreAfterTheJobs(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	path := filepath.Join(t.TempDir(), "s.saestore")
	if err := synthStore(50).Write(path); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	v.SetStore(st, true)
	reading, read := make(chan struct{}), make(chan int64)
	v.Jobs.Go(func(context.Context) {
		<-reading
		var sum int64
		for _, tok := range st.Tokens { // the mapped file
			sum += int64(tok)
		}
		read <- sum
	})
	v.SetStore(nil, false) // the panes let go: the job still holds st
	close(reading)
	if sum := <-read; sum <= 0 {
		t.Errorf("read %d", sum)
	}
	v.Jobs.Wait()
}
