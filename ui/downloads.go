package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/hub"
)

// EntryRow is one catalogue entry on the first-run screen: what it is,
// how big, what the disk holds of it, and its download (progress, speed,
// time left, Cancel) or the reason it failed. Its fields are touched on
// the UI thread only; the download runs on a goroutine and reports back
// through uiDo.
type EntryRow struct {
	fr    *FirstRun
	Entry *catalog.Entry
	// Status is what the disk held when last looked at (known is false
	// until then).
	Status catalog.Status
	known  bool
	// remote is the exact size the hub gave (0: not asked or unknown).
	remote int64

	Title    *widget.Label
	Meta     *widget.Label // kind · size
	State    *widget.Label // on disk, partly, missing
	Bar      *widget.ProgressBar
	Speed    *widget.Label // bytes, speed, time left
	Err      *widget.Label // why the last download failed
	Download *widget.Button
	Cancel   *widget.Button
	CopyPath *widget.Button // shown when Ready
	icon     *widget.Icon
	content  fyne.CanvasObject

	job     *downloadJob
	lastErr error
	// Progress is the last report of the download in progress.
	Progress catalog.Progress
}

// downloadJob is a download in progress.
type downloadJob struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// entryKindNames are the kinds as a row shows them.
var entryKindNames = map[catalog.Kind]string{
	catalog.KindModel:  "model",
	catalog.KindSAE:    "SAE",
	catalog.KindCorpus: "corpus",
}

func newEntryRow(fr *FirstRun, e *catalog.Entry) *EntryRow {
	r := &EntryRow{fr: fr, Entry: e}
	r.Title = widget.NewLabelWithStyle(e.Title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.Title.Truncation = fyne.TextTruncateEllipsis
	r.Meta = widget.NewLabel("")
	r.State = widget.NewLabel("Looking on disk…")
	r.State.Truncation = fyne.TextTruncateEllipsis
	r.Bar = widget.NewProgressBar()
	r.Bar.Hide()
	r.Speed = widget.NewLabel("")
	r.Speed.Hide()
	r.Err = widget.NewLabel("")
	r.Err.Wrapping = fyne.TextWrapWord
	r.Err.Importance = widget.DangerImportance
	r.Err.Hide()
	r.Download = widget.NewButtonWithIcon("Download", theme.DownloadIcon(), r.Start)
	r.Download.Disable()
	r.Cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), r.Stop)
	r.Cancel.Hide()
	r.CopyPath = widget.NewButtonWithIcon("Copy path", theme.ContentCopyIcon(), func() {
		fr.s.App.Clipboard().SetContent(r.Status.Path)
		fr.s.SetStatus("Copied " + r.Status.Path)
	})
	r.CopyPath.Hide()
	r.icon = widget.NewIcon(theme.SearchIcon())
	head := container.NewBorder(nil, nil, nil, r.Meta, r.Title)
	body := container.NewVBox(head, r.State, r.Bar, r.Speed, r.Err)
	buttons := container.New(minWidthLayout{140}, container.NewVBox(r.Download, r.Cancel, r.CopyPath))
	r.content = container.NewBorder(nil, nil, container.NewVBox(r.icon), buttons, body)
	r.updateMeta()
	return r
}

// Content is the row's widget tree.
func (r *EntryRow) Content() fyne.CanvasObject { return r.content }

// Downloading says whether the row's download is in progress.
func (r *EntryRow) Downloading() bool { return r.job != nil }

// Ready says whether the entry is on disk, ready to load.
func (r *EntryRow) Ready() bool { return r.known && r.Status.State == catalog.Ready }

// LastError returns why the last download failed (nil when it did not).
func (r *EntryRow) LastError() error { return r.lastErr }

// sizeText is the entry's size: exact when the hub said it.
func (r *EntryRow) sizeText() string {
	if r.remote > 0 {
		return catalog.FormatBytes(r.remote)
	}
	return r.Entry.SizeText()
}

