package oktahook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/logging"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/samples"
)

const (
	// sampleSecret is the header value in the sample events in events/,
	// and jane the user their suspend events name.
	sampleSecret   = samples.HookSecret
	previousSecret = "previous-hook-secret-before-rotation"
	jane           = samples.HookUser
	john           = "00ub0oNGTSWTBKOLJOHN"
	portal         = "0oabskvc6442nkvQO0h7"
)

// fakeSecrets is an in-memory hook secret.
type fakeSecrets struct {
	current, previous string
	err               error
	block             bool // wait for the context to end
}

func (f *fakeSecrets) Current(ctx context.Context) (string, error) {
	if f.block {
		<-ctx.Done()
		return "", fmt.Errorf("get secret value: %w", ctx.Err())
	}
	return f.current, f.err
}
func (f *fakeSecrets) Previous(context.Context) (string, bool, error) {
	return f.previous, f.previous != "", f.err
}
func (f *fakeSecrets) Expire()                                           {}
func (f *fakeSecrets) CurrentCreated(context.Context) (time.Time, error) { return time.Time{}, nil }

// fakePublisher records what it is asked to publish.
type fakePublisher struct {
	mu       sync.Mutex
	calls    int
	msgs     []queue.Message
	err      error
	block    bool // wait for the context to end, then fail
	deadline time.Duration
}

