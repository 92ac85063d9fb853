package oktafake

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func rateHeaders(t *testing.T, r reply) (limit, remaining int, reset int64) {
	t.Helper()
	var err1, err2, err3 error
	limit, err1 = strconv.Atoi(r.header.Get("X-Rate-Limit-Limit"))
	remaining, err2 = strconv.Atoi(r.header.Get("X-Rate-Limit-Remaining"))
	reset, err3 = strconv.ParseInt(r.header.Get("X-Rate-Limit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("rate-limit headers missing or not numbers: %v", r.header)
	}
	return limit, remaining, reset
}

func TestRateLimitBuckets(t *testing.T) {
	clk := newFakeClock()
	f := newFixture(t, WithClock(clk.Now), WithRateLimit(3, time.Minute))
	users := call{method: http.MethodGet, path: "/api/v1/users/" + user1 + "/clients"}
	apps := call{method: http.MethodGet, path: "/api/v1/apps/" + app1 + "/tokens"}
	logs := call{method: http.MethodGet, path: "/api/v1/logs"}
	// The window opens at the first call and ends on the whole second at or
	// after a minute later.
	wantReset := time.Date(2026, 3, 1, 12, 1, 1, 0, time.UTC).Unix()

	for i, wantRemaining := range []int{2, 1, 0} {
		r := do(t, f.s, users)
		limit, remaining, reset := rateHeaders(t, r)
		if r.status != 200 || limit != 3 || remaining != wantRemaining || reset != wantReset {
			t.Fatalf("call %d: status %d limit %d remaining %d reset %d, want 200 3 %d %d", i, r.status, limit, remaining, reset, wantRemaining, wantReset)
		}
		clk.Advance(time.Second)
	}
	r := do(t, f.s, users)
	limit, remaining, reset := rateHeaders(t, r)
	if r.status != 429 || limit != 3 || remaining != 0 || reset != wantReset {
		t.Fatalf("exhausted: status %d limit %d remaining %d reset %d", r.status, limit, remaining, reset)
	}
	if e := r.errorBody(t); e.ErrorCode != "E0000047" || e.ErrorSummary != "API call exceeded rate limit due to too many requests." {
		t.Errorf("429 body = %+v", e)
	}

	// Other buckets are independent.
	for _, c := range []call{apps, logs} {
		r := do(t, f.s, c)
		if _, remaining, _ := rateHeaders(t, r); r.status != 200 || remaining != 2 {
			t.Errorf("%s: status %d remaining %d, want a fresh bucket", c.path, r.status, remaining)
		}
	}
	if l, rem, _ := f.s.RateLimitState(BucketOther); l != 3 || rem != 0 {
		t.Errorf("RateLimitState = %d, %d", l, rem)
	}

	// At the reset a new window opens.
	clk.Advance(time.Unix(wantReset, 0).Sub(clk.Now()))
	r = do(t, f.s, users)
	if _, remaining, reset := rateHeaders(t, r); r.status != 200 || remaining != 2 || reset <= wantReset {
		t.Errorf("after reset: status %d remaining %d reset %d", r.status, remaining, reset)
	}

	ws := f.s.RateLimitWindows(BucketOther)
	if len(ws) != 2 || ws[0].Used != 3 || ws[0].Rejected != 1 || ws[0].Limit != 3 || ws[0].End.Unix() != wantReset || ws[1].Used != 1 || ws[1].Rejected != 0 {
		t.Errorf("windows = %+v", ws)
	}
	if st := f.s.Stats(); st.ByBucket[BucketOther] != 5 || st.ByBucket[BucketApps] != 1 || st.ByBucket[BucketLogs] != 1 {
		t.Errorf("ByBucket = %v", st.ByBucket)
	}

	// The token endpoint is outside /api/v1 and its buckets.
	tr := do(t, f.s, call{method: http.MethodPost, path: "/oauth2/v1/token", auth: "-"})
	if tr.header.Get("X-Rate-Limit-Limit") != "" {
		t.Errorf("token endpoint has rate-limit headers: %v", tr.header)
	}

	f.s.SetRateLimit(0, 0)
	if r := do(t, f.s, users); r.header.Get("X-Rate-Limit-Limit") != "" || r.status != 200 {
		t.Errorf("without limits: %d %v", r.status, r.header)
	}
	f.s.SetBucketRateLimit(BucketApps, 1, time.Minute)
	do(t, f.s, apps)
	if r := do(t, f.s, apps); r.status != 429 {
		t.Errorf("apps bucket of 1: second call %d", r.status)
	}
	if r := do(t, f.s, users); r.status != 200 || r.header.Get("X-Rate-Limit-Limit") != "" {
		t.Errorf("users bucket affected by apps limit: %d", r.status)
	}
}

func TestCeilSecond(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	for _, tt := range []struct{ in, want time.Time }{
		{base, base},
		{base.Add(time.Nanosecond), base.Add(time.Second)},
		{base.Add(999 * time.Millisecond), base.Add(time.Second)},
	} {
		if got := ceilSecond(tt.in); !got.Equal(tt.want) {
			t.Errorf("ceilSecond(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// waitInFlight polls until n calls are in flight; the calls block in a
// hang, so this does not depend on timing.
func waitInFlight(t *testing.T, s *Server, n int) {
	t.Helper()
	waitFor(t, func() bool { return s.InFlight() >= n })
}

// waitFor polls cond: handlers finish (and record) a moment after the
// client has its answer or gave up.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	f := newFixture(t, WithConcurrencyLimit(2), WithFaults(Faults{HangRate: 1}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.s.URL+"/api/v1/users/"+user1+"/clients", nil)
			req.Header.Set("Authorization", "SSWS "+DefaultAPIToken)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitInFlight(t, f.s, 2)
	r := do(t, f.s, call{method: http.MethodGet, path: "/api/v1/apps/" + app1})
	limit, remaining, _ := rateHeaders(t, r)
	if r.status != 429 || limit != 0 || remaining != 0 || r.errorBody(t).ErrorCode != "E0000047" {
		t.Errorf("third concurrent call: status %d limit %d remaining %d", r.status, limit, remaining)
	}
	cancel()
	wg.Wait()
	waitFor(t, func() bool { return f.s.InFlight() == 0 })
	st := f.s.Stats()
	if st.MaxInFlight != 3 || st.Faults["concurrency"] != 1 || st.Faults[FaultHang] != 2 || st.ByStatus[0] != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFaultRates(t *testing.T) {
	const n = 2000
	statuses := func(seed int64) []int {
		s := NewTest(t, WithFaults(Faults{ServerErrorRate: 0.2, RateLimitRate: 0.1, Seed: seed}))
		s.AddUser(user1)
		out := make([]int, 0, n)
		for range n {
			out = append(out, do(t, s, call{method: http.MethodGet, path: "/api/v1/users/" + user1 + "/clients"}).status)
		}
		return out
	}
	a := statuses(7)
	count := map[int]int{}
	for _, st := range a {
		count[st]++
	}
	fiveXX := count[500] + count[502] + count[503]
	if share := float64(fiveXX) / n; share < 0.16 || share > 0.24 {
		t.Errorf("5xx share = %.3f, want about 0.2 (%v)", share, count)
	}
	if share := float64(count[429]) / n; share < 0.07 || share > 0.13 {
		t.Errorf("429 share = %.3f, want about 0.1 (%v)", share, count)
	}
	if count[500] == 0 || count[502] == 0 || count[503] == 0 || count[200]+fiveXX+count[429] != n {
		t.Errorf("statuses = %v", count)
	}
	if b := statuses(7); !slices.Equal(a[:200], b[:200]) {
		t.Error("the same seed gave a different sequence of faults")
	}
	if c := statuses(8); slices.Equal(a[:200], c[:200]) {
		t.Error("another seed gave the same sequence of faults")
	}
}

func TestFaultAnswers(t *testing.T) {
	tests := []struct {
		name        string
		faults      Faults
		limit       int
		wantStatus  []int
		wantType    string
		wantLimit   string
		wantRemain  string
		wantErrCode string
	}{
		{"server error", Faults{ServerErrorRate: 1, Seed: 1}, 0, []int{500, 502, 503}, "", "", "", ""},
		{"injected 429 without a bucket", Faults{RateLimitRate: 1}, 0, []int{429}, "application/json", "0", "0", "E0000047"},
		{"injected 429 with a bucket shows it honestly", Faults{RateLimitRate: 1}, 100, []int{429}, "application/json", "100", "99", "E0000047"},
		{"hang ends at MaxHang", Faults{HangRate: 1, MaxHang: time.Millisecond}, 0, []int{504}, "application/json", "", "", "E0000009"},
		{"path filter", Faults{ServerErrorRate: 1, Paths: []string{"/oauth2/"}}, 0, []int{200}, "application/json", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []Option{WithFaults(tt.faults)}
			if tt.limit > 0 {
				opts = append(opts, WithRateLimit(tt.limit, time.Minute))
			}
			f := newFixture(t, opts...)
			r := do(t, f.s, call{method: http.MethodGet, path: "/api/v1/users/" + user1 + "/clients"})
			if !slices.Contains(tt.wantStatus, r.status) {
				t.Fatalf("status = %d, want one of %v", r.status, tt.wantStatus)
			}
			switch r.status {
			case 500:
				if r.errorBody(t).ErrorCode != "E0000009" {
					t.Errorf("500 body %s", r.body)
				}
			case 502, 503:
				if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
					t.Errorf("%d content type %q", r.status, r.header.Get("Content-Type"))
				}
			}
			if tt.wantType != "" && r.header.Get("Content-Type") != tt.wantType {
				t.Errorf("content type %q", r.header.Get("Content-Type"))
			}
			if tt.wantLimit != "" && (r.header.Get("X-Rate-Limit-Limit") != tt.wantLimit || r.header.Get("X-Rate-Limit-Remaining") != tt.wantRemain || r.header.Get("X-Rate-Limit-Reset") == "") {
				t.Errorf("rate-limit headers %v, want limit %s remaining %s", r.header, tt.wantLimit, tt.wantRemain)
			}
			if tt.wantErrCode != "" && r.errorBody(t).ErrorCode != tt.wantErrCode {
				t.Errorf("body %s, want %s", r.body, tt.wantErrCode)
			}
			if r.header.Get("X-Okta-Request-Id") == "" {
				t.Error("no X-Okta-Request-Id")
			}
		})
	}
}

func TestFaultsDoNotChangeState(t *testing.T) {
	for _, tt := range []struct {
		name        string
		faults      Faults
		wantRevoked bool
	}{
		{"5xx", Faults{ServerErrorRate: 1}, false},
		{"429", Faults{RateLimitRate: 1}, false},
		{"5xx after commit", Faults{ServerErrorRate: 1, ServerErrorAfterCommit: true}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, WithFaults(tt.faults))
			r := do(t, f.s, call{method: http.MethodDelete, path: "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens"})
			if r.status < 429 {
				t.Fatalf("status %d, want a failure", r.status)
			}
			revoked := len(f.s.ActiveTokens(user1, app1)) == 0
			if revoked != tt.wantRevoked {
				t.Errorf("revoked = %v, want %v", revoked, tt.wantRevoked)
			}
			if got := len(f.s.ActiveTokens("", "")); !tt.wantRevoked && got != 4 {
				t.Errorf("active tokens = %d, want all 4", got)
			}
		})
	}
}

func TestLatencyAndHangEndWhenClientGivesUp(t *testing.T) {
	for _, tt := range []struct {
		name      string
		faults    Faults
		wantFault string
	}{
		{"latency", Faults{Latency: time.Minute}, "latency"},
		{"hang", Faults{HangRate: 1}, FaultHang},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, WithFaults(tt.faults))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.s.URL+"/api/v1/users/"+user1+"/clients", nil)
			if _, err := http.DefaultClient.Do(req); err == nil {
				t.Fatal("the call answered; want the client to give up")
			}
			// The handler notices the client is gone and records no answer.
			waitFor(t, func() bool { return len(f.s.Requests()) == 1 })
			reqs := f.s.Requests()
			if len(reqs) != 1 || reqs[0].Status != 0 || reqs[0].Fault != tt.wantFault {
				t.Errorf("recorded %+v", reqs)
			}
		})
	}
}

func TestCloseEndsHungCalls(t *testing.T) {
	s := New(WithFaults(Faults{HangRate: 1}))
	s.AddUser(user1)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.URL + "/api/v1/users/" + user1 + "/clients")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitInFlight(t, s, 1)
	s.Close() // must not wait for DefaultMaxHang
	<-done
	if s.InFlight() != 0 {
		t.Errorf("in flight after Close = %d", s.InFlight())
	}
	s.Close() // idempotent
}
