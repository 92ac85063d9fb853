// Package okta is a client for the parts of Okta's Management API that list
// and revoke OAuth 2.0 refresh tokens.
//
// It authenticates with an SSWS API token or as an OAuth 2.0 service app
// (client credentials with private_key_jwt, DPoP when the app requires it),
// re-reading its credentials once after a 401 so a rotated secret is picked
// up. It paces its calls from Okta's X-Rate-Limit-* headers so that several
// independent clients sharing one Okta bucket stay within it, waits for the
// reset on a 429, retries 5xx answers, timeouts and connection failures
// with exponential backoff and full jitter, and turns Okta's error answers
// into *Error values that keep the request id. IDs are validated before
// anything is sent, and no credential ever appears in an error or a log.
package okta

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Version of this client, sent in the User-Agent header.
const Version = "0.1.0"

// UserAgent is the User-Agent header of every request.
const UserAgent = "okta-token-revoker/" + Version

// DefaultScopes are requested by an OAuth service app when Config.Scopes is
// empty: the least needed to list and revoke users' and apps' tokens.
var DefaultScopes = []string{"okta.users.read", "okta.users.manage", "okta.apps.read", "okta.apps.manage"}

// ReadScopes are enough for the read-only operations: listing a user's
// clients and refresh tokens and an app's tokens, resolving an app.
var ReadScopes = []string{"okta.users.read", "okta.apps.read"}

// Defaults of Config.
const (
	DefaultMaxAttempts    = 5
	DefaultAttemptTimeout = 10 * time.Second
)

// Config configures a Client.
type Config struct {
	OrgURL         string // https://acme.okta.com (http only for loopback hosts)
	Credentials    CredentialsSource
	HTTPClient     *http.Client  // optional; default: one shared client, sane transport limits
	Logger         *slog.Logger  // optional; default slog.Default()
	Scopes         []string      // OAuth scopes to request; default DefaultScopes
	MaxAttempts    int           // per request incl. the first; default 5
	AttemptTimeout time.Duration // per attempt; default 10s; the caller's ctx always wins
}

// Client calls Okta's Management API. It is safe for concurrent use; build
// one per process (per Lambda execution environment) and reuse it.
type Client struct {
	origin         string // scheme://host[:port], no trailing slash
	originURL      *url.URL
	http           *http.Client
	log            *slog.Logger
	auth           *authenticator
	pacer          *pacer
	maxAttempts    int
	attemptTimeout time.Duration

	// Backoff tuning; tests shorten these.
	retryBase    time.Duration // first 5xx/transport backoff ceiling
	retryCap     time.Duration // largest 5xx/transport backoff ceiling
	shortBackoff time.Duration // ceiling of the backoff after a 429 that is not a spent bucket

	apps appClientIDCache
}

// New validates cfg and returns a Client. It makes no network call.
func New(cfg Config) (*Client, error) {
	origin, err := parseOrgURL(cfg.OrgURL)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials == nil {
		return nil, errors.New("okta: config: Credentials is required")
	}
	if cfg.MaxAttempts < 0 || cfg.AttemptTimeout < 0 {
		return nil, errors.New("okta: config: MaxAttempts and AttemptTimeout must not be negative")
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	for _, s := range scopes {
		if !isHeaderToken(s) {
			return nil, fmt.Errorf("okta: config: invalid scope %q", truncate(s, 64))
		}
	}
	c := &Client{
		origin:         origin.String(),
		originURL:      origin,
		http:           noRedirects(cfg.HTTPClient),
		log:            cfg.Logger,
		pacer:          newPacer(),
		maxAttempts:    cfg.MaxAttempts,
		attemptTimeout: cfg.AttemptTimeout,
		retryBase:      200 * time.Millisecond,
		retryCap:       5 * time.Second,
		shortBackoff:   time.Second,
		apps:           appClientIDCache{ttl: appClientIDTTL},
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.maxAttempts == 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.attemptTimeout == 0 {
		c.attemptTimeout = DefaultAttemptTimeout
	}
	c.auth = newAuthenticator(c, cfg.Credentials, strings.Join(scopes, " "))
	return c, nil
}

// OrgURL returns the org's origin the client talks to.
func (c *Client) OrgURL() string { return c.origin }

// parseOrgURL accepts an origin: https://host[:port], or http:// for
// loopback hosts only (tests, local runs). Paths other than "/", queries,
// fragments and user info are refused.
func parseOrgURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || raw == "" {
		return nil, fmt.Errorf("okta: config: OrgURL %q is not a URL", truncate(raw, 200))
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("okta: config: OrgURL %q: scheme must be https", truncate(raw, 200))
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("okta: config: OrgURL %q has no host", truncate(raw, 200))
	case u.User != nil:
		return nil, fmt.Errorf("okta: config: OrgURL must not contain user info")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("okta: config: OrgURL %q must be an origin like https://acme.okta.com, without path or query", truncate(raw, 200))
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("okta: config: OrgURL %q: http is allowed only for loopback hosts; use https", truncate(raw, 200))
	}
	return &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}, nil
}

// isLoopback reports whether host is localhost, 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// sameOrigin reports whether u is on the org's origin (scheme, host and
// port, the default port made explicit).
func (c *Client) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.originURL.Scheme) &&
		strings.EqualFold(u.Hostname(), c.originURL.Hostname()) &&
		effectivePort(u) == effectivePort(c.originURL)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// sharedHTTPClient is the default HTTP client: one transport, so
// connections to Okta are reused across calls and invocations.
var sharedHTTPClient = sync.OnceValue(func() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 32,
		MaxConnsPerHost:     64, // Okta's org-wide concurrency limit is 75 (35 on Integrator Free)
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		// No ResponseHeaderTimeout: every request runs under its attempt's
		// deadline (Config.AttemptTimeout), and a transport-wide limit
		// would cut callers that raise it, such as the System Log poll,
		// whose queries may take Okta 30 s.
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}}
})

// noRedirects returns a copy of hc (or the shared client) that never
// follows redirects: Okta's API does not redirect, and following one could
// carry a credential elsewhere.
func noRedirects(hc *http.Client) *http.Client {
	if hc == nil {
		hc = sharedHTTPClient()
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}
