package hub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// checksum is what a download must hash to; empty fields are not checked.
type checksum struct {
	sha256  string
	gitSHA1 string // the git blob id: sha1("blob <size>\x00" + content)
}

// checksumFor is the check for a blob named etag: its SHA-256 when etag is
// one (an LFS file), its git blob SHA-1 when etag is one and size is known
// (a small file), none otherwise.
func checksumFor(etag string, size int64) checksum {
	want := checksum{}
	switch {
	case sha256RE.MatchString(etag):
		want.sha256 = etag
	case commitRE.MatchString(etag) && size >= 0:
		want.gitSHA1 = etag
	}
	return want
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