func (p *fakePublisher) Publish(ctx context.Context, msgs []queue.Message) error {
	p.mu.Lock()
	p.calls++
	if d, ok := ctx.Deadline(); ok {
		p.deadline = time.Until(d)
	}
	p.mu.Unlock()
	if p.block {
		<-ctx.Done()
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		return &queue.PublishError{Failed: ids, Total: len(msgs), Err: ctx.Err()}
	}
	if p.err != nil {
		return p.err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
	return nil
}

type fixture struct {
	h       *Handler
	pub     *fakePublisher
	secrets *fakeSecrets
	logs    *logtest.Buffer
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{pub: &fakePublisher{}, secrets: &fakeSecrets{current: sampleSecret, previous: previousSecret}, logs: &logtest.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(cfg, f.secrets, f.pub, logger)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	t.Cleanup(func() {
		// No secret in any log line, whatever the test did.
		logs := f.logs.String()
		for _, s := range []string{sampleSecret, previousSecret, "wrong-secret-guess"} {
			if strings.Contains(logs, s) {
				t.Errorf("a log line contains the secret %q:\n%s", s, logs)
			}
		}
	})
	return f
}

func (f *fixture) call(t *testing.T, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := f.h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	return resp
}

// sample loads an API Gateway event from events/.
func sample(t testing.TB, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(data, &req); err != nil {
		t.Fatal(err)
	}
	return req
}

// post builds a delivery POST carrying body and the sample secret.
func post(body string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: "POST /hooks/okta",
		RawPath:  "/hooks/okta",
		Headers:  map[string]string{"authorization": sampleSecret, "content-type": "application/json"},
		Body:     body,
	}
	req.RequestContext.RequestID = "api-req-1"
	req.RequestContext.HTTP.Method = http.MethodPost
	req.RequestContext.HTTP.Path = "/hooks/okta"
	req.RequestContext.HTTP.SourceIP = "198.51.100.23"
	return req
}

func with(req events.APIGatewayV2HTTPRequest, change func(*events.APIGatewayV2HTTPRequest)) events.APIGatewayV2HTTPRequest {
	headers := make(map[string]string, len(req.Headers))
	for k, v := range req.Headers {
		headers[k] = v
	}
	req.Headers = headers
	change(&req)
	return req
}

// delivery renders an envelope around events.
func delivery(eventID string, evs ...string) string {
	return fmt.Sprintf(`{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1",`+
		`"source":"https://acme.okta.com/api/v1/eventHooks/who1","eventId":%q,"eventTime":"2026-03-02T10:15:04.512Z",`+
		`"contentType":"application/json","data":{"events":[%s]}}`, eventID, strings.Join(evs, ","))
}

// logEvent renders a LogEvent; targets are "Type:id".
func logEvent(uuid, eventType, result, actor string, targets ...string) string {
	var ts []string
	for _, t := range targets {
		typ, id, _ := strings.Cut(t, ":")
		ts = append(ts, fmt.Sprintf(`{"id":%q,"type":%q,"alternateId":"x@acme.com","displayName":"X","detailEntry":null}`, id, typ))
	}
	actorType, actorID, _ := strings.Cut(actor, ":")
	return fmt.Sprintf(`{"uuid":%q,"published":"2026-03-02T10:15:01.201Z","eventType":%q,"version":"0","severity":"INFO",`+
		`"actor":{"id":%q,"type":%q,"alternateId":"a@acme.com","displayName":"A"},`+
		`"outcome":{"result":%q,"reason":null},"target":[%s]}`, uuid, eventType, actorID, actorType, result, strings.Join(ts, ","))
}

// queued is what the tests compare of a queued message.
type queued struct {
	User, App, Event string
	Merged           []string
}

func queuedOf(t *testing.T, msgs []queue.Message) []queued {
	t.Helper()
	var out []queued
	for _, m := range msgs {
		r, err := revocation.Parse([]byte(m.Body))
		if err != nil {
			t.Fatalf("queued body %s does not parse as a revocation request: %v", m.Body, err)
		}
		if m.ID != r.RequestID {
			t.Errorf("message id %q != request id %q", m.ID, r.RequestID)
		}
		reason, err := r.DecodeReason()
		if err != nil {
			t.Fatal(err)
		}
		if reason.Source != revocation.SourceEventHook || reason.EventID == "" || reason.EventType == "" {
			t.Errorf("reason %s lacks source, eventId or eventType", r.Reason)
		}
		out = append(out, queued{User: r.UserID, App: r.AppID, Event: reason.EventUUID, Merged: reason.MergedEventUUIDs})
	}
	return out
}

func TestHandle(t *testing.T) {
	suspend := sample(t, "okta-hook-suspend.json")
	verification := sample(t, "okta-hook-verification.json")
	b64 := with(suspend, func(r *events.APIGatewayV2HTTPRequest) {
		r.Body = base64.StdEncoding.EncodeToString([]byte(r.Body))
		r.IsBase64Encoded = true
	})
	big := strings.Repeat(" ", 2000)

	tests := []struct {
		name       string
		cfg        Config
		secrets    *fakeSecrets
		req        events.APIGatewayV2HTTPRequest
		wantStatus int
		wantBody   string // substring; "" = must be empty
		wantQueued []queued
	}{
		// Verification.
		{name: "verification", req: verification, wantStatus: 200, wantBody: `{"verification":"W7wUqSr8rFz5bM9rHgDI8UKSNQMunnpEIP6AFQ3zv9h"}`},
		{
			name: "verification header any case",
			req: with(verification, func(r *events.APIGatewayV2HTTPRequest) {
				delete(r.Headers, "x-okta-verification-challenge")
				r.Headers["X-Okta-Verification-Challenge"] = "abc"
			}),
			wantStatus: 200, wantBody: `{"verification":"abc"}`,
		},
		{name: "verification without challenge", req: with(verification, func(r *events.APIGatewayV2HTTPRequest) { delete(r.Headers, "x-okta-verification-challenge") }), wantStatus: 400, wantBody: "missing x-okta-verification-challenge header"},
		{name: "verification challenge too long", req: with(verification, func(r *events.APIGatewayV2HTTPRequest) {
			r.Headers["x-okta-verification-challenge"] = strings.Repeat("a", 1025)
		}), wantStatus: 400, wantBody: "too long"},
		{name: "verification without auth", req: with(verification, func(r *events.APIGatewayV2HTTPRequest) { delete(r.Headers, "authorization") }), wantStatus: 401, wantBody: `"message":"unauthorized"`},
		{name: "verification with wrong auth", req: with(verification, func(r *events.APIGatewayV2HTTPRequest) { r.Headers["authorization"] = "wrong-secret-guess" }), wantStatus: 401, wantBody: `"message":"unauthorized"`},

		// Authentication of deliveries.
		{name: "auth missing", req: with(suspend, func(r *events.APIGatewayV2HTTPRequest) { delete(r.Headers, "authorization") }), wantStatus: 401, wantBody: `"message":"unauthorized"`},
		{name: "auth wrong", req: with(suspend, func(r *events.APIGatewayV2HTTPRequest) { r.Headers["authorization"] = "wrong-secret-guess" }), wantStatus: 401, wantBody: `"message":"unauthorized"`},
		{name: "auth empty", req: with(suspend, func(r *events.APIGatewayV2HTTPRequest) { r.Headers["authorization"] = "" }), wantStatus: 401, wantBody: `"message":"unauthorized"`},
		{name: "auth previous version during rotation", req: with(suspend, func(r *events.APIGatewayV2HTTPRequest) { r.Headers["authorization"] = previousSecret }), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "3f9a2b1c-f7e0-11f0-9c1d-5b1e2f3a4c5d"}}},
		{name: "auth header name in any case", req: with(suspend, func(r *events.APIGatewayV2HTTPRequest) {
			delete(r.Headers, "authorization")
			r.Headers["Authorization"] = sampleSecret
		}), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "3f9a2b1c-f7e0-11f0-9c1d-5b1e2f3a4c5d"}}},
		{
			name: "custom auth header", cfg: Config{AuthHeader: "X-Okta-Hook-Key"},
			req: with(suspend, func(r *events.APIGatewayV2HTTPRequest) {
				delete(r.Headers, "authorization")
				r.Headers["x-okta-hook-key"] = sampleSecret
			}),
			wantStatus: 200, wantQueued: []queued{{User: jane, Event: "3f9a2b1c-f7e0-11f0-9c1d-5b1e2f3a4c5d"}},
		},
		{name: "custom auth header, secret sent in Authorization", cfg: Config{AuthHeader: "X-Okta-Hook-Key"}, req: suspend, wantStatus: 401, wantBody: `"message":"unauthorized"`},
		{name: "secret unreadable", secrets: &fakeSecrets{err: errors.New("AccessDeniedException")}, req: suspend, wantStatus: 503, wantBody: "service unavailable"},
		{name: "secret empty", secrets: &fakeSecrets{current: ""}, req: with(suspend, func(r *events.APIGatewayV2HTTPRequest) { r.Headers["authorization"] = "" }), wantStatus: 401, wantBody: `"message":"unauthorized"`},
		{name: "secret empty, header sent", secrets: &fakeSecrets{current: ""}, req: with(suspend, func(r *events.APIGatewayV2HTTPRequest) { r.Headers["authorization"] = "x" }), wantStatus: 503, wantBody: "service unavailable"},

		// Method.
		{name: "PUT", req: with(suspend, func(r *events.APIGatewayV2HTTPRequest) { r.RequestContext.HTTP.Method = "PUT" }), wantStatus: 405, wantBody: "method not allowed"},

		// Bodies.
		{name: "base64 body", req: b64, wantStatus: 200, wantQueued: []queued{{User: jane, Event: "3f9a2b1c-f7e0-11f0-9c1d-5b1e2f3a4c5d"}}},
		{name: "invalid base64", req: with(b64, func(r *events.APIGatewayV2HTTPRequest) { r.Body = "!!" + r.Body }), wantStatus: 400, wantBody: "not valid base64"},
		{name: "oversize", cfg: Config{MaxBodyBytes: 1000}, req: post(delivery("d1") + big), wantStatus: 413, wantBody: "body larger than 1000 bytes"},
		{name: "oversize base64", cfg: Config{MaxBodyBytes: 1000}, req: with(post(""), func(r *events.APIGatewayV2HTTPRequest) {
			r.Body = base64.StdEncoding.EncodeToString([]byte(delivery("d1") + big))
			r.IsBase64Encoded = true
		}), wantStatus: 413, wantBody: "body larger than 1000 bytes"},
		{name: "at the limit", cfg: Config{MaxBodyBytes: len(delivery("d1"))}, req: post(delivery("d1")), wantStatus: 200},
		{name: "malformed JSON", req: post(`{"eventType":"com.okta.event_hook","data":{"events":[`), wantStatus: 400, wantBody: "malformed event hook delivery"},
		{name: "empty body", req: post(""), wantStatus: 400, wantBody: "empty body"},
		{name: "wrong envelope", req: post(`{"eventType":"com.okta.inline_hook","data":{"events":[]}}`), wantStatus: 400, wantBody: "not an event hook delivery"},
		{name: "bare LogEvent", req: post(logEvent("e1", "user.lifecycle.suspend", "SUCCESS", "User:00uadmin", "User:"+jane)), wantStatus: 400, wantBody: "not an event hook delivery"},

		// Each default event type.
		{name: "user.lifecycle.suspend", req: post(delivery("d", logEvent("e1", "user.lifecycle.suspend", "SUCCESS", "User:00uadmin", "User:"+jane))), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}}},
		{name: "user.lifecycle.deactivate", req: post(delivery("d", logEvent("e1", "user.lifecycle.deactivate", "SUCCESS", "User:00uadmin", "User:"+jane))), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}}},
		{name: "user.lifecycle.delete.initiated", req: post(delivery("d", logEvent("e1", "user.lifecycle.delete.initiated", "SUCCESS", "User:00uadmin", "User:"+jane))), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}}},
		{name: "user.account.lock (self)", req: post(delivery("d", logEvent("e1", "user.account.lock", "SUCCESS", "User:"+jane))), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}}},
		{name: "user.account.reset_password", req: post(delivery("d", logEvent("e1", "user.account.reset_password", "SUCCESS", "User:00uadmin", "User:"+jane))), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}}},
		{name: "user.mfa.factor.reset_all", req: post(delivery("d", logEvent("e1", "user.mfa.factor.reset_all", "SUCCESS", "User:00uadmin", "User:"+jane))), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}}},
		{name: "user.session.clear", req: post(delivery("d", logEvent("e1", "user.session.clear", "SUCCESS", "User:00uadmin", "User:"+jane))), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}}},
		{name: "security.breached_credential.detected", req: post(delivery("d", logEvent("e1", "security.breached_credential.detected", "SUCCESS", "User:"+jane))), wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}}},
		{name: "application.user_membership.remove", req: sample(t, "okta-hook-app-unassignment.json"), wantStatus: 200, wantQueued: []queued{{User: jane, App: portal, Event: "30f29bbf-3218-429b-827a-0a93809591db"}}},
		{name: "application.lifecycle.deactivate", req: sample(t, "okta-hook-app-deactivation.json"), wantStatus: 200, wantQueued: []queued{{App: portal, Event: "a6d1c0f4-0b7e-4b1e-9f3c-6e2d5a8b7c90"}}},
		{name: "application.lifecycle.delete", req: post(delivery("d", logEvent("e1", "application.lifecycle.delete", "SUCCESS", "User:00uadmin", "AppInstance:"+portal))), wantStatus: 200, wantQueued: []queued{{App: portal, Event: "e1"}}},

		// Batches and skips.
		{
			name: "batch with mixed types", req: sample(t, "okta-hook-batch.json"), wantStatus: 200,
			wantQueued: []queued{
				{User: john, Event: "b1e2d3c4-1111-4a5b-8c9d-0e1f2a3b4c5d"},
				// The breached credential leads: a user.session.clear
				// request does not end sessions.
				{User: jane, Event: "b1e2d3c4-5555-4a5b-8c9d-0e1f2a3b4c5d", Merged: []string{"b1e2d3c4-4444-4a5b-8c9d-0e1f2a3b4c5d"}},
				{User: john, App: portal, Event: "b1e2d3c4-6666-4a5b-8c9d-0e1f2a3b4c5d"},
			},
		},
		{name: "only unknown types", req: post(delivery("d", logEvent("e1", "user.session.start", "SUCCESS", "User:"+jane), logEvent("e2", "group.user_membership.add", "SUCCESS", "User:00uadmin", "User:"+jane))), wantStatus: 200},
		{name: "known type not enabled", cfg: Config{EventTypes: []string{"user.lifecycle.suspend"}}, req: post(delivery("d", logEvent("e1", "user.lifecycle.deactivate", "SUCCESS", "User:00uadmin", "User:"+jane))), wantStatus: 200},
		{name: "FAILURE outcome", req: post(delivery("d", logEvent("e1", "user.lifecycle.suspend", "FAILURE", "User:00uadmin", "User:"+jane))), wantStatus: 200},
		{name: "missing targets", req: post(delivery("d", logEvent("e1", "user.lifecycle.suspend", "SUCCESS", "User:00uadmin"), logEvent("e2", "application.user_membership.remove", "SUCCESS", "User:00uadmin", "User:"+jane))), wantStatus: 200},
		{name: "no events", req: post(delivery("d")), wantStatus: 200},
		{
			name: "unreadable event does not cost the others",
			req: post(delivery("d", `{"uuid":"bad","eventType":"user.lifecycle.suspend","target":{"id":1}}`, `42`,
				logEvent("e2", "user.lifecycle.suspend", "SUCCESS", "User:00uadmin", "User:"+jane))),
			wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e2"}},
		},
		{
			name: "same event twice in one delivery",
			req: post(delivery("d", logEvent("e1", "user.lifecycle.suspend", "SUCCESS", "User:00uadmin", "User:"+jane),
				logEvent("e1", "user.lifecycle.suspend", "SUCCESS", "User:00uadmin", "User:"+jane))),
			wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}},
		},
		{
			name: "opt-in type enabled", cfg: Config{EventTypes: []string{"user.account.update_password"}},
			req:        post(delivery("d", logEvent("e1", "user.account.update_password", "SUCCESS", "User:"+jane))),
			wantStatus: 200, wantQueued: []queued{{User: jane, Event: "e1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			if tt.secrets != nil {
				*f.secrets = *tt.secrets
			}
			resp := f.call(t, tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			if tt.wantBody == "" && resp.Body != "" {
				t.Errorf("body = %q, want empty", resp.Body)
			}
			if !strings.Contains(resp.Body, tt.wantBody) {
				t.Errorf("body = %s, want containing %s", resp.Body, tt.wantBody)
			}
			if resp.StatusCode == http.StatusMethodNotAllowed && resp.Headers["Allow"] != "GET, POST" {
				t.Errorf("Allow = %q", resp.Headers["Allow"])
			}
			if resp.Headers["Cache-Control"] != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Headers["Cache-Control"])
			}
			if resp.StatusCode >= 400 && !strings.Contains(resp.Body, `"requestId":"`+tt.req.RequestContext.RequestID+`"`) {
				t.Errorf("error body %s lacks the API request id", resp.Body)
			}
			got := queuedOf(t, f.pub.msgs)
			if !reflect.DeepEqual(got, tt.wantQueued) {
				t.Errorf("queued:\n got %+v\nwant %+v", got, tt.wantQueued)
			}
			if resp.StatusCode != 200 || len(tt.wantQueued) == 0 {
				if f.pub.calls != 0 {
					t.Errorf("publisher called %d times, want 0", f.pub.calls)
				}
			}
		})
	}
}

