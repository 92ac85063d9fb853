package revocation

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

// fakeOrg is a fake Okta org seeded with two users, three clients and an
// app whose client id differs from its app id.
type fakeOrg struct {
	srv                    *oktafake.Server
	aliceMail, aliceMail2  string
	aliceChat, aliceCustom string
	bobMail                string
}

func newFakeOrg(t *testing.T) *fakeOrg {
	t.Helper()
	srv := oktafake.NewTest(t)
	srv.AddApp("0oaCustomApp", "custom-client", "Custom")
	return &fakeOrg{
		srv:         srv,
		aliceMail:   srv.AddToken("00uAlice", "0oaMail"),
		aliceMail2:  srv.AddToken("00uAlice", "0oaMail"),
		aliceChat:   srv.AddToken("00uAlice", "0oaChat"),
		aliceCustom: srv.AddToken("00uAlice", "custom-client"),
		bobMail:     srv.AddToken("00uBob", "0oaMail"),
	}
}

// oktaClient returns a real client for the fake org. One attempt per call
// keeps fault tests fast; retries are the client's own tests' business.
func oktaClient(t *testing.T, srv *oktafake.Server, apiToken string) *okta.Client {
	t.Helper()
	c, err := okta.New(okta.Config{
		OrgURL:         srv.URL,
		Credentials:    okta.StaticCredentials(okta.Credentials{APIToken: apiToken}),
		Logger:         slog.New(slog.DiscardHandler),
		MaxAttempts:    1,
		AttemptTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExecuteAgainstFakeOkta(t *testing.T) {
	type check func(t *testing.T, org *fakeOrg)
	activeOf := func(user string, want ...func(*fakeOrg) string) check {
		return func(t *testing.T, org *fakeOrg) {
			t.Helper()
			var ids []string
			for _, f := range want {
				ids = append(ids, f(org))
			}
			got := org.srv.ActiveTokens(user, "")
			slices.Sort(got)
			slices.Sort(ids)
			if !slices.Equal(got, ids) {
				t.Errorf("active tokens of %s = %v, want %v", user, got, ids)
			}
		}
	}
	aliceMail := func(o *fakeOrg) string { return o.aliceMail }
	aliceMail2 := func(o *fakeOrg) string { return o.aliceMail2 }
	aliceChat := func(o *fakeOrg) string { return o.aliceChat }
	aliceCustom := func(o *fakeOrg) string { return o.aliceCustom }
	bobMail := func(o *fakeOrg) string { return o.bobMail }
	allOfAlice := []func(*fakeOrg) string{aliceMail, aliceMail2, aliceChat, aliceCustom}

	tests := []struct {
		name       string
		req        func(o *fakeOrg) Request
		setup      func(o *fakeOrg)
		apiToken   string
		dryRun     bool
		sessions   bool
		faults     *oktafake.Faults
		wantStatus Status
		wantErr    func(error) bool
		checks     []check
		noDeletes  bool
	}{
		{
			name:       "user: every client",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uAlice"} },
			wantStatus: StatusRevoked,
			checks:     []check{activeOf("00uAlice"), activeOf("00uBob", bobMail)},
		},
		{
			name:       "user with sessions",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uAlice"} },
			sessions:   true,
			wantStatus: StatusRevoked,
			checks: []check{activeOf("00uAlice"), func(t *testing.T, o *fakeOrg) {
				if _, withTokens := o.srv.SessionRevocations("00uAlice"); withTokens != 1 {
					t.Errorf("session revocations with oauthTokens = %d, want 1", withTokens)
				}
			}},
		},
		{
			name:       "user deleted: already gone",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uAlice"} },
			setup:      func(o *fakeOrg) { o.srv.DeleteUser("00uAlice") },
			wantStatus: StatusAlreadyGone,
			checks:     []check{activeOf("00uBob", bobMail)},
			noDeletes:  true,
		},
		{
			name:       "user without tokens",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uCarol"} },
			setup:      func(o *fakeOrg) { o.srv.AddUser("00uCarol") },
			wantStatus: StatusNothingToRevoke,
			noDeletes:  true,
		},
		{
			name:       "user+client",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uAlice", ClientID: "0oaMail"} },
			wantStatus: StatusRevoked,
			checks:     []check{activeOf("00uAlice", aliceChat, aliceCustom), activeOf("00uBob", bobMail)},
		},
		{
			name: "user+client+token",
			req: func(o *fakeOrg) Request {
				return Request{UserID: "00uAlice", ClientID: "0oaMail", TokenID: o.aliceMail}
			},
			wantStatus: StatusRevoked,
			checks:     []check{activeOf("00uAlice", aliceMail2, aliceChat, aliceCustom)},
		},
		{
			name: "user+client+token: unknown token is already gone",
			req: func(*fakeOrg) Request {
				return Request{UserID: "00uAlice", ClientID: "0oaMail", TokenID: "oarDoesNotExist0000"}
			},
			wantStatus: StatusAlreadyGone,
			checks:     []check{activeOf("00uAlice", allOfAlice...)},
		},
		{
			name:       "user+app: resolves a custom client id",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uAlice", AppID: "0oaCustomApp"} },
			wantStatus: StatusRevoked,
			checks:     []check{activeOf("00uAlice", aliceMail, aliceMail2, aliceChat)},
		},
		{
			name:       "user+app: app gone",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uAlice", AppID: "0oaNoSuchApp"} },
			wantStatus: StatusAlreadyGone,
			checks:     []check{activeOf("00uAlice", allOfAlice...)},
			noDeletes:  true,
		},
		{
			name:       "app: every user's tokens",
			req:        func(*fakeOrg) Request { return Request{AppID: "0oaMail"} },
			wantStatus: StatusRevoked,
			checks:     []check{activeOf("00uAlice", aliceChat, aliceCustom), activeOf("00uBob")},
		},
		{
			name:       "app gone",
			req:        func(*fakeOrg) Request { return Request{AppID: "0oaNoSuchApp"} },
			wantStatus: StatusAlreadyGone,
			checks:     []check{activeOf("00uAlice", allOfAlice...)},
		},
		{
			name:       "app+token",
			req:        func(o *fakeOrg) Request { return Request{AppID: "0oaMail", TokenID: o.bobMail} },
			wantStatus: StatusRevoked,
			checks:     []check{activeOf("00uBob"), activeOf("00uAlice", allOfAlice...)},
		},
		{
			name:       "dry run: lists, revokes nothing",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uAlice"} },
			dryRun:     true,
			sessions:   true,
			wantStatus: StatusDryRun,
			checks:     []check{activeOf("00uAlice", allOfAlice...)},
			noDeletes:  true,
		},
		{
			name:       "5xx: failure, retryable, nothing revoked",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uAlice", ClientID: "0oaMail"} },
			faults:     &oktafake.Faults{ServerErrorRate: 1, Seed: 1},
			wantStatus: StatusFailed,
			wantErr:    func(err error) bool { return okta.IsRetryable(err) && !okta.IsConfigProblem(err) },
			checks:     []check{activeOf("00uAlice", allOfAlice...)},
		},
		{
			name:       "429: failure with the reset",
			req:        func(*fakeOrg) Request { return Request{AppID: "0oaMail"} },
			faults:     &oktafake.Faults{RateLimitRate: 1, Seed: 1},
			wantStatus: StatusFailed,
			wantErr: func(err error) bool {
				reset, ok := okta.RateLimitReset(err)
				return ok && !reset.IsZero()
			},
			checks: []check{activeOf("00uBob", bobMail)},
		},
		{
			name:       "401: a configuration problem",
			req:        func(*fakeOrg) Request { return Request{UserID: "00uAlice"} },
			apiToken:   "not-the-right-token",
			wantStatus: StatusFailed,
			wantErr:    okta.IsConfigProblem,
			checks:     []check{activeOf("00uAlice", allOfAlice...)},
			noDeletes:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			org := newFakeOrg(t)
			if tt.setup != nil {
				tt.setup(org)
			}
			if tt.faults != nil {
				org.srv.SetFaults(*tt.faults)
			}
			token := tt.apiToken
			if token == "" {
				token = oktafake.DefaultAPIToken
			}
			var logs bytes.Buffer
			e, err := NewExecutor(ExecutorConfig{
				Okta:   oktaClient(t, org.srv, token),
				Logger: slog.New(slog.NewJSONHandler(&logs, nil)), DryRun: tt.dryRun, RevokeSessions: tt.sessions,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := e.Execute(ctx, tt.req(org))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Execute: %v", err)
			case tt.wantErr != nil && (err == nil || !tt.wantErr(err)):
				t.Fatalf("Execute error = %v, not the expected kind", err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("Status = %s, want %s", res.Status, tt.wantStatus)
			}
			for _, c := range tt.checks {
				c(t, org)
			}
			if tt.noDeletes {
				for _, r := range org.srv.Requests() {
					if r.Method == http.MethodDelete {
						t.Errorf("unexpected %s %s", r.Method, r.Path)
					}
				}
			}
			if strings.Contains(logs.String(), oktafake.DefaultAPIToken) {
				t.Error("the API token appears in the audit log")
			}
		})
	}
}

func TestExecuteConcurrentlyAgainstFakeOkta(t *testing.T) {
	org := newFakeOrg(t)
	client := oktaClient(t, org.srv, oktafake.DefaultAPIToken)
	e, err := NewExecutor(ExecutorConfig{Okta: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	reqs := []Request{{UserID: "00uAlice"}, {UserID: "00uAlice", ClientID: "0oaMail"}, {AppID: "0oaMail"}, {UserID: "00uBob"}}
	errs := make(chan error, len(reqs))
	for _, r := range reqs {
		go func() {
			_, err := e.Execute(context.Background(), r)
			errs <- err
		}()
	}
	var all []error
	for range reqs {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		t.Fatal(err)
	}
	if left := org.srv.ActiveTokens("", ""); len(left) != 0 {
		t.Fatalf("tokens left: %v", left)
	}
}
