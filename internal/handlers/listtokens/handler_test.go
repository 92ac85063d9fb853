package listtokens

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

const (
	testAPIToken = "test-api-token"
	testDomain   = "abc123.execute-api.eu-west-1.amazonaws.com"
	testStage    = "prod"
	testCaller   = "arn:aws:sts::123456789012:assumed-role/Operator/alice"
)

// env is one fake Okta org, a real okta.Client talking to it, and the
// router under test.
type env struct {
	fake   *oktafake.Server
	router *httpapi.Router
	logs   *bytes.Buffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	fake := oktafake.NewTest(t, oktafake.WithAPIToken(testAPIToken))
	return newEnvWithURL(t, fake, fake.URL)
}

func newEnvWithURL(t testing.TB, fake *oktafake.Server, orgURL string) *env {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := okta.New(okta.Config{
		OrgURL:         orgURL,
		Credentials:    okta.StaticCredentials(okta.Credentials{APIToken: testAPIToken}),
		Logger:         quiet,
		MaxAttempts:    2,
		AttemptTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("okta.New: %v", err)
	}
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	return &env{fake: fake, router: NewRouter(client, logger), logs: logs}
}

// request builds an API Gateway payload 2.0 request as API Gateway sends
// it for a named stage: rawPath carries the stage, the query string is raw.
func request(routeKey string, params map[string]string, rawQuery string) httpapi.Request {
	path := strings.TrimPrefix(routeKey, "GET ")
	for name, value := range params {
		path = strings.Replace(path, "{"+name+"}", value, 1)
	}
	req := httpapi.Request{
		Version:        "2.0",
		RouteKey:       routeKey,
		RawPath:        "/" + testStage + path,
		RawQueryString: rawQuery,
		Headers:        map[string]string{"x-forwarded-proto": "https"},
		PathParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   routeKey,
			Stage:      testStage,
			RequestID:  "req-1",
			DomainName: testDomain,
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet, Path: "/" + testStage + path},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: testCaller},
			},
		},
	}
	if rawQuery != "" {
		values, _ := url.ParseQuery(rawQuery)
		req.QueryStringParameters = map[string]string{}
		for k, vs := range values {
			req.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	return req
}

func (e *env) serve(t testing.TB, req httpapi.Request) httpapi.Response {
	t.Helper()
	resp, err := e.router.Serve(context.Background(), req)
	if err != nil {
		t.Fatalf("Serve returned an error: %v", err)
	}
	if got := resp.Headers["Cache-Control"]; got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := resp.Headers["Content-Type"]; got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if !json.Valid([]byte(resp.Body)) {
		t.Errorf("body is not JSON: %q", resp.Body)
	}
	return resp
}

func decodeArray(t testing.TB, body string) []map[string]any {
	t.Helper()
	var items []map[string]any
	if err := json.Unmarshal([]byte(body), &items); err != nil {
		t.Fatalf("body is not a JSON array of objects: %v: %s", err, body)
	}
	return items
}

func ids(items []map[string]any, key string) []string {
	out := make([]string, 0, len(items))
	for _, item := range items {
		s, _ := item[key].(string)
		out = append(out, s)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// seed creates a user with tokens for two clients and an app with tokens.
type seeded struct {
	user, client, otherClient, app, appClient string
	userTokens, otherTokens, appTokens        []string
}

func seed(f *oktafake.Server, perClient int) seeded {
	s := seeded{user: "00uAlice000000000001", client: "0oaClientA0000000001", otherClient: "0oaClientB0000000001",
		app: "0oaAppC000000000001x", appClient: "custom-client-id_C"}
	f.AddUser(s.user)
	f.AddUser("00uBob00000000000001")
	f.AddApp(s.client, "", "Client A")
	f.AddApp(s.otherClient, "", "Client B")
	f.AddApp(s.app, s.appClient, "App C")
	for range perClient {
		s.userTokens = append(s.userTokens, f.AddToken(s.user, s.client, "offline_access", "openid"))
		s.otherTokens = append(s.otherTokens, f.AddToken(s.user, s.otherClient, "offline_access"))
		s.appTokens = append(s.appTokens, f.AddToken("00uBob00000000000001", s.appClient, "offline_access"))
	}
	return s
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	s := seed(e.fake, 3)

	t.Run("user clients", func(t *testing.T) {
		resp := e.serve(t, request(RouteUserClients, map[string]string{"userId": s.user}, ""))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, body %s", resp.StatusCode, resp.Body)
		}
		got := sorted(ids(decodeArray(t, resp.Body), "client_id"))
		if want := sorted([]string{s.client, s.otherClient}); !slices.Equal(got, want) {
			t.Fatalf("client ids = %v, want %v", got, want)
		}
		if _, ok := resp.Headers["Link"]; ok {
			t.Fatalf("unexpected Link header %q", resp.Headers["Link"])
		}
	})
	t.Run("user client tokens", func(t *testing.T) {
		resp := e.serve(t, request(RouteUserClientList, map[string]string{"userId": s.user, "clientId": s.client}, ""))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, body %s", resp.StatusCode, resp.Body)
		}
		items := decodeArray(t, resp.Body)
		if got, want := sorted(ids(items, "id")), sorted(s.userTokens); !slices.Equal(got, want) {
			t.Fatalf("token ids = %v, want %v", got, want)
		}
		for _, item := range items {
			if item["clientId"] != s.client || item["userId"] != s.user || item["status"] != "ACTIVE" {
				t.Fatalf("token %v does not belong to user %s and client %s", item, s.user, s.client)
			}
		}
	})
	t.Run("user client token", func(t *testing.T) {
		tokenID := s.userTokens[1]
		resp := e.serve(t, request(RouteUserClientToken, map[string]string{"userId": s.user, "clientId": s.client, "tokenId": tokenID}, ""))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, body %s", resp.StatusCode, resp.Body)
		}
		var token map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &token); err != nil || token["id"] != tokenID {
			t.Fatalf("body = %s (%v), want token %s", resp.Body, err, tokenID)
		}
	})
	t.Run("app tokens", func(t *testing.T) {
		resp := e.serve(t, request(RouteAppTokens, map[string]string{"appId": s.app}, ""))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, body %s", resp.StatusCode, resp.Body)
		}
		if got, want := sorted(ids(decodeArray(t, resp.Body), "id")), sorted(s.appTokens); !slices.Equal(got, want) {
			t.Fatalf("token ids = %v, want %v", got, want)
		}
	})
	t.Run("app token", func(t *testing.T) {
		tokenID := s.appTokens[0]
		resp := e.serve(t, request(RouteAppToken, map[string]string{"appId": s.app, "tokenId": tokenID}, ""))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, body %s", resp.StatusCode, resp.Body)
		}
		var token map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &token); err != nil || token["id"] != tokenID {
			t.Fatalf("body = %s (%v), want token %s", resp.Body, err, tokenID)
		}
	})
	t.Run("empty list", func(t *testing.T) {
		resp := e.serve(t, request(RouteUserClientList, map[string]string{"userId": "00uBob00000000000001", "clientId": s.client}, ""))
		if resp.StatusCode != http.StatusOK || resp.Body != "[]" {
			t.Fatalf("status = %d, body %q; want 200 []", resp.StatusCode, resp.Body)
		}
	})
	t.Run("reads are logged with the caller", func(t *testing.T) {
		if !strings.Contains(e.logs.String(), testCaller) {
			t.Fatalf("logs do not name the caller %s:\n%s", testCaller, e.logs.String())
		}
	})
}