func TestDeliveryLogs(t *testing.T) {
	f := newFixture(t, Config{})
	req := sample(t, "okta-hook-batch.json")
	req.Headers["x-okta-verification-challenge"] = "ignored-on-post"
	if resp := f.call(t, req); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	recs := f.logs.Records(t)
	if len(recs) != 1 {
		t.Fatalf("%d log lines, want 1 summary:\n%s", len(recs), f.logs)
	}
	rec := recs[0]
	if rec["msg"] != "delivery queued" || rec["level"] != "INFO" {
		t.Errorf("summary %v", rec)
	}
	wantFields := map[string]any{
		"apiRequestId": "JKJeBqTPzLgIWLE=", "eventId": "e5a8b9c0-6d7e-4f80-b1c2-3d4e5f6a7b88",
		"events": 6.0, "requests": 3.0, "skipped": 2.0, "malformed": 0.0,
	}
	for k, v := range wantFields {
		if rec[k] != v {
			t.Errorf("log field %s = %v, want %v", k, rec[k], v)
		}
	}
	if uuids, _ := rec["eventUuids"].([]any); len(uuids) != 6 {
		t.Errorf("eventUuids = %v", rec["eventUuids"])
	}
	skipped, _ := rec["skippedEvents"].([]any)
	var reasons []string
	for _, s := range skipped {
		m := s.(map[string]any)
		reasons = append(reasons, m["eventType"].(string)+": "+m["reason"].(string))
	}
	// The breached-credential event is not skipped: it asks for the same
	// revocation as the session clear and is merged into it.
	wantReasons := []string{
		"user.lifecycle.deactivate: outcome FAILURE is not SUCCESS",
		`user.session.start: event type "user.session.start" is not handled`,
	}
	if !reflect.DeepEqual(reasons, wantReasons) {
		t.Errorf("skipped = %q, want %q", reasons, wantReasons)
	}
	revs, _ := rec["revocations"].([]any)
	if len(revs) != 3 {
		t.Errorf("revocations = %v, want 3", rec["revocations"])
	}
	if strings.Contains(f.logs.String(), "authorization") {
		t.Errorf("log mentions the authorization header:\n%s", f.logs)
	}
}

