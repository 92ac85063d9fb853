package okta

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

const (
	uid = "00ub0oNGTSWTBKOLGLNR"
	cid = "0oabskvc6442nkvQO0h7"
	tid = "oar579Mcp7OUsNTlo0g3"
)

// operation is one client call, for table tests over every operation.
type operation struct {
	name   string
	method string
	path   string
	query  string
	status int    // what the test server answers
	body   string // and with what
	call   func(ctx context.Context, c *Client) error
}

func operations() []operation {
	page := func(p Page, err error) error { return err }
	obj := func(_ json.RawMessage, err error) error { return err }
	return []operation{
		{"ListUserClients", "GET", "/api/v1/users/" + uid + "/clients", "", 200, `[{"client_id":"` + cid + `","client_name":"A"}]`,
			func(ctx context.Context, c *Client) error { return page(c.ListUserClients(ctx, uid)) }},
		{"ListUserClientTokens", "GET", "/api/v1/users/" + uid + "/clients/" + cid + "/tokens", "", 200, `[]`,
			func(ctx context.Context, c *Client) error {
				return page(c.ListUserClientTokens(ctx, uid, cid, ListOptions{}))
			}},
		{"ListUserClientTokens/options", "GET", "/api/v1/users/" + uid + "/clients/" + cid + "/tokens", "after=abc%2B%2F&expand=scope&limit=200", 200, `[]`,
			func(ctx context.Context, c *Client) error {
				return page(c.ListUserClientTokens(ctx, uid, cid, ListOptions{Expand: "scope", After: "abc+/", Limit: 200}))
			}},
		{"GetUserClientToken", "GET", "/api/v1/users/" + uid + "/clients/" + cid + "/tokens/" + tid, "expand=scope", 200, `{"id":"` + tid + `"}`,
			func(ctx context.Context, c *Client) error {
				return obj(c.GetUserClientToken(ctx, uid, cid, tid, "scope"))
			}},
		{"GetUserClientToken/noexpand", "GET", "/api/v1/users/" + uid + "/clients/" + cid + "/tokens/" + tid, "", 200, `{"id":"` + tid + `"}`,
			func(ctx context.Context, c *Client) error { return obj(c.GetUserClientToken(ctx, uid, cid, tid, "")) }},
		{"RevokeUserClientTokens", "DELETE", "/api/v1/users/" + uid + "/clients/" + cid + "/tokens", "", 204, "",
			func(ctx context.Context, c *Client) error { return c.RevokeUserClientTokens(ctx, uid, cid) }},
		{"RevokeUserClientToken", "DELETE", "/api/v1/users/" + uid + "/clients/" + cid + "/tokens/" + tid, "", 204, "",
			func(ctx context.Context, c *Client) error { return c.RevokeUserClientToken(ctx, uid, cid, tid) }},
		{"ListAppTokens", "GET", "/api/v1/apps/" + cid + "/tokens", "limit=1", 200, `[]`,
			func(ctx context.Context, c *Client) error {
				return page(c.ListAppTokens(ctx, cid, ListOptions{Limit: 1}))
			}},
		{"GetAppToken", "GET", "/api/v1/apps/" + cid + "/tokens/" + tid, "", 200, `{"id":"x"}`,
			func(ctx context.Context, c *Client) error { return obj(c.GetAppToken(ctx, cid, tid, "")) }},
		{"RevokeAppTokens", "DELETE", "/api/v1/apps/" + cid + "/tokens", "", 204, "",
			func(ctx context.Context, c *Client) error { return c.RevokeAppTokens(ctx, cid) }},
		{"RevokeAppToken", "DELETE", "/api/v1/apps/" + cid + "/tokens/" + tid, "", 204, "",
			func(ctx context.Context, c *Client) error { return c.RevokeAppToken(ctx, cid, tid) }},
		{"AppClientID", "GET", "/api/v1/apps/" + cid, "", 200, `{"id":"` + cid + `","credentials":{"oauthClient":{"client_id":"custom_client-1"}}}`,
			func(ctx context.Context, c *Client) error {
				id, err := c.AppClientID(ctx, cid)
				if err == nil && id != "custom_client-1" {
					return errors.New("AppClientID = " + id)
				}
				return err
			}},
		{"RevokeUserSessions/oauthTokens", "DELETE", "/api/v1/users/" + uid + "/sessions", "forgetDevices=false&oauthTokens=true", 204, "",
			func(ctx context.Context, c *Client) error { return c.RevokeUserSessions(ctx, uid, true) }},
		{"RevokeUserSessions", "DELETE", "/api/v1/users/" + uid + "/sessions", "forgetDevices=false&oauthTokens=false", 204, "",
			func(ctx context.Context, c *Client) error { return c.RevokeUserSessions(ctx, uid, false) }},
	}
}

