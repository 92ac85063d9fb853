package revoketokens

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

const callerARN = "arn:aws:iam::123456789012:user/ops"

// apiRequest builds a payload 2.0 request as API Gateway sends it for an
// IAM-authorized route.
func apiRequest(routeKey string, params map[string]string, body string) httpapi.Request {
	method, path, _ := strings.Cut(routeKey, " ")
	for k, v := range params {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return httpapi.Request{
		Version:        "2.0",
		RouteKey:       routeKey,
		RawPath:        path,
		PathParameters: params,
		Body:           body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "api-req-1",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: callerARN, AccountID: "123456789012"},
			},
		},
	}
}

func errorBody(t *testing.T, resp httpapi.Response) httpapi.ErrorBody {
	t.Helper()
	var body httpapi.ErrorBody
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("error body is not JSON: %q", resp.Body)
	}
	if body.Message == "" || body.RequestID != "api-req-1" {
		t.Errorf("error body lacks a message or request id: %+v", body)
	}
	return body
}

func TestDeleteRoutes(t *testing.T) {
	reset := time.Now().Add(42 * time.Second)
	rateLimited := &okta.Error{Method: "DELETE", Path: "/api/v1/apps/0oaA/tokens", StatusCode: 429, ErrorCode: "E0000047", RequestID: "okta-req-429", RateLimitReset: reset}
	params := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name       string
		route      string
		params     map[string]string
		answer     *stubAnswer
		wantStatus int
		wantReq    revocation.Request // the request executed; zero = none
		wantCode   string             // oktaErrorCode in the body
		check      func(t *testing.T, resp httpapi.Response)
	}{
		{name: "user+client", route: RouteUserClientTokens, params: params("userId", "00uA", "clientId", "0oaC"),
			wantStatus: 204, wantReq: revocation.Request{UserID: "00uA", ClientID: "0oaC"}},
		{name: "user+client+token", route: RouteUserClientToken, params: params("userId", "00uA", "clientId", "0oaC", "tokenId", "oarT"),
			wantStatus: 204, wantReq: revocation.Request{UserID: "00uA", ClientID: "0oaC", TokenID: "oarT"}},
		{name: "user", route: RouteUserTokens, params: params("userId", "00uA"),
			wantStatus: 204, wantReq: revocation.Request{UserID: "00uA"}},
		{name: "app", route: RouteAppTokens, params: params("appId", "0oaA"),
			wantStatus: 204, wantReq: revocation.Request{AppID: "0oaA"}},
		{name: "app+token", route: RouteAppToken, params: params("appId", "0oaA", "tokenId", "oarT"),
			wantStatus: 204, wantReq: revocation.Request{AppID: "0oaA", TokenID: "oarT"}},
		{name: "user without clients", route: RouteUserTokens, params: params("userId", "00uA"),
			answer: &stubAnswer{status: revocation.StatusNothingToRevoke}, wantStatus: 204, wantReq: revocation.Request{UserID: "00uA"}},
		{name: "single token already gone", route: RouteUserClientToken, params: params("userId", "00uA", "clientId", "0oaC", "tokenId", "oarT"),
			answer: &stubAnswer{status: revocation.StatusAlreadyGone}, wantStatus: 204,
			wantReq: revocation.Request{UserID: "00uA", ClientID: "0oaC", TokenID: "oarT"}},
		{name: "app token already gone", route: RouteAppToken, params: params("appId", "0oaA", "tokenId", "oarT"),
			answer: &stubAnswer{status: revocation.StatusAlreadyGone}, wantStatus: 204, wantReq: revocation.Request{AppID: "0oaA", TokenID: "oarT"}},
		{name: "bulk: user gone", route: RouteUserTokens, params: params("userId", "00uA"),
			answer: &stubAnswer{status: revocation.StatusAlreadyGone}, wantStatus: 404, wantCode: "E0000007", wantReq: revocation.Request{UserID: "00uA"}},
		// The user exists; each client's grants vanished between listing
		// and revoking (another revocation won): done, not "no such user".
		{name: "bulk: user's clients gone after listing", route: RouteUserTokens, params: params("userId", "00uA"),
			answer: &stubAnswer{status: revocation.StatusAlreadyGone, op: revocation.OpRevokeUserClientTokens}, wantStatus: 204, wantReq: revocation.Request{UserID: "00uA"}},
		{name: "bulk: app gone", route: RouteAppTokens, params: params("appId", "0oaA"),
			answer: &stubAnswer{status: revocation.StatusAlreadyGone}, wantStatus: 404, wantCode: "E0000007", wantReq: revocation.Request{AppID: "0oaA"}},
		{name: "bulk: user+client gone", route: RouteUserClientTokens, params: params("userId", "00uA", "clientId", "0oaC"),
			answer: &stubAnswer{status: revocation.StatusAlreadyGone}, wantStatus: 404, wantCode: "E0000007", wantReq: revocation.Request{UserID: "00uA", ClientID: "0oaC"}},
		{name: "invalid user id", route: RouteUserTokens, params: params("userId", "00u..%2F"), wantStatus: 400},
		{name: "invalid token id", route: RouteAppToken, params: params("appId", "0oaA", "tokenId", strings.Repeat("x", 101)), wantStatus: 400},
		{name: "missing path parameter", route: RouteAppTokens, params: params(), wantStatus: 400},
		{name: "429 with Retry-After", route: RouteAppTokens, params: params("appId", "0oaA"),
			answer: &stubAnswer{err: rateLimited}, wantStatus: 429, wantCode: "E0000047", wantReq: revocation.Request{AppID: "0oaA"},
			check: func(t *testing.T, resp httpapi.Response) {
				secs, err := strconv.Atoi(resp.Headers["Retry-After"])
				if err != nil || secs < 1 || secs > 42 {
					t.Errorf("Retry-After = %q, want 1..42 seconds", resp.Headers["Retry-After"])
				}
			}},
		{name: "401 is our problem: 502", route: RouteAppTokens, params: params("appId", "0oaA"),
			answer: &stubAnswer{err: errUnauthorized}, wantStatus: 502, wantCode: "E0000011", wantReq: revocation.Request{AppID: "0oaA"}},
		{name: "403 is our problem: 502", route: RouteUserTokens, params: params("userId", "00uA"),
			answer: &stubAnswer{err: errForbidden}, wantStatus: 502, wantCode: "E0000006", wantReq: revocation.Request{UserID: "00uA"}},
		{name: "5xx: 502", route: RouteAppTokens, params: params("appId", "0oaA"),
			answer: &stubAnswer{err: errServer}, wantStatus: 502, wantReq: revocation.Request{AppID: "0oaA"}},
		{name: "timeout: 504", route: RouteAppTokens, params: params("appId", "0oaA"),
			answer: &stubAnswer{err: fmt.Errorf("revoke: %w", okta.ErrTimeout)}, wantStatus: 504, wantReq: revocation.Request{AppID: "0oaA"}},
		{name: "deadline: 504", route: RouteAppTokens, params: params("appId", "0oaA"),
			answer: &stubAnswer{err: fmt.Errorf("revoke: %w", context.DeadlineExceeded)}, wantStatus: 504, wantReq: revocation.Request{AppID: "0oaA"}},
		{name: "dry run: 200 with what would be revoked", route: RouteUserClientTokens, params: params("userId", "00uA", "clientId", "0oaC"),
			answer: &stubAnswer{status: revocation.StatusDryRun}, wantStatus: 200, wantReq: revocation.Request{UserID: "00uA", ClientID: "0oaC"},
			check: func(t *testing.T, resp httpapi.Response) {
				var body DryRunResponse
				if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || !body.DryRun || len(body.WouldRevoke) != 1 || body.RequestID == "" {
					t.Errorf("dry-run body = %s (%v)", resp.Body, err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers := map[string]stubAnswer{}
			if tt.answer != nil {
				answers[key(tt.wantReq)] = *tt.answer
			}
			env := newTestEnv(t, answers, nil)
			resp, err := env.h.HandleHTTP(context.Background(), apiRequest(tt.route, tt.params, ""))
			if err != nil {
				t.Fatalf("HandleHTTP returned an error: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			if resp.Headers["Cache-Control"] != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Headers["Cache-Control"])
			}
			calls := env.exec.called()
			if tt.wantReq.Scope() == "" {
				if len(calls) != 0 {
					t.Errorf("executed %v for a rejected request", calls)
				}
			} else {
				if len(calls) != 1 {
					t.Fatalf("executed %d requests, want 1", len(calls))
				}
				got := calls[0]
				if got.RequestID == "" {
					t.Error("executed request has no request id")
				}
				got.RequestID = ""
				if fmt.Sprint(got) != fmt.Sprint(tt.wantReq) {
					t.Errorf("executed %+v, want %+v", got, tt.wantReq)
				}
			}
			if tt.wantStatus >= 400 {
				body := errorBody(t, resp)
				if body.OktaErrorCode != tt.wantCode {
					t.Errorf("oktaErrorCode = %q, want %q", body.OktaErrorCode, tt.wantCode)
				}
			}
			if tt.check != nil {
				tt.check(t, resp)
			}
			doc := metricsDoc(t, env.metrics)
			if doc["Trigger"] != "http" {
				t.Errorf("Trigger = %v", doc["Trigger"])
			}
			wantFailures := 0.0
			if tt.wantStatus >= 400 && tt.wantStatus != 404 {
				wantFailures = 1
			}
			if doc[MetricFailures] != wantFailures {
				t.Errorf("Failures = %v, want %v", doc[MetricFailures], wantFailures)
			}
		})
	}
}

func TestDeleteLogsTheCaller(t *testing.T) {
	env := newTestEnv(t, map[string]stubAnswer{key(revocation.Request{AppID: "0oaA"}): {err: errUnauthorized}}, nil)
	resp, _ := env.h.HandleHTTP(context.Background(), apiRequest(RouteAppTokens, map[string]string{"appId": "0oaA"}, ""))
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var found bool
	for _, r := range env.logs.Records(t) {
		if r["caller"] == callerARN && r["configProblem"] == true && r["level"] == "ERROR" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no ERROR record with the caller and configProblem:\n%s", env.logs.String())
	}
}

func TestPostRevocations(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		base64      bool
		publishErr  error
		maxBody     int
		wantStatus  int
		wantQueued  int
		wantDetails []string // substrings, one per detail line
	}{
		{name: "one object", body: `{"userId":"00uA","requestId":"mine-1","reason":{"ticket":"SEC-1"}}`, wantStatus: 202, wantQueued: 1},
		{name: "array", body: `[{"userId":"00uA"},{"appId":"0oaA","tokenId":"oarT"},{"userId":"00uB","appId":"0oaA"}]`, wantStatus: 202, wantQueued: 3},
		{name: "base64 body", body: base64.StdEncoding.EncodeToString([]byte(`[{"appId":"0oaA"}]`)), base64: true, wantStatus: 202, wantQueued: 1},
		{name: "bad base64", body: "!!!", base64: true, wantStatus: 400},
		{name: "not JSON", body: `revoke all`, wantStatus: 400, wantDetails: []string{"not JSON"}},
		{name: "empty", body: ``, wantStatus: 400, wantDetails: []string{"empty body"}},
		{name: "empty array", body: `[]`, wantStatus: 400, wantDetails: []string{"empty array"}},
		{name: "per-item reasons", body: `[{"userId":"00uA"},{"userId":"00uA","clientID":"0oaC"},{"tokenId":"oarT"}]`, wantStatus: 400,
			wantDetails: []string{`[1]: `, `[2]: `}},
		{name: "duplicate request ids", body: `[{"userId":"00uA","requestId":"x"},{"appId":"0oaA","requestId":"x"}]`, wantStatus: 400},
		{name: "too large", body: `{"userId":"00uA","reason":{"pad":"` + strings.Repeat("x", 300) + `"}}`, maxBody: 256, wantStatus: 413},
		{name: "too large base64", body: base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", 300) + `{"userId":"00uA"}`)), base64: true, maxBody: 256, wantStatus: 413},
		{name: "queue unavailable", body: `[{"userId":"00uA","requestId":"a"},{"userId":"00uB","requestId":"b"}]`,
			publishErr: &queue.PublishError{Failed: []string{"b"}, Total: 2}, wantStatus: 503, wantDetails: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, nil, func(c *Config) { c.MaxBodyBytes = tt.maxBody })
			env.pub.err = tt.publishErr
			req := apiRequest(RouteRevocations, nil, tt.body)
			req.IsBase64Encoded = tt.base64
			resp, err := env.h.HandleHTTP(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			if len(env.exec.called()) != 0 {
				t.Error("POST /revocations executed a request instead of queueing it")
			}
			if tt.wantStatus != 202 {
				body := errorBody(t, resp)
				if len(body.Details) != len(tt.wantDetails) && tt.wantDetails != nil {
					t.Fatalf("details = %q, want %d lines", body.Details, len(tt.wantDetails))
				}
				for i, want := range tt.wantDetails {
					if !strings.Contains(body.Details[i], want) {
						t.Errorf("details[%d] = %q, want it to contain %q", i, body.Details[i], want)
					}
				}
				if tt.publishErr == nil && len(env.pub.msgs) != 0 {
					t.Error("an invalid call queued messages")
				}
				return
			}
			var out EnqueueResponse
			if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
				t.Fatal(err)
			}
			if len(out.RequestIDs) != tt.wantQueued || len(env.pub.msgs) != tt.wantQueued {
				t.Fatalf("ids %v, queued %d, want %d", out.RequestIDs, len(env.pub.msgs), tt.wantQueued)
			}
			for i, m := range env.pub.msgs {
				// What is queued parses back to the same request: the
				// consumer reads exactly the public contract.
				r, err := revocation.Parse([]byte(m.Body))
				if err != nil {
					t.Fatalf("queued body %s does not parse: %v", m.Body, err)
				}
				if r.RequestID != out.RequestIDs[i] || m.ID != r.RequestID {
					t.Errorf("message %d: id %q, body request id %q, answered %q", i, m.ID, r.RequestID, out.RequestIDs[i])
				}
				if m.Attributes[AttrCaller] != callerARN || m.Attributes[AttrSource] != SourceAPI {
					t.Errorf("attributes = %v", m.Attributes)
				}
			}
		})
	}
}

