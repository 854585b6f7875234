// Package catalog lists the models, SAEs and corpora SAE Scope knows how
// to get from the Hugging Face hub, tells whether each is already on disk
// (in the hub cache, where Python tools may have put it), and fetches it.
//
// A first-run screen uses it like this, without any network request until
// the user asks for a download:
//
//	c, _ := hub.NewClientFromEnv()
//	for _, e := range catalog.FirstRun() {
//		st := e.Status(c)       // Ready (st.Path to load), Partial or Missing
//		_ = e.SizeText()        // "548.1 MB", "≈37.8 MB" or "size unknown until online"
//	}
//	online := c.Reachable(ctx) == nil                         // else say what cannot be fetched
//	sizes, _ := catalog.RemoteInfos(ctx, c, catalog.FirstRun()) // exact sizes, when online
//	path, err := e.Fetch(ctx, c, func(p catalog.Progress) { … }) // cancel with ctx
//
// Fetch returns the path to give the loaders: the model folder (config.json
// and model.safetensors) for gpt2.Load, the .pt file or SAELens folder for
// sae.Load, the folder of parquet (or .jsonl) files for corpus.Load.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/saescope/saescope/weights/hub"
)

// Kind is what an entry holds.
type Kind string

// The kinds of entry.
const (
	KindModel  Kind = "model"
	KindSAE    Kind = "sae"
	KindCorpus Kind = "corpus"
)

// Entry is a known release.
type Entry struct {
	// Name is what the user picks and `saescope fetch` takes, such as
	// "gpt2", "jacobcd52/resid_pre_9",
	// "gpt2-small-res-jb/blocks.9.hook_resid_pre" or "openwebtext-10k".
	Name string
	Kind Kind
	// Title describes the entry in a sentence fragment for a list.
	Title string
	// Repo is the repository on the hub; AltRepos are other ids the cache
	// may hold the same files under (the bare "gpt2" of older downloads).
	Repo     hub.Repo
	AltRepos []hub.Repo
	// Revision is the branch or ref to fetch ("main", "refs/convert/parquet").
	Revision string
	// Files are the files to fetch, paths in the repository. Empty for an
	// entry whose files come from the hub's listing (Listed).
	Files []string
	// Optional files are fetched when the hub has them (SAELens'
	// sparsity.safetensors).
	Optional []string
	// Listed, when set, picks the files from the listing of Revision.
	Listed *Listing
	// Target is the path inside the snapshot that Fetch and Status return:
	// "" for the snapshot folder itself, a file or a folder.
	Target string
	// Archive is where the data comes from when Listed finds nothing.
	Archive *Archive
	// Hook is the SAE's hook point (TransformerLens name); DIn and DSae
	// its input width and number of features.
	Hook      string
	DIn, DSae int
	// HookOut is the hook a transcoder writes (blocks.L.hook_mlp_out), ""
	// for an SAE, which writes where it reads.
	HookOut string
	// Release is the SAELens release the entry belongs to
	// ("gpt2-small-res-jb"), or the repository for those SAELens does
	// not list.
	Release string
	// Family says how the SAE encodes, in the words of sae.SAE.Describe:
	// "ReLU", "TopK (k = 32), layer_norm", "ReLU, attention heads
	// (hook_z)", "ReLU transcoder ln2.hook_normalized → hook_mlp_out".
	Family string
	// NoBOS is set for SAEs trained on rows without a BOS token (SAELens
	// prepend_bos false: OpenAI's v5); ContextSize is the training
	// context length when it is not 128 (64 for OpenAI's v5), 0 otherwise.
	NoBOS       bool
	ContextSize int
	// NeuronpediaID is the model/source id under which Neuronpedia hosts
	// the SAE's features ("gpt2-small/9-res-jb"), "" when it hosts none.
	NeuronpediaID string
	// NormScalingFactor is SAELens' norm_scaling_factor for the SAE (the
	// dataset's √d_in / E‖x‖, for normalize_activations
	// expected_average_only_in; gpt2-small-mlp-tm), 0 when none is given.
	NormScalingFactor float64
	// Note is a caveat worth showing beside the entry, "" when none.
	Note string
	// KnownSize is the download size shown before any network request, 0
	// when unknown; SizeExact says whether it is exact (from the hub's
	// listing) or an estimate (from the tensor shapes). SizeSource says
	// where it comes from. RemoteInfo gives exact sizes online.
	KnownSize  int64
	SizeExact  bool
	SizeSource string
	// Known are files whose content the catalogue knows, by path in the
	// repository. A cached blob named by a Known SHA-256 must have its
	// Size (else it is damaged: cut short, or grown); a copy in the
	// snapshot (a cache made without links) of that Size must have that
	// SHA-256.
	Known map[string]KnownFile
}

