package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Progress reports a download in progress. Reports come from the
// downloading goroutine; a UI must hand them to its own thread.
type Progress struct {
	// File is the path in the repository (or the URL's file name).
	File string
	// Done is the number of bytes on disk, Resumed included; Total the
	// file's size, -1 when unknown.
	Done, Total int64
	// Resumed is how many bytes were already on disk, from an earlier
	// interrupted download, when this one started.
	Resumed int64
	// BytesPerS is the recent transfer speed; 0 until measured.
	BytesPerS float64
	// ETA is the estimated time left; 0 when unknown.
	ETA time.Duration
	// Finished is set on the last report, once the file is verified and
	// in place.
	Finished bool
}

// File is a file of a repository present in the cache.
type File struct {
	// Path is the snapshot path (snapshots/<commit>/<path>), to be opened
	// like any file.
	Path string
	// Commit is the commit the file was resolved to.
	Commit string
	// ETag names the blob: the SHA-256 of an LFS file, else the git blob
	// SHA-1. Empty when the file came from the cache without asking the hub.
	ETag string
	// Size is the file's size in bytes.
	Size int64
	// Downloaded is false when the cache already had the file.
	Downloaded bool
}

// Download returns the local path of a file of a repository at a revision
// ("" means main), downloading it into the cache when needed; see
// DownloadFile.
func (c *Client) Download(ctx context.Context, repo Repo, revision, filePath string, progress func(Progress)) (string, error) {
	f, err := c.DownloadFile(ctx, repo, revision, filePath, progress)
	return f.Path, err
}

