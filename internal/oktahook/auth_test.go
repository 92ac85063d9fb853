package oktahook

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/secrets"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/fakeclock"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/outagesm"
)

// fakeSecrets is an in-memory SecretReader with a stale cache: reads return
// the cached versions until Expire copies the store's.
type fakeSecrets struct {
	mu                  sync.Mutex
	current, previous   string // cached
	storeCur, storePrev string // what the store holds
	hasPrevious         bool
	currentErr, prevErr error
	expiries, reads     int
	rotated             time.Time // AWSCURRENT's creation; zero: unknown
}

func newFakeSecrets(current, previous string) *fakeSecrets {
	return &fakeSecrets{current: current, previous: previous, storeCur: current, storePrev: previous, hasPrevious: previous != ""}
}

func (f *fakeSecrets) Current(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.current, f.currentErr
}

func (f *fakeSecrets) Previous(context.Context) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.previous, f.hasPrevious, f.prevErr
}

func (f *fakeSecrets) CurrentCreated(context.Context) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rotated, f.currentErr
}

func (f *fakeSecrets) Expire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expiries++
	f.current, f.previous = f.storeCur, f.storePrev
	f.hasPrevious = f.previous != ""
}

// rotate puts a new current version in the store, without touching the cache.
func (f *fakeSecrets) rotate(next string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.storeCur, f.storePrev = next, f.storeCur
}

const (
	secretA = "Basic c2VjcmV0LWE6cGFzc3dvcmQ=" // the current hook secret
	secretB = "previous-secret-b"              // the previous version
)

func TestAuthenticate(t *testing.T) {
	errRead := errors.New("secrets manager: throttled")
	tests := []struct {
		name         string
		header       string
		headers      map[string]string
		secrets      *fakeSecrets
		wantErr      error // nil = authenticated
		wantOtherErr string
	}{
		{name: "current", headers: map[string]string{"authorization": secretA}, secrets: newFakeSecrets(secretA, "")},
		{name: "header name case-insensitive", headers: map[string]string{"AUTHORIZATION": secretA}, secrets: newFakeSecrets(secretA, "")},
		{name: "previous during rotation", headers: map[string]string{"authorization": secretB}, secrets: newFakeSecrets(secretA, secretB)},
		{name: "custom header", header: "X-Okta-Hook-Key", headers: map[string]string{"x-okta-hook-key": secretA}, secrets: newFakeSecrets(secretA, "")},
		{name: "custom header, secret in authorization", header: "X-Okta-Hook-Key", headers: map[string]string{"authorization": secretA}, secrets: newFakeSecrets(secretA, ""), wantErr: ErrUnauthenticated},
		{name: "missing", headers: map[string]string{"content-type": "application/json"}, secrets: newFakeSecrets(secretA, ""), wantErr: ErrUnauthenticated},
		{name: "nil headers", headers: nil, secrets: newFakeSecrets(secretA, ""), wantErr: ErrUnauthenticated},
		{name: "empty value", headers: map[string]string{"authorization": ""}, secrets: newFakeSecrets(secretA, ""), wantErr: ErrUnauthenticated},
		{name: "wrong", headers: map[string]string{"authorization": "Basic guess"}, secrets: newFakeSecrets(secretA, secretB), wantErr: ErrUnauthenticated},
		{name: "prefix of the secret", headers: map[string]string{"authorization": secretA[:10]}, secrets: newFakeSecrets(secretA, ""), wantErr: ErrUnauthenticated},
		{name: "secret plus suffix", headers: map[string]string{"authorization": secretA + " "}, secrets: newFakeSecrets(secretA, ""), wantErr: ErrUnauthenticated},
		{name: "case differs", headers: map[string]string{"authorization": strings.ToLower(secretA)}, secrets: newFakeSecrets(secretA, ""), wantErr: ErrUnauthenticated},
		{name: "previous version absent", headers: map[string]string{"authorization": secretB}, secrets: newFakeSecrets(secretA, ""), wantErr: ErrUnauthenticated},
		{
			name: "empty secret never matches", headers: map[string]string{"authorization": "x"},
			secrets: newFakeSecrets("", ""), wantErr: ErrEmptySecret,
		},
		{
			name: "current unreadable", headers: map[string]string{"authorization": secretA},
			secrets: func() *fakeSecrets { s := newFakeSecrets(secretA, ""); s.currentErr = errRead; return s }(),
			wantErr: errRead, wantOtherErr: "read hook secret",
		},
		{
			name: "previous unreadable after mismatch", headers: map[string]string{"authorization": secretB},
			secrets: func() *fakeSecrets { s := newFakeSecrets(secretA, ""); s.prevErr = errRead; return s }(),
			wantErr: errRead, wantOtherErr: "read previous hook secret",
		},
		{
			name: "current matches, previous unreadable", headers: map[string]string{"authorization": secretA},
			secrets: func() *fakeSecrets { s := newFakeSecrets(secretA, ""); s.prevErr = errRead; return s }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := tt.header
			if header == "" {
				header = DefaultAuthHeader
			}
			a := NewAuthenticator(header, tt.secrets)
			err := a.Authenticate(context.Background(), tt.headers)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != ErrUnauthenticated && errors.Is(err, ErrUnauthenticated) {
				t.Errorf("server-side failure %v reported as the caller's fault", err)
			}
			if !strings.Contains(err.Error(), tt.wantOtherErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantOtherErr)
			}
			for _, s := range []string{secretA, secretB} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains a secret", err)
				}
			}
		})
	}
}

