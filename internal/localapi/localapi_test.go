package localapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
)

// fakeFunction records the events it gets and answers with result.
type fakeFunction struct {
	mu     sync.Mutex
	events []events.APIGatewayV2HTTPRequest
	result lambdaruntime.Result
	block  bool // wait for ctx to end, like a function slower than the integration timeout
}

func (f *fakeFunction) Invoke(ctx context.Context, payload []byte) (lambdaruntime.Result, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return lambdaruntime.Result{}, err
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return lambdaruntime.Result{}, ctx.Err()
	}
	return f.result, nil
}

func (f *fakeFunction) last(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		t.Fatal("function was not invoked")
	}
	return f.events[len(f.events)-1]
}

func ok(body string) lambdaruntime.Result {
	return lambdaruntime.Result{Payload: []byte(body)}
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func newHandler(t *testing.T, routes ...Route) *Handler {
	t.Helper()
	h, err := New(Config{
		Routes: routes,
		Logger: quietLogger,
		Now:    func() time.Time { return time.Date(2026, 3, 12, 19, 3, 58, 390e6, time.UTC) },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

func do(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestEventMatchesAPIGateway(t *testing.T) {
	fn := &fakeFunction{result: ok(`{"statusCode":200,"body":"{}"}`)}
	h := newHandler(t, Route{Method: "GET", Path: "/users/{userId}/clients", Authorizer: AuthorizerIAM, Function: fn})

	req := httptest.NewRequest("GET", "http://127.0.0.1:3000/users/00u1%20x/clients?limit=5&a=1&a=2&q=hello%20world", nil)
	req.RemoteAddr = "127.0.0.1:54321"
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("User-Agent", "test-agent")
	req.Header.Add("Cookie", "a=1; b=2")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEY123456/20260312/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=abc")
	rec := do(h, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	ev := fn.last(t)

	if ev.Version != "2.0" || ev.RouteKey != "GET /users/{userId}/clients" || ev.RequestContext.RouteKey != ev.RouteKey {
		t.Errorf("version/routeKey = %q %q %q", ev.Version, ev.RouteKey, ev.RequestContext.RouteKey)
	}
	if ev.RawPath != "/users/00u1 x/clients" || ev.RequestContext.HTTP.Path != ev.RawPath {
		t.Errorf("rawPath = %q, http.path = %q; want the decoded path", ev.RawPath, ev.RequestContext.HTTP.Path)
	}
	if ev.RawQueryString != "limit=5&a=1&a=2&q=hello%20world" {
		t.Errorf("rawQueryString = %q", ev.RawQueryString)
	}
	wantQuery := map[string]string{"limit": "5", "a": "1,2", "q": "hello world"}
	if !reflect.DeepEqual(ev.QueryStringParameters, wantQuery) {
		t.Errorf("queryStringParameters = %v, want %v", ev.QueryStringParameters, wantQuery)
	}
	if !reflect.DeepEqual(ev.PathParameters, map[string]string{"userId": "00u1 x"}) {
		t.Errorf("pathParameters = %v", ev.PathParameters)
	}
	if !reflect.DeepEqual(ev.Cookies, []string{"a=1", "b=2"}) {
		t.Errorf("cookies = %v", ev.Cookies)
	}
	for k, want := range map[string]string{
		"x-multi":           "one,two",
		"user-agent":        "test-agent",
		"host":              "127.0.0.1:3000",
		"x-forwarded-for":   "127.0.0.1",
		"x-forwarded-proto": "http",
		"x-forwarded-port":  "3000",
	} {
		if ev.Headers[k] != want {
			t.Errorf("header %s = %q, want %q", k, ev.Headers[k], want)
		}
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Error("cookie header kept; API Gateway moves it to cookies")
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower case", k)
		}
	}
	if !strings.HasPrefix(ev.Headers["x-amzn-trace-id"], "Root=1-") {
		t.Errorf("x-amzn-trace-id = %q", ev.Headers["x-amzn-trace-id"])
	}
	rc := ev.RequestContext
	if rc.AccountID != "123456789012" || rc.APIID != DefaultAPIID || rc.Stage != "$default" ||
		rc.DomainName != "127.0.0.1" || rc.DomainPrefix != "127.0.0.1" ||
		rc.Time != "12/Mar/2026:19:03:58 +0000" || rc.TimeEpoch != 1773342238390 {
		t.Errorf("request context = %+v", rc)
	}
	if len(rc.RequestID) != 16 || rec.Header().Get("Apigw-Requestid") != rc.RequestID {
		t.Errorf("requestId = %q, apigw-requestid header = %q", rc.RequestID, rec.Header().Get("Apigw-Requestid"))
	}
	wantHTTP := events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/users/00u1 x/clients", Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: "test-agent"}
	if rc.HTTP != wantHTTP {
		t.Errorf("http = %+v, want %+v", rc.HTTP, wantHTTP)
	}
	if rc.Authorizer == nil || rc.Authorizer.IAM == nil {
		t.Fatal("no IAM authorizer context on an AWS_IAM route")
	}
	iam := rc.Authorizer.IAM
	if iam.AccessKey != "AKIAEXAMPLEKEY123456" || iam.UserARN != "arn:aws:iam::123456789012:user/local-operator" || iam.AccountID != "123456789012" || iam.CallerID == "" {
		t.Errorf("iam = %+v", iam)
	}
	if ev.Body != "" || ev.IsBase64Encoded {
		t.Errorf("body = %q base64 %v, want none", ev.Body, ev.IsBase64Encoded)
	}
}

func TestNoneRouteHasNoAuthorizer(t *testing.T) {
	fn := &fakeFunction{result: ok(`{"statusCode":200}`)}
	h := newHandler(t, Route{Method: "POST", Path: "/okta/hook", Authorizer: AuthorizerNone, Function: fn})
	do(h, httptest.NewRequest("POST", "/okta/hook", strings.NewReader(`{}`)))
	if ev := fn.last(t); ev.RequestContext.Authorizer != nil {
		t.Errorf("authorizer = %+v on a NONE route", ev.RequestContext.Authorizer)
	}
	raw, _ := json.Marshal(fn.last(t))
	if strings.Contains(string(raw), `"authorizer"`) {
		t.Errorf("event JSON has an authorizer on a NONE route: %s", raw)
	}
}

func TestBodyEncoding(t *testing.T) {
	tests := []struct {
		contentType string
		body        string
		wantBase64  bool
	}{
		{"application/json", `{"a":1}`, false},
		{"application/json; charset=utf-8", `{"a":1}`, false},
		{"text/plain", "hi", false},
		{"application/vnd.api+json", `{}`, false},
		{"application/xml", "<a/>", false},
		{"application/octet-stream", "\x00\x01binary", true},
		{"application/x-www-form-urlencoded", "a=1&b=2", true},
		{"", "no type", true},
		{"application/json", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.contentType+"/"+tt.body, func(t *testing.T) {
			fn := &fakeFunction{result: ok(`{"statusCode":204}`)}
			h := newHandler(t, Route{Method: "POST", Path: "/x", Function: fn})
			req := httptest.NewRequest("POST", "/x", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			do(h, req)
			ev := fn.last(t)
			if ev.IsBase64Encoded != tt.wantBase64 {
				t.Errorf("isBase64Encoded = %v, want %v", ev.IsBase64Encoded, tt.wantBase64)
			}
			got := ev.Body
			if ev.IsBase64Encoded {
				raw, err := base64.StdEncoding.DecodeString(got)
				if err != nil {
					t.Fatal(err)
				}
				got = string(raw)
			}
			if got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	routes := []Route{
		{Method: "GET", Path: "/users/{userId}/clients"},
		{Method: "GET", Path: "/users/me/clients"},
		{Method: "DELETE", Path: "/users/{userId}/clients/{clientId}/tokens"},
		{Method: "ANY", Path: "/files/{proxy+}"},
		{Method: "GET", Path: "/files/{proxy+}"},
		{Method: "GET", Path: "/files/special/{name}"},
		{Method: "POST", Path: "/revocations"},
		{Method: "GET", Path: "/"},
	}
	fns := map[string]*fakeFunction{}
	for i := range routes {
		fn := &fakeFunction{result: ok(`{"statusCode":200}`)}
		routes[i].Function = fn
		fns[routes[i].Key()] = fn
	}
	h := newHandler(t, routes...)
	tests := []struct {
		method, target string
		wantRoute      string // "" = 404
		wantParams     map[string]string
	}{
		{"GET", "/users/00u1/clients", "GET /users/{userId}/clients", map[string]string{"userId": "00u1"}},
		{"GET", "/users/me/clients", "GET /users/me/clients", nil},
		{"DELETE", "/users/00u1/clients/0oa2/tokens", "DELETE /users/{userId}/clients/{clientId}/tokens", map[string]string{"userId": "00u1", "clientId": "0oa2"}},
		{"GET", "/files/a/b/c", "GET /files/{proxy+}", map[string]string{"proxy": "a/b/c"}},
		{"PUT", "/files/a/b/c", "ANY /files/{proxy+}", map[string]string{"proxy": "a/b/c"}},
		{"GET", "/files/special/x", "GET /files/special/{name}", map[string]string{"name": "x"}},
		{"GET", "/files/special/x/y", "GET /files/{proxy+}", map[string]string{"proxy": "special/x/y"}},
		{"POST", "/revocations", "POST /revocations", nil},
		{"GET", "/", "GET /", nil},
		{"GET", "/files/", "", nil},
		{"GET", "/files", "", nil},
		{"POST", "/users/00u1/clients", "", nil},
		{"GET", "/users/00u1/clients/", "", nil},
		{"GET", "/users//clients", "", nil},
		{"GET", "/revocations", "", nil},
		{"GET", "/nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			for _, fn := range fns {
				fn.mu.Lock()
				fn.events = nil
				fn.mu.Unlock()
			}
			rec := do(h, httptest.NewRequest(tt.method, tt.target, nil))
			if tt.wantRoute == "" {
				if rec.Code != 404 || strings.TrimSpace(rec.Body.String()) != `{"message":"Not Found"}` {
					t.Errorf("got %d %s, want 404 {\"message\":\"Not Found\"}", rec.Code, rec.Body)
				}
				for key, fn := range fns {
					if len(fn.events) > 0 {
						t.Errorf("route %s invoked for an unknown route", key)
					}
				}
				return
			}
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			ev := fns[tt.wantRoute].last(t)
			if ev.RouteKey != tt.wantRoute || !reflect.DeepEqual(ev.PathParameters, tt.wantParams) {
				t.Errorf("routeKey %q params %v, want %q %v", ev.RouteKey, ev.PathParameters, tt.wantRoute, tt.wantParams)
			}
		})
	}
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name        string
		fn          *fakeFunction
		maxBody     int64
		reqBody     string
		wantStatus  int
		wantBody    string
		wantHeaders map[string]string
		wantCookies []string
	}{
		{
			name:       "structured",
			fn:         &fakeFunction{result: ok(`{"statusCode":201,"headers":{"content-type":"application/json","x-a":"b"},"body":"{\"id\":1}","cookies":["s=1; Path=/","t=2"]}`)},
			wantStatus: 201, wantBody: `{"id":1}`,
			wantHeaders: map[string]string{"Content-Type": "application/json", "X-A": "b"},
			wantCookies: []string{"s=1; Path=/", "t=2"},
		},
		{
			name:       "base64 body",
			fn:         &fakeFunction{result: ok(`{"statusCode":200,"body":"aGVsbG8=","isBase64Encoded":true}`)},
			wantStatus: 200, wantBody: "hello",
		},
		{
			name:       "plain JSON without statusCode",
			fn:         &fakeFunction{result: ok(`{"hello":"world"}`)},
			wantStatus: 200, wantBody: `{"hello":"world"}`,
			wantHeaders: map[string]string{"Content-Type": "application/json"},
		},
		{
			name:       "function error",
			fn:         &fakeFunction{result: lambdaruntime.Result{Error: &lambdaruntime.FunctionError{Type: "errorString", Message: "secret-ish detail"}}},
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`,
		},
		{
			name:       "invalid status code",
			fn:         &fakeFunction{result: ok(`{"statusCode":42}`)},
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`,
		},
		{
			name:       "invalid base64",
			fn:         &fakeFunction{result: ok(`{"statusCode":200,"body":"!!","isBase64Encoded":true}`)},
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`,
		},
		{
			name:       "not JSON",
			fn:         &fakeFunction{result: ok(`not json`)},
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`,
		},
		{
			name:       "integration timeout",
			fn:         &fakeFunction{block: true},
			wantStatus: 503, wantBody: `{"message":"Service Unavailable"}`,
		},
		{
			name:    "body too large",
			fn:      &fakeFunction{result: ok(`{"statusCode":200}`)},
			maxBody: 8, reqBody: "123456789",
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`,
		},
		{
			name:    "body at the limit",
			fn:      &fakeFunction{result: ok(`{"statusCode":204}`)},
			maxBody: 8, reqBody: "12345678",
			wantStatus: 204,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(Config{
				Routes:       []Route{{Method: "POST", Path: "/x", Function: tt.fn, Timeout: 50 * time.Millisecond}},
				MaxBodyBytes: tt.maxBody,
				Logger:       quietLogger,
			})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/x", strings.NewReader(tt.reqBody))
			req.Header.Set("Content-Type", "text/plain")
			rec := do(h, req)
			if rec.Code != tt.wantStatus || strings.TrimSpace(rec.Body.String()) != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			for k, v := range tt.wantHeaders {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if got := rec.Header().Values("Set-Cookie"); !reflect.DeepEqual(got, tt.wantCookies) && len(tt.wantCookies)+len(got) > 0 {
				t.Errorf("Set-Cookie = %v, want %v", got, tt.wantCookies)
			}
			if strings.Contains(rec.Body.String(), "secret-ish") {
				t.Error("function error detail leaked to the client")
			}
		})
	}
}

func TestNewRejectsBadRoutes(t *testing.T) {
	fn := &fakeFunction{}
	tests := []struct {
		name   string
		routes []Route
		want   string
	}{
		{"no leading slash", []Route{{Method: "GET", Path: "x", Function: fn}}, "must start with /"},
		{"greedy not last", []Route{{Method: "GET", Path: "/{proxy+}/x", Function: fn}}, "greedy"},
		{"bad param", []Route{{Method: "GET", Path: "/{a b}", Function: fn}}, "invalid parameter"},
		{"empty segment", []Route{{Method: "GET", Path: "/a//b", Function: fn}}, "invalid path segment"},
		{"duplicate", []Route{{Method: "GET", Path: "/a", Function: fn}, {Method: "get", Path: "/a", Function: fn}}, "duplicate route"},
		{"jwt authorizer", []Route{{Method: "GET", Path: "/a", Authorizer: "MyJwt", Function: fn}}, "not supported locally"},
		{"no function", []Route{{Method: "GET", Path: "/a"}}, "no function"},
		{"no method", []Route{{Path: "/a", Function: fn}}, "invalid method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Routes: tt.routes, Logger: quietLogger})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSigV4AccessKey(t *testing.T) {
	tests := map[string]string{
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x": "AKIDEXAMPLE",
		"AWS4-HMAC-SHA256 SignedHeaders=host,Credential=ASIA123/x":                                                     "ASIA123",
		"Bearer abc":                             "",
		"AWS4-HMAC-SHA256 Credential=<script>/x": "",
		"":                                       "",
		"AWS4-HMAC-SHA256 Credential=":           "",
	}
	for in, want := range tests {
		if got := sigV4AccessKey(in); got != want {
			t.Errorf("sigV4AccessKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{`{"statusCode":200,"body":"x"}`, `{"statusCode":"200"}`, `[]`, `"str"`, `null`, `{"statusCode":200,"isBase64Encoded":true,"body":"@@"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		resp, err := ParseResponse(payload)
		if err == nil && (resp.StatusCode < 100 || resp.StatusCode > 599 || resp.IsBase64Encoded) {
			t.Fatalf("accepted %q as %+v", payload, resp)
		}
	})
}

func FuzzServeHTTP(f *testing.F) {
	for _, s := range []string{"/users/00u1/clients?a=1&a=2", "/files/%2F%2F", "/x?%zz=1&=&a", "/", "//", "/files/a/../b"} {
		f.Add("GET", s)
	}
	fn := &fakeFunction{result: ok(`{"statusCode":200}`)}
	h, err := New(Config{Logger: quietLogger, Routes: []Route{
		{Method: "GET", Path: "/users/{userId}/clients", Function: fn},
		{Method: "ANY", Path: "/files/{proxy+}", Function: fn},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target string) {
		req, err := http.NewRequest(method, "http://127.0.0.1:3000"+target, nil)
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 404 {
			t.Fatalf("%s %s: status %d", method, target, rec.Code)
		}
	})
}
