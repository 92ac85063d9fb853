package oktafake

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/fakeclock"
)

// call is one HTTP call in a table test.
type call struct {
	method, path string
	auth         string // full Authorization header; "-" for none; "" for the default SSWS token
	header       map[string]string
	body         io.Reader
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) errorBody(t *testing.T) ErrorBody {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return e
}

func (r reply) links() map[string]string {
	out := map[string]string{}
	for _, v := range r.header.Values("Link") {
		m := linkRE.FindStringSubmatch(v)
		if m != nil {
			out[m[2]] = m[1]
		}
	}
	return out
}

var linkRE = regexp.MustCompile(`^<([^>]*)>; rel="([a-z]+)"$`)

func do(t *testing.T, s *Server, c call) reply {
	t.Helper()
	return doCtx(t, context.Background(), s, c)
}

func doCtx(t *testing.T, ctx context.Context, s *Server, c call) reply {
	t.Helper()
	target := c.path
	if !strings.HasPrefix(target, "http") {
		target = s.URL + c.path
	}
	req, err := http.NewRequestWithContext(ctx, c.method, target, c.body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	switch c.auth {
	case "":
		req.Header.Set("Authorization", "SSWS "+DefaultAPIToken)
	case "-":
	default:
		req.Header.Set("Authorization", c.auth)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// newFakeClock returns a settable clock for rate-limit windows and expiries.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC))
}