func TestOperationsSendMethodPathQueryAndHeaders(t *testing.T) {
	for _, op := range operations() {
		t.Run(op.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(op.status)
				io.WriteString(w, op.body)
			})
			c := sswsClient(t, rec.srv.URL)
			if err := op.call(context.Background(), c); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := rec.requests()
			if len(got) != 1 {
				t.Fatalf("got %d requests, want 1", len(got))
			}
			r := got[0]
			if r.Method != op.method || r.Path != op.path || r.RawQuery != op.query {
				t.Errorf("sent %s %s?%s, want %s %s?%s", r.Method, r.Path, r.RawQuery, op.method, op.path, op.query)
			}
			if h := r.Header.Get("Authorization"); h != "SSWS "+testToken {
				t.Errorf("Authorization = %q", h)
			}
			if h := r.Header.Get("User-Agent"); h != "okta-token-revoker/"+Version {
				t.Errorf("User-Agent = %q", h)
			}
			if h := r.Header.Get("Accept"); h != "application/json" {
				t.Errorf("Accept = %q", h)
			}
			if r.Body != "" {
				t.Errorf("sent a body: %q", r.Body)
			}
		})
	}
}

// hostileIDs are IDs that must never reach Okta.
var hostileIDs = []struct{ name, id string }{
	{"empty", ""},
	{"dot-dot", "../x"},
	{"slash", "a/b"},
	{"escaped slash", "%2F"},
	{"101 chars", strings.Repeat("a", 101)},
	{"unicode", "00uä"},
	{"space", "00u 1"},
	{"query", "00u?x=1"},
	{"fragment", "00u#x"},
	{"newline", "00u\nHost: evil"},
	{"dot", "."},
	{"nul", "00u\x00"},
}