func TestEnqueueFailure(t *testing.T) {
	tests := []struct {
		name string
		pub  *fakePublisher
	}{
		{name: "publisher error", pub: &fakePublisher{err: &queue.PublishError{Failed: []string{"x"}, Total: 1, Err: errors.New("AWS.SimpleQueueService.NonExistentQueue")}}},
		{name: "queue unreachable until the budget ends", pub: &fakePublisher{block: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{EnqueueTimeout: 50 * time.Millisecond})
			f.h.publisher = tt.pub
			req := sample(t, "okta-hook-suspend.json")
			resp := f.call(t, req)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503", resp.StatusCode)
			}
			if tt.pub.deadline <= 0 || tt.pub.deadline > 50*time.Millisecond {
				t.Errorf("publish deadline %v, want within the 50ms budget", tt.pub.deadline)
			}
			var errLine map[string]any
			for _, rec := range f.logs.Records(t) {
				if rec["level"] == "ERROR" {
					errLine = rec
				}
			}
			if errLine == nil {
				t.Fatalf("no ERROR log line:\n%s", f.logs)
			}
			if errLine["delivery"] != req.Body {
				t.Errorf("ERROR line does not hold the full delivery body for replay: %v", errLine["delivery"])
			}
			if errLine["eventId"] != "5b1d5c1e-2f4a-4c0e-9b8e-0b6f6c3d2a11" || errLine["error"] == "" {
				t.Errorf("ERROR line lacks eventId or error: %v", errLine)
			}
			if nq, _ := errLine["notQueued"].([]any); len(nq) != 1 {
				t.Errorf("notQueued = %v", errLine["notQueued"])
			}
			checkReplay(t, errLine, 1)
		})
	}
}