// size is the entry's download size in bytes (0: unknown).
func (r *EntryRow) size() int64 {
	if r.remote > 0 {
		return r.remote
	}
	return r.Entry.KnownSize
}

func (r *EntryRow) updateMeta() {
	r.Meta.SetText(entryKindNames[r.Entry.Kind] + " · " + r.sizeText())
}

// setRemote records the exact size the hub gave.
func (r *EntryRow) setRemote(size int64) {
	if size > 0 && size != r.remote {
		r.remote = size
		r.updateMeta()
	}
}

// setStatus shows what the disk holds of the entry.
func (r *EntryRow) setStatus(st catalog.Status) {
	r.Status, r.known = st, true
	r.refresh()
}

// refresh redraws the state line and the buttons from the status, the
// download in progress and whether downloads are possible.
func (r *EntryRow) refresh() {
	if r.job != nil {
		r.Download.Hide()
		r.CopyPath.Hide()
		r.Cancel.Show()
		r.Bar.Show()
		r.Speed.Show()
		r.icon.SetResource(theme.DownloadIcon())
		return
	}
	r.Cancel.Hide()
	r.Cancel.Enable()
	r.CopyPath.Hide()
	r.Bar.Hide()
	r.Speed.Hide()
	if !r.known {
		r.State.SetText("Looking on disk…")
		r.Download.Show()
		r.Download.Disable()
		return
	}
	st := r.Status
	online := r.fr.Online()
	switch st.State {
	case catalog.Ready:
		r.icon.SetResource(theme.ConfirmIcon())
		r.State.SetText(fmt.Sprintf("Ready on disk (%s): %s", catalog.FormatBytes(st.LocalBytes), st.Path))
		r.Download.Hide()
		r.CopyPath.Show()
		return
	case catalog.Partial:
		r.icon.SetResource(theme.WarningIcon())
		kept := st.PartialBytes + st.LocalBytes
		text := fmt.Sprintf("Partly downloaded: %s on disk", catalog.FormatBytes(kept))
		if st.PartialBytes > 0 {
			text += fmt.Sprintf(" (%s of an unfinished download, resumed from there)", catalog.FormatBytes(st.PartialBytes))
		}
		if len(st.Missing) > 0 {
			text += "; missing " + strings.Join(st.Missing, ", ")
		}
		r.State.SetText(text)
		r.Download.SetText("Resume")
	default:
		r.icon.SetResource(theme.FileIcon())
		r.State.SetText("Not on disk")
		r.Download.SetText("Download")
	}
	if !online {
		r.State.SetText(r.State.Text + " · " + r.fr.cannotFetch())
	}
	r.Download.Show()
	if online {
		r.Download.Enable()
	} else {
		r.Download.Disable()
	}
}

// Start downloads the entry into the hub cache (resuming what a
// previous try left), showing its progress.
func (r *EntryRow) Start() {
	fr := r.fr
	if r.job != nil || fr.client == nil {
		return
	}
	ctx, cancel := context.WithCancel(fr.ctx)
	job := &downloadJob{cancel: cancel, done: make(chan struct{})}
	r.job, r.lastErr, r.Progress = job, nil, catalog.Progress{}
	r.Err.Hide()
	r.Bar.SetValue(0)
	r.Speed.SetText("Asking the hub for the files…")
	r.State.SetText("Downloading " + r.sizeText() + "…")
	r.refresh()
	fr.changed()
	c, e := fr.client, r.Entry
	go func() {
		defer close(job.done)
		defer cancel()
		path, err := e.Fetch(ctx, c, func(p catalog.Progress) {
			uiDo(func() {
				if r.job == job {
					r.showProgress(p)
				}
			})
		})
		st := e.Status(c)
		uiDo(func() { r.finish(job, st, path, err) })
	}()
}

// Stop cancels the download; what arrived is kept for the next try.
func (r *EntryRow) Stop() {
	if r.job == nil {
		return
	}
	r.job.cancel()
	r.Cancel.Disable()
	r.Speed.SetText("Cancelling…")
}