// DownloadFile is hf_hub_download: it asks the hub (HEAD) which commit and
// blob the file is at the revision, reuses the cached blob or downloads it
// (resuming blobs/<etag>.incomplete, following the redirect to the CDN,
// verifying the hash, renaming into place), links it into the snapshot and
// records the revision's commit in refs/. When the hub cannot be reached
// (or Offline is set) it falls back to the cached copy, like
// huggingface_hub; without one it fails with ErrOffline. A 404 gives
// ErrNotFound, a 401/403 ErrUnauthorized (unless the file is cached). On
// cancellation it returns ctx.Err() and leaves the partial download to be
// resumed.
func (c *Client) DownloadFile(ctx context.Context, repo Repo, revision, filePath string, progress func(Progress)) (File, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := repo.validate(); err != nil {
		return File{}, err
	}
	if err := checkFilePath(filePath); err != nil {
		return File{}, err
	}
	if err := checkRevision(revision); err != nil {
		return File{}, err
	}
	if err := c.checkUsable(); err != nil {
		return File{}, err
	}
	fail := func(kind error, msg string, cause error) (File, error) {
		return File{}, &Error{Repo: repo, Revision: revision, Path: filePath, Kind: kind, Msg: msg, Err: cause}
	}
	// damage is what is wrong with the cached copy, if it is damaged.
	var damage error
	cached := func() (File, bool) {
		e, err := c.cachedEntry(repo, revision, filePath)
		if err != nil {
			if errors.Is(err, ErrDamaged) {
				damage = err
			}
			return File{}, false
		}
		f := File{Path: e.Path, ETag: e.ETag, Size: e.Size}
		f.Commit, _ = c.CachedCommit(repo, revision)
		return f, true
	}
	// A commit hash and a cached file: nothing to ask.
	if IsCommit(revision) {
		if f, ok := cached(); ok {
			report(progress, Progress{File: filePath, Done: f.Size, Total: f.Size, Finished: true})
			return f, nil
		}
	}
	if c.Offline {
		if f, ok := cached(); ok {
			report(progress, Progress{File: filePath, Done: f.Size, Total: f.Size, Finished: true})
			return f, nil
		}
		if damage != nil {
			return fail(ErrOffline, "the cached copy is damaged and downloads are off (HF_HUB_OFFLINE): download it again when online", damage)
		}
		if c.CachedNoExist(repo, revision, filePath) {
			return fail(ErrNotFound, "not in the repository (recorded in the cache)", nil)
		}
		return fail(ErrOffline, "not in the local cache, and downloads are off (HF_HUB_OFFLINE)", nil)
	}

	meta, err := c.head(ctx, repo, revision, filePath)
	if err != nil {
		if ctx.Err() != nil {
			return File{}, ctx.Err()
		}
		var he *Error
		// Like huggingface_hub: a missing file is final; an unreachable or
		// refusing hub falls back to the cache.
		if errors.As(err, &he) && !errors.Is(err, ErrNotFound) {
			if f, ok := cached(); ok {
				report(progress, Progress{File: filePath, Done: f.Size, Total: f.Size, Finished: true})
				return f, nil
			}
			if damage != nil {
				return File{}, fmt.Errorf("%w; the cached copy cannot be used: %w", err, damage)
			}
		}
		return File{}, err
	}

	repoDir := c.RepoDir(repo)
	blob := filepath.Join(repoDir, "blobs", meta.etag)
	pointer := filepath.Join(c.SnapshotDir(repo, meta.commit), filepath.FromSlash(filePath))
	out := File{Path: pointer, Commit: meta.commit, ETag: meta.etag, Size: meta.size}
	done := func() (File, error) {
		if err := c.writeRef(repo, revision, meta.commit); err != nil {
			return fail(nil, "cannot record the revision in the cache", err)
		}
		report(progress, Progress{File: filePath, Done: meta.size, Total: meta.size, Finished: true})
		return out, nil
	}
	// A cached copy is used when it is the blob the hub names, of the size
	// it announces: one cut short (a copy interrupted outside this program,
	// a full disk), a link to some other blob, or one leading outside the
	// cache (to another file, a device, a FIFO) is replaced by a fresh
	// download.
	if ok, err := c.cachedAs(repo, pointer, meta.etag, meta.size); err != nil {
		return fail(nil, "cannot check the cached copy", err)
	} else if ok {
		return done()
	}
	if err := os.MkdirAll(filepath.Dir(blob), 0o777); err != nil {
		return fail(nil, "cannot write the cache", err)
	}

	unlock, err := c.lockBlob(ctx, repo, meta.etag)
	if err != nil {
		return File{}, err
	}
	defer unlock()
	// Another download may have placed it while we waited for the lock.
	if ok, err := c.cachedAs(repo, pointer, meta.etag, meta.size); err != nil {
		return fail(nil, "cannot check the cached copy", err)
	} else if ok {
		return done()
	}
	if ok, err := blobWhole(blob, meta.size); err != nil {
		return fail(nil, "cannot check the cached copy", err)
	} else if !ok {
		os.Remove(pointer) // a link to a bad blob, or a file of the wrong size
	}

	newBlob := false
	if _, err := os.Lstat(blob); err != nil {
		want := checksum{}
		switch {
		case sha256RE.MatchString(meta.etag):
			want.sha256 = meta.etag
		case commitRE.MatchString(meta.etag) && meta.size >= 0:
			want.gitSHA1 = meta.etag
		}
		spec := transfer{
			url:        meta.location,
			name:       filePath,
			incomplete: blob + ".incomplete",
			dest:       blob,
			size:       meta.size,
			want:       want,
			progress:   progress,
		}
		if err := c.transfer(ctx, spec); err != nil {
			if ctx.Err() != nil {
				return File{}, ctx.Err()
			}
			if he, ok := err.(*Error); ok {
				he.Repo, he.Revision, he.Path = repo, revision, filePath
				return File{}, he
			}
			if errors.Is(err, ErrHashMismatch) {
				return fail(ErrHashMismatch, "corrupt download", err)
			}
			return fail(kindOf(err), "download failed", err)
		}
		newBlob = true
		out.Downloaded = true
	}
	if err := c.linkSnapshot(blob, pointer, newBlob); err != nil {
		return fail(nil, "cannot place the file in the snapshot folder", err)
	}
	return done()
}

// cachedAs says whether the snapshot entry at pointer is the blob named
// etag (a link to blobs/<etag>; or the file itself, in a cache made without
// links) of size bytes. An entry that is there but wrong (another size,
// another blob, a link leading outside the cache or to nothing, something
// that is not a regular file) is removed, never followed, so that it is
// placed again, and false returned; a path that is not there is false.
func (c *Client) cachedAs(repo Repo, pointer, etag string, size int64) (bool, error) {
	e, err := c.CheckSnapshotEntry(repo, pointer)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err == nil && e.Size == size && (e.ETag == etag || e.Blob == "") {
		return true, nil
	}
	if err := os.Remove(pointer); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return false, nil
}