// checkReplay checks that a 503's ERROR line carries want revocation
// requests under "replay", each a valid queue message body.
func checkReplay(t *testing.T, errLine map[string]any, want int) {
	t.Helper()
	replay, _ := errLine["replay"].([]any)
	if len(replay) != want {
		t.Fatalf("replay = %v, want %d requests", errLine["replay"], want)
	}
	for _, r := range replay {
		b, _ := json.Marshal(r)
		req, err := revocation.Parse(b)
		if err != nil || req.UserID == "" {
			t.Errorf("replay entry %s is not a revocation request for a user: %v", b, err)
		}
	}
}

// TestEnqueueFailureOfHugeDelivery: a delivery too big for one log event is
// logged as its size and head; the revocation requests to replay are logged
// whole, and only those that were not queued.
func TestEnqueueFailureOfHugeDelivery(t *testing.T) {
	f := newFixture(t, Config{})
	var envelope map[string]any
	req := sample(t, "okta-hook-batch.json")
	if err := json.Unmarshal([]byte(req.Body), &envelope); err != nil {
		t.Fatal(err)
	}
	// Pad an event with an unknown field until the body passes the limit.
	evs := envelope["data"].(map[string]any)["events"].([]any)
	evs[0].(map[string]any)["padding"] = strings.Repeat("p", maxLoggedDelivery)
	body, _ := json.Marshal(envelope)
	req.Body = string(body)
	f.h.publisher = &fakePublisher{err: &queue.PublishError{Failed: nil, Total: 3, Err: errors.New("throttled")}}

	if resp := f.call(t, req); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", resp.StatusCode)
	}
	var errLine map[string]any
	for _, rec := range f.logs.Records(t) {
		if rec["level"] == "ERROR" {
			errLine = rec
		}
	}
	delivery, _ := errLine["delivery"].(map[string]any)
	if delivery["truncated"] != true || delivery["bytes"] != float64(len(body)) || len(delivery["head"].(string)) != maxLoggedDelivery {
		t.Errorf("delivery = %.200v, want its size and a %d-byte head", errLine["delivery"], maxLoggedDelivery)
	}
	if line := f.logs.String(); len(line) > 2*maxLoggedDelivery {
		t.Errorf("log is %d bytes for a %d-byte delivery", len(line), len(body))
	}
	checkReplay(t, errLine, 3)
}

