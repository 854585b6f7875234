package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
)

// FileInfo describes a file of a repository, as the hub lists it.
type FileInfo struct {
	// Path is the file's path in the repository.
	Path string `json:"path"`
	// Size is the file's size in bytes (the real size, for LFS files too).
	Size int64 `json:"size"`
	// BlobID is the git blob id (for an LFS file, that of its pointer).
	BlobID string `json:"oid"`
	// LFS is set for files stored with git LFS.
	LFS *LFSInfo `json:"lfs,omitempty"`
}

// LFSInfo is the LFS part of a listing entry.
type LFSInfo struct {
	// SHA256 is the content's hash, which is also its ETag and blob name.
	SHA256 string `json:"oid"`
	Size   int64  `json:"size"`
}

// ETag is the name the file's blob has in the cache.
func (f FileInfo) ETag() string {
	if f.LFS != nil {
		return f.LFS.SHA256
	}
	return f.BlobID
}

// ListFiles lists every file of a repository at a revision, recursively
// (huggingface_hub's list_repo_tree(recursive=True)), following the pages
// the hub announces in its Link header. Folders are left out. It fails
// with ErrOffline when Offline is set or the hub cannot be reached, and
// with ErrNotFound or ErrUnauthorized as DownloadFile does.
func (c *Client) ListFiles(ctx context.Context, repo Repo, revision string) ([]FileInfo, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := repo.validate(); err != nil {
		return nil, err
	}
	if err := checkRevision(revision); err != nil {
		return nil, err
	}
	if c.Offline {
		return nil, &Error{Repo: repo, Revision: revision, Kind: ErrOffline, Msg: "cannot list the repository: downloads are off (HF_HUB_OFFLINE)"}
	}
	if err := c.checkUsable(); err != nil {
		return nil, err
	}
	var out []FileInfo
	next := c.treeURL(repo, revision)
	seen := map[string]bool{}
	for pages := 0; next != ""; pages++ {
		// The largest SAE releases hold a few thousand files: a listing
		// far past that, or one whose pages link back, is not a listing.
		if pages > 1000 || seen[next] || len(out) > maxListedFiles {
			return nil, &Error{Repo: repo, Revision: revision, Msg: fmt.Sprintf("the listing does not end (%d pages, %d files)", pages, len(out))}
		}
		seen[next] = true
		entries, link, err := c.treePage(ctx, next)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var he *Error
			if errors.As(err, &he) && he.Repo.ID == "" {
				he.Repo, he.Revision = repo, revision
				return nil, he
			}
			return nil, &Error{Repo: repo, Revision: revision, Kind: kindOf(err), Msg: "cannot list the repository", Err: err}
		}
		for _, e := range entries {
			if e.Type == "file" && e.Path != "" {
				out = append(out, e.FileInfo)
			}
		}
		next = link
	}
	return out, nil
}

// maxListedFiles bounds a repository listing (and the memory it takes).
const maxListedFiles = 200000

type treeEntry struct {
	Type string `json:"type"`
	FileInfo
}

func (c *Client) treePage(ctx context.Context, u string) ([]treeEntry, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.metadataTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	c.setHeaders(req)
	req.Header.Set("Accept", "application/json")
	resp, err := c.clientWith(c.redirectPolicy).Do(req)
	if err != nil {
		return nil, "", &Error{Kind: ErrOffline, Msg: "cannot reach " + c.Endpoint + " (offline?)", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, "", statusError(resp)
	}
	var entries []treeEntry
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(&entries); err != nil {
		return nil, "", fmt.Errorf("the hub's file listing is not the expected JSON: %w", err)
	}
	next := nextLink(resp.Header.Values("Link"))
	if next != "" {
		if nu, err := req.URL.Parse(next); err == nil {
			next = nu.String()
		}
	}
	return entries, next, nil
}

var linkRE = regexp.MustCompile(`<([^>]*)>\s*;[^,]*rel="?next"?`)

// nextLink returns the rel="next" address of Link headers.
func nextLink(values []string) string {
	for _, v := range values {
		if m := linkRE.FindStringSubmatch(v); m != nil {
			return m[1]
		}
	}
	return ""
}

// Reachable says whether the hub can be used now: nil, or an error
// matching ErrOffline when Offline is set (no request is made) or the
// endpoint does not answer within MetadataTimeout. Any HTTP answer counts
// as reachable. A first-run screen uses it to say up front what cannot be
// fetched.
func (c *Client) Reachable(ctx context.Context) error {
	if c.Offline {
		return &Error{Kind: ErrOffline, Msg: "downloads are off (HF_HUB_OFFLINE)"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.metadataTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.Endpoint+"/api/whoami-v2", nil)
	if err != nil {
		return err
	}
	c.setHeaders(req)
	req.Header.Del("Authorization") // reachability needs no identity
	resp, err := c.clientWith(c.redirectPolicy).Do(req)
	if err != nil {
		return &Error{Kind: ErrOffline, Msg: "cannot reach " + c.Endpoint + " (offline?)", Err: err}
	}
	resp.Body.Close()
	return nil
}