// blobWhole says whether blob is a regular file (not a link) of size
// bytes. One that is there but wrong (another size, a link, a FIFO) is
// removed, so that it is downloaded again, and false returned.
func blobWhole(blob string, size int64) (bool, error) {
	st, err := os.Lstat(blob)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err == nil && st.Mode().IsRegular() && st.Size() == size {
		return true, nil
	}
	if err := os.Remove(blob); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return false, nil
}

// kindOf returns the Err… kind an error matches, or nil.
func kindOf(err error) error {
	for _, k := range []error{ErrOffline, ErrNotFound, ErrUnauthorized, ErrHashMismatch, ErrDamaged} {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

func report(progress func(Progress), p Progress) {
	if progress != nil {
		progress(p)
	}
}

// blobLocks serialises downloads of one blob within the process (the
// file lock does across processes; not every platform has one). It is
// process-wide state on purpose: the files it guards are.
var blobLocks sync.Map // string → chan struct{} (one slot: held when full)

func (c *Client) lockBlob(ctx context.Context, repo Repo, etag string) (func(), error) {
	key := filepath.Join(c.RepoDir(repo), "blobs", etag)
	m, _ := blobLocks.LoadOrStore(key, make(chan struct{}, 1))
	slot := m.(chan struct{})
	select { // waiting for another download of the blob: cancellable
	case slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	unlockFile, err := lockFile(ctx, filepath.Join(c.CacheDir, ".locks", repo.FolderName(), etag+".lock"))
	if err != nil {
		<-slot
		return nil, err
	}
	return func() {
		unlockFile()
		<-slot
	}, nil
}

// fileMeta is what the HEAD of a resolve URL says.
type fileMeta struct {
	commit, etag, location string
	size                   int64
}

// head asks the hub about a file without following redirects to another
// host (huggingface_hub's get_hf_file_metadata).
func (c *Client) head(ctx context.Context, repo Repo, revision, filePath string) (*fileMeta, error) {
	ctx, cancel := context.WithTimeout(ctx, c.metadataTimeout())
	defer cancel()
	u := c.ResolveURL(repo, revision, filePath)
	hc := c.clientWith(func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse })
	for hops := 0; ; hops++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return nil, err
		}
		c.setHeaders(req)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, c.networkError(repo, revision, filePath, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			e := statusError(resp)
			e.Repo, e.Revision, e.Path = repo, revision, filePath
			if errors.Is(e, ErrNotFound) && e.Code == "EntryNotFound" {
				if commit := resp.Header.Get("X-Repo-Commit"); IsCommit(commit) {
					c.markNoExist(repo, commit, filePath)
					_ = c.writeRef(repo, revision, commit)
				}
			}
			return nil, e
		}
		loc := ""
		redirect := resp.StatusCode >= 300 && resp.StatusCode < 400
		if redirect {
			raw, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || resp.Header.Get("Location") == "" {
				return nil, &Error{Repo: repo, Revision: revision, Path: filePath, Msg: "the hub answered with a bad redirect", Err: err}
			}
			lu := req.URL.ResolveReference(raw)
			if lu.Scheme != "https" && lu.Scheme != "http" {
				return nil, &Error{Repo: repo, Revision: revision, Path: filePath, Msg: fmt.Sprintf("the hub redirected to a %q address, not http(s)", raw.Scheme)}
			}
			if raw.Host == "" && raw.Scheme == "" {
				if hops >= 10 {
					return nil, &Error{Repo: repo, Revision: revision, Path: filePath, Msg: "too many redirects"}
				}
				u = lu.String() // relative redirect: a renamed repository
				continue
			}
			loc = lu.String()
		} else {
			loc = u
		}
		m := &fileMeta{
			commit:   resp.Header.Get("X-Repo-Commit"),
			etag:     normalizeETag(firstNonEmpty(resp.Header.Get("X-Linked-Etag"), resp.Header.Get("ETag"))),
			location: loc,
			size:     -1,
		}
		sizeHdr := resp.Header.Get("X-Linked-Size")
		if sizeHdr == "" && !redirect {
			sizeHdr = resp.Header.Get("Content-Length")
		}
		if n, err := strconv.ParseInt(sizeHdr, 10, 64); err == nil && n >= 0 {
			m.size = n
		}
		switch {
		case !IsCommit(m.commit):
			return nil, &Error{Repo: repo, Revision: revision, Path: filePath, Msg: "the server did not say which commit it serves (X-Repo-Commit): is HF_ENDPOINT a Hugging Face hub? A proxy or firewall may be in the way"}
		case m.etag == "" || strings.ContainsAny(m.etag, `/\`) || m.etag == "." || m.etag == "..":
			return nil, &Error{Repo: repo, Revision: revision, Path: filePath, Msg: "the hub gave no usable ETag for the file"}
		case m.size < 0:
			return nil, &Error{Repo: repo, Revision: revision, Path: filePath, Msg: "the hub did not give the file's size"}
		}
		return m, nil
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// normalizeETag strips the weak marker and quotes and lower-cases a hex
// hash: W/"ABC" → abc. (The hub sends lower-case hex; a mirror or proxy
// that does not should not turn the hash check off.)
func normalizeETag(e string) string {
	e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
	e = strings.Trim(e, `"`)
	if l := strings.ToLower(e); sha256RE.MatchString(l) || commitRE.MatchString(l) {
		return l
	}
	return e
}

// networkError turns a failed request into an ErrOffline error.
func (c *Client) networkError(repo Repo, revision, filePath string, err error) error {
	msg := "cannot reach " + c.Endpoint + " (offline?)"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = c.Endpoint + " did not answer in time (offline?)"
	}
	return &Error{Repo: repo, Revision: revision, Path: filePath, Kind: ErrOffline, Msg: msg, Err: err}
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

// checksum is what a download must hash to; empty fields are not checked.
type checksum struct {
	sha256  string
	gitSHA1 string // the git blob id: sha1("blob <size>\x00" + content)
}

type transfer struct {
	url              string
	name             string // shown in progress and errors
	incomplete, dest string
	size             int64 // -1 unknown
	want             checksum
	progress         func(Progress)
}

// hashers computes the checksums a transfer verifies.
type hashers struct {
	sha, git hash.Hash
	w        io.Writer
}

func newHashers(want checksum, size int64) *hashers {
	h := &hashers{}
	var ws []io.Writer
	if want.sha256 != "" {
		h.sha = sha256.New()
		ws = append(ws, h.sha)
	}
	if want.gitSHA1 != "" {
		h.git = sha1.New()
		fmt.Fprintf(h.git, "blob %d\x00", size)
		ws = append(ws, h.git)
	}
	h.w = io.MultiWriter(ws...)
	return h
}

func (h *hashers) check(name string, want checksum) error {
	if h.sha != nil {
		if got := hex.EncodeToString(h.sha.Sum(nil)); got != want.sha256 {
			return &HashMismatchError{File: name, Algorithm: "sha256", Want: want.sha256, Got: got}
		}
	}
	if h.git != nil {
		if got := hex.EncodeToString(h.git.Sum(nil)); got != want.gitSHA1 {
			return &HashMismatchError{File: name, Algorithm: "git-sha1", Want: want.gitSHA1, Got: got}
		}
	}
	return nil
}

// errRetry marks a failure worth resuming after (a cut connection, a
// stall, a 5xx answer).
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// download is the state of one transfer: the partial file, the hashes of
// what it holds, its length and the progress meter.
type download struct {
	t     transfer
	f     *os.File
	h     *hashers
	have  int64
	meter *meter
}

// reset empties the partial file to start again from byte 0.
func (d *download) reset() error {
	if err := d.f.Truncate(0); err != nil {
		return err
	}
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	d.have = 0
	d.h = newHashers(d.t.want, d.t.size)
	d.meter.restart()
	return nil
}

// transfer downloads t.url into t.incomplete, resuming what is there,
// verifies it and renames it to t.dest. A hash mismatch deletes the
// partial file; any other failure keeps it for a later resume.
func (c *Client) transfer(ctx context.Context, t transfer) error {
	// A partial download that is not a regular file (a link, which writes
	// would follow; a FIFO; a device) is removed, not resumed.
	if st, err := os.Lstat(t.incomplete); err == nil && !st.Mode().IsRegular() {
		if err := os.Remove(t.incomplete); err != nil {
			return fmt.Errorf("%s: removing %s, which is %s: %w", t.name, t.incomplete, describeMode(st.Mode()), err)
		}
	}
	f, err := os.OpenFile(t.incomplete, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
	}()
	discard := func(err error) error {
		f.Close()
		closed = true
		os.Remove(t.incomplete)
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	d := &download{t: t, f: f, have: st.Size(), h: newHashers(t.want, t.size)}
	if t.size >= 0 && d.have > t.size {
		d.have = 0
	}
	if d.have > 0 {
		// Hash what an earlier attempt left, so the whole file is checked.
		if _, err := io.Copy(d.h.w, io.NewSectionReader(f, 0, d.have)); err != nil {
			return err
		}
	}
	if err := f.Truncate(d.have); err != nil {
		return err
	}
	if _, err := f.Seek(d.have, io.SeekStart); err != nil {
		return err
	}
	d.meter = newMeter(t, d.have, c.progressInterval())
	d.meter.report(false)

	budget := c.retries()
	restarts := 0
	for t.size < 0 || d.have < t.size {
		before := d.have
		err := c.fetchRange(ctx, d)
		if err == nil {
			if t.size < 0 || d.have >= t.size {
				break
			}
			err = errRetry{io.ErrUnexpectedEOF} // the body ended early
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errTooLong) {
			return discard(err)
		}
		if errors.Is(err, errRestart) {
			// The server refused our Range: start over from zero.
			if restarts++; restarts > 2 {
				return fmt.Errorf("%s: the server does not honour range requests", t.name)
			}
			if err := d.reset(); err != nil {
				return err
			}
			continue
		}
		var rt errRetry
		if !errors.As(err, &rt) {
			return err
		}
		if d.have > before {
			budget = c.retries() // bytes arrived: the connection works
		}
		if budget--; budget < 0 {
			return fmt.Errorf("%s: download interrupted at %d of %d bytes (run again to resume): %w", t.name, d.have, t.size, rt.err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.retryDelay()):
		}
	}
	if err := d.h.check(t.name, t.want); err != nil {
		return discard(err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(t.incomplete, t.dest)
}

var (
	errRestart = errors.New("range not honoured")
	errTooLong = errors.New("more bytes than announced")
)

// fetchRange makes one GET from offset d.have and appends what arrives.
func (c *Client) fetchRange(ctx context.Context, d *download) error {
	t := d.t
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, t.url, nil)
	if err != nil {
		return err
	}
	c.setHeaders(req)
	if d.have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", d.have))
	}
	// Stall watchdog: no answer, then no byte, for StallTimeout cancels
	// this attempt (a server that accepts and never answers included).
	stall := c.stallTimeout()
	timer := time.AfterFunc(stall, cancel)
	defer timer.Stop()
	resp, err := c.clientWith(c.redirectPolicy).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if reqCtx.Err() != nil {
			return errRetry{fmt.Errorf("no answer for %v", stall)}
		}
		return errRetry{&Error{Kind: ErrOffline, Msg: "cannot reach the download server (offline?)", Err: err}}
	}
	defer resp.Body.Close()
	timer.Reset(stall)
	switch {
	case resp.StatusCode == http.StatusOK:
		if d.have > 0 {
			// The server ignored the Range and sends the whole file.
			if err := d.reset(); err != nil {
				return err
			}
		}
	case resp.StatusCode == http.StatusPartialContent:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != d.have {
			return errRestart
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return errRestart
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return errRetry{fmt.Errorf("HTTP %s", resp.Status)}
	default:
		return statusError(resp)
	}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			timer.Reset(stall)
			if t.size >= 0 && d.have+int64(n) > t.size {
				return fmt.Errorf("%s: %w (%d): the download was deleted", t.name, errTooLong, t.size)
			}
			if _, err := d.f.Write(buf[:n]); err != nil {
				return err
			}
			d.h.w.Write(buf[:n])
			d.have += int64(n)
			d.meter.add(d.have)
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if reqCtx.Err() != nil {
				return errRetry{fmt.Errorf("no data for %v", stall)}
			}
			return errRetry{rerr}
		}
	}
}

// contentRangeStart parses "bytes START-END/TOTAL".
func contentRangeStart(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "bytes ") {
		return 0, false
	}
	v = strings.TrimPrefix(v, "bytes ")
	dash := strings.IndexByte(v, '-')
	if dash < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:dash], 10, 64)
	return n, err == nil
}