func TestBodyIsOktasBytes(t *testing.T) {
	// Lists and single items pass Okta's JSON through byte for byte.
	e := newEnv(t)
	s := seed(e.fake, 2)
	resp := e.serve(t, request(RouteUserClientList, map[string]string{"userId": s.user, "clientId": s.client}, "expand=scope"))
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(resp.Body), &raw); err != nil || len(raw) != 2 {
		t.Fatalf("body %s: %v", resp.Body, err)
	}
	var first map[string]any
	if err := json.Unmarshal(raw[0], &first); err != nil {
		t.Fatal(err)
	}
	single := e.serve(t, request(RouteUserClientToken,
		map[string]string{"userId": s.user, "clientId": s.client, "tokenId": first["id"].(string)}, "expand=scope"))
	if single.Body != string(raw[0]) {
		t.Fatalf("single item differs from the list item:\n%s\n%s", single.Body, raw[0])
	}
	for _, field := range []string{"id", "status", "created", "clientId", "userId", "scopes", "_links", "_embedded"} {
		if _, ok := first[field]; !ok {
			t.Errorf("field %q dropped from %s", field, raw[0])
		}
	}
}

// followLinks pages through a list route the way a client would: request
// the first page, then whatever each Link rel="next" names, until none.
func followLinks(t *testing.T, e *env, routeKey string, params map[string]string, firstQuery string) (pages [][]map[string]any, links []*url.URL) {
	t.Helper()
	req := request(routeKey, params, firstQuery)
	for range 100 {
		resp := e.serve(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, body %s", resp.StatusCode, resp.Body)
		}
		pages = append(pages, decodeArray(t, resp.Body))
		link, ok := resp.Headers["Link"]
		if !ok {
			return pages, links
		}
		target, ok := strings.CutPrefix(link, "<")
		target, rel, ok2 := strings.Cut(target, ">")
		if !ok || !ok2 || rel != `; rel="next"` {
			t.Fatalf("Link header %q is not <url>; rel=\"next\"", link)
		}
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("Link URL %q: %v", target, err)
		}
		links = append(links, u)
		// API Gateway would route the next request by its path; here the
		// route stays the same, and rawPath and the query come from the URL.
		req = request(routeKey, params, u.RawQuery)
		if u.EscapedPath() != req.RawPath {
			t.Fatalf("Link path %q, want this route's path %q", u.EscapedPath(), req.RawPath)
		}
	}
	t.Fatal("more than 100 pages")
	return nil, nil
}

