package ui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// askSave asks where to save a file suggested as name and calls then on
// the UI thread with a writer open on it and its path; nothing when the
// user cancels. Tests replace it.
var askSave = func(win fyne.Window, name string, then func(w io.WriteCloser, path string)) {
	if win == nil {
		return
	}
	d := dialog.NewFileSave(func(uc fyne.URIWriteCloser, err error) {
		if err != nil {
			dialog.ShowError(err, win)
			return
		}
		if uc == nil {
			return // cancelled
		}
		then(uc, uc.URI().Path())
	}, win)
	d.SetFileName(name)
	if sz := win.Canvas().Size(); sz.Width > 200 && sz.Height > 200 {
		d.Resize(fyne.NewSize(min(sz.Width-40, 900), min(sz.Height-40, 640)))
	}
	d.Show()
}

// Export asks where to save what (a file suggested as name) and writes
// it there off the UI thread: write gets the chosen path, whose extension
// may differ from name's, and the open file. done (may be nil) runs on the
// UI thread with the path and the outcome, which also goes to the status
// line.
func (v *View) Export(what, name string, write func(path string, w io.Writer) error, done func(path string, err error)) {
	askSave(v.bench.window(), name, func(wc io.WriteCloser, path string) {
		v.Jobs.Go(func(context.Context) {
			// Made in memory first (every export is small): a failure
			// (a closed store, a full disk) leaves no partial file behind.
			var buf bytes.Buffer
			err := write(path, &buf)
			if err == nil {
				_, err = wc.Write(buf.Bytes())
			}
			if cerr := wc.Close(); err == nil {
				err = cerr
			}
			if err != nil && path != "" {
				os.Remove(path) // the dialog's writer had already emptied it
			}
			uiDo(func() {
				if err != nil {
					err = fmt.Errorf("could not save %s to %s: %w", what, path, err)
					v.Message(err.Error())
				} else {
					v.Message(fmt.Sprintf("Saved %s to %s.", what, path))
				}
				if done != nil {
					done(path, err)
				}
			})
		})
	})
}

// extOr returns path's extension without the dot, lower case, when it is
// one of allowed, else def.
func extOr(path, def string, allowed ...string) string {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	for _, a := range allowed {
		if ext == a {
			return ext
		}
	}
	return def
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._]+`)

// fileStem turns words into a file name stem: "blocks.1.hook_resid_pre
// (256)" gives "blocks.1.hook_resid_pre-256".
func fileStem(parts ...string) string {
	s := unsafeName.ReplaceAllString(strings.Join(parts, "-"), "-")
	return strings.Trim(s, "-.")
}

// exportButtons returns a row of small buttons, one per format, each
// calling export with its format; label heads the row.
func exportButtons(label string, export func(format string), formats ...string) *fyne.Container {
	objs := []fyne.CanvasObject{widget.NewLabel(label)}
	for _, f := range formats {
		f := f
		b := widget.NewButtonWithIcon(strings.ToUpper(f), theme.DownloadIcon(), func() { export(f) })
		b.Importance = widget.LowImportance
		objs = append(objs, b)
	}
	return container.NewHBox(objs...)
}
