package analysis

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saescope/saescope/compute/store"
)

// Key identifies an analysis: the model, SAE and corpus fingerprints, the
// hook and the parameters. Two scans with the same key give the same store.
func Key(meta store.Meta) string {
	h := sha256.New()
	p, _ := json.Marshal(meta.Params)
	fmt.Fprintf(h, "v%d\x00%s\x00%s\x00%s\x00%s\x00%s", store.FormatVersion, meta.Model.Hash, meta.SAE.Hash, meta.Corpus.Hash, meta.Hook, p)
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// CacheDir returns the folder of stores under the user's cache folder
// (e.g. ~/.cache/saescope/stores), creating it, and removes the temporary
// files that killed writes left there (never one a live process is
// writing: store.RemoveStaleTemps).
func CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache folder: %w", err)
	}
	dir := filepath.Join(base, "saescope", "stores")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the cache folder: %w", err)
	}
	store.RemoveStaleTemps(dir)
	return dir, nil
}

// StorePath is where the store of key lives in dir.
func StorePath(dir, key string) string { return filepath.Join(dir, key+".saestore") }

// OpenCached opens the store of key in dir. It returns (nil, nil) when
// there is none, or when the file there does not open (an older format
// version, or damage): the caller then scans again and replaces it.
func OpenCached(dir, key string) (*store.Store, error) {
	path := StorePath(dir, key)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	s, err := store.Open(path)
	if err != nil {
		if errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrOldVersion) {
			return nil, nil
		}
		return nil, err
	}
	if s.Meta.Key != key {
		s.Close()
		return nil, nil
	}
	return s, nil
}
