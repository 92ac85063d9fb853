package okta

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestUnauthorizedRereadsCredentialsOnce(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "SSWS new-token" {
			oktaError(w, 401, "E0000011", "Invalid token provided")
			return
		}
		w.WriteHeader(204)
	})
	secret := &rotatingSecret{stale: "old-token", value: "new-token"}
	c := testClient(t, rec.srv.URL, CredentialsFromSecret(secret))
	if err := c.RevokeAppTokens(context.Background(), cid); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if secret.expiries != 1 || len(rec.requests()) != 2 {
		t.Errorf("expired %d times, %d requests; want 1 and 2", secret.expiries, len(rec.requests()))
	}
	// The new secret is used from now on without another 401.
	if err := c.RevokeAppTokens(context.Background(), cid); err != nil || len(rec.requests()) != 3 {
		t.Errorf("second call: %v, %d requests", err, len(rec.requests()))
	}
}

func TestUnauthorizedTwiceIsAConfigProblem(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		oktaError(w, 401, "E0000011", "Invalid token provided")
	})
	secret := &rotatingSecret{value: "still-wrong"}
	c := testClient(t, rec.srv.URL, CredentialsFromSecret(secret))
	err := c.RevokeUserClientTokens(context.Background(), uid, cid)
	var e *Error
	if !errors.Is(err, ErrUnauthorized) || !IsConfigProblem(err) || IsRetryable(err) || !errors.As(err, &e) || e.ErrorCode != "E0000011" {
		t.Fatalf("err = %v", err)
	}
	if secret.expiries != 1 || len(rec.requests()) != 2 {
		t.Errorf("expired %d times, %d requests; want 1 and 2", secret.expiries, len(rec.requests()))
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	cases := []struct {
		status   int
		code     string
		sentinel error
	}{
		{403, "E0000006", ErrForbidden},
		{404, "E0000007", ErrNotFound},
		{400, "E0000001", ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { oktaError(w, tc.status, tc.code, "summary") })
			c := sswsClient(t, rec.srv.URL)
			err := c.RevokeUserClientToken(context.Background(), uid, cid, tid)
			var e *Error
			if !errors.As(err, &e) || e.StatusCode != tc.status || e.ErrorCode != tc.code || e.RequestID != "req-"+strconv.Itoa(tc.status) ||
				e.Method != "DELETE" || e.Path != "/api/v1/users/"+uid+"/clients/"+cid+"/tokens/"+tid {
				t.Fatalf("err = %#v", err)
			}
			if tc.sentinel != ErrInvalidArgument && !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.sentinel)
			}
			if IsRetryable(err) {
				t.Errorf("%d must not be retryable", tc.status)
			}
			if n := len(rec.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestRevoke404IsNotFound(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		oktaError(w, 404, "E0000007", "Not found: Resource not found: "+cid+" (OAuth2Client)")
	})
	c := sswsClient(t, rec.srv.URL)
	for name, err := range map[string]error{
		"RevokeUserClientTokens": c.RevokeUserClientTokens(context.Background(), uid, cid),
		"RevokeAppToken":         c.RevokeAppToken(context.Background(), cid, tid),
		"RevokeUserSessions":     c.RevokeUserSessions(context.Background(), uid, true),
	} {
		var e *Error
		if !IsNotFound(err) || !errors.As(err, &e) || e.StatusCode != 404 || RequestIDOf(err) != "req-404" {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// rateLimited answers 429 with the given headers, n times, then 204.
func rateLimited(n int, header func() http.Header) (http.HandlerFunc, *atomic.Int32) {
	var calls atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if int(calls.Add(1)) <= n {
			for k, v := range header() {
				w.Header()[k] = v
			}
			oktaError(w, 429, "E0000047", "API call exceeded rate limit due to too many requests.")
			return
		}
		w.WriteHeader(204)
	}, &calls
}

func TestRateLimitSpentBucketWaitsForResetThenSucceeds(t *testing.T) {
	t.Parallel()
	var reset int64
	h, calls := rateLimited(1, func() http.Header {
		reset = time.Now().Add(time.Second).Unix() // the next whole second or the one after
		return http.Header{"X-Rate-Limit-Limit": {"50"}, "X-Rate-Limit-Remaining": {"0"}, "X-Rate-Limit-Reset": {strconv.FormatInt(reset, 10)}}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := sswsClient(t, srv.URL)
	if err := c.RevokeAppTokens(context.Background(), cid); err != nil {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls, want 2", calls.Load())
	}
	if now := time.Now(); now.Before(time.Unix(reset, 0)) {
		t.Errorf("retried at %v, before the reset %v", now, time.Unix(reset, 0))
	}
}

func TestRateLimitThatDoesNotFitTheDeadline(t *testing.T) {
	reset := time.Now().Add(30 * time.Second).Unix()
	h, calls := rateLimited(100, func() http.Header {
		return http.Header{"X-Rate-Limit-Limit": {"50"}, "X-Rate-Limit-Remaining": {"0"}, "X-Rate-Limit-Reset": {strconv.FormatInt(reset, 10)},
			"X-Okta-Request-Id": {"req-429"}}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := sswsClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := c.RevokeAppTokens(ctx, cid)
	at, ok := RateLimitReset(err)
	if !ok || at.Unix() != reset || !IsRetryable(err) {
		t.Fatalf("err = %v; RateLimitReset = %v, %v; want %v", err, at, ok, time.Unix(reset, 0))
	}
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 429 || e.ErrorCode != "E0000047" || e.Attempts != 1 {
		t.Errorf("err = %#v", err)
	}
	if calls.Load() != 1 || time.Since(start) > time.Second {
		t.Errorf("%d calls in %v; want 1, at once", calls.Load(), time.Since(start))
	}
	// The next call in the same bucket knows the budget is spent: it fails
	// fast without sending anything, still carrying the reset.
	err = c.RevokeAppToken(ctx, cid, tid)
	if at, ok := RateLimitReset(err); !ok || at.Unix() != reset || calls.Load() != 1 {
		t.Errorf("second call: %v (reset %v), %d calls", err, at, calls.Load())
	}
	// Without a deadline, the retry budget bounds the wait instead.
	c2 := sswsClient(t, srv.URL, func(cfg *Config) { cfg.MaxAttempts = 1 })
	if _, ok := RateLimitReset(c2.RevokeAppTokens(context.Background(), cid)); !ok {
		t.Error("MaxAttempts 1: want the 429 back")
	}
}

func TestConcurrencyLimit429BacksOffBriefly(t *testing.T) {
	for name, hdr := range map[string]http.Header{
		"concurrency": {"X-Rate-Limit-Limit": {"0"}, "X-Rate-Limit-Remaining": {"0"}, "X-Rate-Limit-Reset": {strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}},
		"budget left": {"X-Rate-Limit-Limit": {"50"}, "X-Rate-Limit-Remaining": {"20"}, "X-Rate-Limit-Reset": {strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}},
		"no headers":  {},
	} {
		t.Run(name, func(t *testing.T) {
			h, calls := rateLimited(2, func() http.Header { return hdr })
			srv := httptest.NewServer(h)
			defer srv.Close()
			c := sswsClient(t, srv.URL)
			start := time.Now()
			if err := c.RevokeAppTokens(context.Background(), cid); err != nil {
				t.Fatalf("err = %v", err)
			}
			if calls.Load() != 3 || time.Since(start) > 5*time.Second {
				t.Errorf("%d calls in %v; want 3, without waiting for the suggested reset", calls.Load(), time.Since(start))
			}
		})
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	var calls atomic.Int32
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			oktaError(w, 500, "E0000009", "Internal Server Error")
		case 2:
			w.Header().Set("X-Okta-Request-Id", "req-2")
			w.WriteHeader(503)
			io.WriteString(w, "<html>Service Unavailable</html>")
		default:
			io.WriteString(w, `[]`)
		}
	})
	c := sswsClient(t, rec.srv.URL)
	if _, err := c.ListUserClients(context.Background(), uid); err != nil {
		t.Fatalf("err = %v", err)
	}
	reqs := rec.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if reqs[0].Header.Get("X-Okta-Retry-For") != "" || reqs[2].Header.Get("X-Okta-Retry-For") != "req-500" || reqs[2].Header.Get("X-Okta-Retry-Count") != "2" {
		t.Errorf("retry headers: %v / %v", reqs[0].Header, reqs[2].Header)
	}
}

func TestServerErrorsExhausted(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { oktaError(w, 502, "", "") })
	c := sswsClient(t, rec.srv.URL, func(cfg *Config) { cfg.MaxAttempts = 3 })
	err := c.RevokeAppTokens(context.Background(), cid)
	var e *Error
	if !errors.Is(err, ErrServer) || !IsRetryable(err) || !errors.As(err, &e) || e.Attempts != 3 || e.RequestID != "req-502" {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), "req-502") {
		t.Errorf("message: %v", err)
	}
	if n := len(rec.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// hang blocks until the client gives up. It reads the body first: the
// server notices a closed connection only once the body is consumed.
func hang(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

func TestHungServerIsATimeout(t *testing.T) {
	rec := newRecorder(t, hang)
	c := sswsClient(t, rec.srv.URL, func(cfg *Config) { cfg.AttemptTimeout = 50 * time.Millisecond; cfg.MaxAttempts = 2 })
	err := c.RevokeAppTokens(context.Background(), cid)
	if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable) || !IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := sswsClient(t, "http://"+addr, func(cfg *Config) { cfg.MaxAttempts = 3 })
	err = c.RevokeAppTokens(context.Background(), cid)
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout) || !IsRetryable(err) || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("err = %v", err)
	}
}

func TestCallerContextWins(t *testing.T) {
	rec := newRecorder(t, hang)
	c := sswsClient(t, rec.srv.URL, func(cfg *Config) { cfg.AttemptTimeout = time.Minute })

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := c.RevokeAppTokens(ctx, cid)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) || time.Since(start) > 10*time.Second {
		t.Errorf("cancel: err = %v after %v", err, time.Since(start))
	}

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = c.RevokeAppTokens(ctx, cid)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: err = %v", err)
	}

	// An already-cancelled context sends nothing.
	before := len(rec.requests())
	done, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if err := c.RevokeAppTokens(done, cid); !errors.Is(err, context.Canceled) || len(rec.requests()) != before {
		t.Errorf("cancelled before: err = %v", err)
	}
}

