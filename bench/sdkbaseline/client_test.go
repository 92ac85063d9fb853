package sdkbaseline

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

var _ revocation.OktaAPI = (*Client)(nil)

func TestRetryAfter(t *testing.T) {
	date := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		reset  string
		date   string
		want   time.Duration
		wantOK bool
	}{
		{"reset in 5 s", strconv.FormatInt(date.Unix()+5, 10), date.Format(http.TimeFormat), 6 * time.Second, true},
		{"reset now", strconv.FormatInt(date.Unix(), 10), date.Format(http.TimeFormat), time.Second, true},
		{"reset long past", strconv.FormatInt(date.Unix()-10, 10), date.Format(http.TimeFormat), 0, true},
		{"no Date", strconv.FormatInt(date.Unix()+5, 10), "", 0, false},
		{"bad Date", strconv.FormatInt(date.Unix()+5, 10), "yesterday", 0, false},
		{"no reset", "", date.Format(http.TimeFormat), 0, false},
		{"bad reset", "soon", date.Format(http.TimeFormat), 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.reset != "" {
				h.Set("X-Rate-Limit-Reset", tt.reset)
			}
			if tt.date != "" {
				h.Set("Date", tt.date)
			}
			got, ok := RetryAfter(h)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RetryAfter = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// script answers each call with the next status in turn (the last one
// repeats), with rate-limit headers whose reset is 3 s after Date.
type script struct {
	mu       sync.Mutex
	statuses []int
	calls    int
	noDate   bool
}

func (s *script) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	status := s.statuses[min(s.calls, len(s.statuses)-1)]
	s.calls++
	s.mu.Unlock()
	now := time.Now()
	if s.noDate {
		w.Header()["Date"] = nil // suppress the server's own
	} else {
		w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	}
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(now.Unix()+3, 10))
	w.Header().Set("X-Okta-Request-Id", "req-"+strconv.Itoa(status))
	w.WriteHeader(status)
}

func TestRetries(t *testing.T) {
	for _, tt := range []struct {
		name       string
		statuses   []int
		maxRetries int
		noDate     bool
		wantCalls  int
		wantStatus int // 0: success
		wantWaits  []time.Duration
	}{
		{"success", []int{204}, 3, false, 1, 0, nil},
		{"429 then success", []int{429, 204}, 3, false, 2, 0, []time.Duration{4 * time.Second}},
		{"no retries by default", []int{429, 204}, 0, false, 1, 429, nil},
		{"retries run out", []int{429}, 2, false, 3, 429, []time.Duration{4 * time.Second, 4 * time.Second}},
		{"429 without Date is final", []int{429, 204}, 3, true, 1, 429, nil},
		{"500 is never retried", []int{500, 204}, 3, false, 1, 500, nil},
		{"503 is never retried", []int{503, 204}, 3, false, 1, 503, nil},
		{"404 is final", []int{404}, 3, false, 1, 404, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{statuses: tt.statuses, noDate: tt.noDate}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c, err := New(Config{OrgURL: srv.URL, APIToken: "token", MaxRetries: tt.maxRetries})
			if err != nil {
				t.Fatal(err)
			}
			var waits []time.Duration
			c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			err = c.RevokeUserClientTokens(context.Background(), "00u1", "0oa1")
			var oerr *okta.Error
			switch {
			case tt.wantStatus == 0 && err != nil:
				t.Fatalf("error %v, want success", err)
			case tt.wantStatus != 0 && (!errors.As(err, &oerr) || oerr.StatusCode != tt.wantStatus):
				t.Fatalf("error %v, want an *okta.Error with status %d", err, tt.wantStatus)
			}
			if s.calls != tt.wantCalls {
				t.Errorf("%d calls, want %d", s.calls, tt.wantCalls)
			}
			if len(waits) != len(tt.wantWaits) {
				t.Fatalf("waits %v, want %v", waits, tt.wantWaits)
			}
			for i := range waits {
				// Date and Reset are whole seconds apart by construction.
				if waits[i] != tt.wantWaits[i] {
					t.Errorf("wait %d = %v, want %v", i, waits[i], tt.wantWaits[i])
				}
			}
		})
	}
}

func TestMaxBackoffCapsTheWait(t *testing.T) {
	srv := httptest.NewServer(&script{statuses: []int{429, 204}})
	defer srv.Close()
	c, err := New(Config{OrgURL: srv.URL, APIToken: "token", MaxRetries: 1, MaxBackoff: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	if err := c.RevokeAppTokens(context.Background(), "0oa1"); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] != 1500*time.Millisecond {
		t.Errorf("waits %v, want [1.5s]", waits)
	}
}

// TestAgainstFake runs the executor's user-wide revocation through the
// baseline against the fake Okta org.
func TestAgainstFake(t *testing.T) {
	org := oktafake.NewTest(t, oktafake.WithAPIToken("bench-token"))
	org.AddToken("00uuser1", "0oaclientA")
	org.AddToken("00uuser1", "0oaclientB")
	org.AddToken("00uuser2", "0oaclientA")
	c, err := New(Config{OrgURL: org.URL, APIToken: "bench-token"})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := c.UserClientIDs(context.Background(), "00uuser1")
	if err != nil || len(ids) != 2 {
		t.Fatalf("UserClientIDs = %v, %v; want two clients", ids, err)
	}
	exec, err := revocation.NewExecutor(revocation.ExecutorConfig{Okta: c})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Execute(context.Background(), revocation.Request{UserID: "00uuser1"}); err != nil {
		t.Fatal(err)
	}
	if left := org.ActiveTokens("00uuser1", ""); len(left) != 0 {
		t.Errorf("user 1 keeps %v", left)
	}
	if left := org.ActiveTokens("00uuser2", ""); len(left) != 1 {
		t.Errorf("user 2 has %v, want its one token untouched", left)
	}
	bad, err := New(Config{OrgURL: org.URL, APIToken: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.RevokeUserClientTokens(context.Background(), "00uuser2", "0oaclientA"); !okta.IsConfigProblem(err) {
		t.Errorf("wrong token: %v, want a configuration problem", err)
	}
}
