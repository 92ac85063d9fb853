package oktafake

import (
	"net/http"
	"strings"
	"testing"
)

func TestMalformedPaths(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("a", MaxIDLength+1)
	tests := []struct {
		name      string
		method    string
		path      string
		status    int
		code      string
		malformed bool
	}{
		{"valid", "GET", "/api/v1/users/" + user1 + "/clients", 200, "", false},
		{"valid, longest id", "GET", "/api/v1/users/" + strings.Repeat("u", MaxIDLength) + "/clients", 404, "E0000007", false},
		{"encoded slash", "GET", "/api/v1/users/00u%2F..%2Fapps/clients", 404, "E0000007", true},
		{"traversal", "GET", "/api/v1/users/../apps/" + app1 + "/tokens", 404, "E0000007", true},
		{"dot id", "DELETE", "/api/v1/users/" + user1 + "/clients/./tokens", 404, "E0000007", true},
		{"empty id", "GET", "/api/v1/users//clients", 404, "E0000007", true},
		{"too long id", "GET", "/api/v1/users/" + long + "/clients", 404, "E0000007", true},
		{"space", "DELETE", "/api/v1/apps/0oa%20x/tokens", 404, "E0000007", true},
		{"query in id", "GET", "/api/v1/apps/0oa%3Fx/tokens", 404, "E0000007", true},
		{"trailing slash", "GET", "/api/v1/users/" + user1 + "/clients/", 404, "E0000007", true},
		{"extra segment", "DELETE", "/api/v1/apps/" + app1 + "/tokens/x/y", 404, "E0000007", true},
		{"unknown api", "GET", "/api/v1/groups", 404, "E0000007", true},
		{"outside api", "GET", "/api/v2/users/" + user1 + "/clients", 404, "E0000007", true},
		{"method not allowed", "POST", "/api/v1/users/" + user1 + "/clients", 405, "E0000022", false},
		{"token endpoint GET", "GET", "/oauth2/v1/token", 405, "E0000022", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.s.ResetRequests()
			r := do(t, f.s, call{method: tt.method, path: tt.path})
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" && r.errorBody(t).ErrorCode != tt.code {
				t.Errorf("body %s, want %s", r.body, tt.code)
			}
			reqs := f.s.Requests()
			if len(reqs) != 1 {
				t.Fatalf("recorded %d requests", len(reqs))
			}
			if reqs[0].Malformed != tt.malformed || reqs[0].Path != tt.path {
				t.Errorf("recorded %+v, want path %q malformed %v", reqs[0], tt.path, tt.malformed)
			}
			if got := len(f.s.MalformedRequests()); (got == 1) != tt.malformed || f.s.Stats().Malformed != got {
				t.Errorf("MalformedRequests = %d, Stats.Malformed = %d", got, f.s.Stats().Malformed)
			}
		})
	}
	if got := len(f.s.ActiveTokens("", "")); got != 4 {
		t.Errorf("hostile paths changed state: %d active tokens", got)
	}
}

func TestMatchRoute(t *testing.T) {
	tests := []struct {
		method, path string
		kind         routeKind
		bucket       Bucket
		user, client string
		app, token   string
	}{
		{"GET", "/api/v1/users/u1/clients", routeUserClients, BucketOther, "u1", "", "", ""},
		{"DELETE", "/api/v1/users/u1/clients/c1/tokens", routeUserClientTokens, BucketOther, "u1", "c1", "", ""},
		{"GET", "/api/v1/users/u1/clients/c1/tokens/t1", routeUserClientToken, BucketOther, "u1", "c1", "", "t1"},
		{"DELETE", "/api/v1/users/u1/sessions", routeUserSessions, BucketOther, "u1", "", "", ""},
		{"GET", "/api/v1/apps/a1", routeApp, BucketApps, "", "", "a1", ""},
		{"DELETE", "/api/v1/apps/a1/tokens/t1", routeAppToken, BucketApps, "", "", "a1", "t1"},
		{"GET", "/api/v1/logs", routeLogs, BucketLogs, "", "", "", ""},
		{"POST", "/oauth2/v1/token", routeToken, "", "", "", "", ""},
		{"DELETE", "/api/v1/apps/a1", routeMethodNotAllowed, BucketApps, "", "", "a1", ""},
	}
	for _, tt := range tests {
		rt := matchRoute(tt.method, tt.path)
		if rt.kind != tt.kind || rt.bucket != tt.bucket || rt.userID != tt.user || rt.clientID != tt.client || rt.appID != tt.app || rt.tokenID != tt.token || rt.malformed {
			t.Errorf("%s %s: %+v", tt.method, tt.path, rt)
		}
	}
}

func TestScopesPerRoute(t *testing.T) {
	tests := []struct {
		method, path, scope string
	}{
		{"GET", "/api/v1/users/u/clients", "okta.users.read"},
		{"DELETE", "/api/v1/users/u/clients/c/tokens", "okta.users.manage"},
		{"DELETE", "/api/v1/users/u/sessions", "okta.users.manage"},
		{"GET", "/api/v1/apps/a", "okta.apps.read"},
		{"DELETE", "/api/v1/apps/a/tokens", "okta.apps.manage"},
		{"GET", "/api/v1/logs", "okta.logs.read"},
	}
	for _, tt := range tests {
		if got := matchRoute(tt.method, tt.path).requiredScope(tt.method); got != tt.scope {
			t.Errorf("%s %s needs %s, want %s", tt.method, tt.path, got, tt.scope)
		}
	}
}

func TestRequestRecording(t *testing.T) {
	f := newFixture(t)
	r := do(t, f.s, call{method: http.MethodGet, path: "/api/v1/apps/" + app1 + "/tokens?limit=5", header: map[string]string{"User-Agent": "okta-token-revoker/test"}})
	reqs := f.s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("recorded %d", len(reqs))
	}
	got := reqs[0]
	if got.Method != "GET" || got.Path != "/api/v1/apps/"+app1+"/tokens" || got.Query != "limit=5" || got.Status != 200 ||
		got.Auth != "SSWS" || got.UserAgent != "okta-token-revoker/test" || got.Bucket != BucketApps ||
		got.RequestID != r.header.Get("X-Okta-Request-Id") || got.Time.IsZero() {
		t.Errorf("recorded %+v", got)
	}
	st := f.s.Stats()
	if st.Requests != 1 || st.ByStatus[200] != 1 || st.MaxInFlight != 1 {
		t.Errorf("stats %+v", st)
	}
	f.s.ResetRequests()
	if len(f.s.Requests()) != 0 || f.s.Stats().Requests != 0 {
		t.Error("ResetRequests kept requests")
	}
	f.s.Reset()
	if len(f.s.ActiveTokens("", "")) != 0 {
		t.Error("Reset kept tokens")
	}
}