func TestNotQueued(t *testing.T) {
	reqs := []revocation.Request{{RequestID: "a"}, {RequestID: "b"}, {RequestID: "c"}}
	for _, tt := range []struct {
		failed []string
		want   []string
	}{
		{nil, nil},
		{[]string{"c", "a"}, []string{"a", "c"}},
		{[]string{"zzz"}, nil},
	} {
		var got []string
		for _, r := range notQueued(reqs, tt.failed) {
			got = append(got, r.RequestID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("notQueued(%v) = %v, want %v", tt.failed, got, tt.want)
		}
	}
}

// TestServiceLogger runs a failing delivery through the service's logger:
// the ERROR line keeps the whole delivery (nothing in it is redacted) and
// carries the Lambda request id.
func TestServiceLogger(t *testing.T) {
	logs := &logtest.Buffer{}
	pub := &fakePublisher{err: errors.New("throttled")}
	h, err := New(Config{}, &fakeSecrets{current: sampleSecret}, pub, logging.New(logs, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
	req := sample(t, "okta-hook-batch.json")
	resp, err := h.Handle(ctx, req)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("got %d %v, want 503", resp.StatusCode, err)
	}
	recs := logs.Records(t)
	if len(recs) != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", len(recs), logs)
	}
	rec := recs[0]
	if rec["level"] != "ERROR" || rec["requestId"] != "lambda-req-1" || rec["apiRequestId"] != "JKJeBqTPzLgIWLE=" {
		t.Errorf("ERROR line lacks level or request ids: %v", rec)
	}
	if rec["delivery"] != req.Body {
		t.Errorf("delivery in the log differs from the body received:\n%v", rec["delivery"])
	}
	if strings.Contains(logs.String(), sampleSecret) {
		t.Errorf("secret in the log")
	}
}

func TestMetrics(t *testing.T) {
	tests := []struct {
		name    string
		req     events.APIGatewayV2HTTPRequest
		secrets *fakeSecrets
		pubErr  error
		want    map[string]float64 // the others must be 0
	}{
		{name: "verification", req: sample(t, "okta-hook-verification.json"), want: map[string]float64{}},
		{name: "suspend", req: sample(t, "okta-hook-suspend.json"), want: map[string]float64{MetricEvents: 1, MetricRevocationsQueued: 1}},
		{name: "batch", req: sample(t, "okta-hook-batch.json"), want: map[string]float64{MetricEvents: 6, MetricRevocationsQueued: 3, MetricEventsSkipped: 2}},
		{name: "unreadable event", req: post(delivery("d", "42")), want: map[string]float64{MetricEvents: 1, MetricEventsUnreadable: 1}},
		{name: "unauthenticated", req: with(sample(t, "okta-hook-suspend.json"), func(r *events.APIGatewayV2HTTPRequest) { delete(r.Headers, "authorization") }), want: map[string]float64{MetricUnauthenticated: 1}},
		{name: "secret unavailable", req: sample(t, "okta-hook-suspend.json"), secrets: &fakeSecrets{err: errors.New("throttled")}, want: map[string]float64{MetricSecretUnavailable: 1}},
		{name: "malformed", req: post("{"), want: map[string]float64{MetricDeliveriesRejected: 1}},
		{name: "not queued", req: sample(t, "okta-hook-suspend.json"), pubErr: errors.New("throttled"), want: map[string]float64{MetricEvents: 1, MetricDeliveriesNotQueued: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &logtest.Buffer{}
			secrets := tt.secrets
			if secrets == nil {
				secrets = &fakeSecrets{current: sampleSecret}
			}
			h, err := New(Config{}, secrets, &fakePublisher{err: tt.pubErr}, slog.New(slog.DiscardHandler), WithMetrics(out))
			if err != nil {
				t.Fatal(err)
			}
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-2"})
			if _, err := h.Handle(ctx, tt.req); err != nil {
				t.Fatal(err)
			}
			recs := out.Records(t)
			if len(recs) != 1 {
				t.Fatalf("%d metric lines, want 1:\n%s", len(recs), out)
			}
			doc := recs[0]
			if doc["Function"] != "okta-hook" || doc["lambdaRequestId"] != "lambda-req-2" {
				t.Errorf("dimension or request id missing: %v", doc)
			}
			aws, _ := doc["_aws"].(map[string]any)
			cw, _ := aws["CloudWatchMetrics"].([]any)
			if len(cw) != 1 || cw[0].(map[string]any)["Namespace"] != MetricsNamespace {
				t.Fatalf("no EMF directive: %v", doc)
			}
			for _, name := range counters {
				if got := doc[name]; got != tt.want[name] {
					t.Errorf("%s = %v, want %v", name, got, tt.want[name])
				}
			}
			_, observed := doc[MetricEnqueueLatency]
			if wantLatency := tt.want[MetricRevocationsQueued] > 0 || tt.pubErr != nil; observed != wantLatency {
				t.Errorf("%s present = %v, want %v", MetricEnqueueLatency, observed, wantLatency)
			}
		})
	}
}

func TestLambdaDeadlineWins(t *testing.T) {
	f := newFixture(t, Config{EnqueueTimeout: time.Second})
	f.h.publisher = f.pub
	f.pub.block = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	resp, err := f.h.Handle(ctx, sample(t, "okta-hook-suspend.json"))
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("got %d, %v; want 503", resp.StatusCode, err)
	}
	if f.pub.deadline > 20*time.Millisecond {
		t.Errorf("publish deadline %v exceeds the invocation's", f.pub.deadline)
	}
}

