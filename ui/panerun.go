package ui

import (
	"context"
	"errors"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// paneRun is the background run of a pane that computes one result at a
// time off the UI thread (Patch, Flow, Attribution graph): its Run and
// Cancel buttons, progress bar and status line, the run in flight (its
// cancel, its id, which drops a stale run's progress and outcome) and
// the bookkeeping when it ends. Embedded, its widgets and Stop are the
// pane's.
type paneRun struct {
	Run, Cancel *widget.Button
	Progress    *widget.ProgressBar
	// Status says how the last run ended (Cancelled, where it ran), shown
	// beside Run while no run is.
	Status *widget.Label

	jobs *Jobs
	msg  *paneMsg
	// alt, if set, is shown in the status's place while there is neither
	// a run nor a status (a pane's lengths or target); without it the
	// status line keeps its place, empty or not.
	alt *widget.Label
	// cancelled is the status after a Cancel.
	cancelled string

	cancel context.CancelFunc
	id     uint64
	wg     sync.WaitGroup
}

// runJob is a run's work, called off the UI thread with the run's
// context and a progress callback (safe from any goroutine). It returns
// what shows its result, called on the UI thread if the run is still the
// latest and err is nil.
type runJob func(ctx context.Context, progress func(done, total int)) (show func(), err error)

// newPaneRun builds the run of a pane whose jobs are jobs, whose errors
// go to msg, whose Run button calls start, and whose status after a
// Cancel is cancelled.
func newPaneRun(jobs *Jobs, msg *paneMsg, start func(), cancelled string) *paneRun {
	r := &paneRun{jobs: jobs, msg: msg, cancelled: cancelled}
	r.Status = widget.NewLabel("")
	r.Status.Importance = widget.LowImportance
	r.Status.Truncation = fyne.TextTruncateEllipsis
	r.Progress = widget.NewProgressBar()
	r.Progress.Hide()
	r.Run = widget.NewButtonWithIcon("Run", theme.MediaPlayIcon(), start)
	r.Run.Importance = widget.HighImportance
	r.Cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), r.Stop)
	r.Cancel.Disable()
	return r
}

// running reports whether a run is in flight.
func (r *paneRun) running() bool { return r.cancel != nil }

// begin runs job in the background (UI thread): Run disabled, Cancel
// enabled, the progress shown from 0, the message and status cleared. It
// returns the run's id; nothing is started (and 0 returned) while a run
// is in flight.
func (r *paneRun) begin(job runJob) uint64 {
	if r.running() {
		return 0 // one run at a time: Cancel first
	}
	r.msg.setResult("")
	ctx, cancel := context.WithCancel(r.jobs.Context())
	r.cancel = cancel
	r.id++
	id := r.id
	r.Run.Disable()
	r.Cancel.Enable()
	r.Progress.SetValue(0)
	r.Status.SetText("")
	r.syncRunRow()
	progress := func(done, total int) {
		uiDo(func() {
			if id == r.id && total > 0 {
				r.Progress.SetValue(float64(done) / float64(total))
			}
		})
	}
	r.wg.Add(1)
	r.jobs.Go(func(context.Context) {
		defer r.wg.Done()
		show, err := job(ctx, progress)
		uiDo(func() { r.finish(id, show, err) })
	})
	return id
}

// Stop cancels the run in flight.
func (r *paneRun) Stop() {
	if r.cancel != nil {
		r.cancel()
	}
}

// finish ends run id (UI thread), unless a later one started: Run
// enabled, Cancel disabled, the progress hidden; a Cancel is said in the
// status, an error in the message line; else the status is cleared and
// show shows the result.
func (r *paneRun) finish(id uint64, show func(), err error) {
	if id != r.id {
		return
	}
	r.cancel = nil
	r.Run.Enable()
	r.Cancel.Disable()
	defer r.syncRunRow()
	switch {
	case errors.Is(err, context.Canceled):
		r.Status.SetText(r.cancelled)
		return
	case err != nil:
		r.msg.setResult(err.Error())
		return
	}
	r.Status.SetText("")
	if show != nil {
		show()
	}
}

// syncRunRow shows, beside Run, the progress of a run, else the status
// of the last one, else alt.
func (r *paneRun) syncRunRow() {
	running := r.running()
	r.Progress.Hidden = !running
	r.Status.Hidden = running || (r.alt != nil && r.Status.Text == "")
	objs := []fyne.CanvasObject{r.Progress, r.Status}
	if r.alt != nil {
		r.alt.Hidden = running || r.Status.Text != "" || r.alt.Text == ""
		objs = append(objs, r.alt)
	}
	for _, o := range objs {
		o.Refresh()
	}
}

// settle waits for the run in flight and then for what draws its result
// (tests).
func (r *paneRun) settle(draw func()) {
	for {
		r.wg.Wait()
		draw()
		if !settled() {
			return
		}
	}
}

// computedOn says where a run computed and how long it took.
func computedOn(on string, elapsed time.Duration) string {
	return "Computed on " + on + " in " + fduration2(elapsed)
}
