package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

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