func TestOperationsRejectHostileIDsBeforeSending(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	c := sswsClient(t, rec.srv.URL)
	ctx := context.Background()
	for _, h := range hostileIDs {
		calls := map[string]func() error{
			"ListUserClients/user":          func() error { _, err := c.ListUserClients(ctx, h.id); return err },
			"ListUserClientTokens/user":     func() error { _, err := c.ListUserClientTokens(ctx, h.id, cid, ListOptions{}); return err },
			"ListUserClientTokens/client":   func() error { _, err := c.ListUserClientTokens(ctx, uid, h.id, ListOptions{}); return err },
			"GetUserClientToken/token":      func() error { _, err := c.GetUserClientToken(ctx, uid, cid, h.id, ""); return err },
			"RevokeUserClientTokens/client": func() error { return c.RevokeUserClientTokens(ctx, uid, h.id) },
			"RevokeUserClientToken/user":    func() error { return c.RevokeUserClientToken(ctx, h.id, cid, tid) },
			"RevokeUserClientToken/token":   func() error { return c.RevokeUserClientToken(ctx, uid, cid, h.id) },
			"ListAppTokens/app":             func() error { _, err := c.ListAppTokens(ctx, h.id, ListOptions{}); return err },
			"GetAppToken/token":             func() error { _, err := c.GetAppToken(ctx, cid, h.id, ""); return err },
			"RevokeAppTokens/app":           func() error { return c.RevokeAppTokens(ctx, h.id) },
			"RevokeAppToken/token":          func() error { return c.RevokeAppToken(ctx, cid, h.id) },
			"AppClientID/app":               func() error { _, err := c.AppClientID(ctx, h.id); return err },
			"RevokeUserSessions/user":       func() error { return c.RevokeUserSessions(ctx, h.id, true) },
			"UserClientIDs/user":            func() error { _, err := c.UserClientIDs(ctx, h.id); return err },
			"GetUserClientToken/user":       func() error { _, err := c.GetUserClientToken(ctx, h.id, cid, tid, ""); return err },
			"RevokeUserClientTokens/user":   func() error { return c.RevokeUserClientTokens(ctx, h.id, cid) },
			"GetAppToken/app":               func() error { _, err := c.GetAppToken(ctx, h.id, tid, ""); return err },
			"RevokeAppToken/app":            func() error { return c.RevokeAppToken(ctx, h.id, tid) },
			"RevokeUserClientToken/client":  func() error { return c.RevokeUserClientToken(ctx, uid, h.id, tid) },
			"GetUserClientToken/client":     func() error { _, err := c.GetUserClientToken(ctx, uid, h.id, tid, ""); return err },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%s(%s): err = %v, want ErrInvalidArgument", name, h.name, err)
			}
			if h.id != "" && len(h.id) < 30 && err != nil && strings.Contains(err.Error(), h.id) {
				t.Errorf("%s(%s): error quotes the hostile value: %v", name, h.name, err)
			}
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

func TestListOptionsValidation(t *testing.T) {
	cases := []struct {
		opts ListOptions
		ok   bool
	}{
		{ListOptions{}, true},
		{ListOptions{Limit: 1}, true},
		{ListOptions{Limit: 200, Expand: "scope", After: "16275000448691"}, true},
		{ListOptions{Limit: -1}, false},
		{ListOptions{Limit: 201}, false},
		{ListOptions{Expand: "scopes"}, false},
		{ListOptions{Expand: "SCOPE"}, false},
		{ListOptions{After: strings.Repeat("a", 1025)}, false},
		{ListOptions{After: "a b"}, false},
		{ListOptions{After: "a\r\nb"}, false},
	}
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "[]") })
	c := sswsClient(t, rec.srv.URL)
	sent := 0
	for _, tc := range cases {
		err := tc.opts.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidArgument)) {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.opts, err, tc.ok)
		}
		_, err1 := c.ListUserClientTokens(context.Background(), uid, cid, tc.opts)
		_, err2 := c.ListAppTokens(context.Background(), cid, tc.opts)
		for _, err := range []error{err1, err2} {
			if (err == nil) != tc.ok {
				t.Errorf("list with %+v: err = %v, want ok=%v", tc.opts, err, tc.ok)
			}
		}
		if tc.ok {
			sent += 2
		}
	}
	for _, expand := range []string{"x", "scope,foo"} {
		if _, err := c.GetAppToken(context.Background(), cid, tid, expand); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("GetAppToken expand=%q: %v", expand, err)
		}
		if _, err := c.GetUserClientToken(context.Background(), uid, cid, tid, expand); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("GetUserClientToken expand=%q: %v", expand, err)
		}
	}
	if got := len(rec.requests()); got != sent {
		t.Errorf("server saw %d requests, want %d (invalid options must not be sent)", got, sent)
	}
}

func TestNewValidatesOrgURL(t *testing.T) {
	creds := StaticCredentials(Credentials{APIToken: "x"})
	cases := []struct {
		url    string
		ok     bool
		origin string
	}{
		{"https://acme.okta.com", true, "https://acme.okta.com"},
		{"https://ACME.okta.com/", true, "https://acme.okta.com"},
		{"https://acme.okta.com:8443", true, "https://acme.okta.com:8443"},
		{"http://127.0.0.1:8080", true, "http://127.0.0.1:8080"},
		{"http://127.9.9.9", true, "http://127.9.9.9"},
		{"http://localhost:1234", true, "http://localhost:1234"},
		{"http://[::1]:99", true, "http://[::1]:99"},
		{"http://acme.okta.com", false, ""},
		{"http://10.0.0.1", false, ""},
		{"http://localhost.evil.com", false, ""},
		{"http://127.0.0.1.nip.io", false, ""},
		{"https://acme.okta.com/api", false, ""},
		{"https://acme.okta.com?x=1", false, ""},
		{"https://user:pw@acme.okta.com", false, ""},
		{"ftp://acme.okta.com", false, ""},
		{"acme.okta.com", false, ""},
		{"", false, ""},
		{"https://", false, ""},
	}
	for _, tc := range cases {
		c, err := New(Config{OrgURL: tc.url, Credentials: creds})
		if (err == nil) != tc.ok {
			t.Errorf("New(%q): err = %v, want ok=%v", tc.url, err, tc.ok)
			continue
		}
		if err == nil && c.OrgURL() != tc.origin {
			t.Errorf("New(%q).OrgURL() = %q, want %q", tc.url, c.OrgURL(), tc.origin)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("New(%q): error leaks user info: %v", tc.url, err)
		}
	}
	if _, err := New(Config{OrgURL: "https://acme.okta.com"}); err == nil {
		t.Error("New without Credentials: no error")
	}
	if _, err := New(Config{OrgURL: "https://acme.okta.com", Credentials: creds, Scopes: []string{"a b"}}); err == nil {
		t.Error("New with a scope containing a space: no error")
	}
}

