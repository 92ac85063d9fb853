package oktafake

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const (
	user1   = "00u1aaaaaaaaaaaaaaaa"
	user2   = "00u2bbbbbbbbbbbbbbbb"
	user3   = "00u3cccccccccccccccc" // exists, no tokens
	app1    = "0oa1aaaaaaaaaaaaaaaa" // client_id = app id
	app2    = "0oa2bbbbbbbbbbbbbbbb"
	client2 = "custom-client-2" // app2's custom client_id
)

type fixture struct {
	s                    *Server
	t11a, t11b, t12, t21 string // t<user><app>
}

func newFixture(t *testing.T, opts ...Option) fixture {
	t.Helper()
	s := NewTest(t, opts...)
	s.AddUser(user3)
	s.AddApp(app1, "", "Portal")
	s.AddApp(app2, client2, "Reports")
	return fixture{
		s:    s,
		t11a: s.AddToken(user1, app1, "openid", "offline_access"),
		t11b: s.AddToken(user1, app1),
		t12:  s.AddToken(user1, client2, "reports:read"),
		t21:  s.AddToken(user2, app1),
	}
}

func ids(t *testing.T, body []byte) []string {
	t.Helper()
	type listed struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	toks := decode[[]listed](t, body)
	out := []string{}
	for _, tk := range toks {
		if tk.Status != StatusActive {
			t.Errorf("list returned %s token %s", tk.Status, tk.ID)
		}
		out = append(out, tk.ID)
	}
	return out
}

func TestReadEndpoints(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		path     string
		status   int
		wantIDs  []string // token ids of a list, in order
		wantCode string   // errorCode of an error answer
	}{
		{"user client tokens", "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens", 200, []string{f.t11a, f.t11b}, ""},
		{"user custom client tokens", "/api/v1/users/" + user1 + "/clients/" + client2 + "/tokens", 200, []string{f.t12}, ""},
		{"user without tokens", "/api/v1/users/" + user3 + "/clients/" + app1 + "/tokens", 200, []string{}, ""},
		{"app tokens", "/api/v1/apps/" + app1 + "/tokens", 200, []string{f.t11a, f.t11b, f.t21}, ""},
		{"app tokens by app id, custom client", "/api/v1/apps/" + app2 + "/tokens", 200, []string{f.t12}, ""},
		{"app tokens by client id is not an app", "/api/v1/apps/" + client2 + "/tokens", 404, nil, "E0000007"},
		{"unknown user", "/api/v1/users/00uunknown/clients/" + app1 + "/tokens", 404, nil, "E0000007"},
		{"unknown client", "/api/v1/users/" + user1 + "/clients/0oaunknown/tokens", 404, nil, "E0000007"},
		{"unknown user clients", "/api/v1/users/00uunknown/clients", 404, nil, "E0000007"},
		{"unknown app", "/api/v1/apps/0oaunknown", 404, nil, "E0000007"},
		{"unknown app tokens", "/api/v1/apps/0oaunknown/tokens", 404, nil, "E0000007"},
		{"unknown token", "/api/v1/apps/" + app1 + "/tokens/oarunknown", 404, nil, "E0000007"},
		{"token of another client", "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens/" + f.t12, 404, nil, "E0000007"},
		{"token of another user", "/api/v1/users/" + user2 + "/clients/" + app1 + "/tokens/" + f.t11a, 404, nil, "E0000007"},
		{"token of another app", "/api/v1/apps/" + app2 + "/tokens/" + f.t11a, 404, nil, "E0000007"},
		{"limit 0", "/api/v1/apps/" + app1 + "/tokens?limit=0", 400, nil, "E0000001"},
		{"limit 201", "/api/v1/apps/" + app1 + "/tokens?limit=201", 400, nil, "E0000001"},
		{"limit not a number", "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens?limit=ten", 400, nil, "E0000001"},
		{"limit 200", "/api/v1/apps/" + app1 + "/tokens?limit=200", 200, []string{f.t11a, f.t11b, f.t21}, ""},
		{"unknown cursor", "/api/v1/apps/" + app1 + "/tokens?after=oarnope", 400, nil, "E0000001"},
		{"no such endpoint", "/api/v1/users/" + user1 + "/grants/x/y", 404, nil, "E0000007"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, f.s, call{method: http.MethodGet, path: tt.path})
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if r.header.Get("X-Okta-Request-Id") == "" {
				t.Error("no X-Okta-Request-Id")
			}
			if tt.wantIDs != nil {
				if got := ids(t, r.body); !slices.Equal(got, tt.wantIDs) {
					t.Errorf("ids = %v, want %v", got, tt.wantIDs)
				}
			}
			if tt.wantCode != "" {
				e := r.errorBody(t)
				if e.ErrorCode != tt.wantCode || e.ErrorLink != tt.wantCode || e.ErrorID == "" || e.ErrorSummary == "" || e.ErrorCauses == nil {
					t.Errorf("error body = %+v, want code %s with every field set", e, tt.wantCode)
				}
				if !strings.Contains(string(r.body), `"errorCauses":[`) {
					t.Errorf("errorCauses is not an array: %s", r.body)
				}
			}
		})
	}
}

