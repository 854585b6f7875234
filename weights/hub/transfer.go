package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/saescope/saescope/internal/regularfile"
)

// transfer is one file to download: from url into incomplete, renamed to
// dest once whole (size bytes, when known) and matching want.
type transfer struct {
	url              string
	name             string // shown in progress and errors
	incomplete, dest string
	size             int64 // -1 unknown
	want             checksum
	progress         func(Progress)
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
			return fmt.Errorf("%s: removing %s, which is %s: %w", t.name, t.incomplete, regularfile.Kind(st.Mode()), err)
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
