package hub

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/saescope/saescope/internal/atomicfile"
	"github.com/saescope/saescope/internal/regularfile"
)

// maxRefBytes bounds what is read of a refs/ file (a 40-character commit
// hash); maxConfigBytes that of a config.json (665 bytes for GPT-2).
const (
	maxRefBytes    = 4 << 10
	maxConfigBytes = 1 << 20
)

// RepoDir is the repository's folder in the cache.
func (c *Client) RepoDir(repo Repo) string {
	return filepath.Join(c.CacheDir, repo.FolderName())
}

// SnapshotDir is the folder of a commit's files in the cache.
func (c *Client) SnapshotDir(repo Repo, commit string) string {
	return filepath.Join(c.RepoDir(repo), "snapshots", commit)
}

// CachedCommit returns the commit a revision points to in the cache: the
// revision itself when it is a commit hash, else the content of
// refs/<revision>. ok is false when the cache has no such ref.
func (c *Client) CachedCommit(repo Repo, revision string) (commit string, ok bool) {
	if revision == "" {
		revision = DefaultRevision
	}
	if IsCommit(revision) {
		return revision, true
	}
	if checkRevision(revision) != nil {
		return "", false
	}
	raw, err := regularfile.ReadFile(filepath.Join(c.RepoDir(repo), "refs", filepath.FromSlash(revision)), maxRefBytes)
	if err != nil {
		return "", false
	}
	commit = strings.TrimSpace(string(raw))
	return commit, IsCommit(commit)
}

// CachedFile returns the cached copy of a file at a revision, as
// huggingface_hub's try_to_load_from_cache finds it: the revision is turned
// into a commit through refs/, and snapshots/<commit>/<path> must exist (a
// link into the repository's blobs/ whose blob is a regular file, or a
// regular file: see CheckSnapshotEntry). A damaged entry (a link leading
// outside the cache, to a device or a FIFO) is not a cached file. It makes
// no network request.
func (c *Client) CachedFile(repo Repo, revision, filePath string) (string, bool) {
	e, err := c.cachedEntry(repo, revision, filePath)
	return e.Path, err == nil
}

// cachedEntry is CachedFile's checked entry; the error says what is wrong
// (fs.ErrNotExist when nothing is cached).
func (c *Client) cachedEntry(repo Repo, revision, filePath string) (SnapshotEntry, error) {
	if err := checkFilePath(filePath); err != nil {
		return SnapshotEntry{}, err
	}
	if err := repo.validate(); err != nil {
		return SnapshotEntry{}, err
	}
	commit, ok := c.CachedCommit(repo, revision)
	if !ok {
		return SnapshotEntry{}, fs.ErrNotExist
	}
	p := filepath.Join(c.SnapshotDir(repo, commit), filepath.FromSlash(filePath))
	return c.CheckSnapshotEntry(repo, p)
}

// CachedNoExist says whether the cache recorded that the file does not
// exist at the revision (a .no_exist marker written after a 404).
func (c *Client) CachedNoExist(repo Repo, revision, filePath string) bool {
	if checkFilePath(filePath) != nil {
		return false
	}
	commit, ok := c.CachedCommit(repo, revision)
	if !ok {
		return false
	}
	st, err := os.Stat(filepath.Join(c.RepoDir(repo), ".no_exist", commit, filepath.FromSlash(filePath)))
	return err == nil && st.Mode().IsRegular()
}

// Snapshot is one commit of a repository present in the cache.
type Snapshot struct {
	Commit string
	// Dir is snapshots/<commit>.
	Dir string
	// Refs are the revisions (branch or tag names) pointing at it.
	Refs []string
	// Modified is the folder's modification time.
	Modified time.Time
}

// Snapshots lists the repository's snapshots in the cache, those named by
// refs first, then newest first.
func (c *Client) Snapshots(repo Repo) []Snapshot {
	dir := c.RepoDir(repo)
	entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil {
		return nil
	}
	refs := c.refs(repo)
	var out []Snapshot
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		s := Snapshot{Commit: e.Name(), Dir: filepath.Join(dir, "snapshots", e.Name())}
		if info, err := e.Info(); err == nil {
			s.Modified = info.ModTime()
		}
		for ref, commit := range refs {
			if commit == s.Commit {
				s.Refs = append(s.Refs, ref)
			}
		}
		sort.Strings(s.Refs)
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := len(out[i].Refs) > 0, len(out[j].Refs) > 0
		if ri != rj {
			return ri
		}
		return out[i].Modified.After(out[j].Modified)
	})
	return out
}

// refs maps each ref under refs/ (nested ones with "/") to its commit.
func (c *Client) refs(repo Repo) map[string]string {
	root := filepath.Join(c.RepoDir(repo), "refs")
	out := map[string]string{}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".tmp") {
			return nil
		}
		raw, rerr := regularfile.ReadFile(p, maxRefBytes)
		if rerr != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = strings.TrimSpace(string(raw))
		return nil
	})
	return out
}

