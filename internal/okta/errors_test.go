package okta

import (
	"context"
	"errors"
	"net/http"
	"testing"
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
