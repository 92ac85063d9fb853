package revoketokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// A distinctive API token, so tests can check it never leaks.
const secretAPIToken = "00Secret-API-Token-Must-Never-Appear"

// fakeStack wires the handler to the real executor and Okta client against
// a fake Okta org.
type fakeStack struct {
	*testEnv
	org *oktafake.Server
}

func newFakeStack(t *testing.T, dryRun bool, mod func(*Config)) *fakeStack {
	t.Helper()
	org := oktafake.NewTest(t, oktafake.WithAPIToken(secretAPIToken))
	env := newTestEnv(t, nil, nil)
	logger := slog.New(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client, err := okta.New(okta.Config{
		OrgURL:         org.URL,
		Credentials:    okta.StaticCredentials(okta.Credentials{APIToken: secretAPIToken}),
		Logger:         logger,
		MaxAttempts:    1, // retries are the client's business; keep fault tests fast
		AttemptTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := revocation.NewExecutor(revocation.ExecutorConfig{Okta: client, Logger: logger, DryRun: dryRun})
	if err != nil {
		t.Fatal(err)
	}
	cfg := env.h.cfg
	cfg.Executor = exec
	cfg.DryRun = dryRun
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.h = h
	t.Cleanup(func() {
		for name, out := range map[string]string{"logs": env.logs.String(), "metrics": env.metrics.String()} {
			if strings.Contains(out, secretAPIToken) {
				t.Errorf("the Okta API token appears in the %s", name)
			}
		}
	})
	return &fakeStack{testEnv: env, org: org}
}

func TestRoutesAgainstFakeOkta(t *testing.T) {
	tests := []struct {
		name       string
		route      string
		params     func(tok string) map[string]string
		setup      func(s *oktafake.Server)
		wantStatus int
		wantLeft   []string // "user/client" pairs still holding a token
		wantHeader string
	}{
		{name: "user+client", route: RouteUserClientTokens,
			params:     func(string) map[string]string { return map[string]string{"userId": "00uAlice", "clientId": "0oaMail"} },
			wantStatus: 204, wantLeft: []string{"00uAlice/0oaChat", "00uBob/0oaMail"}},
		{name: "user+client+token", route: RouteUserClientToken,
			params: func(tok string) map[string]string {
				return map[string]string{"userId": "00uAlice", "clientId": "0oaMail", "tokenId": tok}
			},
			wantStatus: 204, wantLeft: []string{"00uAlice/0oaChat", "00uBob/0oaMail"}},
		{name: "user", route: RouteUserTokens,
			params:     func(string) map[string]string { return map[string]string{"userId": "00uAlice"} },
			wantStatus: 204, wantLeft: []string{"00uBob/0oaMail"}},
		{name: "app", route: RouteAppTokens,
			params:     func(string) map[string]string { return map[string]string{"appId": "0oaMail"} },
			wantStatus: 204, wantLeft: []string{"00uAlice/0oaChat"}},
		{name: "app+token", route: RouteAppToken,
			params:     func(tok string) map[string]string { return map[string]string{"appId": "0oaMail", "tokenId": tok} },
			wantStatus: 204, wantLeft: []string{"00uAlice/0oaChat", "00uBob/0oaMail"}},
		{name: "token already gone: 204", route: RouteUserClientToken,
			params: func(string) map[string]string {
				return map[string]string{"userId": "00uAlice", "clientId": "0oaMail", "tokenId": "oarAlreadyGone12345"}
			},
			wantStatus: 204, wantLeft: []string{"00uAlice/0oaChat", "00uAlice/0oaMail", "00uBob/0oaMail"}},
		{name: "unknown user: 404", route: RouteUserTokens,
			params:     func(string) map[string]string { return map[string]string{"userId": "00uNobody"} },
			wantStatus: 404, wantLeft: []string{"00uAlice/0oaChat", "00uAlice/0oaMail", "00uBob/0oaMail"}},
		{name: "unknown app: 404", route: RouteAppTokens,
			params:     func(string) map[string]string { return map[string]string{"appId": "0oaNoSuchApp"} },
			wantStatus: 404, wantLeft: []string{"00uAlice/0oaChat", "00uAlice/0oaMail", "00uBob/0oaMail"}},
		{name: "Okta 5xx: 502", route: RouteAppTokens,
			params:     func(string) map[string]string { return map[string]string{"appId": "0oaMail"} },
			setup:      func(s *oktafake.Server) { s.SetFaults(oktafake.Faults{ServerErrorRate: 1, Seed: 3}) },
			wantStatus: 502, wantLeft: []string{"00uAlice/0oaChat", "00uAlice/0oaMail", "00uBob/0oaMail"}},
		{name: "Okta 429: 429 with Retry-After", route: RouteAppTokens,
			params:     func(string) map[string]string { return map[string]string{"appId": "0oaMail"} },
			setup:      func(s *oktafake.Server) { s.SetFaults(oktafake.Faults{RateLimitRate: 1, Seed: 3}) },
			wantStatus: 429, wantHeader: "Retry-After", wantLeft: []string{"00uAlice/0oaChat", "00uAlice/0oaMail", "00uBob/0oaMail"}},
		{name: "Okta 401: 502", route: RouteUserTokens,
			params:     func(string) map[string]string { return map[string]string{"userId": "00uAlice"} },
			setup:      func(s *oktafake.Server) { s.SetAPIToken("rotated-elsewhere") },
			wantStatus: 502, wantLeft: []string{"00uAlice/0oaChat", "00uAlice/0oaMail", "00uBob/0oaMail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeStack(t, false, nil)
			tok := s.org.AddToken("00uAlice", "0oaMail")
			s.org.AddToken("00uAlice", "0oaChat")
			bobTok := s.org.AddToken("00uBob", "0oaMail")
			if tt.route == RouteAppToken {
				tok = bobTok
				tt.wantLeft = []string{"00uAlice/0oaChat", "00uAlice/0oaMail"}
			}
			if tt.setup != nil {
				tt.setup(s.org)
			}
			resp, err := s.h.HandleHTTP(context.Background(), apiRequest(tt.route, tt.params(tok), ""))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			if tt.wantHeader != "" {
				if v, err := strconv.Atoi(resp.Headers[tt.wantHeader]); err != nil || v < 1 {
					t.Errorf("%s = %q", tt.wantHeader, resp.Headers[tt.wantHeader])
				}
			}
			if resp.StatusCode == 404 {
				if body := errorBody(t, resp); body.OktaErrorCode != "E0000007" || body.OktaRequestID == "" {
					t.Errorf("404 body lacks Okta's error code or request id: %+v", body)
				}
			}
			if got := holders(s.org); !slices.Equal(got, tt.wantLeft) {
				t.Errorf("tokens left with %v, want %v", got, tt.wantLeft)
			}
			if strings.Contains(resp.Body, secretAPIToken) {
				t.Error("the API token appears in the response")
			}
		})
	}
}

// holders lists "user/client" for every active token, sorted, deduplicated.
func holders(s *oktafake.Server) []string {
	var out []string
	for _, id := range s.ActiveTokens("", "") {
		info, ok := s.Token(id)
		if !ok {
			continue
		}
		out = append(out, info.UserID+"/"+info.ClientID)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestSQSAgainstFakeOkta(t *testing.T) {
	s := newFakeStack(t, false, nil)
	s.org.AddToken("00uAlice", "0oaMail")
	s.org.AddToken("00uAlice", "0oaChat")
	s.org.AddToken("00uBob", "0oaMail")
	s.org.AddToken("00uCarol", "0oaChat")
	ev := events.SQSEvent{Records: []events.SQSMessage{
		sqsMessage("alice", `{"userId":"00uAlice","reason":{"eventType":"user.lifecycle.suspend"}}`),
		sqsMessage("alice-mail", `{"userId":"00uAlice","clientId":"0oaMail"}`),
		sqsMessage("bob-gone", `{"userId":"00uBobDeleted"}`),
		sqsMessage("carol-chat", `{"userId":"00uCarol","clientId":"0oaChat"}`),
		sqsMessage("poison", `{"userId":"00uBob","clientID":"0oaMail"}`),
	}}
	resp, err := s.h.HandleSQS(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); !slices.Equal(got, []string{"poison"}) {
		t.Fatalf("failed = %v, want only the poison message", got)
	}
	if got := holders(s.org); !slices.Equal(got, []string{"00uBob/0oaMail"}) {
		t.Fatalf("tokens left with %v", got)
	}
	// Deduplication: Alice's messages made one listing and one DELETE per client.
	var deletes int
	for _, r := range s.org.Requests() {
		if r.Method == http.MethodDelete && strings.HasPrefix(r.Path, "/api/v1/users/00uAlice/") {
			deletes++
		}
	}
	if deletes != 2 {
		t.Errorf("%d DELETEs for Alice, want 2", deletes)
	}
	// Audit records carry the reason and the SQS message id.
	var audited bool
	for _, r := range s.logs.Records(t) {
		reason, _ := r["reason"].(map[string]any)
		if r["action"] == string(revocation.OpRevokeUserClientTokens) && r["messageId"] == "alice" && reason["eventType"] == "user.lifecycle.suspend" {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no audit record with the message id and reason:\n%s", s.logs.String())
	}
}

func TestSQSDryRunAgainstFakeOkta(t *testing.T) {
	s := newFakeStack(t, true, nil)
	s.org.AddToken("00uAlice", "0oaMail")
	s.org.AddToken("00uAlice", "0oaChat")
	s.org.AddToken("00uBob", "0oaMail")
	resp, err := s.h.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		sqsMessage("m1", `{"userId":"00uAlice"}`),
		sqsMessage("m2", `{"appId":"0oaMail"}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures in a dry run: %v", resp.BatchItemFailures)
	}
	if n := len(s.org.ActiveTokens("", "")); n != 3 {
		t.Fatalf("%d active tokens after a dry run, want all 3", n)
	}
	for _, r := range s.org.Requests() {
		if r.Method == http.MethodDelete {
			t.Errorf("dry run sent %s %s", r.Method, r.Path)
		}
	}
	var planned []string
	for _, r := range s.logs.Records(t) {
		if r["outcome"] == string(revocation.StatusDryRun) && r["action"] != nil {
			planned = append(planned, r["action"].(string)+" "+strOf(r["userId"])+" "+strOf(r["clientId"])+strOf(r["appId"]))
		}
	}
	slices.Sort(planned)
	want := []string{"revokeAppTokens  0oaMail", "revokeUserClientTokens 00uAlice 0oaChat", "revokeUserClientTokens 00uAlice 0oaMail"}
	if !slices.Equal(planned, want) {
		t.Errorf("dry-run records = %q, want %q", planned, want)
	}
	doc := metricsDoc(t, s.metrics)
	if doc[MetricDryRun] != 3.0 || doc[MetricRevocations] != 0.0 || doc["dryRun"] != true {
		t.Errorf("metrics: DryRunRevocations %v, Revocations %v, dryRun %v", doc[MetricDryRun], doc[MetricRevocations], doc["dryRun"])
	}
}

func strOf(v any) string {
	s, _ := v.(string)
	return s
}

func TestSQSRateLimitDelaysUntilOktasReset(t *testing.T) {
	// One worker: with more, which message gets the bucket's one call is
	// up to the scheduler (CI once gave it to the second).
	s := newFakeStack(t, false, func(c *Config) { c.Concurrency = 1 })
	s.org.AddToken("00uAlice", "0oaMail")
	s.org.SetBucketRateLimit(oktafake.BucketApps, 1, time.Hour)
	// Lambda always sets a deadline; the client waits for a window only
	// when it fits before it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := s.h.HandleSQS(ctx, events.SQSEvent{Records: []events.SQSMessage{
		sqsMessage("first", `{"appId":"0oaMail"}`),
		sqsMessage("second", `{"appId":"0oaOther"}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := failedIDs(resp); len(got) != 0 {
		t.Fatalf("failed = %v, want none: the rate-limited message is deferred", got)
	}
	sent := s.pub.sent()
	if len(sent) != 1 || sent[0].ID != "second" {
		t.Fatalf("deferred %+v, want the rate-limited message only", sent)
	}
	// Okta's reset (epoch seconds) is about an hour away, beyond what SQS
	// can delay a message: the longest delay, 15 minutes.
	if sent[0].Delay != queue.MaxDelay {
		t.Fatalf("delay %v, want %v (Okta's reset is an hour away)", sent[0].Delay, queue.MaxDelay)
	}
}

// unreadableSecret is a credentials source whose secret cannot be read, as
// when Secrets Manager denies access.
type unreadableSecret struct{}

func (unreadableSecret) Credentials(context.Context) (okta.Credentials, error) {
	return okta.Credentials{}, errors.New("secrets: get okta-api: AccessDeniedException: not authorized")
}
func (unreadableSecret) Invalidate() {}

func TestSQSUnreadableSecretStopsTheBatch(t *testing.T) {
	org := oktafake.NewTest(t, oktafake.WithAPIToken(secretAPIToken))
	org.AddToken("00uAlice", "0oaMail")
	client, err := okta.New(okta.Config{OrgURL: org.URL, Credentials: unreadableSecret{}, Logger: slog.New(slog.DiscardHandler), MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := revocation.NewExecutor(revocation.ExecutorConfig{Okta: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, nil, func(c *Config) { c.Executor = exec; c.Concurrency = 1 })
	resp, _ := env.h.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		sqsMessage("m1", `{"appId":"0oaMail"}`),
		sqsMessage("m2", `{"userId":"00uAlice"}`),
		sqsMessage("m3", `{"appId":"0oaChat"}`),
	}})
	if got := failedIDs(resp); !slices.Equal(got, []string{"m1", "m2", "m3"}) {
		t.Fatalf("failed = %v, want the whole batch", got)
	}
	if n := len(org.Requests()); n != 0 {
		t.Fatalf("%d requests reached Okta without credentials", n)
	}
	doc := metricsDoc(t, env.metrics)
	if doc["FailuresOther"] != 1.0 || doc["FailuresUnstarted"] != 2.0 {
		t.Fatalf("FailuresOther = %v, FailuresUnstarted = %v", doc["FailuresOther"], doc["FailuresUnstarted"])
	}
}

// TestSQSAuditNamesTheLeadingMessage: a caller may reuse another
// request's requestId (the hook's are derived from the event, so they can
// be computed); the audit record must still name the message that led the
// revocation and its real sender, and the other message must say it was
// covered.
func TestSQSAuditNamesTheLeadingMessage(t *testing.T) {
	s := newFakeStack(t, false, func(c *Config) { c.Concurrency = 1 })
	s.org.AddToken("00uAlice", "0oaMail")
	userWide := sqsMessage("api", `{"userId":"00uAlice","requestId":"shared-id"}`)
	userWide.Attributes["SenderId"] = "AROAEXAMPLE:revoke-tokens"
	narrower := sqsMessage("hook", `{"userId":"00uAlice","clientId":"0oaMail","requestId":"shared-id"}`)
	narrower.Attributes["SenderId"] = "AROAEXAMPLE:okta-hook"
	resp, err := s.h.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{userWide, narrower}})
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("HandleSQS: %v %+v", err, resp.BatchItemFailures)
	}
	var actions int
	var covered bool
	for _, r := range s.logs.Records(t) {
		switch {
		case strings.HasPrefix(fmt.Sprint(r["msg"]), "okta action"):
			actions++
			if r["messageId"] != "api" || r["senderId"] != "AROAEXAMPLE:revoke-tokens" {
				t.Errorf("audit record names message %v, sender %v; want the leading message api and its SenderId", r["messageId"], r["senderId"])
			}
		case r["msg"] == "message done" && r["messageId"] == "hook":
			covered = r["coveredBy"] == "shared-id"
		}
	}
	if actions == 0 || !covered {
		t.Errorf("%d audit records; the covered message says coveredBy: %v\n%s", actions, covered, s.logs.String())
	}
}
