// Package oktafake is a stateful fake Okta org served over HTTP, for tests
// and the local runner. It models the parts of Okta this project calls:
// users, OAuth 2.0 clients (app instances) and their refresh tokens, the
// token-management endpoints of the Management API, Okta's error bodies,
// Link pagination, rate-limit buckets and headers, SSWS and OAuth 2.0
// (private_key_jwt, optionally DPoP) authentication, and the System Log.
//
// Faults (5xx, 429, latency, hung connections) can be injected; they never
// change state unless asked to. Every request is recorded so tests can
// assert what Okta saw, including that no malformed path ever reached it.
//
// All methods are safe for concurrent use.
package oktafake

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// DefaultAPIToken is the SSWS token accepted unless WithAPIToken says
// otherwise.
const DefaultAPIToken = "fake-api-token"

// DefaultMaxHang bounds a hung request when Faults.MaxHang is zero.
const DefaultMaxHang = 30 * time.Second

// Server is a fake Okta org. Its zero value is not usable; create one with
// New, NewTest, Serve or NewHandler.
type Server struct {
	// URL is the org URL (http://127.0.0.1:port), empty for NewHandler.
	URL string

	srv     *http.Server
	handler http.Handler
	now     func() time.Time

	mu   sync.Mutex
	idle *sync.Cond // signalled when active drops to zero
	// closing/active let Close wait until no handler runs any more.
	closing bool
	active  int
	done    chan struct{} // closed by Close; ends latency and hangs

	apiToken string
	org      org
	auth     oauthState
	limits   limiter
	faults   Faults
	rng      *rand.Rand
	requests []Recorded
	stats    Stats
	inFlight int
	syslog   systemLog
}

// Option configures a Server.
type Option func(*Server)

// WithAPIToken sets the SSWS token accepted in "Authorization: SSWS <token>"
// (default DefaultAPIToken). An empty token disables SSWS.
func WithAPIToken(token string) Option {
	return func(s *Server) { s.apiToken = token }
}

// WithRateLimit gives each Okta bucket class (see Bucket) its own fixed
// window of limit calls per window. The window starts at the bucket's first
// call, like Okta's rolling minute, and ends on a whole second so that
// X-Rate-Limit-Reset (epoch seconds) is exact. Default: no limit.
func WithRateLimit(limit int, window time.Duration) Option {
	return func(s *Server) { s.limits.setAll(limit, window) }
}

// WithBucketRateLimit limits one bucket class only.
func WithBucketRateLimit(b Bucket, limit int, window time.Duration) Option {
	return func(s *Server) { s.limits.set(b, limit, window) }
}

// WithConcurrencyLimit answers 429 (with X-Rate-Limit-Limit: 0, like Okta's
// concurrency limit) to any /api/v1 call that would make more than n calls
// in flight at once. 0 means no limit.
func WithConcurrencyLimit(n int) Option {
	return func(s *Server) { s.limits.concurrency = n }
}

// WithFaults starts the server with faults injected; see SetFaults.
func WithFaults(f Faults) Option {
	return func(s *Server) { s.setFaultsLocked(f) }
}

// WithClock replaces time.Now for timestamps, rate-limit windows, token
// expiry and System Log times. Latency and hangs still use real timers.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// New starts a fake org on a loopback port. It panics if it cannot listen,
// which on loopback means the machine is out of ports.
func New(opts ...Option) *Server {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("oktafake: listen on loopback: %v", err))
	}
	return Serve(l, opts...)
}

// NewTest is New plus t.Cleanup(Close).
func NewTest(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	t.Cleanup(s.Close)
	return s
}

// Serve starts a fake org on l (for a local runner that picks its own
// address). URL is derived from l's address.
func Serve(l net.Listener, opts ...Option) *Server {
	s := NewHandler(opts...)
	s.URL = "http://" + l.Addr().String()
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s
}

// NewHandler creates a fake org without a listener; serve Handler()
// yourself. Links in responses use the request's Host.
func NewHandler(opts ...Option) *Server {
	s := &Server{
		now:      time.Now,
		done:     make(chan struct{}),
		apiToken: DefaultAPIToken,
		org:      newOrg(),
		auth:     newOAuthState(),
		limits:   newLimiter(),
		syslog:   systemLog{},
		stats:    Stats{ByStatus: map[int]int{}, Faults: map[string]int{}, ByBucket: map[Bucket]int{}},
	}
	s.idle = sync.NewCond(&s.mu)
	s.rng = rand.New(rand.NewPCG(0, 0))
	s.handler = http.HandlerFunc(s.serveHTTP)
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Handler returns the fake org as an http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the listener, ends hung and delayed requests, and waits until
// no handler is running. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	close(s.done)
	s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
	}
	s.mu.Lock()
	for s.active > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

// SetAPIToken rotates the SSWS token: from now on only token is accepted,
// and the old one gets 401 E0000011.
func (s *Server) SetAPIToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiToken = token
}

// SetRateLimit changes every bucket's limit and starts fresh windows.
// limit <= 0 removes the limits.
func (s *Server) SetRateLimit(limit int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.setAll(limit, window)
}

// SetBucketRateLimit changes one bucket's limit and starts a fresh window.
func (s *Server) SetBucketRateLimit(b Bucket, limit int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.set(b, limit, window)
}

// SetConcurrencyLimit changes the concurrency limit; 0 removes it.
func (s *Server) SetConcurrencyLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.concurrency = n
}