func TestPagingFollowsOwnLinks(t *testing.T) {
	e := newEnv(t)
	s := seed(e.fake, 7)
	tests := []struct {
		name      string
		routeKey  string
		params    map[string]string
		query     string
		want      []string
		wantPages int
		wantLimit string
	}{
		{name: "user client tokens limit 3", routeKey: RouteUserClientList,
			params: map[string]string{"userId": s.user, "clientId": s.client}, query: "limit=3",
			want: s.userTokens, wantPages: 3, wantLimit: "3"},
		{name: "user client tokens limit 1 expand", routeKey: RouteUserClientList,
			params: map[string]string{"userId": s.user, "clientId": s.otherClient}, query: "expand=scope&limit=1",
			want: s.otherTokens, wantPages: 7, wantLimit: "1"},
		{name: "app tokens limit 2", routeKey: RouteAppTokens,
			params: map[string]string{"appId": s.app}, query: "limit=2",
			want: s.appTokens, wantPages: 4, wantLimit: "2"},
		{name: "limit equal to count", routeKey: RouteAppTokens,
			params: map[string]string{"appId": s.app}, query: "limit=7",
			want: s.appTokens, wantPages: 1, wantLimit: "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.fake.Requests())
			pages, links := followLinks(t, e, tt.routeKey, tt.params, tt.query)
			var got []string
			first, _ := url.ParseQuery(tt.query)
			for i, page := range pages {
				if len(page) == 0 {
					t.Errorf("page %d is empty", i)
				}
				for _, item := range page {
					if first.Get("expand") == "scope" {
						if _, ok := item["_embedded"]; !ok {
							t.Errorf("page %d: expand=scope lost: %v", i, item)
						}
					}
				}
				got = append(got, ids(page, "id")...)
			}
			if len(pages) != tt.wantPages {
				t.Errorf("got %d pages, want %d", len(pages), tt.wantPages)
			}
			if dup := duplicates(got); len(dup) > 0 {
				t.Errorf("tokens repeated across pages: %v", dup)
			}
			if !slices.Equal(sorted(got), sorted(tt.want)) {
				t.Errorf("tokens = %v, want %v (gaps or extras)", sorted(got), sorted(tt.want))
			}
			// Every call Okta saw kept the caller's limit and expand, and
			// each later call carried a cursor.
			calls := e.fake.Requests()[before:]
			if len(calls) != len(pages) {
				t.Errorf("Okta saw %d calls for %d pages", len(calls), len(pages))
			}
			for i, call := range calls {
				q, _ := url.ParseQuery(call.Query)
				if q.Get("limit") != tt.wantLimit || q.Get("expand") != first.Get("expand") || (i > 0) != q.Has("after") {
					t.Errorf("Okta call %d had query %q", i, call.Query)
				}
			}
			for _, u := range links {
				if u.Scheme != "https" || u.Host != testDomain {
					t.Errorf("Link %s does not point at this API (%s)", u, testDomain)
				}
				q := u.Query()
				if q.Get("limit") != tt.wantLimit || q.Get("after") == "" || q.Get("expand") != first.Get("expand") {
					t.Errorf("Link %s does not keep limit=%s, expand=%q and carry after", u, tt.wantLimit, first.Get("expand"))
				}
			}
		})
	}
}