// meter turns byte counts into throttled progress reports with speed and
// time left.
type meter struct {
	t        transfer
	interval time.Duration
	resumed  int64
	done     int64
	last     time.Time
	samples  []sample // recent (time, done) pairs for the speed
}

type sample struct {
	at   time.Time
	done int64
}

func newMeter(t transfer, have int64, interval time.Duration) *meter {
	now := time.Now()
	return &meter{t: t, interval: interval, resumed: have, done: have, samples: []sample{{now, have}}}
}

func (m *meter) restart() {
	m.resumed, m.done = 0, 0
	m.samples = []sample{{time.Now(), 0}}
}

func (m *meter) add(done int64) {
	m.done = done
	now := time.Now()
	if now.Sub(m.last) < m.interval && !(m.t.size >= 0 && done >= m.t.size) {
		return
	}
	m.samples = append(m.samples, sample{now, done})
	// Keep about five seconds of history.
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) > 5*time.Second {
		m.samples = m.samples[1:]
	}
	m.report(false)
}

func (m *meter) report(finished bool) {
	if m.t.progress == nil {
		return
	}
	m.last = time.Now()
	p := Progress{File: m.t.name, Done: m.done, Total: m.t.size, Resumed: m.resumed, Finished: finished}
	if len(m.samples) >= 2 {
		a, b := m.samples[0], m.samples[len(m.samples)-1]
		if dt := b.at.Sub(a.at).Seconds(); dt > 0 {
			p.BytesPerS = float64(b.done-a.done) / dt
		}
	}
	if p.BytesPerS > 0 && p.Total >= 0 {
		p.ETA = time.Duration(float64(p.Total-p.Done) / p.BytesPerS * float64(time.Second))
	}
	m.t.progress(p)
}