func TestTokenJSON(t *testing.T) {
	f := newFixture(t)
	path := "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens/" + f.t11a
	type tokenOut struct {
		ID          string   `json:"id"`
		Status      string   `json:"status"`
		Created     string   `json:"created"`
		LastUpdated string   `json:"lastUpdated"`
		ExpiresAt   string   `json:"expiresAt"`
		Issuer      string   `json:"issuer"`
		ClientID    string   `json:"clientId"`
		UserID      string   `json:"userId"`
		Scopes      []string `json:"scopes"`
		Embedded    *struct {
			Scopes []struct {
				ID, Name string
			} `json:"scopes"`
		} `json:"_embedded"`
		Links map[string]struct {
			Href  string `json:"href"`
			Hints *struct {
				Allow []string `json:"allow"`
			} `json:"hints"`
		} `json:"_links"`
	}

	r := do(t, f.s, call{method: http.MethodGet, path: path})
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d content type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	tok := decode[tokenOut](t, r.body)
	if tok.ID != f.t11a || !strings.HasPrefix(tok.ID, "oar") || len(tok.ID) != 20 || tok.Status != "ACTIVE" ||
		tok.ClientID != app1 || tok.UserID != user1 || !slices.Equal(tok.Scopes, []string{"openid", "offline_access"}) {
		t.Errorf("token = %+v", tok)
	}
	for _, ts := range []string{tok.Created, tok.LastUpdated, tok.ExpiresAt} {
		if len(ts) != len("2023-03-09T03:18:06.000Z") || !strings.HasSuffix(ts, "Z") {
			t.Errorf("timestamp %q is not Okta's format", ts)
		}
	}
	if !strings.HasPrefix(tok.Issuer, f.s.URL+"/oauth2/aus") {
		t.Errorf("issuer = %q", tok.Issuer)
	}
	if tok.Embedded != nil || strings.Contains(string(r.body), "_embedded") {
		t.Error("_embedded present without expand=scope")
	}
	for _, rel := range []string{"app", "self", "revoke", "client", "user", "authorizationServer"} {
		if !strings.HasPrefix(tok.Links[rel].Href, f.s.URL+"/") {
			t.Errorf("_links.%s = %q", rel, tok.Links[rel].Href)
		}
	}
	if tok.Links["self"].Href != f.s.URL+path || tok.Links["revoke"].Hints == nil || !slices.Equal(tok.Links["revoke"].Hints.Allow, []string{"DELETE"}) {
		t.Errorf("self/revoke links = %+v", tok.Links)
	}

	r = do(t, f.s, call{method: http.MethodGet, path: path + "?expand=scope"})
	tok = decode[tokenOut](t, r.body)
	if tok.Embedded == nil || len(tok.Embedded.Scopes) != 2 || tok.Embedded.Scopes[0].Name != "openid" || !strings.HasPrefix(tok.Embedded.Scopes[0].ID, "scp") {
		t.Errorf("_embedded = %+v", tok.Embedded)
	}
	r = do(t, f.s, call{method: http.MethodGet, path: "/api/v1/apps/" + app1 + "/tokens?expand=scope"})
	if n := strings.Count(string(r.body), `"_embedded"`); n != 3 {
		t.Errorf("list with expand=scope has %d _embedded, want 3", n)
	}
}