func duplicates(s []string) []string {
	seen := map[string]bool{}
	var dup []string
	for _, v := range s {
		if seen[v] {
			dup = append(dup, v)
		}
		seen[v] = true
	}
	return dup
}

func TestDefaultLimitPagesAtTwenty(t *testing.T) {
	e := newEnv(t)
	s := seed(e.fake, 25)
	pages, links := followLinks(t, e, RouteUserClientList, map[string]string{"userId": s.user, "clientId": s.client}, "")
	if len(pages) != 2 || len(pages[0]) != DefaultLimit {
		t.Fatalf("pages of %d, first of %d; want 2 pages, the first of %d", len(pages), len(pages[0]), DefaultLimit)
	}
	if q := links[0].Query(); q.Has("limit") || q.Has("expand") || q.Get("after") == "" {
		t.Fatalf("Link %s: want only after, like the first request", links[0])
	}
	got := append(ids(pages[0], "id"), ids(pages[1], "id")...)
	if !slices.Equal(sorted(got), sorted(s.userTokens)) {
		t.Fatalf("tokens = %v, want %v", got, s.userTokens)
	}
}

func TestExpandScope(t *testing.T) {
	e := newEnv(t)
	s := seed(e.fake, 2)
	tests := []struct {
		name     string
		routeKey string
		params   map[string]string
		single   bool
	}{
		{"user client list", RouteUserClientList, map[string]string{"userId": s.user, "clientId": s.client}, false},
		{"user client token", RouteUserClientToken, map[string]string{"userId": s.user, "clientId": s.client, "tokenId": s.userTokens[0]}, true},
		{"app list", RouteAppTokens, map[string]string{"appId": s.app}, false},
		{"app token", RouteAppToken, map[string]string{"appId": s.app, "tokenId": s.appTokens[0]}, true},
	}
	for _, tt := range tests {
		for _, expand := range []bool{true, false} {
			t.Run(tt.name+" expand="+strconv.FormatBool(expand), func(t *testing.T) {
				query := ""
				if expand {
					query = "expand=scope"
				}
				resp := e.serve(t, request(tt.routeKey, tt.params, query))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status = %d, body %s", resp.StatusCode, resp.Body)
				}
				var items []map[string]any
				if tt.single {
					var item map[string]any
					if err := json.Unmarshal([]byte(resp.Body), &item); err != nil {
						t.Fatal(err)
					}
					items = []map[string]any{item}
				} else {
					items = decodeArray(t, resp.Body)
				}
				for _, item := range items {
					embedded, _ := item["_embedded"].(map[string]any)
					scopes, _ := embedded["scopes"].([]any)
					if expand && len(scopes) == 0 {
						t.Errorf("expand=scope: no _embedded.scopes in %v", item)
					}
					if !expand && embedded != nil {
						t.Errorf("no expand: unexpected _embedded in %v", item)
					}
				}
			})
		}
	}
}

