package okta

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzParseRateLimitHeaders reads arbitrary X-Rate-Limit-* headers: what
// it accepts is a sane bucket state the pacer can plan with, and anything
// else is refused rather than guessed.
func FuzzParseRateLimitHeaders(f *testing.F) {
	f.Add("600", "599", "1767225600")
	f.Add("0", "0", "1767225600")
	f.Add("50", "80", "1767225600")
	f.Add("-1", "0", "1767225600")
	f.Add("50", "10", "0")
	f.Add(" 50 ", "\t10", "99999999999")
	f.Add("5e2", "1", "1767225600.5")
	f.Fuzz(func(t *testing.T, limit, remaining, reset string) {
		h := http.Header{}
		h.Set("X-Rate-Limit-Limit", limit)
		h.Set("X-Rate-Limit-Remaining", remaining)
		h.Set("X-Rate-Limit-Reset", reset)
		got, ok := parseRateLimitHeaders(h)
		if !ok {
			if got != (rateLimitHeaders{}) {
				t.Fatalf("refused headers left state %+v", got)
			}
			return
		}
		if got.limit < 0 || got.remaining < 0 || got.remaining > got.limit {
			t.Fatalf("limit %d, remaining %d from %q/%q", got.limit, got.remaining, limit, remaining)
		}
		if y := got.reset.UTC().Year(); y < 2001 || y > 2286 {
			t.Fatalf("reset %s from %q", got.reset, reset)
		}
	})
}

// FuzzParseOrgURL reads arbitrary OKTA_ORG_URL values: what it accepts is
// an origin (no path, query, fragment or user info), https unless the host
// is loopback, so the API token is never sent in clear text or to a URL an
// attacker shaped.
func FuzzParseOrgURL(f *testing.F) {
	for _, s := range []string{
		"https://acme.okta.com", "https://acme.okta.com/", "https://acme.okta.com:8443", "http://127.0.0.1:8080",
		"http://localhost:1", "http://[::1]:80", "http://acme.okta.com", "https://acme.okta.com/api/v1",
		"https://user:pass@acme.okta.com", "https://acme.okta.com?x=1", "https://acme.okta.com#f", "ftp://acme.okta.com",
		"https://", "acme.okta.com", " https://ACME.okta.com ", "http://127.0.0.1.evil.com", "http://0x7f.1", "https://a%2Fb.okta.com",
		"http://localhost.", "http://[::ffff:127.0.0.1]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := parseOrgURL(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "okta: config: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" || u.Host == "" {
			t.Fatalf("%q accepted as %#v, not an origin", raw, u)
		}
		switch u.Scheme {
		case "https":
		case "http":
			if !isLoopback(u.Hostname()) {
				t.Fatalf("%q accepted: http to a host that is not loopback", raw)
			}
		default:
			t.Fatalf("%q accepted with scheme %q", raw, u.Scheme)
		}
		if u.Host != strings.ToLower(u.Host) {
			t.Fatalf("%q: host %q not lower-cased", raw, u.Host)
		}
	})
}