func TestUserClients(t *testing.T) {
	f := newFixture(t)
	type clientOut struct {
		ClientID   string  `json:"client_id"`
		ClientName string  `json:"client_name"`
		ClientURI  *string `json:"client_uri"`
		LogoURI    *string `json:"logo_uri"`
		Links      map[string]struct {
			Href string `json:"href"`
		} `json:"_links"`
	}
	r := do(t, f.s, call{method: http.MethodGet, path: "/api/v1/users/" + user1 + "/clients"})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	got := decode[[]clientOut](t, r.body)
	if len(got) != 2 || got[0].ClientID != app1 || got[0].ClientName != "Portal" || got[1].ClientID != client2 || got[1].ClientName != "Reports" {
		t.Fatalf("clients = %+v", got)
	}
	if !strings.Contains(string(r.body), `"client_uri":null`) || !strings.Contains(string(r.body), `"logo_uri":null`) {
		t.Errorf("client_uri/logo_uri not null: %s", r.body)
	}
	if want := f.s.URL + "/api/v1/users/" + user1 + "/clients/" + client2 + "/tokens"; got[1].Links["tokens"].Href != want {
		t.Errorf("tokens link = %q, want %q", got[1].Links["tokens"].Href, want)
	}
	if r.links()["self"] != f.s.URL+"/api/v1/users/"+user1+"/clients" {
		t.Errorf("Link self = %v", r.links())
	}

	// A client whose tokens are all revoked is no longer listed.
	do(t, f.s, call{method: http.MethodDelete, path: "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens"})
	got = decode[[]clientOut](t, do(t, f.s, call{method: http.MethodGet, path: "/api/v1/users/" + user1 + "/clients"}).body)
	if len(got) != 1 || got[0].ClientID != client2 {
		t.Errorf("after revoke, clients = %+v", got)
	}
	if r := do(t, f.s, call{method: http.MethodGet, path: "/api/v1/users/" + user3 + "/clients"}); r.status != 200 || string(r.body) != "[]" {
		t.Errorf("user without tokens: %d %s", r.status, r.body)
	}
}

func TestAppInstance(t *testing.T) {
	f := newFixture(t)
	r := do(t, f.s, call{method: http.MethodGet, path: "/api/v1/apps/" + app2})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	type appOut struct {
		ID, Name, Label, Status, SignOnMode string
		Credentials                         struct {
			OAuthClient struct {
				ClientID string `json:"client_id"`
			} `json:"oauthClient"`
		} `json:"credentials"`
	}
	a := decode[appOut](t, r.body)
	if a.ID != app2 || a.Name != "oidc_client" || a.Label != "Reports" || a.Status != "ACTIVE" || a.SignOnMode != "OPENID_CONNECT" || a.Credentials.OAuthClient.ClientID != client2 {
		t.Errorf("app = %+v", a)
	}
	if strings.Contains(string(r.body), "client_secret\"") {
		t.Error("app JSON carries a client secret")
	}
	f.s.SetAppStatus(app2, "INACTIVE")
	if r := do(t, f.s, call{method: http.MethodGet, path: "/api/v1/apps/" + app2}); !strings.Contains(string(r.body), `"status":"INACTIVE"`) {
		t.Errorf("after deactivation: %s", r.body)
	}
}