func TestEnqueueDeadline(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		dedupe      bool
		authTook    time.Duration // from the call's start to queueing
		enqueue     time.Duration // HOOK_ENQUEUE_TIMEOUT
		wantFromNow time.Duration
	}{
		{"enqueue timeout first", false, 100 * time.Millisecond, 2 * time.Second, 2 * time.Second},
		{"answer budget first", false, time.Second, 2 * time.Second, answerBudget - time.Second},
		// The table's confirm or release runs after the queue answers and
		// must fit in the budget too.
		{"dedupe keeps its finishing time", true, time.Second, 2 * time.Second, answerBudget - finishTimeout - time.Second},
		{"dedupe, enqueue timeout first", true, 0, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Handler{enqueueTimeout: tt.enqueue}
			if tt.dedupe {
				h.dedupe = &dedupe.Store{}
			}
			now := start.Add(tt.authTook)
			got := h.enqueueDeadline(start, now)
			if got.Sub(now) != tt.wantFromNow {
				t.Fatalf("deadline %v after queueing starts, want %v", got.Sub(now), tt.wantFromNow)
			}
			if tt.dedupe && got.Add(finishTimeout).After(start.Add(answerBudget)) {
				t.Fatalf("queueing plus the table's finish ends %v after the start, past the %v budget", got.Add(finishTimeout).Sub(start), answerBudget)
			}
		})
	}
}

