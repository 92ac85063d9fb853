package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// failingSource is a CredentialsSource whose reads fail with err.
type failingSource struct{ err error }

func (s failingSource) Credentials(context.Context) (Credentials, error) { return Credentials{}, s.err }
func (s failingSource) Invalidate()                                      {}

// secretFunc adapts a function to SecretSource.
type secretFunc func() (string, error)

func (f secretFunc) Current(context.Context) (string, error) { return f() }
func (f secretFunc) Expire()                                 {}

func TestCredentialFailuresAreClassified(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		name            string
		src             CredentialsSource
		wantUnavailable bool // retry later: the secret could not be read
		wantConfig      bool // fix the secret
	}{
		{"secret store down", failingSource{errors.New("secrets manager: connection refused")}, true, false},
		{"secret unusable", CredentialsFromSecret(secretFunc(func() (string, error) { return `{"apiTokn":"x"}`, nil })), false, true},
		{"api token not a header value", StaticCredentials(Credentials{APIToken: "bad\r\ntoken"}), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClient(t, srv.srv.URL, tt.src)
			err := c.RevokeAppTokens(context.Background(), "0oa1")
			if err == nil {
				t.Fatal("want an error")
			}
			if got := errors.Is(err, ErrCredentialsUnavailable); got != tt.wantUnavailable {
				t.Errorf("errors.Is(ErrCredentialsUnavailable) = %v, want %v (%v)", got, tt.wantUnavailable, err)
			}
			if got := IsConfigProblem(err); got != tt.wantConfig {
				t.Errorf("IsConfigProblem = %v, want %v (%v)", got, tt.wantConfig, err)
			}
			if got := IsRetryable(err); got != tt.wantUnavailable {
				t.Errorf("IsRetryable = %v, want %v", got, tt.wantUnavailable)
			}
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent without usable credentials", n)
	}
}

func TestErrorIsMapsStatusToSentinel(t *testing.T) {
	tests := []struct {
		status int
		want   error
	}{
		{404, ErrNotFound}, {429, ErrRateLimited}, {401, ErrUnauthorized}, {403, ErrForbidden},
		{500, ErrServer}, {502, ErrServer}, {503, ErrServer}, {504, ErrTimeout},
	}
	all := []error{ErrNotFound, ErrRateLimited, ErrUnauthorized, ErrForbidden, ErrServer, ErrTimeout, ErrUnavailable, ErrInvalidArgument}
	for _, tt := range tests {
		err := &Error{StatusCode: tt.status}
		for _, sentinel := range all {
			if got := errors.Is(err, sentinel); got != (sentinel == tt.want) {
				t.Errorf("status %d: errors.Is(%v) = %v", tt.status, sentinel, got)
			}
		}
	}
}

func TestRateLimitResetFindsThe429InJoinedErrors(t *testing.T) {
	reset := time.Unix(1_800_000_000, 0)
	rejected := &Error{Method: http.MethodDelete, Path: "/api/v1/users/u/clients/a/tokens", StatusCode: http.StatusBadRequest}
	limited := &Error{Method: http.MethodDelete, Path: "/api/v1/users/u/clients/b/tokens", StatusCode: http.StatusTooManyRequests, RateLimitReset: reset}
	tests := []struct {
		name      string
		err       error
		wantOK    bool
		wantReset time.Time
	}{
		{"429 alone", fmt.Errorf("revoke: %w", limited), true, reset},
		{"400 before the 429", errors.Join(fmt.Errorf("client a: %w", rejected), fmt.Errorf("client b: %w", limited)), true, reset},
		{"nested joins", fmt.Errorf("revocation r: %w", errors.Join(rejected, errors.Join(errors.New("x"), limited))), true, reset},
		{"rate limited without an answer", fmt.Errorf("wait: %w", ErrRateLimited), true, time.Time{}},
		{"no 429", errors.Join(rejected, errors.New("x")), false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RateLimitReset(tt.err)
			if ok != tt.wantOK || !got.Equal(tt.wantReset) {
				t.Errorf("RateLimitReset = %v, %v; want %v, %v", got, ok, tt.wantReset, tt.wantOK)
			}
		})
	}
}