func TestInvalidRequestsNeverReachOkta(t *testing.T) {
	e := newEnv(t)
	s := seed(e.fake, 1)
	list := map[string]string{"userId": s.user, "clientId": s.client}
	app := map[string]string{"appId": s.app}
	single := map[string]string{"userId": s.user, "clientId": s.client, "tokenId": s.userTokens[0]}
	long := strings.Repeat("a", okta.MaxIDLength+1)
	tests := []struct {
		name     string
		routeKey string
		params   map[string]string
		query    string
		want     string
	}{
		{"limit 0", RouteUserClientList, list, "limit=0", `"limit" must be an integer from 1 to 200`},
		{"limit 201", RouteUserClientList, list, "limit=201", `"limit" must be an integer from 1 to 200`},
		{"limit abc", RouteAppTokens, app, "limit=abc", `"limit" must be an integer from 1 to 200`},
		{"limit -1", RouteAppTokens, app, "limit=-1", `"limit" must be an integer from 1 to 200`},
		{"expand foo", RouteUserClientList, list, "expand=foo", `"expand" must be "scope"`},
		{"expand foo single", RouteUserClientToken, single, "expand=foo", `"expand" must be "scope"`},
		{"unknown param", RouteUserClientList, list, "filter=status", `"filter" is not supported`},
		{"limit on single", RouteAppToken, map[string]string{"appId": s.app, "tokenId": s.appTokens[0]}, "limit=5", `"limit" is not supported`},
		{"param on clients", RouteUserClients, map[string]string{"userId": s.user}, "limit=5", "this route takes no query parameters"},
		{"repeated limit", RouteUserClientList, list, "limit=5&limit=6", `"limit" must be given at most once`},
		{"repeated expand", RouteAppTokens, app, "expand=scope&expand=scope", `"expand" must be given at most once`},
		{"empty after", RouteAppTokens, app, "after=", `"after" must not be empty`},
		{"malformed query", RouteAppTokens, app, "limit=%zz", "malformed query string"},
		{"dot-dot user", RouteUserClientList, map[string]string{"userId": "..%2F", "clientId": s.client}, "", "invalid userId"},
		{"slash user", RouteUserClients, map[string]string{"userId": "../../api/v1/users"}, "", "invalid userId"},
		{"encoded slash client", RouteUserClientList, map[string]string{"userId": s.user, "clientId": "a%2Fb"}, "", "invalid clientId"},
		{"query in token", RouteUserClientToken, map[string]string{"userId": s.user, "clientId": s.client, "tokenId": "x?expand=scope"}, "", "invalid tokenId"},
		{"101 chars app", RouteAppTokens, map[string]string{"appId": long}, "", "invalid appId: longer than 100"},
		{"101 chars token", RouteAppToken, map[string]string{"appId": s.app, "tokenId": long}, "", "invalid tokenId"},
		{"empty user", RouteUserClients, map[string]string{"userId": ""}, "", "invalid userId"},
		{"missing app", RouteAppTokens, map[string]string{}, "", "invalid appId"},
		{"unicode user", RouteUserClients, map[string]string{"userId": "00u\u00e9"}, "", "invalid userId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.serve(t, request(tt.routeKey, tt.params, tt.query))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, resp.Body)
			}
			var body httpapi.ErrorBody
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(body.Message, tt.want) {
				t.Fatalf("message %q does not contain %q", body.Message, tt.want)
			}
			if body.RequestID != "req-1" {
				t.Errorf("requestId = %q, want req-1", body.RequestID)
			}
			if strings.Contains(body.Message, long) {
				t.Errorf("message echoes the hostile value")
			}
		})
	}
	if reqs := e.fake.Requests(); len(reqs) != 0 {
		t.Fatalf("Okta was called %d times for invalid requests: %+v", len(reqs), reqs)
	}
}

func TestUnknownRouteIs404(t *testing.T) {
	e := newEnv(t)
	resp := e.serve(t, request("DELETE /apps/{appId}/tokens", map[string]string{"appId": "0oa1"}, ""))
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status = %d, want 404", resp.StatusCode)
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Fatalf("Okta was called %d times", n)
	}
}

