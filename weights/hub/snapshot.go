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
	"os"
	"path/filepath"
	"strings"

	"github.com/saescope/saescope/internal/regularfile"
)

// SnapshotEntry is a file of a snapshot folder whose place in the cache
// has been checked by CheckSnapshotEntry.
type SnapshotEntry struct {
	// Path is the snapshot path (snapshots/<commit>/<path>).
	Path string
	// Blob is the file in the repository's blobs folder the entry links
	// to; "" when the snapshot holds the file itself (a cache made without
	// symbolic links).
	Blob string
	// ETag is the blob's name: the SHA-256 of an LFS file, the git blob
	// SHA-1 of a small one; "" when Blob is "".
	ETag string
	// Size is the size of the file on disk, in bytes.
	Size int64
}

// CheckSnapshotEntry checks a snapshot path of the repository without
// reading it: it must be a symbolic link (relative, as huggingface_hub
// makes them, or absolute) to a regular file directly in the repository's
// blobs folder, or a regular file inside the repository's folder (a cache
// made without links). A path that is not there gives an error matching
// fs.ErrNotExist. Anything else (a link leading outside blobs/, to a blob
// that is missing, to a device or a FIFO; a FIFO or a device in the
// snapshot itself) gives an *Error matching ErrDamaged, and
// regularfile.ErrNotRegular where the file is not a regular file. Nothing
// is opened: a link is resolved, never followed for reading.
func (c *Client) CheckSnapshotEntry(repo Repo, path string) (SnapshotEntry, error) {
	e := SnapshotEntry{Path: path}
	damaged := func(msg string, cause error) (SnapshotEntry, error) {
		return SnapshotEntry{Path: path}, &Error{Repo: repo, Path: path, Kind: ErrDamaged, Msg: msg, Err: cause}
	}
	li, err := os.Lstat(path)
	if err != nil {
		return SnapshotEntry{Path: path}, err
	}
	isLink := li.Mode()&fs.ModeSymlink != 0
	if !isLink && !li.Mode().IsRegular() {
		return damaged("is "+regularfile.Kind(li.Mode())+", not a file", regularfile.ErrNotRegular)
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		target, _ := os.Readlink(path)
		return damaged(fmt.Sprintf("links to %s, which is not there", target), nil)
	}
	st, err := os.Lstat(resolved)
	if err != nil {
		return damaged("cannot be resolved", err)
	}
	if !st.Mode().IsRegular() {
		return damaged(fmt.Sprintf("leads to %s, which is %s, not a file", resolved, regularfile.Kind(st.Mode())), regularfile.ErrNotRegular)
	}
	repoDir := c.RepoDir(repo)
	if isLink {
		blobs := filepath.Join(repoDir, "blobs")
		if !sameDir(filepath.Dir(resolved), blobs) {
			return damaged(fmt.Sprintf("links to %s, outside the repository's blobs folder %s", resolved, blobs), nil)
		}
		e.ETag = filepath.Base(resolved)
		e.Blob = filepath.Join(blobs, e.ETag)
	} else if !within(resolved, repoDir) {
		// a regular file, but reached through a linked folder
		return damaged(fmt.Sprintf("is %s, outside the repository's folder %s", resolved, repoDir), nil)
	}
	e.Size = st.Size()
	return e, nil
}

// sameDir says whether two paths name one folder (lexically, or through
// links such as a cache folder that is itself a link).
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// within says whether path (links resolved) lies inside dir (links
// resolved).
func within(path, dir string) bool {
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(d, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// Verify reads the entry whole and checks its content against the hash
// that names its blob (SHA-256 for an LFS file, the git blob SHA-1 for a
// small one) and, when sha256hex is not "", against that SHA-256 too (a
// hash the caller knows, such as a catalogue's). It says whether anything
// was checked: an entry whose blob is not named by a hash, and no
// sha256hex, is not. The bytes actually read are counted, whatever the
// file's size says. A mismatch gives an *Error matching ErrDamaged.
func (e SnapshotEntry) Verify(ctx context.Context, sha256hex string) (checked bool, err error) {
	var sha, git hash.Hash
	var wantSHA, wantGit string
	switch {
	case sha256RE.MatchString(e.ETag):
		sha, wantSHA = sha256.New(), e.ETag
	case commitRE.MatchString(e.ETag):
		git, wantGit = sha1.New(), e.ETag
		fmt.Fprintf(git, "blob %d\x00", e.Size)
	}
	if sha256hex != "" {
		if wantSHA != "" && wantSHA != sha256hex {
			return true, &Error{Path: e.Path, Kind: ErrDamaged, Msg: fmt.Sprintf("links to blob %s, not the expected %s", e.ETag, sha256hex)}
		}
		if sha == nil {
			sha = sha256.New()
		}
		wantSHA = sha256hex
	}
	if sha == nil && git == nil {
		return false, nil
	}
	src := e.Path
	if e.Blob != "" {
		src = e.Blob // the checked blob, not whatever the link says now
	}
	f, err := regularfile.Open(src)
	if err != nil {
		return true, &Error{Path: e.Path, Kind: ErrDamaged, Msg: "cannot be read", Err: err}
	}
	defer f.Close()
	var ws []io.Writer
	for _, h := range []hash.Hash{sha, git} {
		if h != nil {
			ws = append(ws, h)
		}
	}
	n, err := io.Copy(io.MultiWriter(ws...), ctxReader{ctx, io.LimitReader(f, e.Size+1)})
	if err != nil {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		return true, &Error{Path: e.Path, Kind: ErrDamaged, Msg: "cannot be read", Err: err}
	}
	if n != e.Size {
		return true, &Error{Path: e.Path, Kind: ErrDamaged, Msg: fmt.Sprintf("changed while being read (%d bytes, then %d or more)", e.Size, n)}
	}
	if sha != nil {
		if got := hex.EncodeToString(sha.Sum(nil)); got != wantSHA {
			return true, &Error{Path: e.Path, Kind: ErrDamaged, Msg: fmt.Sprintf("content has SHA-256 %s, not %s (%d bytes)", got, wantSHA, n)}
		}
	}
	if git != nil {
		if got := hex.EncodeToString(git.Sum(nil)); got != wantGit {
			return true, &Error{Path: e.Path, Kind: ErrDamaged, Msg: fmt.Sprintf("content has git blob id %s, not %s (%d bytes)", got, wantGit, n)}
		}
	}
	return true, nil
}

// ctxReader stops a long read when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// Discard removes a damaged entry from the cache, so that the next
// download fetches it again: the snapshot entry (a link is removed, not
// followed) and the blob it links to, when that blob is in the
// repository's blobs folder (as CheckSnapshotEntry requires).
func (c *Client) Discard(repo Repo, e SnapshotEntry) error {
	paths := []string{e.Path}
	if e.Blob != "" && sameDir(filepath.Dir(e.Blob), filepath.Join(c.RepoDir(repo), "blobs")) {
		paths = append(paths, e.Blob)
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the damaged %s: %w", p, err)
		}
	}
	return nil
}