// showProgress shows a download's report.
func (r *EntryRow) showProgress(p catalog.Progress) {
	r.Progress = p
	if p.AllTotal > 0 {
		r.Bar.SetValue(float64(p.AllDone) / float64(p.AllTotal))
	} else if p.Total > 0 {
		r.Bar.SetValue(float64(p.Done) / float64(p.Total))
	}
	r.Speed.SetText(progressText(p))
	if p.File != "" {
		file := p.File
		if p.Files > 1 {
			file += fmt.Sprintf(" (file %d of %d)", p.FileIndex+1, p.Files)
		}
		verb := "Downloading "
		if p.Total > 0 && p.Done >= p.Total && !p.Finished {
			verb = "Checking " // all bytes in: hashing, syncing, placing
		}
		r.State.SetText(verb + file)
	}
}

// progressText is "12.3 MB of 548.1 MB · 5.2 MB/s · about 1 min 40 s left".
func progressText(p catalog.Progress) string {
	var parts []string
	switch {
	case p.AllTotal > 0:
		parts = append(parts, catalog.FormatBytes(p.AllDone)+" of "+catalog.FormatBytes(p.AllTotal))
	case p.Total > 0:
		parts = append(parts, catalog.FormatBytes(p.Done)+" of "+catalog.FormatBytes(p.Total)+" of this file")
	default:
		parts = append(parts, catalog.FormatBytes(p.AllDone))
	}
	if p.BytesPerS > 0 {
		parts = append(parts, catalog.FormatBytes(int64(p.BytesPerS))+"/s")
	}
	if p.ETA > 0 {
		parts = append(parts, "about "+fduration(p.ETA)+" left")
	}
	return strings.Join(parts, " · ")
}

// finish ends a download: the row shows the disk's new state and, when it
// failed, why.
func (r *EntryRow) finish(job *downloadJob, st catalog.Status, path string, err error) {
	if r.job != job {
		return
	}
	r.job = nil
	r.Status, r.known = st, true
	r.lastErr = err
	if err != nil {
		r.Err.SetText(fetchErrorText(r.Entry, st, err))
		r.Err.Show()
	} else {
		r.Err.Hide()
	}
	r.refresh()
	if err == nil && !r.Ready() && path != "" {
		// Fetch succeeded but Status does not see it (another layout):
		// trust Fetch's path.
		r.Status.State, r.Status.Path = catalog.Ready, path
		r.refresh()
	}
	r.fr.changed()
	r.fr.sourcesChanged()
}

// fetchErrorText says why a download failed, in a researcher's words.
func fetchErrorText(e *catalog.Entry, st catalog.Status, err error) string {
	kept := st.PartialBytes + st.LocalBytes
	keptText := "nothing was kept"
	if kept > 0 {
		keptText = catalog.FormatBytes(kept) + " are kept, and the next download resumes from there"
	}
	var msg string
	switch {
	case errors.Is(err, context.Canceled):
		return "Download cancelled: " + keptText + "."
	case errors.Is(err, hub.ErrOffline):
		msg = fmt.Sprintf("The hub cannot be reached (no network, or downloads turned off): %s. ", keptText)
	case errors.Is(err, hub.ErrUnauthorized):
		msg = fmt.Sprintf("The hub refused access to %s: it is gated or private. Accept its terms on the hub with your account, "+
			"then log in (huggingface-cli login) or set HF_TOKEN, and try again. ", e.Repo)
	case errors.Is(err, hub.ErrNotFound):
		msg = fmt.Sprintf("Not found upstream: %s no longer has these files (renamed or removed?). "+
			"Open the files by hand if you have them elsewhere. ", e.Repo)
	case errors.Is(err, hub.ErrHashMismatch):
		msg = "The downloaded bytes do not match the checksum the hub announced, so they were deleted " +
			"(a proxy or a broken connection may have altered them). Try again. "
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("The hub stopped answering: %s. ", keptText)
	default:
		msg = "The download failed: " + keptText + ". "
	}
	return msg + "Details: " + err.Error()
}