func TestOktaErrorsMapped(t *testing.T) {
	type check func(t *testing.T, resp httpapi.Response, body httpapi.ErrorBody)
	wantStatus := func(status int) check {
		return func(t *testing.T, resp httpapi.Response, _ httpapi.ErrorBody) {
			t.Helper()
			if resp.StatusCode != status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, resp.Body)
			}
		}
	}
	tests := []struct {
		name   string
		setup  func(e *env, s seeded)
		req    func(s seeded) httpapi.Request
		checks []check
	}{
		{
			name: "unknown user 404",
			req: func(s seeded) httpapi.Request {
				return request(RouteUserClients, map[string]string{"userId": "00uNobody00000000001"}, "")
			},
			checks: []check{wantStatus(404), func(t *testing.T, _ httpapi.Response, b httpapi.ErrorBody) {
				if b.OktaErrorCode != "E0000007" {
					t.Errorf("oktaErrorCode = %q, want E0000007", b.OktaErrorCode)
				}
			}},
		},
		{
			name: "unknown token 404",
			req: func(s seeded) httpapi.Request {
				return request(RouteUserClientToken, map[string]string{"userId": s.user, "clientId": s.client, "tokenId": "oarNoSuchToken000001"}, "")
			},
			checks: []check{wantStatus(404)},
		},
		{
			name: "unknown app 404",
			req: func(s seeded) httpapi.Request {
				return request(RouteAppTokens, map[string]string{"appId": "0oaNoSuchApp00000001"}, "")
			},
			checks: []check{wantStatus(404)},
		},
		{
			name: "cursor Okta does not know 400",
			req: func(s seeded) httpapi.Request {
				return request(RouteAppTokens, map[string]string{"appId": s.app}, "after=oarNotACursor")
			},
			checks: []check{wantStatus(400), func(t *testing.T, _ httpapi.Response, b httpapi.ErrorBody) {
				if b.OktaErrorCode != "E0000001" || !strings.HasPrefix(b.Message, "Okta rejected the request") {
					t.Errorf("body %+v, want Okta's validation error passed on", b)
				}
			}},
		},
		{
			name:  "rate limited 429 with Retry-After",
			setup: func(e *env, _ seeded) { e.fake.SetFaults(oktafake.Faults{RateLimitRate: 1, Seed: 1}) },
			req: func(s seeded) httpapi.Request {
				return request(RouteAppTokens, map[string]string{"appId": s.app}, "")
			},
			checks: []check{wantStatus(429), func(t *testing.T, resp httpapi.Response, b httpapi.ErrorBody) {
				secs, err := strconv.Atoi(resp.Headers["Retry-After"])
				if err != nil || secs < 1 {
					t.Errorf("Retry-After = %q, want a positive number of seconds", resp.Headers["Retry-After"])
				}
				if b.OktaErrorCode != "E0000047" {
					t.Errorf("oktaErrorCode = %q, want E0000047", b.OktaErrorCode)
				}
			}},
		},
		{
			name:  "our credentials rejected 401 -> 502",
			setup: func(e *env, _ seeded) { e.fake.SetAPIToken("rotated-elsewhere") },
			req: func(s seeded) httpapi.Request {
				return request(RouteUserClientList, map[string]string{"userId": s.user, "clientId": s.client}, "")
			},
			checks: []check{wantStatus(502), func(t *testing.T, _ httpapi.Response, b httpapi.ErrorBody) {
				if !strings.Contains(b.Message, "credentials") {
					t.Errorf("message %q does not say our credentials were rejected", b.Message)
				}
			}},
		},
		{
			name:  "server errors 502",
			setup: func(e *env, _ seeded) { e.fake.SetFaults(oktafake.Faults{ServerErrorRate: 1, Seed: 1}) },
			req: func(s seeded) httpapi.Request {
				return request(RouteUserClientToken, map[string]string{"userId": s.user, "clientId": s.client, "tokenId": s.userTokens[0]}, "")
			},
			checks: []check{wantStatus(502)},
		},
		{
			name:  "hang 504",
			setup: func(e *env, _ seeded) { e.fake.SetFaults(oktafake.Faults{HangRate: 1, Seed: 1}) },
			req: func(s seeded) httpapi.Request {
				return request(RouteAppToken, map[string]string{"appId": s.app, "tokenId": s.appTokens[0]}, "")
			},
			checks: []check{wantStatus(504)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			s := seed(e.fake, 1)
			if tt.setup != nil {
				tt.setup(e, s)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			resp, err := e.router.Serve(ctx, tt.req(s))
			if err != nil {
				t.Fatalf("Serve returned an error: %v", err)
			}
			var body httpapi.ErrorBody
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
				t.Fatalf("error body %q: %v", resp.Body, err)
			}
			if body.Message == "" || body.RequestID != "req-1" {
				t.Errorf("error body %+v lacks a message or the request id", body)
			}
			if strings.Contains(resp.Body, testAPIToken) || strings.Contains(e.logs.String(), testAPIToken) {
				t.Errorf("the API token leaked into the answer or logs")
			}
			if resp.Headers["Cache-Control"] != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Headers["Cache-Control"])
			}
			for _, c := range tt.checks {
				c(t, resp, body)
			}
		})
	}
}

