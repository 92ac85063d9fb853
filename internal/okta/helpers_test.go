package okta

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

const testToken = "00TESTtokenSSWSsecretValue-do-not-leak"

// recorded is one request a test server saw.
type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

// recorder is an httptest server whose answers a test scripts.
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []recorded
}

func newRecorder(t testing.TB, h http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.mu.Lock()
		r.got = append(r.got, recorded{Method: req.Method, Path: req.URL.EscapedPath(), RawQuery: req.URL.RawQuery, Header: req.Header.Clone(), Body: string(body)})
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.got...)
}

// testClient builds a client for url with short backoffs so tests run fast.
func testClient(t testing.TB, orgURL string, creds CredentialsSource, mutate ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		OrgURL:         orgURL,
		Credentials:    creds,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		AttemptTimeout: 2 * time.Second,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.retryBase = time.Millisecond
	c.retryCap = 5 * time.Millisecond
	c.shortBackoff = 5 * time.Millisecond
	return c
}

func sswsClient(t testing.TB, orgURL string, mutate ...func(*Config)) *Client {
	return testClient(t, orgURL, StaticCredentials(Credentials{APIToken: testToken}), mutate...)
}

// oktaError writes an Okta error body.
func oktaError(w http.ResponseWriter, status int, code, summary string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Okta-Request-Id", "req-"+strconv.Itoa(status))
	w.WriteHeader(status)
	io.WriteString(w, `{"errorCode":"`+code+`","errorSummary":"`+summary+`","errorLink":"`+code+`","errorId":"oaeTEST","errorCauses":[]}`)
}

// rotatingSecret is a SecretSource whose value a test can change; it counts
// reads and expiries (the client's re-reads after a 401).
type rotatingSecret struct {
	mu       sync.Mutex
	value    string
	stale    string // served until Expire is called, if set
	reads    int
	expiries int
}

func (s *rotatingSecret) Current(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.stale != "" {
		return s.stale, nil
	}
	return s.value, nil
}

func (s *rotatingSecret) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiries++
	s.stale = ""
}

func mustParseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