func TestRevokeEndpoints(t *testing.T) {
	tests := []struct {
		name       string
		path       func(f fixture) string
		status     int
		revoked    func(f fixture) []string // tokens that must be REVOKED afterwards
		stillAlive func(f fixture) []string
	}{
		{
			name:       "user client tokens",
			path:       func(f fixture) string { return "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens" },
			status:     204,
			revoked:    func(f fixture) []string { return []string{f.t11a, f.t11b} },
			stillAlive: func(f fixture) []string { return []string{f.t12, f.t21} },
		},
		{
			name:       "user client without tokens",
			path:       func(f fixture) string { return "/api/v1/users/" + user3 + "/clients/" + app1 + "/tokens" },
			status:     204,
			stillAlive: func(f fixture) []string { return []string{f.t11a, f.t11b, f.t12, f.t21} },
		},
		{
			name:       "one user token",
			path:       func(f fixture) string { return "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens/" + f.t11b },
			status:     204,
			revoked:    func(f fixture) []string { return []string{f.t11b} },
			stillAlive: func(f fixture) []string { return []string{f.t11a, f.t12, f.t21} },
		},
		{
			name:       "one token of another user",
			path:       func(f fixture) string { return "/api/v1/users/" + user2 + "/clients/" + app1 + "/tokens/" + f.t11b },
			status:     404,
			stillAlive: func(f fixture) []string { return []string{f.t11a, f.t11b, f.t12, f.t21} },
		},
		{
			name:       "app tokens, custom client id",
			path:       func(f fixture) string { return "/api/v1/apps/" + app2 + "/tokens" },
			status:     204,
			revoked:    func(f fixture) []string { return []string{f.t12} },
			stillAlive: func(f fixture) []string { return []string{f.t11a, f.t11b, f.t21} },
		},
		{
			name:       "app tokens",
			path:       func(f fixture) string { return "/api/v1/apps/" + app1 + "/tokens" },
			status:     204,
			revoked:    func(f fixture) []string { return []string{f.t11a, f.t11b, f.t21} },
			stillAlive: func(f fixture) []string { return []string{f.t12} },
		},
		{
			name:       "one app token",
			path:       func(f fixture) string { return "/api/v1/apps/" + app1 + "/tokens/" + f.t21 },
			status:     204,
			revoked:    func(f fixture) []string { return []string{f.t21} },
			stillAlive: func(f fixture) []string { return []string{f.t11a, f.t11b, f.t12} },
		},
		{
			name:       "unknown app",
			path:       func(f fixture) string { return "/api/v1/apps/0oanothere/tokens" },
			status:     404,
			stillAlive: func(f fixture) []string { return []string{f.t11a, f.t11b, f.t12, f.t21} },
		},
		{
			name:       "sessions with oauthTokens",
			path:       func(f fixture) string { return "/api/v1/users/" + user1 + "/sessions?oauthTokens=true" },
			status:     204,
			revoked:    func(f fixture) []string { return []string{f.t11a, f.t11b, f.t12} },
			stillAlive: func(f fixture) []string { return []string{f.t21} },
		},
		{
			name: "sessions without oauthTokens",
			path: func(f fixture) string {
				return "/api/v1/users/" + user1 + "/sessions?oauthTokens=false&forgetDevices=false"
			},
			status:     204,
			stillAlive: func(f fixture) []string { return []string{f.t11a, f.t11b, f.t12, f.t21} },
		},
		{
			name:       "sessions, bad boolean",
			path:       func(f fixture) string { return "/api/v1/users/" + user1 + "/sessions?oauthTokens=yes" },
			status:     400,
			stillAlive: func(f fixture) []string { return []string{f.t11a, f.t11b, f.t12, f.t21} },
		},
		{
			name:       "sessions, unknown user",
			path:       func(f fixture) string { return "/api/v1/users/00unobody/sessions?oauthTokens=true" },
			status:     404,
			stillAlive: func(f fixture) []string { return []string{f.t11a, f.t11b, f.t12, f.t21} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r := do(t, f.s, call{method: http.MethodDelete, path: tt.path(f)})
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status == 204 && len(r.body) != 0 {
				t.Errorf("204 with body %q", r.body)
			}
			if tt.revoked != nil {
				for _, id := range tt.revoked(f) {
					if info, _ := f.s.Token(id); info.Status != StatusRevoked {
						t.Errorf("token %s is %s, want REVOKED", id, info.Status)
					}
				}
			}
			active := f.s.ActiveTokens("", "")
			if want := tt.stillAlive(f); !slices.Equal(active, want) {
				t.Errorf("active tokens = %v, want %v", active, want)
			}
		})
	}
}

