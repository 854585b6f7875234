// Package labels keeps the labels and notes a researcher writes on
// features. Each SAE has its own file (keyed by the SAE's fingerprint) in
// the user's config folder; every change is written at once, atomically
// (temporary file, sync, rename), so a crash or kill never loses more than
// the keystroke in flight and never leaves a half-written file.
package labels

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/saescope/saescope/internal/atomicfile"
)

// Entry is what the user wrote about one feature.
type Entry struct {
	Label string `json:"label,omitempty"`
	Notes string `json:"notes,omitempty"`
}

type fileFormat struct {
	Version  int              `json:"version"`
	SAE      string           `json:"sae"`
	Features map[string]Entry `json:"features"`
}

// Book is the labels of one SAE. It is safe for concurrent use. Two books
// on the same file (the SAE open in two windows) do not undo each other's
// edits: a save merges what the other wrote since this book last read or
// wrote the file (see save).
type Book struct {
	path    string
	sae     string
	mu      sync.Mutex
	m       map[int]Entry
	base    map[int]Entry // the file's features as this book last read or wrote them
	unsaved bool          // the last save failed: m holds edits the file lacks
}

// Dir returns the default folder of label files (e.g. ~/.config/saescope/labels).
func Dir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config folder: %w", err)
	}
	return filepath.Join(base, "saescope", "labels"), nil
}

// Open reads (or starts) the label book of the SAE with fingerprint
// saeHash in dir. A damaged file is kept aside as <name>.damaged-N and an
// error says so; it is never overwritten.
func Open(dir, saeHash, saePath string) (*Book, error) {
	if saeHash == "" {
		return nil, errors.New("labels: empty SAE fingerprint")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	name := saeHash
	if len(name) > 32 {
		name = name[:32]
	}
	b := &Book{path: filepath.Join(dir, name+".json"), sae: saePath, m: map[int]Entry{}, base: map[int]Entry{}}
	disk, err := readFile(b.path)
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	var damaged *damagedError
	if errors.As(err, &damaged) {
		aside := b.path + ".damaged"
		for i := 1; ; i++ {
			cand := fmt.Sprintf("%s-%d", aside, i)
			if _, err := os.Stat(cand); errors.Is(err, os.ErrNotExist) {
				aside = cand
				break
			}
		}
		if rerr := os.Rename(b.path, aside); rerr != nil {
			// Saving would overwrite the damaged file: no book.
			return nil, fmt.Errorf("labels %s could not be read (%v) nor moved aside (%v)", b.path, damaged.err, rerr)
		}
		return b, fmt.Errorf("labels %s could not be read (%v); it was kept as %s and a new book started", b.path, damaged.err, aside)
	}
	if err != nil {
		return nil, fmt.Errorf("labels %s: %w", b.path, err)
	}
	b.m, b.base = disk, maps.Clone(disk)
	return b, nil
}

// damagedError is a label file that is not a label book.
type damagedError struct{ err error }

func (e *damagedError) Error() string { return e.err.Error() }

// readFile reads a label file's features.
func readFile(path string) (map[int]Entry, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ff fileFormat
	if err := json.Unmarshal(raw, &ff); err != nil {
		return nil, &damagedError{err}
	}
	m := map[int]Entry{}
	for k, e := range ff.Features {
		var f int
		if _, err := fmt.Sscan(k, &f); err == nil && f >= 0 {
			m[f] = e
		}
	}
	return m, nil
}

// Path returns the book's file.
func (b *Book) Path() string { return b.path }

// Get returns feature f's entry (empty when none).
func (b *Book) Get(f int) Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[f]
}

// Label returns feature f's label.
func (b *Book) Label(f int) string { return b.Get(f).Label }

// Set stores feature f's entry and writes the book to disk before
// returning.
func (b *Book) Set(f int, e Entry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.Label == "" && e.Notes == "" {
		delete(b.m, f)
	} else {
		b.m[f] = e
	}
	return b.save()
}

// Save writes the book again if its last write failed (a full disk), so
// that an edit that could not be saved is not lost when no other edit
// follows; it does nothing otherwise.
func (b *Book) Save() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.unsaved {
		return nil
	}
	return b.save()
}

// Find returns the features whose label or notes contain q (case-insensitive), sorted.
func (b *Book) Find(q string) []int {
	q = strings.ToLower(strings.TrimSpace(q))
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int
	for f, e := range b.m {
		if q != "" && (strings.Contains(strings.ToLower(e.Label), q) || strings.Contains(strings.ToLower(e.Notes), q)) {
			out = append(out, f)
		}
	}
	sort.Ints(out)
	return out
}

// save writes the book (b.mu held). It first merges the file as it is
// now: a feature another book changed there since this one last read or
// wrote the file, and this book has not changed, takes the other's entry
// (a three-way merge on b.base), so two windows labelling the same SAE
// keep each other's labels; where both changed a feature, this edit wins.
func (b *Book) save() (err error) {
	defer func() { b.unsaved = err != nil }()
	if disk, rerr := readFile(b.path); rerr == nil {
		for f := range disk {
			if _, ok := b.base[f]; !ok {
				b.base[f] = Entry{} // present on disk, not in base: added there
			}
		}
		for f, was := range b.base {
			now := disk[f]
			if now != was && b.m[f] == was {
				if now == (Entry{}) {
					delete(b.m, f)
				} else {
					b.m[f] = now
				}
			}
		}
	}
	ff := fileFormat{Version: 1, SAE: b.sae, Features: map[string]Entry{}}
	for f, e := range b.m {
		ff.Features[fmt.Sprint(f)] = e
	}
	raw, err := json.MarshalIndent(ff, "", "  ")
	if err != nil {
		return err
	}
	// Through a temporary file of its own: two processes saving at once
	// never write into the same one, and a full disk leaves the old book.
	if err := atomicfile.WriteFile(b.path, raw, 0o644); err != nil {
		return fmt.Errorf("save labels: %w", err)
	}
	b.base = maps.Clone(b.m)
	return nil
}