// KnownFile is what the catalogue knows of one file's content.
type KnownFile struct {
	// Size is the file's size in bytes.
	Size int64
	// SHA256 is the content's SHA-256 (for an LFS file, its ETag and the
	// name of its blob in the cache).
	SHA256 string
}

// Listing picks files of a revision by prefix and suffix.
type Listing struct {
	Prefix, Suffix string
}

// Archive describes a dataset that a loading script builds from an archive
// hosted outside the repository.
type Archive struct {
	// Script is the loading script's path in the repository (at main),
	// read for the archive's URL.
	Script string
	// URL is the archive's address as the script names it, used when the
	// script cannot be read.
	URL string
	// Dir is the folder under the client's DataDir where the documents are
	// written, as Output (a .jsonl file, one {"text": …} a line).
	Dir, Output string
}

// GPT2Repo is the repository of GPT-2 small.
var GPT2Repo = hub.Model("openai-community/gpt2")

const (
	jacobRepo  = "jacobcd52/gpt2-small-sparse-autoencoders"
	jbRepo     = "jbloom/GPT2-Small-SAEs-Reformatted"
	owtRepo    = "stas/openwebtext-10k"
	nLayers    = 12
	dModel     = 768
	jacobDSae  = 6144
	jbDSae     = 24576
	f32        = 4
	gpt2Config = 665
	gpt2ST     = 548_105_171
	// gpt2STSHA256 is model.safetensors' LFS oid at
	// openai-community/gpt2@607a30d783dfa663caf39e06633721c8d4cfcd7e.
	gpt2STSHA256 = "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"
)

// All returns every entry, in the order a list shows them: the model, the
// corpus, then the SAEs by release, hook point and layer. Each call returns
// fresh copies.
func All() []*Entry {
	out := []*Entry{
		{
			Name: "gpt2", Kind: KindModel, Title: "GPT-2 small (124M parameters), safetensors",
			Repo: GPT2Repo, AltRepos: []hub.Repo{hub.Model("gpt2")}, Revision: "main",
			Files:     []string{"config.json", "model.safetensors"},
			KnownSize: gpt2Config + gpt2ST, SizeExact: true,
			SizeSource: "hub listing of openai-community/gpt2 (config.json 665 B, model.safetensors 548,105,171 B)",
			Known:      map[string]KnownFile{"model.safetensors": {Size: gpt2ST, SHA256: gpt2STSHA256}},
		},
		{
			Name: "openwebtext-10k", Kind: KindCorpus, Title: "OpenWebText, first 10,000 documents (parquet export)",
			Repo: hub.Dataset(owtRepo), Revision: "refs/convert/parquet",
			Listed: &Listing{Prefix: "plain_text/train/", Suffix: ".parquet"}, Target: "plain_text/train",
			Archive: &Archive{
				Script: "openwebtext-10k.py",
				URL:    "https://cdn-datasets.huggingface.co/nlp/datasets/openwebtext/openwebtext-10k.tar.xz",
				Dir:    "openwebtext-10k", Output: "train.jsonl",
			},
		},
	}
	return append(out, saeReleases()...)
}

