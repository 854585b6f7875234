// Package hubtest runs a local imitation of the Hugging Face hub for tests,
// on two httptest servers: the hub (resolve URLs answering HEAD and GET,
// the tree listing API, error headers, gated repositories, renamed
// repositories) and a separate "CDN" host that LFS files redirect to (Range
// requests, and on demand a connection cut mid-file, bytes that do not
// match the announced hash, a stall, or a server that ignores Range). It
// also records every request, so tests can count them and check which
// headers reached which host.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Server is the imitation hub and its CDN.
type Server struct {
	// Hub is the hub; its URL is the endpoint to give a client.
	Hub *httptest.Server
	// CDN serves LFS content and plain files, on another port (another host
	// for the client).
	CDN *httptest.Server
	// Token, when set, is the bearer token gated repositories require.
	Token string
	// PageSize > 0 splits tree listings into pages chained by Link headers.
	PageSize int

	mu      sync.Mutex
	repos   map[string]*Repo
	aliases map[string]string
	urls    map[string]*File
	log     []Request
}

// Request is one request a server received.
type Request struct {
	// Server is "hub" or "cdn".
	Server string
	Method string
	// Path is the escaped path and query, as sent.
	Path string
	// Range and Auth are the Range and Authorization headers received.
	Range, Auth string
}

// File is a file of a repository (or a plain file of the CDN).
type File struct {
	Path string
	Data []byte
	// LFS files are answered with a redirect to the CDN and X-Linked-Etag
	// (their SHA-256) and X-Linked-Size; others directly, with the git blob
	// SHA-1 as ETag.
	LFS bool
	// CutTimes > 0: that many GETs of the content send CutAfter bytes
	// (counted from the requested offset) and then close the connection.
	CutAfter, CutTimes int
	// Corrupt, when set, is served instead of Data while the hub still
	// announces Data's hash and size.
	Corrupt []byte
	// Block, when set, makes GETs send BlockAfter bytes and then wait until
	// Block is closed or the client goes away.
	BlockAfter int
	Block      chan struct{}
	// NoRange makes the content server ignore Range headers.
	NoRange bool
}

// SHA256 is the file's SHA-256, its LFS oid.
func (f *File) SHA256() string { return SHA256(f.Data) }

// GitSHA1 is the file's git blob id.
func (f *File) GitSHA1() string { return GitSHA1(f.Data) }

// ETag is the name huggingface_hub gives the file's blob in the cache.
func (f *File) ETag() string {
	if f.LFS {
		return f.SHA256()
	}
	return f.GitSHA1()
}

// Repo is a repository of the imitation hub.
type Repo struct {
	ID, Type string
	// Gated repositories answer 401 GatedRepo without the server's Token.
	Gated   bool
	mu      *sync.Mutex
	refs    map[string]string
	commits map[string]map[string]*File
}

// New starts the servers. Close them with Close.
func New() *Server {
	s := &Server{repos: map[string]*Repo{}, aliases: map[string]string{}, urls: map[string]*File{}}
	s.Hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.CDN = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	return s
}

// Close stops both servers.
func (s *Server) Close() {
	s.Hub.Close()
	s.CDN.Close()
}

// URL is the hub's endpoint.
func (s *Server) URL() string { return s.Hub.URL }

// AddRepo adds (or returns) a repository; typ is "model" or "dataset".
func (s *Server) AddRepo(typ, id string) *Repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := typ + ":" + id
	if r, ok := s.repos[key]; ok {
		return r
	}
	r := &Repo{ID: id, Type: typ, mu: &s.mu, refs: map[string]string{}, commits: map[string]map[string]*File{}}
	s.repos[key] = r
	return r
}

// Alias makes model id old answer with a relative redirect to model id
// new, as the hub does for renamed repositories (gpt2 →
// openai-community/gpt2).
func (s *Server) Alias(old, new string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aliases[old] = new
}

// Commit adds a commit holding files, and points the refs (such as "main"
// or "refs/convert/parquet") at it.
func (r *Repo) Commit(commit string, refs []string, files ...*File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]*File{}
	for _, f := range files {
		m[f.Path] = f
	}
	r.commits[commit] = m
	for _, ref := range refs {
		r.refs[ref] = commit
	}
}

// resolve turns a ref or commit into a commit.
func (r *Repo) resolve(rev string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.refs[rev]; ok {
		return c, true
	}
	if _, ok := r.commits[rev]; ok {
		return rev, true
	}
	return "", false
}