func TestPostRevocationsKeepsCallerFields(t *testing.T) {
	env := newTestEnv(t, nil, nil)
	resp, _ := env.h.HandleHTTP(context.Background(),
		apiRequest(RouteRevocations, nil, `{"userId":"00uA","requestId":"mine-1","reason":{"ticket":"SEC-1"}}`))
	if resp.StatusCode != 202 || resp.Body != `{"requestIds":["mine-1"]}` {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if got := env.pub.msgs[0].Body; got != `{"requestId":"mine-1","userId":"00uA","reason":{"ticket":"SEC-1"}}` {
		t.Fatalf("queued %s", got)
	}
}

func TestPostRevocationsTooManyItems(t *testing.T) {
	env := newTestEnv(t, nil, func(c *Config) { c.MaxBatchItems = 2 })
	resp, _ := env.h.HandleHTTP(context.Background(),
		apiRequest(RouteRevocations, nil, `[{"userId":"00uA"},{"userId":"00uB"},{"userId":"00uC"}]`))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestUnknownRoute(t *testing.T) {
	env := newTestEnv(t, nil, nil)
	resp, _ := env.h.HandleHTTP(context.Background(), apiRequest("GET /users/{userId}/tokens", map[string]string{"userId": "00uA"}, ""))
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestRouteKeysAreRegistered(t *testing.T) {
	env := newTestEnv(t, nil, nil)
	got := env.h.router.RouteKeys()
	want := RouteKeys()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("registered %v, want %v", got, want)
	}
}

func TestHTTPWorkIsBounded(t *testing.T) {
	exec := &deadlineExecutor{}
	env := newTestEnv(t, nil, func(c *Config) {
		c.HTTPTimeout = 50 * time.Millisecond
		c.Executor = exec
	})
	resp, _ := env.h.HandleHTTP(context.Background(), apiRequest(RouteAppTokens, map[string]string{"appId": "0oaA"}, ""))
	if exec.deadline.IsZero() {
		t.Fatal("the executor got a context without deadline")
	}
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504 when the work outlasts HTTPTimeout", resp.StatusCode)
	}
}

// deadlineExecutor waits for its context to end, as a hung Okta would.
type deadlineExecutor struct{ deadline time.Time }

func (d *deadlineExecutor) Execute(ctx context.Context, req revocation.Request) (revocation.Result, error) {
	d.deadline, _ = ctx.Deadline()
	<-ctx.Done()
	return revocation.Result{Request: req, Status: revocation.StatusFailed}, fmt.Errorf("revoke: %w", ctx.Err())
}

// blockingPublisher waits for its context to end, like a publisher whose
// queue does not answer, and records the deadline it was given.
type blockingPublisher struct{ deadline time.Time }

func (p *blockingPublisher) Publish(ctx context.Context, _ []queue.Message) error {
	p.deadline, _ = ctx.Deadline()
	<-ctx.Done()
	return ctx.Err()
}

func TestPostRevocationsBoundsTheWaitForTheQueue(t *testing.T) {
	pub := &blockingPublisher{}
	env := newTestEnv(t, nil, func(c *Config) {
		c.Publisher = pub
		c.HTTPTimeout = time.Hour
		c.EnqueueTimeout = 20 * time.Millisecond
	})
	start := time.Now()
	resp, err := env.h.HandleHTTP(context.Background(), apiRequest(RouteRevocations, nil, `{"userId":"00u1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, resp.Body)
	}
	if pub.deadline.IsZero() || pub.deadline.After(start.Add(time.Minute)) {
		t.Errorf("publisher deadline %v: not bounded by EnqueueTimeout but by the HTTP timeout", pub.deadline)
	}
}
