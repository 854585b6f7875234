package hub

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/saescope/saescope/internal/regularfile"
)

// DefaultEndpoint is the Hugging Face hub; HF_ENDPOINT overrides it.
const DefaultEndpoint = "https://huggingface.co"

// DefaultRevision is the branch used when no revision is given.
const DefaultRevision = "main"

// Client downloads files from a Hugging Face hub into a cache folder laid
// out as huggingface_hub lays it out. The zero value is not usable: build
// one with NewClientFromEnv, or fill in at least CacheDir (and Endpoint,
// unless Offline). A Client is safe for concurrent use once built; do not
// change its fields while downloads run.
type Client struct {
	// Endpoint is the hub's base URL, without a trailing slash
	// (DefaultEndpoint unless HF_ENDPOINT says otherwise).
	Endpoint string
	// CacheDir is the hub cache folder (…/huggingface/hub).
	CacheDir string
	// Token, when not empty, is sent as a bearer token to the hub's host
	// (never to the CDN it redirects to). It is never logged or printed:
	// the String method of a Client hides it.
	Token string
	// Offline forbids every network request: only cached files are
	// returned, and anything else fails with ErrOffline.
	Offline bool
	// HTTP is the client used for requests; nil means a default one that
	// honours the usual proxy variables. Its CheckRedirect is replaced for
	// each request.
	HTTP *http.Client
	// UserAgent is sent with every request; empty means "saescope".
	UserAgent string
	// DataDir holds files that do not come from a hub repository (an
	// archive a dataset's loading script names, and what is extracted from
	// it). NewClientFromEnv sets it to <user cache folder>/saescope.
	DataDir string
	// Retries is how many times a download that breaks off (a cut
	// connection, a stalled or failed read, a 5xx answer) is resumed within
	// one call before giving up; the count starts again whenever bytes
	// arrive. 0 means 5, negative means none.
	Retries int
	// RetryDelay is the pause before each retry; 0 means one second.
	RetryDelay time.Duration
	// MetadataTimeout bounds each HEAD and listing request; 0 means 10 s
	// (HF_HUB_ETAG_TIMEOUT overrides it in NewClientFromEnv).
	MetadataTimeout time.Duration
	// StallTimeout aborts (and then retries) a download that receives no
	// byte for that long; 0 means 30 s (HF_HUB_DOWNLOAD_TIMEOUT overrides
	// it in NewClientFromEnv).
	StallTimeout time.Duration
	// ProgressInterval is the least time between two progress reports of
	// one file; 0 means 100 ms. The first and last reports are always made.
	ProgressInterval time.Duration
	// DisableSymlinks makes snapshots hold copies instead of links, as on
	// systems without symbolic links (HF_HUB_DISABLE_SYMLINKS).
	DisableSymlinks bool
}

// String describes the client without its token (also for a Client value,
// so that no way of printing a Client shows the token).
func (c Client) String() string {
	tok := "none"
	if c.Token != "" {
		tok = "set"
	}
	return fmt.Sprintf("hub.Client{Endpoint: %q, CacheDir: %q, Offline: %v, Token: %s}", c.Endpoint, c.CacheDir, c.Offline, tok)
}

// GoString is String, so that %#v does not print the token either.
func (c Client) GoString() string { return c.String() }

// Env is the subset of the environment that NewClientFromEnv reads, so that
// callers and tests can resolve settings without touching os.Environ.
type Env func(key string) string

// NewClientFromEnv builds a Client from the process environment, as
// huggingface_hub resolves its settings: see the package documentation.
// It reads the token file but makes no network request. An error means the
// home folder cannot be found (no HOME and no HF_HOME).
func NewClientFromEnv() (*Client, error) {
	return NewClientFromEnvFunc(os.Getenv)
}

// NewClientFromEnvFunc is NewClientFromEnv with the variables read through
// getenv.
func NewClientFromEnvFunc(getenv Env) (*Client, error) {
	home, err := HFHome(getenv)
	if err != nil {
		return nil, err
	}
	c := &Client{
		Endpoint:        strings.TrimRight(DefaultEndpoint, "/"),
		CacheDir:        filepath.Join(home, "hub"),
		Offline:         envTrue(getenv("HF_HUB_OFFLINE")) || envTrue(getenv("TRANSFORMERS_OFFLINE")),
		DisableSymlinks: envTrue(getenv("HF_HUB_DISABLE_SYMLINKS")),
	}
	if ep := getenv("HF_ENDPOINT"); ep != "" {
		c.Endpoint = strings.TrimRight(ep, "/")
	}
	if d := getenv("HF_HUB_CACHE"); d != "" {
		c.CacheDir = expandPath(d, getenv)
	} else if d := getenv("HUGGINGFACE_HUB_CACHE"); d != "" {
		c.CacheDir = expandPath(d, getenv)
	}
	if s := getenv("HF_HUB_ETAG_TIMEOUT"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			c.MetadataTimeout = time.Duration(n) * time.Second
		}
	}
	if s := getenv("HF_HUB_DOWNLOAD_TIMEOUT"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			c.StallTimeout = time.Duration(n) * time.Second
		}
	}
	if !envTrue(getenv("HF_HUB_DISABLE_IMPLICIT_TOKEN")) {
		c.Token = tokenFromEnv(getenv, home)
	}
	if d, err := os.UserCacheDir(); err == nil {
		c.DataDir = filepath.Join(d, "saescope")
	} else {
		c.DataDir = filepath.Join(home, "saescope")
	}
	return c, nil
}