// PartialBytes is the number of bytes in the repository's unfinished
// downloads (blobs/*.incomplete), which a later download resumes.
func (c *Client) PartialBytes(repo Repo) int64 {
	entries, err := os.ReadDir(filepath.Join(c.RepoDir(repo), "blobs"))
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".incomplete") {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
	}
	return n
}

// LocalModel is a GPT-2 checkpoint found in the cache.
type LocalModel struct {
	// Repo is the repository, such as openai-community/gpt2 or gpt2.
	Repo Repo
	// Commit and Dir are the snapshot's commit and folder (give Dir to the
	// GPT-2 loader).
	Commit string
	Dir    string
	// Refs are the revisions pointing at this snapshot ("main"…).
	Refs []string
	// Weights is "model.safetensors" or "pytorch_model.bin", "" when the
	// snapshot has only the config.
	Weights string
	// NLayer and DModel come from config.json (12 and 768 for GPT-2 small).
	NLayer, DModel int
}

// FindModels lists the GPT-2 checkpoints (snapshots whose config.json has
// model_type "gpt2") in a hub cache folder, such as those transformers
// downloaded. Those with weights come first, then those named by a ref,
// then by repository name.
func FindModels(cacheDir string) []LocalModel {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return nil
	}
	c := &Client{CacheDir: cacheDir}
	var out []LocalModel
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "models--") {
			continue
		}
		repo := Model(strings.ReplaceAll(strings.TrimPrefix(name, "models--"), "--", "/"))
		for _, s := range c.Snapshots(repo) {
			cfgEntry, err := c.CheckSnapshotEntry(repo, filepath.Join(s.Dir, "config.json"))
			if err != nil {
				continue
			}
			raw, err := regularfile.ReadFile(cfgEntry.Path, maxConfigBytes)
			if err != nil {
				continue
			}
			var cfg struct {
				ModelType string `json:"model_type"`
				NLayer    int    `json:"n_layer"`
				NEmbd     int    `json:"n_embd"`
			}
			if json.Unmarshal(raw, &cfg) != nil || cfg.ModelType != "gpt2" {
				continue
			}
			m := LocalModel{Repo: repo, Commit: s.Commit, Dir: s.Dir, Refs: s.Refs, NLayer: cfg.NLayer, DModel: cfg.NEmbd}
			for _, w := range []string{"model.safetensors", "pytorch_model.bin"} {
				if _, err := c.CheckSnapshotEntry(repo, filepath.Join(s.Dir, w)); err == nil {
					m.Weights = w
					break
				}
			}
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Weights != "") != (b.Weights != "") {
			return a.Weights != ""
		}
		if (len(a.Refs) > 0) != (len(b.Refs) > 0) {
			return len(a.Refs) > 0
		}
		return a.Repo.ID < b.Repo.ID
	})
	return out
}

// writeRef records that revision points to commit, atomically; nothing
// when the revision is the commit itself or the ref already says so.
func (c *Client) writeRef(repo Repo, revision, commit string) error {
	if revision == commit || checkRevision(revision) != nil {
		return nil
	}
	p := filepath.Join(c.RepoDir(repo), "refs", filepath.FromSlash(revision))
	if raw, err := regularfile.ReadFile(p, maxRefBytes); err == nil && string(raw) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, []byte(commit), 0o644)
}

// markNoExist records a 404 for the file at the commit.
func (c *Client) markNoExist(repo Repo, commit, filePath string) {
	if !IsCommit(commit) || checkFilePath(filePath) != nil {
		return
	}
	p := filepath.Join(c.RepoDir(repo), ".no_exist", commit, filepath.FromSlash(filePath))
	if _, err := os.Stat(p); err == nil {
		return
	}
	if os.MkdirAll(filepath.Dir(p), 0o777) == nil {
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o666); err == nil {
			f.Close()
		}
	}
}

// linkSnapshot makes snapshot path dst point at blob src: a relative
// symbolic link, or where links are impossible the file itself (moved when
// newBlob, else copied), like huggingface_hub's _create_symlink.
func (c *Client) linkSnapshot(src, dst string, newBlob bool) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return err
	}
	_ = os.Remove(dst)
	if !c.DisableSymlinks {
		rel, err := filepath.Rel(filepath.Dir(dst), src)
		if err != nil {
			rel = src
		}
		if err := os.Symlink(rel, dst); err == nil {
			return nil
		} else if errors.Is(err, fs.ErrExist) {
			if a, e1 := filepath.EvalSymlinks(dst); e1 == nil {
				if b, e2 := filepath.EvalSymlinks(src); e2 == nil && a == b {
					return nil
				}
			}
			return err
		}
	}
	if newBlob {
		if err := os.Rename(src, dst); err == nil {
			return nil
		}
	}
	return copyFile(src, dst)
}

func copyFile(src, dst string) error {
	in, err := regularfile.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".copy.tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o666)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