func TestAuthenticatePicksUpRotationBeforeTTL(t *testing.T) {
	s := newFakeSecrets(secretA, "")
	a := NewAuthenticator(DefaultAuthHeader, s)
	clock := fakeclock.New(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	a.now = clock.Now
	ctx := context.Background()

	s.rotate("new-secret-c")
	// Okta already sends the new value; the cache still holds the old one.
	if err := a.Authenticate(ctx, map[string]string{"authorization": "new-secret-c"}); err != nil {
		t.Fatalf("rotated secret rejected: %v", err)
	}
	if s.expiries != 1 {
		t.Fatalf("expiries = %d, want 1", s.expiries)
	}
	// The old value is now AWSPREVIOUS and still accepted.
	if err := a.Authenticate(ctx, map[string]string{"authorization": secretA}); err != nil {
		t.Fatalf("previous secret rejected: %v", err)
	}

	// Wrong guesses re-read the store at most once per interval.
	clock.Advance(time.Minute)
	for range 5 {
		if err := a.Authenticate(ctx, map[string]string{"authorization": "guess"}); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("guess: %v", err)
		}
	}
	if s.expiries != 2 {
		t.Fatalf("expiries = %d after 5 guesses, want 2", s.expiries)
	}
	clock.Advance(DefaultRefreshInterval)
	_ = a.Authenticate(ctx, map[string]string{"authorization": "guess"})
	if s.expiries != 3 {
		t.Fatalf("expiries = %d after the interval, want 3", s.expiries)
	}
	// A missing header never touches the store.
	reads := s.reads
	_ = a.Authenticate(ctx, map[string]string{})
	if s.reads != reads {
		t.Errorf("missing header read the secret")
	}
}

// TestWrongHeaderDuringOutageKeepsTheSecret: anyone can send a wrong
// header, and the re-read it triggers must not drop the cached secret
// while Secrets Manager is down, refusing or hanging, or Okta's own calls
// would get 503s.
func TestWrongHeaderDuringOutageKeepsTheSecret(t *testing.T) {
	for _, tt := range []struct {
		name string
		down func(*outagesm.SM)
	}{
		{"refusing", func(sm *outagesm.SM) { sm.Down.Store(true) }},
		{"hanging", func(sm *outagesm.SM) { sm.Hang.Store(true) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sm := &outagesm.SM{Value: secretA}
			a := NewAuthenticator(DefaultAuthHeader, secrets.NewCache(sm, "hook", time.Hour, secrets.WithLogger(slog.New(slog.DiscardHandler))))
			clock := fakeclock.New(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
			a.now = clock.Now
			// Each call with the hook handler's budget to authenticate.
			authenticate := func(header string) error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				return a.Authenticate(ctx, map[string]string{"authorization": header})
			}
			// Before the outage: both versions are cached (AWSPREVIOUS as absent).
			if err := authenticate(secretA); err != nil {
				t.Fatalf("before the outage: %v", err)
			}
			if err := authenticate("early-guess"); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("wrong header before the outage: %v", err)
			}
			clock.Advance(DefaultRefreshInterval)

			tt.down(sm)
			calls := sm.Calls()
			if err := authenticate("attacker-guess"); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("wrong header during the outage: %v, want ErrUnauthenticated", err)
			}
			if sm.Calls() == calls {
				t.Fatal("the wrong header did not make the authenticator re-read the secret")
			}
			if err := authenticate(secretA); err != nil {
				t.Fatalf("Okta's header after a wrong one during the outage: %v, want the cached secret to still match", err)
			}
		})
	}
}

func TestPreviousSecretOnlyWithinTheGrace(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		rotated time.Time
		wantErr error
	}{
		{"just rotated", now.Add(-time.Minute), nil},
		{"near the end of the grace", now.Add(-PreviousSecretGrace + time.Second), nil},
		// A rotated-out value, perhaps leaked, stops working.
		{"after the grace", now.Add(-PreviousSecretGrace), ErrUnauthenticated},
		{"creation unknown", time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeSecrets(secretA, secretB)
			s.rotated = tt.rotated
			a := NewAuthenticator(DefaultAuthHeader, s)
			a.now = func() time.Time { return now }
			err := a.Authenticate(context.Background(), map[string]string{"authorization": secretB})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("previous secret: %v, want %v", err, tt.wantErr)
			}
			// The current secret is accepted whatever its age.
			if err := a.Authenticate(context.Background(), map[string]string{"authorization": secretA}); err != nil {
				t.Fatalf("current secret: %v", err)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"x", "x", true},
		{"", "", true},
		{"x", "y", false},
		{"x", "xx", false},
		{secretA, secretA, true},
		{secretA, secretB, false},
	}
	for _, tt := range tests {
		if got := equal(tt.a, tt.b); got != tt.want {
			t.Errorf("equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
