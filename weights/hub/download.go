package hub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

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
		spec := transfer{
			url:        meta.location,
			name:       filePath,
			incomplete: blob + ".incomplete",
			dest:       blob,
			size:       meta.size,
			want:       checksumFor(meta.etag, meta.size),
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

func pathBase(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
