package hub

import (
	"net/url"
	"strings"
	"testing"
)

// A hash ETag in capitals (a mirror, a proxy) still names the blob and
// turns the hash check on.
func TestNormalizeETag(t *testing.T) {
	sha := strings.Repeat("AB", 32)
	for in, want := range map[string]string{
		`"` + sha + `"`:                       strings.ToLower(sha),
		`W/"` + strings.Repeat("C", 40) + `"`: strings.Repeat("c", 40),
		`"abc"`:                               "abc",
		` "1-ABCDEF" `:                        "1-ABCDEF",
	} {
		if got := normalizeETag(in); got != want {
			t.Errorf("normalizeETag(%q) = %q, want %q", in, got, want)
		}
	}
}

// The token goes to the hub's own scheme, host and port only.
func TestSendsToken(t *testing.T) {
	c := &Client{Endpoint: "https://hub.example:8443"}
	for raw, want := range map[string]bool{
		"https://hub.example:8443/api/x": true,
		"http://hub.example:8443/api/x":  false,
		"https://hub.example/api/x":      false,
		"https://cdn.example:8443/x":     false,
	} {
		u, _ := url.Parse(raw)
		if got := c.sendsToken(u); got != want {
			t.Errorf("%s: token %v, want %v", raw, got, want)
		}
	}
}