func TestSecretReadIsBounded(t *testing.T) {
	f := newFixture(t, Config{})
	f.secrets.block = true
	f.h.authTimeout = 10 * time.Millisecond
	resp := f.call(t, sample(t, "okta-hook-suspend.json"))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503 so Okta retries", resp.StatusCode)
	}
	if f.pub.calls != 0 {
		t.Errorf("published without authentication")
	}
	if !strings.Contains(f.logs.String(), `"level":"ERROR","msg":"cannot authenticate hook call: hook secret unavailable"`) {
		t.Errorf("no ERROR log for the unavailable secret:\n%s", f.logs)
	}
}

func TestNewRejectsUnknownEventTypes(t *testing.T) {
	_, err := New(Config{EventTypes: []string{"user.session.end"}}, &fakeSecrets{}, &fakePublisher{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `unknown event type "user.session.end"`) {
		t.Fatalf("New error = %v", err)
	}
}

// deliveryOf returns a delivery body with n events for n distinct users.
func deliveryOf(n int) string {
	evs := make([]string, n)
	for i := range evs {
		evs[i] = logEvent(fmt.Sprintf("e%03d", i), "user.lifecycle.suspend", "SUCCESS", "User:00uadmin", fmt.Sprintf("User:00ubench%012d", i))
	}
	return delivery("bench", evs...)
}

func BenchmarkDelivery(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			pub := &discardPublisher{}
			h, err := New(Config{}, &fakeSecrets{current: sampleSecret}, pub, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			req := post(deliveryOf(n))
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(req.Body)))
			for b.Loop() {
				resp, _ := h.Handle(ctx, req)
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			if pub.n == 0 {
				b.Fatal("nothing published")
			}
		})
	}
}

type discardPublisher struct{ n int }

func (p *discardPublisher) Publish(_ context.Context, msgs []queue.Message) error {
	p.n += len(msgs)
	return nil
}

// FuzzHandleDelivery feeds arbitrary authenticated bodies to the handler:
// it must answer 200, 400 or 413, never panic, and queue only valid
// requests.
func FuzzHandleDelivery(f *testing.F) {
	for _, name := range []string{"okta-hook-suspend.json", "okta-hook-batch.json", "okta-hook-app-unassignment.json", "okta-hook-app-deactivation.json"} {
		f.Add(sample(f, name).Body, false)
	}
	f.Add(base64.StdEncoding.EncodeToString([]byte(delivery("d", "42"))), true)
	f.Add(`{"eventType":"com.okta.event_hook","data":{"events":[{"uuid":"u","eventType":"user.account.lock","actor":{"id":"00u1","type":"User"},"outcome":{"result":"SUCCESS"}}]}}`, false)
	f.Fuzz(func(t *testing.T, body string, b64 bool) {
		pub := &fakePublisher{}
		h, err := New(Config{MaxBodyBytes: 64 << 10}, &fakeSecrets{current: sampleSecret}, pub, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		req := post(body)
		req.IsBase64Encoded = b64
		resp, err := h.Handle(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		switch resp.StatusCode {
		case 200, 400, 413:
		default:
			t.Fatalf("status %d for body %q", resp.StatusCode, body)
		}
		for _, m := range pub.msgs {
			if _, err := revocation.Parse([]byte(m.Body)); err != nil {
				t.Fatalf("queued an invalid request %s: %v", m.Body, err)
			}
		}
	})
}
