package weights

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/zeebo/xxh3"

	"github.com/saescope/saescope/internal/atomicfile"
	"github.com/saescope/saescope/internal/regularfile"
)

// Fingerprinter identifies the content of files and folders for cache
// keys: a hash of every byte of every file (XXH3-128, tens of GB/s, so a
// 500 MB checkpoint takes the time of reading it once). The hash of each
// file is remembered in a small cache file by the file's identity
// (device, inode, size, modification and change times in nanoseconds), so
// fingerprinting an unchanged file again reads nothing. Writing a file
// changes its modification and change times, so a remembered hash can only
// be wrong for a file rewritten in the same clock tick with the same size,
// and files modified in the last few seconds are never remembered (the
// "racy" window of coarse file-system clocks). It is meant for cache
// keys, not for security.
type Fingerprinter struct {
	// CachePath is the file that remembers the hashes; empty: nothing is
	// remembered. A damaged or unreadable cache file is ignored (and
	// replaced); writers replace it atomically, so concurrent processes
	// at worst forget each other's entries.
	CachePath string

	racy time.Duration // 0: racyWindow (tests shorten it)
}

const (
	fingerprintCacheVersion = 1
	// fingerprintCacheMax bounds the entries kept (oldest dropped).
	fingerprintCacheMax = 1024
	// fingerprintCacheLimit bounds the cache file read.
	fingerprintCacheLimit = 1 << 20
	// racyWindow: a file modified (or changed) less than this before its
	// hash is taken may be modified again in the same clock tick, unseen;
	// its hash is not remembered.
	racyWindow = 3 * time.Second
	// readChunk is how much of a file is read at a time.
	readChunk = 4 << 20
)

// DefaultFingerprinter remembers hashes in the user's cache folder
// (e.g. ~/.cache/saescope/fingerprints.json), or nowhere when there is
// none.
func DefaultFingerprinter() *Fingerprinter {
	fp := &Fingerprinter{}
	if dir, err := os.UserCacheDir(); err == nil {
		fp.CachePath = filepath.Join(dir, "saescope", "fingerprints.json")
	}
	return fp
}

// Fingerprint is DefaultFingerprinter().Fingerprint without cancellation.
func Fingerprint(path string) (string, error) {
	return DefaultFingerprinter().Fingerprint(context.Background(), path)
}

// Fingerprint returns a hex SHA-256 over the name, size and content hash
// of the file at path, or of every regular file in the folder at path
// (links followed: a Hugging Face snapshot folder holds only symbolic
// links into blobs/), in name order. A path that is neither a folder nor a
// regular file (a device, a FIFO) is refused without being read.
func (fp *Fingerprinter) Fingerprint(ctx context.Context, path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", path, err)
	}
	var files []string
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", path, err)
		}
		for _, e := range entries {
			p := filepath.Join(path, e.Name())
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				files = append(files, p)
			}
		}
		sort.Strings(files)
	} else {
		files = []string{path}
	}
	cache := fp.load()
	var fresh []fingerprintEntry
	h := sha256.New()
	for _, p := range files {
		sum, size, entry, err := fp.hashFile(ctx, p, cache)
		if err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", path, err)
		}
		if entry != nil {
			fresh = append(fresh, *entry)
		}
		io.WriteString(h, filepath.Base(p))
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(size))
		h.Write(n[:])
		h.Write(sum[:])
	}
	if len(fresh) > 0 {
		fp.save(fresh) // best effort: a cache that cannot be written is only slower
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileID identifies a file's content without reading it.
type fileID struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Ctime int64  `json:"ctime_ns"`
}

// fingerprintEntry is a remembered hash.
type fingerprintEntry struct {
	fileID
	Hash  string `json:"xxh3_128"` // 32 hex digits
	Added int64  `json:"added"`    // Unix seconds, for dropping the oldest
}

