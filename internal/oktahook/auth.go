package oktahook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultAuthHeader is the header Okta sends the shared secret in unless the
// hook's authScheme names another.
const DefaultAuthHeader = "Authorization"

// SecretReader reads the versions of the hook secret. *secrets.Cache
// implements it.
type SecretReader interface {
	// Current returns the AWSCURRENT version.
	Current(ctx context.Context) (string, error)
	// Previous returns the AWSPREVIOUS version; ok is false when there is none.
	Previous(ctx context.Context) (value string, ok bool, err error)
	// CurrentCreated returns when the AWSCURRENT version was created; zero
	// when unknown.
	CurrentCreated(ctx context.Context) (time.Time, error)
	// Expire makes the next read go to the store, keeping the cached
	// versions to serve if that read fails.
	Expire()
}

// ErrUnauthenticated marks a call without the right secret. It says nothing
// more on purpose: the caller learns neither which part was wrong nor what
// was expected.
var ErrUnauthenticated = errors.New("missing or wrong hook credentials")

// ErrEmptySecret marks a hook secret whose value is empty, which would
// otherwise let any caller in who sends an empty header.
var ErrEmptySecret = errors.New("the hook secret is empty")

// DefaultRefreshInterval bounds how often a wrong header makes the
// Authenticator re-read the secret store.
const DefaultRefreshInterval = 30 * time.Second

// PreviousSecretGrace is how long after a rotation (the AWSCURRENT
// version's creation) the AWSPREVIOUS version is still accepted: time to
// change the secret in Okta, without a rotated-out (perhaps leaked) value
// authenticating until the next rotation.
const PreviousSecretGrace = 24 * time.Hour

// Authenticator checks the shared-secret header of Okta's calls against the
// current and, for PreviousSecretGrace after a rotation, the previous
// version of the hook secret. It is safe for concurrent use.
type Authenticator struct {
	header  string
	secrets SecretReader

	// refreshInterval is the least time between two forced re-reads after a
	// mismatch, so a caller sending wrong secrets cannot make every call hit
	// Secrets Manager.
	refreshInterval time.Duration
	now             func() time.Time

	mu          sync.Mutex
	lastRefresh time.Time
}

// NewAuthenticator returns an Authenticator reading the secret from the
// named header (matched case-insensitively).
func NewAuthenticator(header string, secrets SecretReader) *Authenticator {
	return &Authenticator{header: header, secrets: secrets, refreshInterval: DefaultRefreshInterval, now: time.Now}
}

// HeaderName returns the header the secret is read from.
func (a *Authenticator) HeaderName() string { return a.header }

// Authenticate returns nil when headers carry the hook secret, an error
// wrapping ErrUnauthenticated when the header is missing or wrong, and any
// other error when the secret could not be read (a server-side failure, not
// the caller's fault). Errors never contain the secret or the header value.
//
// After a mismatch the secret is re-read once (at most once per refresh
// interval), so a rotation is picked up before the cache TTL ends. The
// cached versions are only expired, not dropped: anyone can send a wrong
// header, and while Secrets Manager is down that must not cost Okta's own
// calls the cached secret.
func (a *Authenticator) Authenticate(ctx context.Context, headers map[string]string) error {
	got, ok := Header(headers, a.header)
	if !ok || got == "" {
		return ErrUnauthenticated
	}
	match, err := a.matches(ctx, got)
	if err != nil || match {
		return err
	}
	if !a.mayRefresh() {
		return ErrUnauthenticated
	}
	a.secrets.Expire()
	match, err = a.matches(ctx, got)
	if err != nil || match {
		return err
	}
	return ErrUnauthenticated
}

// matches compares got with the current and previous secret.
func (a *Authenticator) matches(ctx context.Context, got string) (bool, error) {
	current, err := a.secrets.Current(ctx)
	if err != nil {
		return false, fmt.Errorf("read hook secret: %w", err)
	}
	if current == "" {
		return false, ErrEmptySecret
	}
	if equal(got, current) {
		return true, nil
	}
	previous, ok, err := a.secrets.Previous(ctx)
	if err != nil {
		return false, fmt.Errorf("read previous hook secret: %w", err)
	}
	if !ok || previous == "" || !equal(got, previous) {
		return false, nil
	}
	rotated, err := a.secrets.CurrentCreated(ctx)
	if err != nil {
		return false, fmt.Errorf("read hook secret: %w", err)
	}
	// Unknown creation time: accept, as before a grace window existed.
	return rotated.IsZero() || a.now().Sub(rotated) < PreviousSecretGrace, nil
}

func (a *Authenticator) mayRefresh() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if !a.lastRefresh.IsZero() && now.Sub(a.lastRefresh) < a.refreshInterval {
		return false
	}
	a.lastRefresh = now
	return true
}

// equal compares in constant time. Hashing first makes the time independent
// of the lengths too, so neither the secret's length nor a prefix leaks.
func equal(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
