package catalog

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/ulikunitz/xz"

	"github.com/saescope/saescope/internal/regularfile"
	"github.com/saescope/saescope/weights/hub"
)

// fetchArchive builds a corpus from the archive the dataset's loading
// script names, as the script would: every .xz member of the archive's
// top folder (sorted) is a tar.xz of .txt files; each text file (sorted)
// is one document, runs of three or more newlines squeezed to two and the
// ends trimmed. The documents are written, in that order, as a .jsonl
// file under the client's DataDir. why is the reason the parquet export
// was not used.
func (e *Entry) fetchArchive(ctx context.Context, c *hub.Client, progress func(Progress), why error) (string, error) {
	a := e.Archive
	if c.DataDir == "" {
		return "", fmt.Errorf("%s: no data folder to build the corpus in", e.Name)
	}
	archiveURL := a.URL
	script, err := c.Download(ctx, e.Repo, hub.DefaultRevision, a.Script, nil)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if archiveURL == "" {
			return "", fmt.Errorf("%s: no parquet export (%v), and its loading script cannot be read: %w", e.Name, why, err)
		}
	} else if u := archiveURLFromScript(script); u != "" {
		archiveURL = u
	}
	u, err := url.Parse(archiveURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("%s: the loading script names %q, not an http(s) address", e.Name, archiveURL)
	}
	name := path.Base(u.Path)
	if name == "" || name == "." || name == ".." || name == "/" || strings.ContainsAny(name, `\`) {
		return "", fmt.Errorf("%s: the archive address %q names no file", e.Name, archiveURL)
	}
	dl := filepath.Join(c.DataDir, "downloads", name)
	cb := func(p hub.Progress) {
		report(progress, Progress{Entry: e.Name, File: name, Files: 1, Done: p.Done, Total: p.Total,
			AllDone: p.Done, AllTotal: p.Total, BytesPerS: p.BytesPerS, ETA: p.ETA})
	}
	if err := c.DownloadURL(ctx, archiveURL, dl, -1, "", cb); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("%s: no parquet export (%v); its archive: %w", e.Name, why, err)
	}
	outDir := filepath.Join(c.DataDir, a.Dir)
	out := filepath.Join(outDir, a.Output)
	if err := os.MkdirAll(outDir, 0o777); err != nil {
		return "", err
	}
	n, err := extractDocuments(ctx, dl, out)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		// A damaged archive (cut short, not an archive) would be reused as
		// it is next time: the next attempt downloads it again.
		_ = os.Remove(dl)
		return "", fmt.Errorf("%s: %s: %w (the download was deleted; try again)", e.Name, name, err)
	}
	_ = os.Remove(dl) // the documents are what is kept
	fi, _ := os.Stat(out)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	report(progress, Progress{Entry: e.Name, File: a.Output, FileIndex: 1, Files: 1, AllDone: size, AllTotal: size, Finished: true})
	if n == 0 {
		return "", fmt.Errorf("%s: %s holds no text file", e.Name, name)
	}
	return outDir, nil
}

// maxScriptBytes bounds what is read of a loading script (a few kB).
const maxScriptBytes = 4 << 20

var (
	scriptURLRE = regexp.MustCompile(`(?m)^_URLS?\s*=\s*["']([^"']+)["']`)
	anyURLRE    = regexp.MustCompile(`https?://[^\s"']+\.(?:tar\.xz|tar\.gz|tgz|tar)`)
)

// archiveURLFromScript reads the archive's URL from a datasets loading
// script: its _URL = "…" line, else the first archive address in it.
func archiveURLFromScript(p string) string {
	raw, err := regularfile.ReadFile(p, maxScriptBytes)
	if err != nil {
		return ""
	}
	if m := scriptURLRE.FindSubmatch(raw); m != nil {
		return string(m[1])
	}
	if m := anyURLRE.Find(raw); m != nil {
		return string(m)
	}
	return ""
}