// hashFile returns the XXH3-128 of the file at p and its size: from cache
// when its identity is there, else by reading it, in which case entry is
// what to remember (nil when the file is too recent or changed while it
// was read).
func (fp *Fingerprinter) hashFile(ctx context.Context, p string, cache map[fileID][16]byte) (sum [16]byte, size int64, entry *fingerprintEntry, err error) {
	f, err := regularfile.Open(p)
	if err != nil {
		return sum, 0, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return sum, 0, nil, err
	}
	id, ok := identify(st)
	if ok {
		if s, hit := cache[id]; hit {
			return s, st.Size(), nil, nil
		}
	}
	start := time.Now()
	h := xxh3.New128()
	buf := make([]byte, readChunk)
	for {
		if err := ctx.Err(); err != nil {
			return sum, 0, nil, err
		}
		n, rerr := f.Read(buf)
		h.Write(buf[:n])
		size += int64(n)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return sum, 0, nil, rerr
		}
	}
	sum = h.Sum128().Bytes()
	if !ok {
		return sum, size, nil, nil
	}
	after, err := f.Stat()
	if err != nil {
		return sum, size, nil, nil
	}
	id2, ok := identify(after)
	window := racyWindow
	if fp.racy > 0 {
		window = fp.racy
	}
	racy := start.Add(-window).UnixNano()
	if !ok || id2 != id || size != id.Size || id.Mtime >= racy || id.Ctime >= racy {
		return sum, size, nil, nil
	}
	return sum, size, &fingerprintEntry{fileID: id, Hash: hex.EncodeToString(sum[:]), Added: start.Unix()}, nil
}

// fingerprintFile is the cache file: its entries, and their XXH3-64 so
// that a damaged file that still parses is not trusted.
type fingerprintFile struct {
	Version int             `json:"version"`
	Check   string          `json:"check"`
	Entries json.RawMessage `json:"entries"`
}

// readCache returns the entries of the cache file, or nil when there is
// none or it is damaged in any way.
func (fp *Fingerprinter) readCache() []fingerprintEntry {
	if fp.CachePath == "" {
		return nil
	}
	data, err := regularfile.ReadFile(fp.CachePath, fingerprintCacheLimit)
	if err != nil {
		return nil
	}
	var file fingerprintFile
	if json.Unmarshal(data, &file) != nil || file.Version != fingerprintCacheVersion ||
		file.Check != fmt.Sprintf("%016x", xxh3.Hash(file.Entries)) {
		return nil
	}
	var entries []fingerprintEntry
	if json.Unmarshal(file.Entries, &entries) != nil {
		return nil
	}
	for _, e := range entries {
		if b, err := hex.DecodeString(e.Hash); err != nil || len(b) != 16 {
			return nil
		}
	}
	return entries
}

// load returns the remembered hashes by identity.
func (fp *Fingerprinter) load() map[fileID][16]byte {
	m := map[fileID][16]byte{}
	for _, e := range fp.readCache() {
		var s [16]byte
		hex.Decode(s[:], []byte(e.Hash)) // checked by readCache
		m[e.fileID] = s
	}
	return m
}

// save adds entries to the cache file (read again first, so that the
// entries another process added since are kept), dropping the oldest
// beyond fingerprintCacheMax, and replaces it atomically.
func (fp *Fingerprinter) save(fresh []fingerprintEntry) error {
	if fp.CachePath == "" {
		return nil
	}
	byID := map[fileID]fingerprintEntry{}
	for _, e := range fp.readCache() {
		byID[e.fileID] = e
	}
	for _, e := range fresh {
		byID[e.fileID] = e
	}
	entries := make([]fingerprintEntry, 0, len(byID))
	for _, e := range byID {
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b fingerprintEntry) int { // newest first, then by identity
		return cmp.Or(cmp.Compare(b.Added, a.Added), cmp.Compare(a.Dev, b.Dev), cmp.Compare(a.Ino, b.Ino))
	})
	if len(entries) > fingerprintCacheMax {
		entries = entries[:fingerprintCacheMax]
	}
	raw, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	data, err := json.Marshal(fingerprintFile{Version: fingerprintCacheVersion, Check: fmt.Sprintf("%016x", xxh3.Hash(raw)), Entries: raw})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(fp.CachePath), 0o755); err != nil {
		return fmt.Errorf("fingerprint cache: %w", err)
	}
	if err := atomicfile.WriteFile(fp.CachePath, data, 0o644); err != nil {
		return fmt.Errorf("fingerprint cache %s: %w", fp.CachePath, err)
	}
	return nil
}