func TestRevokedTokenIsGone(t *testing.T) {
	f := newFixture(t)
	one := "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens/" + f.t11a
	if r := do(t, f.s, call{method: http.MethodDelete, path: one}); r.status != 204 {
		t.Fatalf("first revoke: %d", r.status)
	}
	for _, c := range []call{
		{method: http.MethodGet, path: one},
		{method: http.MethodDelete, path: one},
		{method: http.MethodGet, path: "/api/v1/apps/" + app1 + "/tokens/" + f.t11a},
	} {
		if r := do(t, f.s, c); r.status != 404 || r.errorBody(t).ErrorCode != "E0000007" {
			t.Errorf("%s %s after revoke: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	list := do(t, f.s, call{method: http.MethodGet, path: "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens"})
	if got := ids(t, list.body); !slices.Equal(got, []string{f.t11b}) {
		t.Errorf("list after revoke = %v", got)
	}
	if got := f.s.RevokedTokens(user1, ""); !slices.Equal(got, []string{f.t11a}) {
		t.Errorf("RevokedTokens = %v", got)
	}
	if total, withTokens := f.s.SessionRevocations(user1); total != 0 || withTokens != 0 {
		t.Errorf("SessionRevocations = %d, %d", total, withTokens)
	}
}

func TestDeleteUserAndApp(t *testing.T) {
	f := newFixture(t)
	f.s.DeleteUser(user1)
	if r := do(t, f.s, call{method: http.MethodGet, path: "/api/v1/users/" + user1 + "/clients"}); r.status != 404 {
		t.Errorf("deleted user: %d", r.status)
	}
	if got := f.s.ActiveTokens("", ""); !slices.Equal(got, []string{f.t21}) {
		t.Errorf("active after DeleteUser = %v", got)
	}
	f.s.DeleteApp(app1)
	if r := do(t, f.s, call{method: http.MethodDelete, path: "/api/v1/apps/" + app1 + "/tokens"}); r.status != 404 {
		t.Errorf("deleted app: %d", r.status)
	}
	if got := f.s.ActiveTokens("", ""); len(got) != 0 {
		t.Errorf("active after DeleteApp = %v", got)
	}
}

func TestActiveTokensFilters(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		user, client string
		want         []string
	}{
		{user1, "", []string{f.t11a, f.t11b, f.t12}},
		{"", app1, []string{f.t11a, f.t11b, f.t21}},
		{user1, client2, []string{f.t12}},
		{"", "", []string{f.t11a, f.t11b, f.t12, f.t21}},
		{user3, "", []string{}},
	}
	for _, tt := range tests {
		if got := f.s.ActiveTokens(tt.user, tt.client); !slices.Equal(got, tt.want) {
			t.Errorf("ActiveTokens(%q, %q) = %v, want %v", tt.user, tt.client, got, tt.want)
		}
	}
}

// TestPaging walks every list a page at a time, following Link rel="next"
// verbatim, and checks there are no gaps and no repeats, even when tokens
// are revoked and added during the walk.
func TestPaging(t *testing.T) {
	for _, limit := range []int{1, 7, 20, 200} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			s := NewTest(t)
			var all []string
			for i := range 45 {
				all = append(all, s.AddToken(user1, app1))
				if i%5 == 0 {
					s.AddToken(user2, app1) // interleaved tokens of another user
				}
			}
			next := s.URL + "/api/v1/users/" + user1 + "/clients/" + app1 + "/tokens?limit=" + fmt.Sprint(limit)
			var seen []string
			pages := 0
			revokedDuringWalk := ""
			for next != "" {
				if pages > 100 {
					t.Fatalf("more than 100 pages: the cursor does not advance")
				}
				r := do(t, s, call{method: http.MethodGet, path: next})
				if r.status != 200 {
					t.Fatalf("page %d: %d %s", pages, r.status, r.body)
				}
				links := r.links()
				if links["self"] == "" {
					t.Errorf("page %d has no self link", pages)
				}
				page := ids(t, r.body)
				if len(page) > limit {
					t.Fatalf("page of %d > limit %d", len(page), limit)
				}
				seen = append(seen, page...)
				next = links["next"]
				if next != "" {
					u, err := url.Parse(next)
					if err != nil || u.Scheme+"://"+u.Host != s.URL || u.Query().Get("after") == "" || u.Query().Get("limit") != fmt.Sprint(limit) {
						t.Fatalf("next link %q is not absolute on the server's origin with after and limit", next)
					}
				}
				pages++
				if pages == 2 && revokedDuringWalk == "" {
					// Revoke a token not yet seen: it must not show up later.
					revokedDuringWalk = all[len(all)-1]
					s.RevokeToken(revokedDuringWalk)
				}
			}
			want := all
			if revokedDuringWalk != "" {
				want = all[:len(all)-1]
			}
			if !slices.Equal(seen, want) {
				t.Errorf("walked %d ids, want %d (gaps or repeats)\n got %v\nwant %v", len(seen), len(want), seen, want)
			}
			if wantPages := (len(want) + limit - 1) / limit; limit < 45 && pages != wantPages && pages != wantPages+1 {
				t.Errorf("pages = %d, want about %d", pages, wantPages)
			}
		})
	}
}