// extractDocuments writes the documents of an openwebtext-style archive
// to out (.jsonl), atomically, and returns how many it wrote.
func extractDocuments(ctx context.Context, archive, out string) (int, error) {
	f, err := regularfile.Open(archive)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	outer, err := openTar(bufio.NewReader(f), archive)
	if err != nil {
		return 0, err
	}
	// The archive's members: inner .xz archives, by name.
	inner := map[string][]byte{}
	var innerBytes int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		h, err := outer.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("reading the archive: %w", err)
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(name, "xz") || strings.Count(name, "/") > 1 {
			continue
		}
		data, err := readAtMost(outer, maxInnerBytes-innerBytes)
		if err != nil {
			return 0, fmt.Errorf("reading %s: %w", name, err)
		}
		innerBytes += int64(len(data))
		inner[name] = data
	}
	if len(inner) == 0 {
		return 0, errors.New("no .xz member in the archive")
	}
	names := make([]string, 0, len(inner))
	for n := range inner {
		names = append(names, n)
	}
	sort.Strings(names)
	tmp := out + ".tmp"
	w, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o666)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp)
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	count := 0
	for _, n := range names {
		docs, err := textFiles(ctx, inner[n], n)
		if err != nil {
			w.Close()
			return 0, err
		}
		for _, d := range docs {
			if err := enc.Encode(map[string]string{"text": normalizeDocument(d)}); err != nil {
				w.Close()
				return 0, err
			}
			count++
		}
		inner[n] = nil
	}
	if err := bw.Flush(); err != nil {
		w.Close()
		return 0, err
	}
	if err := w.Sync(); err != nil {
		w.Close()
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return count, os.Rename(tmp, out)
}

// The archive is held in memory while its documents are written: its
// inner archives together, and the text of one inner archive, are bounded
// (openwebtext-10k's are about 15 MB and 50 MB), so that an archive that
// unpacks without end stops with an error instead of filling memory.
const (
	maxInnerBytes = 1 << 30
	maxTextBytes  = 2 << 30
)

// readAtMost reads r to its end, failing once more than max bytes came.
func readAtMost(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errors.New("the archive unpacks to more than SAE Scope holds in memory for a corpus (1 GiB of inner archives, 2 GiB of text each)")
	}
	return b, nil
}

// openTar reads a tar stream that may be xz-compressed.
func openTar(r *bufio.Reader, name string) (*tar.Reader, error) {
	magic, _ := r.Peek(6)
	if bytes.Equal(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}) {
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return tar.NewReader(xr), nil
	}
	return tar.NewReader(r), nil
}

// textFiles returns the .txt members at the top of an inner tar.xz, in
// name order (all .txt members in path order if none is at the top).
func textFiles(ctx context.Context, data []byte, name string) ([]string, error) {
	tr, err := openTar(bufio.NewReader(bytes.NewReader(data)), name)
	if err != nil {
		return nil, err
	}
	type doc struct{ name, text string }
	var top, all []doc
	var textBytes int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		n := strings.TrimPrefix(path.Clean(h.Name), "./")
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(n, "txt") {
			continue
		}
		raw, err := readAtMost(tr, maxTextBytes-textBytes)
		if err != nil {
			return nil, fmt.Errorf("reading %s in %s: %w", n, name, err)
		}
		textBytes += int64(len(raw))
		d := doc{n, string(raw)}
		all = append(all, d)
		if !strings.Contains(n, "/") {
			top = append(top, d)
		}
	}
	if len(top) == 0 {
		top = all
	}
	sort.Slice(top, func(i, j int) bool { return top[i].name < top[j].name })
	out := make([]string, len(top))
	for i, d := range top {
		out[i] = d.text
	}
	return out, nil
}

var manyNewlines = regexp.MustCompile(`\n\n\n+`)

// normalizeDocument is the loading script's
// re.sub("\n\n\n+", "\n\n", text).strip().
func normalizeDocument(s string) string {
	s = manyNewlines.ReplaceAllString(s, "\n\n")
	return strings.TrimFunc(s, pyIsSpace)
}

// pyIsSpace is Python's str.isspace for one character: Unicode white space
// and the ASCII separators 0x1c–0x1f.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}
