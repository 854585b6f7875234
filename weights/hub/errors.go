package hub

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The kinds of failure callers tell apart with errors.Is.
var (
	// ErrOffline: the file is not in the cache and the network may not be
	// used (HF_HUB_OFFLINE, Client.Offline) or cannot be reached.
	ErrOffline = errors.New("offline")
	// ErrNotFound: the hub says the repository, revision or file does not
	// exist (or the cache recorded that it does not).
	ErrNotFound = errors.New("not found on the hub")
	// ErrUnauthorized: the hub refused access (401/403): a gated or
	// private repository and no token, or a token without access.
	ErrUnauthorized = errors.New("access refused by the hub")
	// ErrHashMismatch: the downloaded bytes do not have the hash the hub
	// announced. They were deleted.
	ErrHashMismatch = errors.New("downloaded bytes do not match their hash")
	// ErrDamaged: a file in the cache is not what the cache says it is: a
	// snapshot entry that links outside its repository's blobs folder, to
	// a blob that is not there, or to something that is not a regular file
	// (a device, a FIFO), or a blob whose content does not have the hash
	// it is named by. A download replaces it.
	ErrDamaged = errors.New("damaged cache entry")
)

// Error is a failure about one file (or listing) of a repository. It
// matches one of the Err… kinds with errors.Is, and wraps its cause.
type Error struct {
	Repo     Repo
	Revision string
	// Path is the file in the repository; "" for a listing.
	Path string
	// Kind is ErrOffline, ErrNotFound, ErrUnauthorized, ErrHashMismatch,
	// ErrDamaged or nil for other failures.
	Kind error
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Code is the hub's X-Error-Code header, such as "EntryNotFound".
	Code string
	// Msg says what happened, for a person.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

// Error is "repo@revision: path: what happened: cause".
func (e *Error) Error() string {
	var parts []string
	if e.Repo.ID != "" {
		r := e.Repo.String()
		if e.Revision != "" {
			r += "@" + e.Revision
		}
		parts = append(parts, r)
	}
	if e.Path != "" {
		parts = append(parts, e.Path)
	}
	parts = append(parts, e.Msg)
	var sb strings.Builder
	sb.WriteString(strings.Join(parts, ": "))
	if e.Err != nil {
		sb.WriteString(": " + e.Err.Error())
	}
	return sb.String()
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// HashMismatchError reports downloaded bytes whose hash is not the one the
// hub announced. It matches ErrHashMismatch.
type HashMismatchError struct {
	// File names the file (repository path, or URL).
	File string
	// Algorithm is "sha256" (LFS files) or "git-sha1" (small files).
	Algorithm string
	Want, Got string
}

// Error names the file and both hashes.
func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("%s: downloaded bytes have %s %s, the hub announced %s; the download was deleted", e.File, e.Algorithm, e.Got, e.Want)
}

// Is makes errors.Is(err, ErrHashMismatch) true.
func (e *HashMismatchError) Is(target error) bool { return target == ErrHashMismatch }

// kindOf returns the Err… kind an error matches, or nil.
func kindOf(err error) error {
	for _, k := range []error{ErrOffline, ErrNotFound, ErrUnauthorized, ErrHashMismatch, ErrDamaged} {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// statusError reads the hub's error headers (X-Error-Code,
// X-Error-Message), like huggingface_hub's hf_raise_for_status.
func statusError(resp *http.Response) *Error {
	code := resp.Header.Get("X-Error-Code")
	hubMsg := resp.Header.Get("X-Error-Message")
	e := &Error{Status: resp.StatusCode, Code: code}
	switch {
	case code == "EntryNotFound":
		e.Kind, e.Msg = ErrNotFound, "no such file in the repository at this revision"
	case code == "RevisionNotFound":
		e.Kind, e.Msg = ErrNotFound, "no such revision in the repository"
	case code == "GatedRepo":
		e.Kind, e.Msg = ErrUnauthorized, "gated repository: accept its conditions on the hub's page, then set HF_TOKEN (or log in with the hf command) to a token of that account"
	case code == "RepoNotFound" && resp.StatusCode == http.StatusNotFound:
		e.Kind, e.Msg = ErrNotFound, "no such repository"
	case resp.StatusCode == http.StatusUnauthorized || code == "RepoNotFound":
		e.Kind, e.Msg = ErrUnauthorized, "repository not found, or private or gated and needing a token (set HF_TOKEN)"
	case resp.StatusCode == http.StatusForbidden:
		e.Kind, e.Msg = ErrUnauthorized, "access forbidden: the token lacks permission for this repository"
	case resp.StatusCode == http.StatusNotFound:
		e.Kind, e.Msg = ErrNotFound, "not found"
	default:
		e.Msg = "HTTP " + resp.Status
	}
	if hubMsg != "" && len(hubMsg) < 300 {
		e.Msg += " (hub: " + hubMsg + ")"
	}
	e.Msg += fmt.Sprintf(" [HTTP %d]", resp.StatusCode)
	return e
}