func TestBackoffDoesNotOutlastTheDeadline(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { oktaError(w, 500, "E0000009", "x") })
	c := sswsClient(t, rec.srv.URL)
	c.retryBase, c.retryCap = time.Hour, time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := c.RevokeAppTokens(ctx, cid)
	// Either the jitter drew a short wait and the retry ran, or the wait
	// did not fit: in both cases the 500 comes back well before the deadline.
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 500 || time.Since(start) > 4*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
	}))
	defer elsewhere.Close()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/api/v1/apps/x/tokens", http.StatusTemporaryRedirect)
	})
	c := sswsClient(t, rec.srv.URL)
	err := c.RevokeAppTokens(context.Background(), cid)
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusTemporaryRedirect || leaked.Load() {
		t.Fatalf("err = %v, leaked = %v", err, leaked.Load())
	}
}

func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys := testKeys(t)
	scenarios := map[string]http.HandlerFunc{
		"401": func(w http.ResponseWriter, r *http.Request) { oktaError(w, 401, "E0000011", "Invalid token provided") },
		"403": func(w http.ResponseWriter, r *http.Request) { oktaError(w, 403, "E0000006", "forbidden") },
		"500": func(w http.ResponseWriter, r *http.Request) { oktaError(w, 500, "E0000009", "boom") },
		"429": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Rate-Limit-Limit", "0")
			oktaError(w, 429, "E0000047", "slow down")
		},
		"echo": func(w http.ResponseWriter, r *http.Request) {
			// A hostile or buggy proxy that echoes the request headers.
			w.WriteHeader(502)
			r.Header.Write(w)
		},
		"hang": hang,
		"token endpoint refuses": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"invalid_client","error_description":"The client_assertion signature is invalid."}`)
		},
	}
	creds := map[string]Credentials{
		"ssws":  {APIToken: testToken},
		"oauth": {ClientID: "0oaServiceApp", PrivateKey: keys["rsa-pkcs8"], KeyID: "kid1"},
	}
	for name, h := range scenarios {
		for kind, cr := range creds {
			srv := httptest.NewServer(h)
			c := testClient(t, srv.URL, StaticCredentials(cr), func(cfg *Config) {
				cfg.Logger = logger
				cfg.MaxAttempts = 2
				cfg.AttemptTimeout = 50 * time.Millisecond
			})
			var msgs []string
			for _, err := range []error{
				c.RevokeAppTokens(context.Background(), cid),
				func() error { _, err := c.ListUserClients(context.Background(), uid); return err }(),
			} {
				if err == nil {
					t.Errorf("%s/%s: no error", name, kind)
					continue
				}
				msgs = append(msgs, err.Error(), errorDump(err))
			}
			srv.Close()
			all := strings.Join(msgs, "\n") + logs.String()
			secrets := []string{testToken, "PRIVATE KEY"}
			if cr.PrivateKey != "" {
				secrets = append(secrets, strings.Split(cr.PrivateKey, "\n")[1])
			}
			for _, secret := range secrets {
				if secret != "" && strings.Contains(all, secret) {
					t.Errorf("%s/%s: secret %.10q… appears in errors or logs:\n%s", name, kind, secret, all)
				}
			}
		}
	}
}

// errorDump formats err with %+v and %#v as a careless caller might.
func errorDump(err error) string {
	var b strings.Builder
	for e := err; e != nil; e = errors.Unwrap(e) {
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(e.Error(), "\n", " "), "\t", " "))
	}
	return b.String()
}

// TestSharedTransportLeavesTheWaitToTheAttempt: the attempt timeout bounds
// a request; the shared transport must not cut a caller that raises it
// (the System Log poll allows 35 s for queries Okta may run 30 s).
func TestSharedTransportLeavesTheWaitToTheAttempt(t *testing.T) {
	tr, ok := sharedHTTPClient().Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", sharedHTTPClient().Transport)
	}
	if tr.ResponseHeaderTimeout != 0 {
		t.Errorf("ResponseHeaderTimeout %v cuts attempts allowed longer", tr.ResponseHeaderTimeout)
	}
}