func TestPagingDefaultLimit(t *testing.T) {
	s := NewTest(t)
	s.AddApp(app1, "", "Portal")
	for range 25 {
		s.AddToken(user1, app1)
	}
	r := do(t, s, call{method: http.MethodGet, path: "/api/v1/apps/" + app1 + "/tokens"})
	if got := len(ids(t, r.body)); got != DefaultPageLimit {
		t.Errorf("default page size = %d, want %d", got, DefaultPageLimit)
	}
	if len(r.header.Values("Link")) != 2 {
		t.Errorf("Link headers = %q, want self and next as separate values", r.header.Values("Link"))
	}
	next := r.links()["next"]
	r = do(t, s, call{method: http.MethodGet, path: next})
	if got := len(ids(t, r.body)); got != 5 {
		t.Errorf("second page = %d tokens, want 5", got)
	}
	if _, ok := r.links()["next"]; ok {
		t.Error("last page has a next link")
	}
}

func TestSeedDemo(t *testing.T) {
	s := NewTest(t)
	d := SeedDemo(s)
	if len(d.Users) != 3 || len(d.Apps) != 3 || len(d.Tokens) < 6 {
		t.Fatalf("demo = %+v", d)
	}
	differs := false
	for _, a := range d.Apps {
		if a.AppID != a.ClientID {
			differs = true
		}
		r := do(t, s, call{method: http.MethodGet, path: "/api/v1/apps/" + a.AppID})
		if r.status != 200 || !strings.Contains(string(r.body), `"client_id":"`+a.ClientID+`"`) {
			t.Errorf("app %s: %d %s", a.AppID, r.status, r.body)
		}
	}
	if !differs {
		t.Error("no demo app has a client_id that differs from its app id")
	}
	for _, u := range d.Users {
		if len(s.ActiveTokens(u, "")) == 0 {
			t.Errorf("demo user %s has no tokens", u)
		}
	}
	if got := len(s.ActiveTokens("", "")); got != len(d.Tokens) {
		t.Errorf("active tokens = %d, demo says %d", got, len(d.Tokens))
	}
}

func TestAddTokenRejectsAppIDForCustomClient(t *testing.T) {
	s := NewTest(t)
	s.AddApp(app2, client2, "Reports")
	defer func() {
		if recover() == nil {
			t.Error("AddToken with the app id of an app whose client_id differs did not panic")
		}
		if got := s.ActiveTokens("", ""); len(got) != 0 {
			t.Errorf("tokens added: %v", got)
		}
	}()
	s.AddToken(user1, app2)
}
