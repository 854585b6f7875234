package ui

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/internal/numfmt"
)

// addSAEError is the error of an SAE that did not open: err as it is when
// it names the path already (the SAE loaders' errors do: "load SAE PATH:
// …"), else wrapped with it, so that the path shows once (a file error's
// own copy of it is dropped: "load SAE P: no such file or directory").
func addSAEError(path string, err error) error {
	msg := err.Error()
	if !strings.Contains(msg, path) {
		return fmt.Errorf("add SAE %s: %w", path, err)
	}
	// a file error repeats the path: "load SAE P: open P: no such file"
	var pe *fs.PathError
	if strings.Count(msg, path) > 1 && errors.As(err, &pe) && pe.Path == path {
		msg = strings.Replace(msg, pe.Op+" "+path+": ", "", 1)
		return errors.New(msg)
	}
	return err
}

// scanProgressText is the status line of an analysis' scan: rows done,
// speed and the time left in the scan (shorter stages follow it). A scan
// about to end says so rather than "about 0 s left".
func scanProgressText(name string, p analysis.Progress) string {
	left := "about " + fduration(p.ETA) + " left in the scan"
	if p.ETA < time.Second {
		left = "under a second left in the scan"
	}
	return fmt.Sprintf("Analysing %s: %s of %s rows · %s tokens/s · %s",
		name, numfmt.Thousands(p.Rows), numfmt.Thousands(p.TotalRows), numfmt.Thousands(int(p.TokensPerS)), left)
}

// barHint is the status line after a field of the workspace bar is
// edited in place of an error: what the field holds and what to press.
func barHint(field, text, next string) string {
	if strings.TrimSpace(text) == "" {
		return field + ": none chosen."
	}
	return fmt.Sprintf("%s %s: %s.", field, strings.TrimSpace(text), next)
}

// barTitleRunes is the most of a workspace's title the workspace bar's
// header shows (about 700 pixels: a 1024-pixel window keeps its width).
const barTitleRunes = 90

// shorten cuts s to n runes, the last an ellipsis, when it is longer.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