func TestAppClientIDFallbackAndCache(t *testing.T) {
	calls := 0
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		switch r.URL.Path {
		case "/api/v1/apps/0oaNoOAuth":
			io.WriteString(w, `{"id":"0oaNoOAuth","credentials":{"userNameTemplate":{}}}`)
		case "/api/v1/apps/0oaGone":
			oktaError(w, 404, "E0000007", "Not found: Resource not found: 0oaGone (AppInstance)")
		default:
			io.WriteString(w, `{"credentials":{"oauthClient":{"client_id":"cust0m"}}}`)
		}
	})
	c := sswsClient(t, rec.srv.URL)
	ctx := context.Background()
	for range 3 {
		if id, err := c.AppClientID(ctx, "0oaNoOAuth"); err != nil || id != "0oaNoOAuth" {
			t.Fatalf("AppClientID(no oauth) = %q, %v", id, err)
		}
		if id, err := c.AppClientID(ctx, "0oaOther"); err != nil || id != "cust0m" {
			t.Fatalf("AppClientID(other) = %q, %v", id, err)
		}
	}
	if calls != 2 {
		t.Errorf("%d calls for 2 apps asked 3 times each, want 2 (cached)", calls)
	}
	for range 2 {
		if _, err := c.AppClientID(ctx, "0oaGone"); !IsNotFound(err) {
			t.Fatalf("AppClientID(gone) err = %v, want not found", err)
		}
	}
	if calls != 4 {
		t.Errorf("errors must not be cached: %d calls, want 4", calls)
	}
}

func TestPaginationFollowsLinkVerbatim(t *testing.T) {
	var base string
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("after") {
		case "":
			// Two Link headers, self first, with odd spacing and an
			// escaped cursor that must be sent back as is.
			w.Header().Add("Link", `<`+base+`/api/v1/apps/`+cid+`/tokens?limit=2>; rel="self"`)
			w.Header().Add("Link", `<`+base+`/api/v1/apps/`+cid+`/tokens?after=c%2B1&limit=2>;rel=next`)
			io.WriteString(w, `[{"id":"t1","extra":{"kept":true}},{"id":"t2"}]`)
		case "c+1":
			w.Header().Set("Link", `<`+base+`/api/v1/apps/`+cid+`/tokens?after=c%2B1&limit=2>; rel="self", <`+base+`/api/v1/apps/`+cid+`/tokens?after=c2&limit=2>; rel="next"`)
			io.WriteString(w, `[{"id":"t3"}]`)
		default:
			io.WriteString(w, `[ {"id" : "t4"} ]`)
		}
	})
	base = rec.srv.URL
	c := sswsClient(t, rec.srv.URL)
	ctx := context.Background()
	first, err := c.ListAppTokens(ctx, cid, ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if first.After != "c+1" || first.NextURL != base+"/api/v1/apps/"+cid+"/tokens?after=c%2B1&limit=2" {
		t.Fatalf("first page: After=%q NextURL=%q", first.After, first.NextURL)
	}
	if string(first.Items[0]) != `{"id":"t1","extra":{"kept":true}}` {
		t.Errorf("item not byte-for-byte: %s", first.Items[0])
	}
	var ids []string
	for item, err := range c.Items(ctx, first) {
		if err != nil {
			t.Fatal(err)
		}
		var tok RefreshToken
		if err := json.Unmarshal(item, &tok); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok.ID)
	}
	if strings.Join(ids, ",") != "t1,t2,t3,t4" {
		t.Errorf("Items = %v", ids)
	}
	reqs := rec.requests()
	if len(reqs) != 3 || reqs[1].RawQuery != "after=c%2B1&limit=2" || reqs[2].RawQuery != "after=c2&limit=2" {
		t.Errorf("requests: %+v", reqs)
	}
	// Stopping early sends nothing more.
	before := len(rec.requests())
	for range c.Items(ctx, first) {
		break
	}
	if len(rec.requests()) != before {
		t.Error("breaking out of Items still fetched a page")
	}
}