// FirstRun returns what the app needs to start a first analysis: GPT-2
// small, the default SAE (jacobcd52/resid_pre_9, as in the notebook) and
// the default corpus.
func FirstRun() []*Entry {
	var out []*Entry
	for _, n := range []string{"gpt2", "jacobcd52/resid_pre_9", "openwebtext-10k"} {
		if e, ok := Lookup(n); ok {
			out = append(out, e)
		}
	}
	return out
}

var aliases = map[string]string{
	"gpt2-small":            "gpt2",
	"openai-community/gpt2": "gpt2",
	"stas/openwebtext-10k":  "openwebtext-10k",
	"owt10k":                "openwebtext-10k",
}

// Lookup finds an entry by name (case-insensitive; also "gpt2-small",
// "openai-community/gpt2", "stas/openwebtext-10k",
// "gpt2-small-res-jb/9" for blocks.9.hook_resid_pre, and
// "gpt2-small-hook-z-kk/blocks.L.attn.hook_z" for SAELens'
// blocks.L.hook_z).
func Lookup(name string) (*Entry, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[n]; ok {
		n = a
	}
	if rest, ok := strings.CutPrefix(n, "gpt2-small-res-jb/"); ok && !strings.Contains(rest, ".") {
		n = "gpt2-small-res-jb/blocks." + rest + ".hook_resid_pre"
	}
	if rest, ok := strings.CutPrefix(n, "gpt2-small-hook-z-kk/"); ok {
		n = "gpt2-small-hook-z-kk/" + strings.Replace(rest, ".attn.hook_z", ".hook_z", 1)
	}
	for _, e := range All() {
		if strings.ToLower(e.Name) == n {
			return e, true
		}
	}
	return nil, false
}

// Names lists every entry's name.
func Names() []string {
	var out []string
	for _, e := range All() {
		out = append(out, e.Name)
	}
	return out
}

// SizeText is the size to show before downloading: "548.1 MB", "≈37.8 MB"
// for an estimate, or "size unknown until online".
func (e *Entry) SizeText() string {
	if e.KnownSize <= 0 {
		return "size unknown until online"
	}
	if e.SizeExact {
		return FormatBytes(e.KnownSize)
	}
	return "≈" + FormatBytes(e.KnownSize)
}

// FormatBytes writes a byte count in decimal units (kB, MB, GB).
func FormatBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1_000_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1_000_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

// State says how much of an entry is on disk.
type State string

// The states of an entry.
const (
	// Ready: every required file is on disk; Status.Path can be loaded.
	Ready State = "ready"
	// Partial: some files, or part of a download, are on disk.
	Partial State = "partial"
	// Missing: nothing is on disk.
	Missing State = "missing"
)

// Status is what the disk holds of an entry.
type Status struct {
	Name  string
	State State
	// Path is what to give the loader, when Ready.
	Path string
	// Repo is the repository the files were found under (an AltRepo, maybe).
	Repo hub.Repo
	// Have and Missing are the required files present and absent (for a
	// listed entry, Missing is empty: what exists is known only online).
	Have, Missing []string
	// LocalBytes is the size of the files present; PartialBytes that of
	// unfinished downloads in the repository's cache folder, which a
	// fetch resumes.
	LocalBytes, PartialBytes int64
	// Snapshot is the snapshot folder the files were found in, "" when
	// none (or for a corpus built from its archive).
	Snapshot string
	// Problems say what is wrong with files that are on disk but cannot be
	// used, one "FILE: what is wrong" each: a snapshot entry leading
	// outside the cache or to something that is not a regular file, a blob
	// of another size than the catalogue's (see Entry.Known). Those files
	// count as missing (State is Partial), and a fetch replaces them.
	Problems []string
}

