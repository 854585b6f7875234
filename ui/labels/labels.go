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
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
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

// Book is the labels of one SAE. It is safe for concurrent use.
type Book struct {
	path string
	sae  string
	mu   sync.Mutex
	m    map[int]Entry
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
	b := &Book{path: filepath.Join(dir, name+".json"), sae: saePath, m: map[int]Entry{}}
	raw, err := os.ReadFile(b.path)
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("labels %s: %w", b.path, err)
	}
	var ff fileFormat
	if err := json.Unmarshal(raw, &ff); err != nil {
		aside := b.path + ".damaged"
		for i := 1; ; i++ {
			cand := fmt.Sprintf("%s-%d", aside, i)
			if _, err := os.Stat(cand); errors.Is(err, os.ErrNotExist) {
				aside = cand
				break
			}
		}
		os.Rename(b.path, aside)
		return b, fmt.Errorf("labels %s could not be read (%v); it was kept as %s and a new book started", b.path, err, aside)
	}
	for k, e := range ff.Features {
		var f int
		if _, err := fmt.Sscan(k, &f); err == nil && f >= 0 {
			b.m[f] = e
		}
	}
	return b, nil
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

func (b *Book) save() error {
	ff := fileFormat{Version: 1, SAE: b.sae, Features: map[string]Entry{}}
	for f, e := range b.m {
		ff.Features[fmt.Sprint(f)] = e
	}
	raw, err := json.MarshalIndent(ff, "", "  ")
	if err != nil {
		return err
	}
	tmp := b.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("save labels: %w", err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("save labels: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("save labels: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save labels: %w", err)
	}
	if err := os.Rename(tmp, b.path); err != nil {
		return fmt.Errorf("save labels: %w", err)
	}
	return nil
}