func TestNextPageRefusesForeignURLs(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "[]") })
	c := sswsClient(t, rec.srv.URL)
	host := strings.TrimPrefix(rec.srv.URL, "http://")
	if _, err := c.NextPage(context.Background(), Page{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NextPage of the last page: err = %v, want ErrInvalidArgument", err)
	}
	for _, next := range []string{
		"https://evil.example.com/api/v1/apps/x/tokens?after=1",
		"http://127.0.0.2:1/api/v1/apps/x/tokens",
		"https://" + host + "/api/v1/apps/x/tokens", // scheme differs
		"http://user:pw@" + host + "/api/v1/apps/x/tokens",
		"/api/v1/apps/x/tokens?after=1", // relative: not verbatim-usable
		rec.srv.URL + "/oauth2/v1/token",
		rec.srv.URL + "/other",
		rec.srv.URL + "/api/v1/apps/x/tokens?after=1#p2", // a fragment is not sent
		"http://[::1",
	} {
		// Okta's link, so Okta's fault: a server error, which names
		// neither the link nor the org.
		_, err := c.NextPage(context.Background(), Page{NextURL: next})
		if !errors.Is(err, ErrServer) || errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NextPage(%q): err = %v, want ErrServer", next, err)
		}
		if err != nil && (strings.Contains(err.Error(), host) || strings.Contains(err.Error(), "evil")) {
			t.Errorf("NextPage(%q): error %q repeats the link or the origin", next, err)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	if _, err := c.NextPage(context.Background(), Page{NextURL: rec.srv.URL + "/api/v1/apps/x/tokens?after=1"}); err != nil {
		t.Fatalf("same-origin next page: %v", err)
	}
}

func TestItemsStopsOnALoopingNextLink(t *testing.T) {
	var base string
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<`+base+`/api/v1/apps/a/tokens?after=same>; rel="next"`)
		io.WriteString(w, `[{"id":"x"}]`)
	})
	base = rec.srv.URL
	c := sswsClient(t, rec.srv.URL)
	first, err := c.ListAppTokens(context.Background(), "a", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var last error
	for _, err := range c.Items(context.Background(), first) {
		n++
		last = err
	}
	if !errors.Is(last, ErrServer) || n != 3 {
		t.Errorf("got %d yields ending in %v, want 2 items then ErrServer", n, last)
	}
}

func TestUserClientIDsWalksPagesAndDedupes(t *testing.T) {
	var base string
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("after") == "" {
			w.Header().Set("Link", `<`+base+r.URL.Path+`?after=p2>; rel="next"`)
			io.WriteString(w, `[{"client_id":"a","client_name":"A","client_uri":null},{"client_id":"b"}]`)
			return
		}
		io.WriteString(w, `[{"client_id":"b"},{"client_id":"c"},{"client_name":"no id"}]`)
	})
	base = rec.srv.URL
	c := sswsClient(t, rec.srv.URL)
	ids, err := c.UserClientIDs(context.Background(), uid)
	if err != nil || strings.Join(ids, ",") != "a,b,c" {
		t.Fatalf("UserClientIDs = %v, %v", ids, err)
	}
}

func TestMalformedSuccessBodies(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<html>proxy page</html>`)
	})
	c := sswsClient(t, rec.srv.URL)
	if _, err := c.ListAppTokens(context.Background(), cid, ListOptions{}); !errors.Is(err, ErrServer) {
		t.Errorf("list with an HTML body: %v", err)
	}
	if _, err := c.GetAppToken(context.Background(), cid, tid, ""); !errors.Is(err, ErrServer) {
		t.Errorf("get with an HTML body: %v", err)
	}
}