func TestForbiddenIs502(t *testing.T) {
	// The fake has no role model, so a 403 comes from a plain server
	// answering as Okta does when the token lacks a scope or role.
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Okta-Request-Id", "okta-req-403")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"errorCode":"E0000006","errorSummary":"You do not have permission to perform the requested action","errorLink":"E0000006","errorId":"oae1","errorCauses":[]}`)
	}))
	t.Cleanup(forbidden.Close)
	e := newEnvWithURL(t, nil, forbidden.URL)
	resp := e.serve(t, request(RouteAppTokens, map[string]string{"appId": "0oaApp"}, ""))
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502; body %s", resp.StatusCode, resp.Body)
	}
	var body httpapi.ErrorBody
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body.OktaErrorCode != "E0000006" || body.OktaRequestID != "okta-req-403" {
		t.Fatalf("body %+v, want Okta's error code and request id", body)
	}
	if !strings.Contains(e.logs.String(), `"configProblem":true`) {
		t.Fatalf("a 403 must be logged as a configuration problem:\n%s", e.logs.String())
	}
}

// stubOkta answers the client listing from fixed pages, for what the fake
// cannot produce: a paged client list and a next link without a cursor.
type stubOkta struct {
	Okta
	clientPages []okta.Page
	tokenPage   okta.Page
}

func (s *stubOkta) ListUserClients(context.Context, string) (okta.Page, error) {
	return s.clientPages[0], nil
}

func (s *stubOkta) NextPage(_ context.Context, p okta.Page) (okta.Page, error) {
	i, _ := strconv.Atoi(p.After)
	return s.clientPages[i], nil
}

func (s *stubOkta) ListAppTokens(context.Context, string, okta.ListOptions) (okta.Page, error) {
	return s.tokenPage, nil
}

func TestUserClientsWalksEveryPage(t *testing.T) {
	page := func(next int, items ...string) okta.Page {
		p := okta.Page{}
		for _, it := range items {
			p.Items = append(p.Items, json.RawMessage(it))
		}
		if next > 0 {
			p.After = strconv.Itoa(next)
			p.NextURL = "https://org.example/api/v1/users/00u1/clients?after=" + p.After
		}
		return p
	}
	stub := &stubOkta{clientPages: []okta.Page{
		page(1, `{"client_id":"a"}`, `{"client_id":"b"}`),
		page(2, `{"client_id":"c"}`),
		page(0, `{"client_id":"d"}`),
	}}
	router := NewRouter(stub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	resp, _ := router.Serve(context.Background(), request(RouteUserClients, map[string]string{"userId": "00u1"}, ""))
	if resp.StatusCode != http.StatusOK || resp.Body != `[{"client_id":"a"},{"client_id":"b"},{"client_id":"c"},{"client_id":"d"}]` {
		t.Fatalf("status %d body %s", resp.StatusCode, resp.Body)
	}
	if _, ok := resp.Headers["Link"]; ok {
		t.Fatal("the clients route must not link to pages it cannot serve")
	}

	// A chain that never ends is cut off rather than followed forever.
	loop := &stubOkta{clientPages: []okta.Page{page(1, `{}`), page(1, `{}`)}}
	resp, _ = NewRouter(loop, slog.New(slog.NewTextHandler(io.Discard, nil))).Serve(context.Background(),
		request(RouteUserClients, map[string]string{"userId": "00u1"}, ""))
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("endless paging: status %d, want 502", resp.StatusCode)
	}
}