// DownloadURL downloads a file that is not in a hub repository (such as an
// archive a dataset's loading script names) to dest, with the same resume
// (dest + ".incomplete"), progress, cancellation and atomic placement as
// DownloadFile. size (-1: unknown, then taken from the answer) and sha256
// ("": unchecked) are verified when given. The token is sent only to the
// hub's own host, as always. An existing
// dest is returned as it is. Offline gives ErrOffline.
func (c *Client) DownloadURL(ctx context.Context, rawURL, dest string, size int64, sha256hex string, progress func(Progress)) error {
	name := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		name = pathBase(u.Path)
	}
	// there says whether dest is already downloaded (and reports it done).
	there := func() bool {
		st, err := os.Lstat(dest) // a link or a FIFO is not a download
		if err != nil || !st.Mode().IsRegular() || (size >= 0 && st.Size() != size) {
			return false
		}
		report(progress, Progress{File: name, Done: st.Size(), Total: st.Size(), Finished: true})
		return true
	}
	if there() {
		return nil
	}
	if c.Offline {
		return &Error{Path: name, Kind: ErrOffline, Msg: "not downloaded yet, and downloads are off (HF_HUB_OFFLINE)"}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o777); err != nil {
		return err
	}
	// Two processes (the window and the fetch command) fetching it at once
	// take turns; the second finds it done.
	unlock, err := lockFile(ctx, dest+".lock")
	if err != nil {
		return err
	}
	defer unlock() // the lock file stays: removing it would let a third process lock a new one
	if there() {
		return nil
	}
	if size < 0 {
		size = c.probeSize(ctx, rawURL)
	}
	t := transfer{url: rawURL, name: name, incomplete: dest + ".incomplete", dest: dest, size: size, want: checksum{sha256: sha256hex}, progress: progress}
	if err := c.transfer(ctx, t); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if st, err := os.Stat(dest); err == nil {
		report(progress, Progress{File: name, Done: st.Size(), Total: st.Size(), Finished: true})
	}
	return nil
}

// probeSize asks a server for a file's length (HEAD, redirects followed);
// -1 when it does not say.
func (c *Client) probeSize(ctx context.Context, rawURL string) int64 {
	ctx, cancel := context.WithTimeout(ctx, c.metadataTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, rawURL, nil)
	if err != nil {
		return -1
	}
	c.setHeaders(req)
	resp, err := c.clientWith(c.redirectPolicy).Do(req)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	// 0 is what some servers say of a HEAD they do not measure: unknown.
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && n > 0 {
		return n
	}
	return -1
}

func pathBase(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