// AddURL serves data at path on the CDN and returns its URL.
func (s *Server) AddURL(path string, f *File) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urls[path] = f
	return s.CDN.URL + path
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Update runs fn while the servers do not read their data, so that a test
// can change a File or Repo (Corrupt, CutTimes, Gated…) between requests.
func (s *Server) Update(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// SHA256 is the hex SHA-256 of b.
func SHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// GitSHA1 is the git blob id of b: sha1("blob <len>\x00" + b).
func GitSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// CommitID makes a 40-hex commit hash from a seed.
func CommitID(seed string) string {
	h := sha1.Sum([]byte("commit " + seed))
	return hex.EncodeToString(h[:])
}

func (s *Server) record(server string, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		p += "?" + r.URL.RawQuery
	}
	s.log = append(s.log, Request{Server: server, Method: r.Method, Path: p, Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization")})
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	if msg != "" {
		w.Header().Set("X-Error-Message", msg)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{%q: %q}\n", "error", msg)
}

// lookupRevision finds repository id and the commit of revision rev in
// it, or answers the request with the hub's error and returns nil.
func (s *Server) lookupRevision(w http.ResponseWriter, r *http.Request, typ, id, rev string) (*Repo, string) {
	repo := s.lookup(w, r, typ, id)
	if repo == nil {
		return nil, ""
	}
	commit, ok := repo.resolve(rev)
	if !ok {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return nil, ""
	}
	return repo, commit
}

// lookup finds a repository and checks access; it writes the error answer
// and returns nil when the request cannot go on.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, typ, id string) *Repo {
	s.mu.Lock()
	repo := s.repos[typ+":"+id]
	gated := repo != nil && repo.Gated
	s.mu.Unlock()
	auth := r.Header.Get("Authorization")
	if repo == nil {
		if auth == "" {
			hubError(w, http.StatusUnauthorized, "RepoNotFound", "Invalid username or password.")
		} else {
			hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		}
		return nil
	}
	if gated && (s.Token == "" || auth != "Bearer "+s.Token) {
		hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+id+" is restricted. You must have access to it and be authenticated to access it. Please log in.")
		return nil
	}
	return repo
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	s.record("hub", r)
	p := r.URL.EscapedPath()
	if strings.HasPrefix(p, "/api/") {
		s.serveTree(w, r, strings.TrimPrefix(p, "/api/"))
		return
	}
	typ := "model"
	rest := strings.TrimPrefix(p, "/")
	if strings.HasPrefix(rest, "datasets/") {
		typ, rest = "dataset", strings.TrimPrefix(rest, "datasets/")
	}
	i := strings.Index(rest, "/resolve/")
	if i < 0 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	id := rest[:i]
	after := rest[i+len("/resolve/"):]
	j := strings.IndexByte(after, '/')
	if j < 0 {
		http.NotFound(w, r)
		return
	}
	revEsc, pathEsc := after[:j], after[j+1:]
	s.mu.Lock()
	newID, renamed := s.aliases[id]
	s.mu.Unlock()
	if typ == "model" && renamed {
		w.Header().Set("Location", "/"+newID+"/resolve/"+revEsc+"/"+pathEsc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	rev, err1 := url.PathUnescape(revEsc)
	filePath, err2 := url.PathUnescape(pathEsc)
	if err1 != nil || err2 != nil {
		http.Error(w, "bad escape", http.StatusBadRequest)
		return
	}
	repo, commit := s.lookupRevision(w, r, typ, id, rev)
	if repo == nil {
		return
	}
	s.mu.Lock()
	f := repo.commits[commit][filePath]
	s.mu.Unlock()
	w.Header().Set("X-Repo-Commit", commit)
	if f == nil {
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	if f.LFS {
		sha := f.SHA256()
		pointer := fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha, len(f.Data))
		w.Header().Set("X-Linked-Etag", `"`+sha+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.Data)))
		w.Header().Set("ETag", `"`+GitSHA1([]byte(pointer))+`"`)
		w.Header().Set("Location", s.CDN.URL+"/repos/"+sha[:2]+"/"+sha+"?X-Amz-Signature=test&response-content-disposition=attachment")
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+f.GitSHA1()+`"`)
	s.serveContent(w, r, f)
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.record("cdn", r)
	p := r.URL.Path
	s.mu.Lock()
	f := s.urls[p]
	if f == nil && strings.HasPrefix(p, "/repos/") {
		sha := p[strings.LastIndexByte(p, '/')+1:]
	find:
		for _, repo := range s.repos {
			for _, files := range repo.commits {
				for _, cand := range files {
					if cand.LFS && cand.SHA256() == sha {
						f = cand
						break find
					}
				}
			}
		}
	}
	s.mu.Unlock()
	if f == nil {
		http.Error(w, "<Error><Code>NoSuchKey</Code></Error>", http.StatusNotFound)
		return
	}
	s.serveContent(w, r, f)
}

// serveContent answers HEAD and GET (with "bytes=N-" ranges) for a file,
// applying its failure modes.
func (s *Server) serveContent(w http.ResponseWriter, r *http.Request, f *File) {
	s.mu.Lock()
	data := f.Data
	if f.Corrupt != nil {
		data = f.Corrupt
	}
	noRange, block, blockAfter := f.NoRange, f.Block, f.BlockAfter
	s.mu.Unlock()
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && !noRange {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil || n < 0 || !strings.HasPrefix(rg, "bytes=") || !strings.HasSuffix(rg, "-") {
			http.Error(w, "unsupported range", http.StatusBadRequest)
			return
		}
		if n >= len(data) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = n
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(data)-1, len(data)))
	}
	body := data[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead && f.Corrupt != nil {
		// A corrupt file is announced with the size of the good one.
		w.Header().Set("Content-Length", strconv.Itoa(max(0, len(f.Data)-start)))
	}
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Type", "application/octet-stream")
	status := http.StatusOK
	if start > 0 {
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	s.mu.Lock()
	cut, cutAfter := f.CutTimes > 0 && f.CutAfter < len(body), f.CutAfter
	if cut {
		f.CutTimes--
	}
	s.mu.Unlock()
	switch {
	case cut:
		w.Write(body[:cutAfter])
		w.(http.Flusher).Flush()
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	case block != nil && blockAfter < len(body):
		w.Write(body[:blockAfter])
		w.(http.Flusher).Flush()
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
		w.Write(body[blockAfter:])
		return
	}
	w.Write(body)
}

type treeItem struct {
	Type string   `json:"type"`
	OID  string   `json:"oid"`
	Size int      `json:"size"`
	Path string   `json:"path"`
	LFS  *lfsItem `json:"lfs,omitempty"`
}

type lfsItem struct {
	OID         string `json:"oid"`
	Size        int    `json:"size"`
	PointerSize int    `json:"pointerSize"`
}

// serveTree answers /api/{models|datasets}/{id}/tree/{revision}.
func (s *Server) serveTree(w http.ResponseWriter, r *http.Request, p string) {
	var typ string
	switch {
	case strings.HasPrefix(p, "models/"):
		typ, p = "model", strings.TrimPrefix(p, "models/")
	case strings.HasPrefix(p, "datasets/"):
		typ, p = "dataset", strings.TrimPrefix(p, "datasets/")
	default:
		http.NotFound(w, r)
		return
	}
	i := strings.Index(p, "/tree/")
	if i < 0 {
		http.NotFound(w, r)
		return
	}
	id, revEsc := p[:i], p[i+len("/tree/"):]
	if j := strings.IndexByte(revEsc, '/'); j >= 0 {
		revEsc = revEsc[:j] // a folder inside the repository: not imitated
	}
	rev, err := url.PathUnescape(revEsc)
	if err != nil {
		http.Error(w, "bad escape", http.StatusBadRequest)
		return
	}
	repo, commit := s.lookupRevision(w, r, typ, id, rev)
	if repo == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recursive := r.URL.Query().Get("recursive") == "true"
	var items []treeItem
	dirs := map[string]bool{}
	for _, f := range repo.commits[commit] {
		parts := strings.Split(f.Path, "/")
		for k := 1; k < len(parts); k++ {
			dirs[strings.Join(parts[:k], "/")] = true
		}
		if !recursive && len(parts) > 1 {
			continue
		}
		it := treeItem{Type: "file", Path: f.Path, Size: len(f.Data), OID: f.GitSHA1()}
		if f.LFS {
			it.LFS = &lfsItem{OID: f.SHA256(), Size: len(f.Data), PointerSize: 134}
			it.OID = GitSHA1([]byte("pointer " + f.SHA256()))
		}
		items = append(items, it)
	}
	for d := range dirs {
		if recursive || !strings.Contains(d, "/") {
			items = append(items, treeItem{Type: "directory", Path: d, OID: GitSHA1([]byte(d))})
		}
	}
	sort.Slice(items, func(a, b int) bool { return items[a].Path < items[b].Path })
	if s.PageSize > 0 {
		from, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		from = max(0, min(from, len(items)))
		to := min(from+s.PageSize, len(items))
		if to < len(items) {
			q := r.URL.Query()
			q.Set("cursor", strconv.Itoa(to))
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.Hub.URL, r.URL.EscapedPath(), q.Encode()))
		}
		items = items[from:to]
	}
	if items == nil {
		items = []treeItem{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(items)
}