// deadlineStub records the deadline of the context Okta is called with.
type deadlineStub struct {
	Okta
	deadline time.Time
	ok       bool
}

func (s *deadlineStub) GetAppToken(ctx context.Context, _, _, _ string) (json.RawMessage, error) {
	s.deadline, s.ok = ctx.Deadline()
	return json.RawMessage(`{"id":"oar1"}`), nil
}

func TestOktaCallsEndBeforeTheLambdaDeadline(t *testing.T) {
	stub := &deadlineStub{}
	router := NewRouter(stub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	lambdaDeadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.Background(), lambdaDeadline)
	defer cancel()
	resp, _ := router.Serve(ctx, request(RouteAppToken, map[string]string{"appId": "0oa1", "tokenId": "oar1"}, ""))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	if !stub.ok || !stub.deadline.Equal(lambdaDeadline.Add(-deadlineMargin)) {
		t.Fatalf("Okta called with deadline %v (set %v), want %v", stub.deadline, stub.ok, lambdaDeadline.Add(-deadlineMargin))
	}
}

func TestNextPageWithoutCursorIs502(t *testing.T) {
	stub := &stubOkta{tokenPage: okta.Page{Items: []json.RawMessage{json.RawMessage(`{}`)}, NextURL: "https://org.example/api/v1/apps/x/tokens?page=2"}}
	resp, _ := NewRouter(stub, slog.New(slog.NewTextHandler(io.Discard, nil))).Serve(context.Background(),
		request(RouteAppTokens, map[string]string{"appId": "0oa1"}, ""))
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: a partial list must not look complete", resp.StatusCode)
	}
}

// TestSampleEvents runs every events/list-*.json through the router
// against the fake, seeded with the events' IDs: each must route to a
// registered key and pass validation.
func TestSampleEvents(t *testing.T) {
	files, err := filepath.Glob("../../../events/list-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events found: %v", err)
	}
	e := newEnv(t)
	keys := e.router.RouteKeys()
	seen := map[string]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var req httpapi.Request
			if err := json.Unmarshal(data, &req); err != nil {
				t.Fatalf("not a payload 2.0 event: %v", err)
			}
			if !slices.Contains(keys, req.RouteKey) {
				t.Fatalf("routeKey %q is not served", req.RouteKey)
			}
			seen[req.RouteKey] = true
			if httpapi.CallerIdentity(req) == "" {
				t.Errorf("event has no IAM caller identity")
			}
			if user := req.PathParameters["userId"]; user != "" {
				e.fake.AddUser(user)
			}
			if app := req.PathParameters["appId"]; app != "" {
				e.fake.AddApp(app, "", "Sample app")
			}
			if client := req.PathParameters["clientId"]; client != "" {
				e.fake.AddApp(client, "", "Sample client")
			}
			resp := e.serve(t, req)
			// The sample token IDs do not exist in the fake: 404 there,
			// 200 on the list routes; never 400.
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, body %s", resp.StatusCode, resp.Body)
			}
		})
	}
	for _, key := range keys {
		if !seen[key] {
			t.Errorf("no sample event for route %q", key)
		}
	}
}

func BenchmarkListUserClientTokens(b *testing.B) {
	e := newEnv(b)
	s := seed(e.fake, 50)
	req := request(RouteUserClientList, map[string]string{"userId": s.user, "clientId": s.client}, "limit=50&expand=scope")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, _ := e.router.Serve(ctx, req)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
}