// Status looks for the entry on disk, without any network request: in the
// snapshot its revision points to, then in every other snapshot of its
// repositories (newest first), then, for a corpus, in the folder its
// archive is extracted to.
func (e *Entry) Status(c *hub.Client) Status {
	st := Status{Name: e.Name, State: Missing, Repo: e.Repo}
	best := -1
	var problems []string
	seen := map[string]bool{}
	for _, repo := range append([]hub.Repo{e.Repo}, e.AltRepos...) {
		for _, dir := range e.candidateSnapshots(c, repo) {
			have, missing, bad, size := e.filesIn(c, repo, dir)
			if len(missing) == 0 && len(bad) == 0 && len(have) > 0 {
				st.State, st.Path, st.Repo, st.Snapshot = Ready, filepath.Join(dir, filepath.FromSlash(e.Target)), repo, dir
				st.Have, st.Missing, st.LocalBytes = have, nil, size
				return st
			}
			for _, p := range bad {
				if !seen[p] {
					seen[p] = true
					problems = append(problems, p)
				}
			}
			if len(have) > best {
				best = len(have)
				st.Repo, st.Have, st.Missing, st.LocalBytes, st.Snapshot = repo, have, missing, size, dir
			}
		}
	}
	if e.Archive != nil && c.DataDir != "" {
		p := filepath.Join(c.DataDir, e.Archive.Dir, e.Archive.Output)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return Status{Name: e.Name, State: Ready, Path: filepath.Dir(p), Repo: e.Repo, Have: []string{e.Archive.Output}, LocalBytes: fi.Size()}
		}
	}
	if best < 0 {
		st.Missing = append([]string(nil), e.Files...)
	}
	for _, repo := range append([]hub.Repo{e.Repo}, e.AltRepos...) {
		st.PartialBytes += c.PartialBytes(repo)
	}
	st.Problems = problems
	if len(st.Have) > 0 || st.PartialBytes > 0 || len(problems) > 0 {
		st.State = Partial
	}
	return st
}

// candidateSnapshots lists the snapshot folders to look in: the one the
// revision points to first.
func (e *Entry) candidateSnapshots(c *hub.Client, repo hub.Repo) []string {
	var out []string
	if commit, ok := c.CachedCommit(repo, e.Revision); ok {
		out = append(out, c.SnapshotDir(repo, commit))
	}
	for _, s := range c.Snapshots(repo) {
		if len(out) == 0 || s.Dir != out[0] {
			out = append(out, s.Dir)
		}
	}
	return out
}

// filesIn says which of the entry's files a snapshot folder of repo holds
// (have), which it lacks (missing: absent or damaged) and what is wrong
// with the damaged ones (problems, "FILE: what"). Nothing is read.
func (e *Entry) filesIn(c *hub.Client, repo hub.Repo, dir string) (have, missing, problems []string, size int64) {
	files := e.Files
	if e.Listed != nil {
		files = listedLocal(dir, e.Listed)
	}
	for _, f := range files {
		se, err := c.CheckSnapshotEntry(repo, filepath.Join(dir, filepath.FromSlash(f)))
		if err == nil {
			err = e.checkKnown(f, se)
		}
		switch {
		case err == nil:
			have = append(have, f)
			size += se.Size
		case errors.Is(err, hub.ErrDamaged):
			problems = append(problems, f+": "+problemText(err))
			missing = append(missing, f)
		default:
			if e.Listed == nil {
				missing = append(missing, f)
			}
		}
	}
	if e.Listed != nil {
		missing = nil // what a listed entry lacks is known only online
	}
	return have, missing, problems, size
}

// checkKnown compares a cached file with what the catalogue knows of it:
// a blob named by the known SHA-256 must have the known size.
func (e *Entry) checkKnown(f string, se hub.SnapshotEntry) error {
	k, ok := e.Known[f]
	if !ok || k.SHA256 == "" || se.ETag != k.SHA256 || se.Size == k.Size {
		return nil
	}
	return &hub.Error{Path: se.Path, Kind: hub.ErrDamaged,
		Msg: fmt.Sprintf("blob %s is %s (%d bytes); the catalogue's is %s (%d bytes): cut short or damaged", shortHash(se.ETag), FormatBytes(se.Size), se.Size, FormatBytes(k.Size), k.Size)}
}

