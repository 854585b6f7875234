package weights

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// fingerprintChunk is how much of each end of a large file is hashed.
const fingerprintChunk = 4 << 20

// Fingerprint identifies the content of a file or folder cheaply: a SHA-256
// over each file's name, size, first and last 4 MiB (the whole file when
// smaller). It changes when weights are re-downloaded or edited, and takes
// milliseconds on a 500 MB checkpoint; it is meant for cache keys, not
// for security.
func Fingerprint(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", path, err)
	}
	h := sha256.New()
	var files []string
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", path, err)
		}
		for _, e := range entries {
			// Follow links: a Hugging Face snapshot folder holds only
			// symlinks into blobs/.
			p := filepath.Join(path, e.Name())
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				files = append(files, p)
			}
		}
		sort.Strings(files)
	} else {
		files = []string{path}
	}
	for _, p := range files {
		if err := hashFile(h, p); err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(h io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	io.WriteString(h, filepath.Base(p))
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(size))
	h.Write(n[:])
	if size <= 2*fingerprintChunk {
		_, err = io.Copy(h, f)
		return err
	}
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fingerprintChunk)); err != nil {
		return err
	}
	_, err = io.Copy(h, io.NewSectionReader(f, size-fingerprintChunk, fingerprintChunk))
	return err
}
