package oktafake

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse runs clients, seeding and inspection at once; with
// -race it proves the fake is safe for concurrent use, and afterwards the
// state must be exactly what the calls imply.
func TestConcurrentUse(t *testing.T) {
	s := NewTest(t, WithRateLimit(100000, time.Minute))
	s.AddApp(app1, "", "Portal")
	const workers, perWorker = 8, 15
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			userID := fmt.Sprintf("00uworker%02d", w)
			for i := range perWorker {
				id := s.AddToken(userID, app1)
				s.AddLogEvent(NewLogEvent("user.lifecycle.suspend", LogTarget{ID: userID, Type: "User"}))
				for _, c := range []call{
					{method: http.MethodGet, path: "/api/v1/users/" + userID + "/clients"},
					{method: http.MethodGet, path: "/api/v1/users/" + userID + "/clients/" + app1 + "/tokens?limit=3"},
					{method: http.MethodGet, path: "/api/v1/apps/" + app1 + "/tokens/" + id},
					{method: http.MethodGet, path: "/api/v1/logs?limit=5"},
				} {
					if r := do(t, s, c); r.status != 200 {
						t.Errorf("%s: %d %s", c.path, r.status, r.body)
					}
				}
				if i%3 == 0 {
					if r := do(t, s, call{method: http.MethodDelete, path: "/api/v1/users/" + userID + "/clients/" + app1 + "/tokens/" + id}); r.status != 204 {
						t.Errorf("revoke one: %d", r.status)
					}
				}
				_ = s.ActiveTokens(userID, "")
				_ = s.Stats()
				_ = s.Requests()
			}
			if r := do(t, s, call{method: http.MethodDelete, path: "/api/v1/users/" + userID + "/clients/" + app1 + "/tokens"}); r.status != 204 {
				t.Errorf("revoke all: %d", r.status)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 50 {
			s.SetFaults(Faults{Seed: int64(i)}) // no faults, but a new sequence each time
			s.SetRateLimit(100000, time.Minute)
			_ = s.MalformedRequests()
		}
	}()
	wg.Wait()
	if got := s.ActiveTokens("", ""); len(got) != 0 {
		t.Errorf("active tokens left: %v", got)
	}
	if got := len(s.RevokedTokens("", "")); got != workers*perWorker {
		t.Errorf("revoked = %d, want %d", got, workers*perWorker)
	}
	st := s.Stats()
	if st.Requests != len(s.Requests()) || st.Requests != workers*(perWorker*4+perWorker/3+1) || st.Malformed != 0 {
		t.Errorf("stats = %+v, requests recorded = %d", st, len(s.Requests()))
	}
}