// HFHome returns the huggingface home folder: HF_HOME, else
// $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (also on Windows
// and macOS, as huggingface_hub does).
func HFHome(getenv Env) (string, error) {
	if h := getenv("HF_HOME"); h != "" {
		return expandPath(h, getenv), nil
	}
	base := getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("hub: cannot find the home folder for the Hugging Face cache (set HF_HOME): %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(expandPath(base, getenv), "huggingface"), nil
}

// tokenFromEnv returns HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else
// the content of HF_TOKEN_PATH (default HF_HOME/token), cleaned of line
// breaks and surrounding spaces; "" when none.
func tokenFromEnv(getenv Env, home string) string {
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := cleanToken(getenv(k)); t != "" {
			return t
		}
	}
	p := getenv("HF_TOKEN_PATH")
	if p == "" {
		p = filepath.Join(home, "token")
	} else {
		p = expandPath(p, getenv)
	}
	raw, err := regularfile.ReadFile(p, 64<<10) // a token is under 100 bytes
	if err != nil {
		return ""
	}
	return cleanToken(string(raw))
}

func cleanToken(s string) string {
	s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
	return strings.TrimSpace(s)
}

// envTrue is huggingface_hub's reading of a boolean variable.
func envTrue(v string) bool {
	switch strings.ToUpper(v) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// expandPath expands a leading ~ and $VARS, as os.path.expanduser and
// expandvars do.
func expandPath(p string, getenv Env) string {
	p = os.Expand(p, func(k string) string { return getenv(k) })
	if p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, `~\`) {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	return p
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

var defaultHTTP = &http.Client{Transport: newTransport()}

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = 60 * time.Second
	return t
}

func (c *Client) userAgent() string {
	if c.UserAgent != "" {
		return c.UserAgent
	}
	return "saescope"
}

func (c *Client) retries() int {
	switch {
	case c.Retries < 0:
		return 0
	case c.Retries == 0:
		return 5
	}
	return c.Retries
}

func (c *Client) retryDelay() time.Duration {
	if c.RetryDelay > 0 {
		return c.RetryDelay
	}
	return time.Second
}

func (c *Client) metadataTimeout() time.Duration {
	if c.MetadataTimeout > 0 {
		return c.MetadataTimeout
	}
	return 10 * time.Second
}

func (c *Client) stallTimeout() time.Duration {
	if c.StallTimeout > 0 {
		return c.StallTimeout
	}
	return 30 * time.Second
}

func (c *Client) progressInterval() time.Duration {
	if c.ProgressInterval > 0 {
		return c.ProgressInterval
	}
	return 100 * time.Millisecond
}

// sendsToken says whether a request to u may carry the token: only to
// the hub's own host and port, over the hub's own scheme (a redirect to
// plain http on the same host does not get it).
func (c *Client) sendsToken(u *url.URL) bool {
	e, err := url.Parse(c.Endpoint)
	return err == nil && e.Host != "" && u.Host == e.Host && u.Scheme == e.Scheme
}

func (c *Client) checkUsable() error {
	if c.CacheDir == "" {
		return errors.New("hub: client has no cache folder")
	}
	if !c.Offline && c.Endpoint == "" {
		return errors.New("hub: client has no endpoint")
	}
	return nil
}

// setHeaders adds the headers every request carries; the token only when
// the request goes to the hub's own host.
func (c *Client) setHeaders(req *http.Request) {
	req.Header.Set("User-Agent", c.userAgent())
	// The real size and bytes of the file, not a compressed rendering.
	req.Header.Set("Accept-Encoding", "identity")
	if c.Token != "" && c.sendsToken(req.URL) {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
}

// redirectPolicy keeps the token for redirects within the hub's host and
// drops it for any other host (Go's own rule compares host names without
// ports, which is not enough).
func (c *Client) redirectPolicy(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if !c.sendsToken(req.URL) {
		req.Header.Del("Authorization")
	}
	return nil
}

// clientWith returns a copy of the HTTP client with the given redirect rule.
func (c *Client) clientWith(check func(*http.Request, []*http.Request) error) *http.Client {
	hc := *c.httpClient()
	hc.CheckRedirect = check
	return &hc
}