// knownHash is the SHA-256 to check a cached file against besides its
// blob's name: the catalogue's, for a copy of the known size.
func (e *Entry) knownHash(f string, se hub.SnapshotEntry) string {
	if k, ok := e.Known[f]; ok && se.Blob == "" && se.Size == k.Size {
		return k.SHA256
	}
	return ""
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// problemText is a damaged-entry error's message without the repository
// and path prefix (the caller names the file).
func problemText(err error) string {
	var he *hub.Error
	if errors.As(err, &he) {
		msg := he.Msg
		if he.Err != nil {
			msg += ": " + he.Err.Error()
		}
		return msg
	}
	return err.Error()
}

// listedLocal finds the names of a listing's files in a snapshot folder
// (what they are is for CheckSnapshotEntry to say).
func listedLocal(dir string, l *Listing) []string {
	root := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(l.Prefix, "/")))
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, rerr := filepath.Rel(dir, p)
		if rerr != nil {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, l.Prefix) && strings.HasSuffix(rel, l.Suffix) {
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// Progress reports a fetch. Reports come from the fetching goroutine.
type Progress struct {
	// Entry is the entry's name; File the file being fetched, the
	// FileIndex-th (from 0) of Files.
	Entry            string
	File             string
	FileIndex, Files int
	// Done and Total are the current file's bytes (Total -1: unknown).
	Done, Total int64
	// AllDone and AllTotal count every file of the entry (AllTotal -1:
	// unknown until each file's size is known).
	AllDone, AllTotal int64
	// BytesPerS is the current speed; ETA the time left for the entry
	// (for the file when AllTotal is unknown); 0 when unknown.
	BytesPerS float64
	ETA       time.Duration
	// Finished is set on the last report, once the entry is on disk.
	Finished bool
}

// Fetch makes the entry available on disk and returns the path to give
// the loaders. When Status already says Ready, each file is read and
// checked against the hash that names its blob (and the catalogue's, see
// Entry.Known); when all match it returns without any network request
// (about a second for GPT-2's 548 MB). A file that does not match, or that
// Status found damaged, is removed and downloaded again; offline, or with
// the hub out of reach, Fetch fails saying which file is wrong and how,
// with an error matching hub.ErrDamaged and hub.ErrOffline. Copies that no
// hash names (a cache made without links) are checked against the hub
// when it can be reached, and used as they are when not. Otherwise it lists the revision's files (for their
// sizes, and for a listed entry their names), then downloads each missing
// file into the hub cache at one commit, so that they share a snapshot
// folder. A corpus whose parquet export is missing is built from the
// archive its loading script names. Errors wrap hub.ErrOffline,
// hub.ErrNotFound, hub.ErrUnauthorized or hub.ErrHashMismatch; on
// cancellation Fetch returns ctx.Err() and what was downloaded so far is
// kept for the next try.
func (e *Entry) Fetch(ctx context.Context, c *hub.Client, progress func(Progress)) (string, error) {
	st := e.Status(c)
	damaged := st.Problems
	if st.State == Ready {
		bad, unchecked, err := e.verifyLocal(ctx, c, st)
		if err != nil {
			return "", err
		}
		// (Unchecked copies found under another repository id, such as a
		// legacy download, are used as they are: asking the hub would
		// download the entry again under its own id.)
		if len(bad) == 0 && (!unchecked || c.Offline || st.Repo != e.Repo) {
			report(progress, Progress{Entry: e.Name, FileIndex: len(st.Have), Files: len(st.Have),
				AllDone: st.LocalBytes, AllTotal: st.LocalBytes, Finished: true})
			return st.Path, nil
		}
		// Damaged files (removed, unless offline) are fetched again; files
		// that nothing names a hash for are checked against the hub.
		damaged = bad
	}
	if c.Offline && len(damaged) > 0 {
		return "", e.damagedError(damaged, &hub.Error{Kind: hub.ErrOffline, Msg: "downloads are off (HF_HUB_OFFLINE)"})
	}
	listing, lerr := c.ListFiles(ctx, e.Repo, e.Revision)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if errors.Is(lerr, hub.ErrOffline) {
		if len(damaged) > 0 {
			return "", e.damagedError(damaged, lerr)
		}
		if st.State == Ready { // the hub cannot be asked: the files on disk are used as they are
			report(progress, Progress{Entry: e.Name, FileIndex: len(st.Have), Files: len(st.Have),
				AllDone: st.LocalBytes, AllTotal: st.LocalBytes, Finished: true})
			return st.Path, nil
		}
	}
	if errors.Is(lerr, hub.ErrUnauthorized) {
		return "", fmt.Errorf("%s: %w", e.Name, lerr)
	}
	if lerr != nil && e.Listed == nil && !errors.Is(lerr, hub.ErrOffline) && !errors.Is(lerr, hub.ErrNotFound) {
		lerr = nil // the listing is only for sizes: carry on without
	}
	files, optional := e.Files, e.Optional
	if e.Listed != nil {
		if lerr != nil && !errors.Is(lerr, hub.ErrNotFound) {
			return "", fmt.Errorf("%s: cannot list the files to fetch: %w", e.Name, lerr)
		}
		files = pickListed(listing, e.Listed)
		if len(files) == 0 {
			if e.Archive != nil {
				return e.fetchArchive(ctx, c, progress, lerr)
			}
			return "", fmt.Errorf("%s: %w: no %s*%s file in %s@%s", e.Name, hub.ErrNotFound, e.Listed.Prefix, e.Listed.Suffix, e.Repo, e.Revision)
		}
	} else if errors.Is(lerr, hub.ErrOffline) {
		return "", fmt.Errorf("%s (%s, %s) is not on disk and cannot be fetched: %w", e.Name, e.Repo, e.SizeText(), lerr)
	}
	// What to fetch, and its total size when the listing gives it.
	sizes := map[string]int64{}
	listed := map[string]hub.FileInfo{}
	for _, f := range listing {
		sizes[f.Path] = f.Size
		listed[f.Path] = f
	}
	fetchList := append([]string(nil), files...)
	for _, f := range optional {
		if _, listed := sizes[f]; listed || listing == nil {
			fetchList = append(fetchList, f)
		}
	}
	var absent []string
	allTotal := int64(0)
	for i, f := range fetchList {
		n, ok := sizes[f]
		if !ok {
			allTotal = -1
			if listing != nil && i < len(files) {
				absent = append(absent, f)
			}
		} else if allTotal >= 0 {
			allTotal += n
		}
	}
	if len(absent) > 0 {
		return "", fmt.Errorf("%s: %w: %s@%s has no %s", e.Name, hub.ErrNotFound, e.Repo, e.Revision, strings.Join(absent, ", "))
	}

	revision := e.Revision
	var commit string
	var allDone int64
	start := time.Now()
	for i, f := range fetchList {
		required := i < len(files)
		rev := revision
		if commit != "" {
			rev = commit // one snapshot for all files
		}
		cb := func(p hub.Progress) {
			if progress == nil {
				return
			}
			pr := Progress{Entry: e.Name, File: f, FileIndex: i, Files: len(fetchList), Done: p.Done, Total: p.Total,
				AllDone: allDone + p.Done, AllTotal: allTotal, BytesPerS: p.BytesPerS, ETA: p.ETA}
			if allTotal > 0 && p.BytesPerS > 0 {
				pr.ETA = time.Duration(float64(allTotal-pr.AllDone) / p.BytesPerS * float64(time.Second))
			}
			progress(pr)
		}
		got, err := c.DownloadFile(ctx, e.Repo, rev, f, cb)
		if err == nil && !got.Downloaded {
			// The cache's copy: checked against its hash, and fetched again
			// when it does not have it.
			if verr := e.verifyFetched(ctx, c, f, got, listed[f]); verr != nil {
				if ctx.Err() != nil {
					return "", ctx.Err()
				}
				if !errors.Is(verr, hub.ErrDamaged) {
					return "", fmt.Errorf("%s: %w", e.Name, verr)
				}
				got, err = c.DownloadFile(ctx, e.Repo, rev, f, cb)
				if err != nil {
					err = fmt.Errorf("%w (the copy in the cache was damaged: %s)", err, problemText(verr))
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			if !required && errors.Is(err, hub.ErrNotFound) {
				continue
			}
			return "", fmt.Errorf("%s: %w", e.Name, err)
		}
		if commit == "" {
			commit = got.Commit
		}
		allDone += got.Size
	}
	if commit == "" {
		return "", fmt.Errorf("%s: nothing to fetch", e.Name)
	}
	p := filepath.Join(c.SnapshotDir(e.Repo, commit), filepath.FromSlash(e.Target))
	report(progress, Progress{Entry: e.Name, FileIndex: len(fetchList), Files: len(fetchList), AllDone: allDone, AllTotal: allDone,
		BytesPerS: float64(allDone) / max(time.Since(start).Seconds(), 1e-9), Finished: true})
	return p, nil
}

// verifyLocal checks the files of a Ready status against the hashes that
// name their blobs (and the catalogue's, see Entry.Known), reading each
// whole. bad says what is wrong with those that do not match, which are
// removed from the cache unless the client is offline (a fetch downloads
// them again); unchecked is set when some file has no hash to be checked
// against (a copy in a cache made without links).
func (e *Entry) verifyLocal(ctx context.Context, c *hub.Client, st Status) (bad []string, unchecked bool, err error) {
	if st.Snapshot == "" {
		return nil, false, nil // a corpus built from its archive
	}
	for _, f := range st.Have {
		se, err := c.CheckSnapshotEntry(st.Repo, filepath.Join(st.Snapshot, filepath.FromSlash(f)))
		checked := true
		if err == nil {
			checked, err = se.Verify(ctx, e.knownHash(f, se))
		}
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		switch {
		case err != nil:
			bad = append(bad, f+": "+problemText(err))
			if !c.Offline && se.Path != "" {
				if derr := c.Discard(st.Repo, se); derr != nil {
					return nil, false, fmt.Errorf("%s: %w", e.Name, derr)
				}
			}
		case !checked:
			unchecked = true
		}
	}
	return bad, unchecked, nil
}

// verifyFetched checks a file DownloadFile took from the cache against
// what the hub says of it (ref, from the listing, when it lists it; else
// the ETag DownloadFile got): its size, and the hash its blob is named by
// or, for a copy, the hub's. A file that does not match is removed (a link
// to another blob only as a link: that blob may be another file's), and an
// error matching hub.ErrDamaged returned.
func (e *Entry) verifyFetched(ctx context.Context, c *hub.Client, f string, got hub.File, ref hub.FileInfo) error {
	se, err := c.CheckSnapshotEntry(e.Repo, got.Path)
	if err != nil {
		return err
	}
	want := got.ETag
	if ref.Path != "" {
		want = ref.ETag()
		if se.Size != ref.Size {
			_ = c.Discard(e.Repo, hub.SnapshotEntry{Path: se.Path})
			return &hub.Error{Path: se.Path, Kind: hub.ErrDamaged, Msg: fmt.Sprintf("%d bytes, the hub lists %d", se.Size, ref.Size)}
		}
	}
	if se.Blob != "" && want != "" && se.ETag != want {
		_ = c.Discard(e.Repo, hub.SnapshotEntry{Path: se.Path})
		return &hub.Error{Path: se.Path, Kind: hub.ErrDamaged, Msg: fmt.Sprintf("links to blob %s, the hub names %s", shortHash(se.ETag), shortHash(want))}
	}
	if se.ETag == "" {
		se.ETag = want // a copy: the hub's ETag names its content
	}
	if _, err := se.Verify(ctx, e.knownHash(f, se)); err != nil {
		if errors.Is(err, hub.ErrDamaged) {
			if derr := c.Discard(e.Repo, se); derr != nil {
				return derr
			}
		}
		return err
	}
	return nil
}

// damagedError says which files on disk are damaged and why they cannot be
// fetched again now (cause: offline, or the hub unreachable).
func (e *Entry) damagedError(problems []string, cause error) error {
	it := "it"
	if len(problems) > 1 {
		it = "them"
	}
	return fmt.Errorf("%s: %w: %s; %s cannot be downloaded again now: %w; fetch %s again once the hub can be reached to replace %s",
		e.Name, hub.ErrDamaged, strings.Join(problems, "; "), it, cause, e.Name, it)
}

func pickListed(listing []hub.FileInfo, l *Listing) []string {
	var out []string
	for _, f := range listing {
		if strings.HasPrefix(f.Path, l.Prefix) && strings.HasSuffix(f.Path, l.Suffix) {
			out = append(out, f.Path)
		}
	}
	if len(out) == 0 {
		// Another config name than the expected one: any train split.
		for _, f := range listing {
			if strings.HasSuffix(f.Path, l.Suffix) && strings.Contains("/"+path.Dir(f.Path)+"/", "/train/") {
				out = append(out, f.Path)
			}
		}
	}
	sort.Strings(out)
	return out
}

func report(progress func(Progress), p Progress) {
	if progress != nil {
		progress(p)
	}
}

// Remote is what the hub says about an entry.
type Remote struct {
	// Size is the total size of the files a fetch would download.
	Size int64
	// Files are the files with their sizes.
	Files []hub.FileInfo
	// Missing are required files the hub does not have at the revision.
	Missing []string
}

// RemoteInfo lists the entry's files on the hub with their exact sizes
// (one listing request per repository and revision: entries sharing one
// are answered together when given in one call to RemoteInfos).
func (e *Entry) RemoteInfo(ctx context.Context, c *hub.Client) (Remote, error) {
	m, err := RemoteInfos(ctx, c, []*Entry{e})
	return m[e.Name], err
}

// RemoteInfos is RemoteInfo for several entries, listing each repository
// and revision once. It returns what it could learn and the first error.
func RemoteInfos(ctx context.Context, c *hub.Client, entries []*Entry) (map[string]Remote, error) {
	type key struct {
		repo hub.Repo
		rev  string
	}
	listings := map[key][]hub.FileInfo{}
	failed := map[key]error{}
	out := map[string]Remote{}
	var firstErr error
	for _, e := range entries {
		k := key{e.Repo, e.Revision}
		if _, done := listings[k]; !done && failed[k] == nil {
			l, err := c.ListFiles(ctx, e.Repo, e.Revision)
			if err != nil {
				failed[k] = err
				if firstErr == nil {
					firstErr = err
				}
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
			} else {
				listings[k] = l
			}
		}
		listing, ok := listings[k]
		if !ok {
			continue
		}
		byPath := map[string]hub.FileInfo{}
		for _, f := range listing {
			byPath[f.Path] = f
		}
		var r Remote
		var want []string
		if e.Listed != nil {
			want = pickListed(listing, e.Listed)
		} else {
			want = append(append(want, e.Files...), e.Optional...)
		}
		for i, p := range want {
			f, ok := byPath[p]
			if !ok {
				if e.Listed == nil && i < len(e.Files) {
					r.Missing = append(r.Missing, p)
				}
				continue
			}
			r.Files = append(r.Files, f)
			r.Size += f.Size
		}
		out[e.Name] = r
	}
	return out, firstErr
}
