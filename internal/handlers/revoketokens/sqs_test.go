package revoketokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/fakeclock"
)

func sqsMessage(id, body string) events.SQSMessage {
	return events.SQSMessage{
		MessageId:      id,
		ReceiptHandle:  "rh-" + id,
		Body:           body,
		EventSource:    "aws:sqs",
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:revocations",
		Attributes:     map[string]string{"ApproximateReceiveCount": "1"},
	}
}

func failedIDs(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	sort.Strings(ids)
	return ids
}

func TestHandleSQSOutcomes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rateLimited := &okta.Error{Method: "DELETE", Path: "/api/v1/apps/0oaLimited/tokens", StatusCode: 429,
		ErrorCode: "E0000047", RequestID: "okta-req-429", RateLimitReset: now.Add(30 * time.Second)}
	answers := map[string]stubAnswer{
		key(revocation.Request{UserID: "00uGone"}):                     {status: revocation.StatusAlreadyGone},
		key(revocation.Request{UserID: "00uNoClients"}):                {status: revocation.StatusNothingToRevoke},
		key(revocation.Request{AppID: "0oaBroken"}):                    {err: fmt.Errorf("revoke: %w", errServer)},
		key(revocation.Request{AppID: "0oaLimited"}):                   {err: fmt.Errorf("revoke: %w", rateLimited)},
		key(revocation.Request{AppID: "0oaSlow"}):                      {err: fmt.Errorf("revoke: %w", okta.ErrTimeout)},
		key(revocation.Request{AppID: "0oaUnknownReset"}):              {err: &okta.Error{StatusCode: 429}},
		key(revocation.Request{UserID: "00uA", ClientID: "0oaC"}):      {status: revocation.StatusRevoked},
		key(revocation.Request{UserID: "00uA", AppID: "0oaDryRunApp"}): {status: revocation.StatusDryRun},
	}
	env := newTestEnv(t, answers, func(c *Config) { c.Now = func() time.Time { return now } })
	ev := events.SQSEvent{Records: []events.SQSMessage{
		sqsMessage("ok", `{"userId":"00uA","clientId":"0oaC"}`),
		sqsMessage("gone", `{"userId":"00uGone"}`),
		sqsMessage("empty", `{"userId":"00uNoClients"}`),
		sqsMessage("dry", `{"userId":"00uA","appId":"0oaDryRunApp"}`),
		sqsMessage("not-json", `revoke everything`),
		sqsMessage("typo", `{"userId":"00uA","clientID":"0oaC"}`),
		sqsMessage("bad-id", `{"userId":"00u/../admin"}`),
		sqsMessage("no-scope", `{"tokenId":"oar1"}`),
		sqsMessage("server", `{"appId":"0oaBroken"}`),
		sqsMessage("limited", `{"appId":"0oaLimited"}`),
		sqsMessage("limited-no-reset", `{"appId":"0oaUnknownReset"}`),
		sqsMessage("timeout", `{"appId":"0oaSlow"}`),
	}}
	resp, err := env.h.HandleSQS(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	// Rate-limited messages are deferred, not failed: waiting on Okta must
	// not count towards maxReceiveCount.
	want := []string{"bad-id", "no-scope", "not-json", "server", "timeout", "typo"}
	if got := failedIDs(resp); !slices.Equal(got, want) {
		t.Fatalf("failed = %v, want %v", got, want)
	}
	if n := len(env.exec.called()); n != 8 {
		t.Errorf("executor called %d times, want 8 (poison messages never reach it)", n)
	}

	// 429: sent again, delayed until Okta's reset plus jitter (2 s in
	// tests), with a deferral count.
	deferred := env.pub.sent()
	if len(deferred) != 2 {
		t.Fatalf("deferred %d messages, want the 2 rate-limited ones: %+v", len(deferred), deferred)
	}
	wantDelay := map[string]time.Duration{"limited": 32 * time.Second, "limited-no-reset": DefaultRateLimitDelay + 2*time.Second}
	for _, m := range deferred {
		if d, ok := wantDelay[m.ID]; !ok || m.Delay != d || m.Attributes[AttrDeferrals] != "1" || m.Body != bodyOf(ev, m.ID) {
			t.Errorf("deferred %+v, want delay %v, deferrals 1 and the original body", m, d)
		}
	}
	for _, id := range []string{"limited", "limited-no-reset", "server", "timeout", "typo", "ok"} {
		if _, ok := env.sqs.visibilityOf("rh-" + id); ok {
			t.Errorf("visibility of %s changed", id)
		}
	}

	// Poison messages are logged at ERROR with poison=true.
	poison := map[string]bool{}
	for _, r := range env.logs.Records(t) {
		if r["poison"] == true {
			if r["level"] != "ERROR" {
				t.Errorf("poison record at %v", r["level"])
			}
			poison[r["messageId"].(string)] = true
		}
	}
	for _, id := range []string{"not-json", "typo", "bad-id", "no-scope"} {
		if !poison[id] {
			t.Errorf("no poison record for %s", id)
		}
	}

	doc := metricsDoc(t, env.metrics)
	for name, want := range map[string]float64{
		MetricMessages: 12, MetricFailures: 8, MetricRateLimited: 2, MetricRevocations: 1, MetricAlreadyGone: 1,
		"FailuresInvalid": 4, "FailuresServer": 1, "FailuresTimeout": 1, "FailuresRateLimited": 2, MetricDryRun: 1, MetricDeferred: 2,
	} {
		if got, _ := doc[name].(float64); got != want {
			t.Errorf("metric %s = %v, want %v", name, doc[name], want)
		}
	}
	if doc["Trigger"] != "sqs" {
		t.Errorf("Trigger dimension = %v", doc["Trigger"])
	}
}

func TestHandleSQSConfigProblemStopsTheBatch(t *testing.T) {
	for _, err := range []error{errUnauthorized, fmt.Errorf("read secret: %w", okta.ErrInvalidCredentials)} {
		t.Run(err.Error(), func(t *testing.T) {
			env := newTestEnv(t, map[string]stubAnswer{
				key(revocation.Request{AppID: "0oaFirst"}): {err: fmt.Errorf("revoke: %w", err)},
			}, func(c *Config) { c.Concurrency = 1 })
			ev := events.SQSEvent{Records: []events.SQSMessage{
				sqsMessage("m1", `{"appId":"0oaFirst"}`),
				sqsMessage("m2", `{"appId":"0oaSecond"}`),
				sqsMessage("m3", `{"appId":"0oaThird"}`),
			}}
			resp, _ := env.h.HandleSQS(context.Background(), ev)
			if got := failedIDs(resp); !slices.Equal(got, []string{"m1", "m2", "m3"}) {
				t.Fatalf("failed = %v, want the whole batch", got)
			}
			if n := len(env.exec.called()); n != 1 {
				t.Fatalf("executor called %d times after a configuration problem, want 1", n)
			}
			var config bool
			for _, r := range env.logs.Records(t) {
				if r["configProblem"] == true && r["level"] == "ERROR" && r["messageId"] == "m1" {
					config = true
				}
			}
			if !config {
				t.Fatalf("no ERROR record with configProblem=true:\n%s", env.logs.String())
			}
			// The visibility timeout is the backoff after a systemic
			// failure: unstarted messages must not come straight back.
			for _, rh := range []string{"rh-m2", "rh-m3"} {
				if v, ok := env.sqs.visibilityOf(rh); ok {
					t.Errorf("visibility of %s set to %d after the batch stopped, want it left alone", rh, v)
				}
			}
			doc := metricsDoc(t, env.metrics)
			if doc["FailuresConfig"] != 1.0 || doc["FailuresUnstarted"] != 2.0 {
				t.Fatalf("FailuresConfig = %v, FailuresUnstarted = %v", doc["FailuresConfig"], doc["FailuresUnstarted"])
			}
		})
	}
}

// TestHandleSQSForbidden: one 403 may concern only its target (an admin
// role without permission on it), so the batch goes on; a second 403 in
// the batch makes a missing permission likely, and the batch stops.
func TestHandleSQSForbidden(t *testing.T) {
	forbidden := stubAnswer{err: fmt.Errorf("revoke: %w", errForbidden)}
	tests := []struct {
		name       string
		answers    map[string]stubAnswer
		wantCalls  int
		wantFailed []string
	}{
		{"one target forbidden", map[string]stubAnswer{key(revocation.Request{AppID: "0oaFirst"}): forbidden},
			4, []string{"m1"}},
		{"two targets forbidden", map[string]stubAnswer{key(revocation.Request{AppID: "0oaFirst"}): forbidden, key(revocation.Request{AppID: "0oaSecond"}): forbidden},
			2, []string{"m1", "m2", "m3", "m4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, tt.answers, func(c *Config) { c.Concurrency = 1 })
			ev := events.SQSEvent{Records: []events.SQSMessage{
				sqsMessage("m1", `{"appId":"0oaFirst"}`),
				sqsMessage("m2", `{"appId":"0oaSecond"}`),
				sqsMessage("m3", `{"appId":"0oaThird"}`),
				sqsMessage("m4", `{"appId":"0oaFourth"}`),
			}}
			resp, _ := env.h.HandleSQS(context.Background(), ev)
			if got := failedIDs(resp); !slices.Equal(got, tt.wantFailed) {
				t.Errorf("failed = %v, want %v", got, tt.wantFailed)
			}
			if n := len(env.exec.called()); n != tt.wantCalls {
				t.Errorf("executor called %d times, want %d", n, tt.wantCalls)
			}
			var config bool
			for _, r := range env.logs.Records(t) {
				if r["configProblem"] == true && r["level"] == "ERROR" && r["messageId"] == "m1" {
					config = true
				}
			}
			if !config {
				t.Errorf("no ERROR record with configProblem=true for m1:\n%s", env.logs.String())
			}
		})
	}
}

// TestHandleSQSFailureScope checks which failures stop the batch: those
// every other message would meet too (credentials refused or unreadable),
// and not those of one message (Okta refusing this request).
func TestHandleSQSFailureScope(t *testing.T) {
	errBadRequest := &okta.Error{Method: "DELETE", Path: "/api/v1/apps/0oaFirst/tokens", StatusCode: 400, ErrorCode: "E0000001", RequestID: "okta-req-400"}
	errConflict := &okta.Error{Method: "DELETE", Path: "/api/v1/apps/0oaFirst/tokens", StatusCode: 409, RequestID: "okta-req-409"}
	tests := []struct {
		name       string
		err        error
		wantFailed []string
		wantCalls  int
		wantMetric string
		wantLog    map[string]any
	}{
		{"Okta 400", errBadRequest, []string{"m1"}, 3, "FailuresRejected", map[string]any{"oktaStatus": 400.0, "failure": "Rejected"}},
		{"Okta 409", errConflict, []string{"m1"}, 3, "FailuresRejected", map[string]any{"oktaStatus": 409.0, "failure": "Rejected"}},
		{"one client of a user rejected", errors.Join(errBadRequest, nil), []string{"m1"}, 3, "FailuresRejected", map[string]any{"failure": "Rejected"}},
		// A Secrets Manager timeout matches context.DeadlineExceeded too;
		// it is still the credentials, so the batch stops.
		{"credentials read timed out", fmt.Errorf("read secret: %w: %w", okta.ErrCredentialsUnavailable, context.DeadlineExceeded),
			[]string{"m1", "m2", "m3"}, 1, "FailuresOther", map[string]any{"failure": "Other"}},
		{"Okta timeout", fmt.Errorf("revoke: %w", okta.ErrTimeout), []string{"m1"}, 3, "FailuresTimeout", map[string]any{"failure": "Timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, map[string]stubAnswer{
				key(revocation.Request{AppID: "0oaFirst"}): {err: fmt.Errorf("revoke: %w", tt.err)},
			}, func(c *Config) { c.Concurrency = 1 })
			resp, _ := env.h.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
				sqsMessage("m1", `{"appId":"0oaFirst"}`),
				sqsMessage("m2", `{"appId":"0oaSecond"}`),
				sqsMessage("m3", `{"appId":"0oaThird"}`),
			}})
			if got := failedIDs(resp); !slices.Equal(got, tt.wantFailed) {
				t.Fatalf("failed = %v, want %v", got, tt.wantFailed)
			}
			if n := len(env.exec.called()); n != tt.wantCalls {
				t.Fatalf("executor called %d times, want %d", n, tt.wantCalls)
			}
			if doc := metricsDoc(t, env.metrics); doc[tt.wantMetric] != 1.0 {
				t.Errorf("%s = %v, want 1", tt.wantMetric, doc[tt.wantMetric])
			}
			found := false
			for _, r := range env.logs.Records(t) {
				if r["messageId"] != "m1" || r["level"] != "ERROR" && r["level"] != "WARN" {
					continue
				}
				match := true
				for k, v := range tt.wantLog {
					match = match && r[k] == v
				}
				found = found || match
			}
			if !found {
				t.Errorf("no failure record for m1 with %v:\n%s", tt.wantLog, env.logs.String())
			}
		})
	}
}

func TestHandleSQSStopsStartingNearTheDeadline(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name        string
		remaining   time.Duration // before the deadline, when the batch starts
		perCall     time.Duration // clock advance per executed request
		wantCalls   int
		wantLeft    []string // not started: deferred
		concurrency int
	}{
		{name: "plenty of time", remaining: time.Minute, perCall: time.Second, wantCalls: 3, concurrency: 1},
		{name: "deadline already near", remaining: 5 * time.Second, wantCalls: 0, wantLeft: []string{"m1", "m2", "m3"}, concurrency: 2},
		{name: "runs out after the first", remaining: 30 * time.Second, perCall: 25 * time.Second, wantCalls: 1,
			wantLeft: []string{"m2", "m3"}, concurrency: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New(start)
			env := newTestEnv(t, nil, func(c *Config) {
				c.Now = clock.Now
				c.Concurrency = tt.concurrency
				c.DeadlineReserve = 10 * time.Second
			})
			env.exec.onCall = func(revocation.Request) { clock.Advance(tt.perCall) }
			// The real deadline is far away; the handler judges the time
			// left by its clock, which the test controls.
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
			defer cancel()
			deadline, _ := ctx.Deadline()
			clock.Set(deadline.Add(-tt.remaining))
			ev := events.SQSEvent{Records: []events.SQSMessage{
				sqsMessage("m1", `{"appId":"0oa1"}`),
				sqsMessage("m2", `{"appId":"0oa2"}`),
				sqsMessage("m3", `{"appId":"0oa3"}`),
			}}
			resp, err := env.h.HandleSQS(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := failedIDs(resp); len(got) != 0 {
				t.Errorf("failed = %v, want none: unstarted messages are deferred", got)
			}
			if n := len(env.exec.called()); n != tt.wantCalls {
				t.Errorf("executed %d, want %d", n, tt.wantCalls)
			}
			// Unstarted messages come back in seconds (UnstartedDelay plus
			// the stub's 2 s jitter), as new messages, so that a busy
			// queue does not push them towards the DLQ.
			var left []string
			for _, m := range env.pub.sent() {
				left = append(left, m.ID)
				if m.Delay != UnstartedDelay+2*time.Second || m.Attributes[AttrDeferrals] != "1" || m.Body != bodyOf(ev, m.ID) {
					t.Errorf("deferred %+v, want a delay of %v and deferrals 1", m, UnstartedDelay+2*time.Second)
				}
			}
			if !slices.Equal(left, tt.wantLeft) {
				t.Errorf("deferred %v, want %v", left, tt.wantLeft)
			}
		})
	}
}

// TestHandleSQSDeferralFallback: a message that cannot be deferred (the
// queue refuses the copy, or it was deferred MaxDeferrals times) fails with
// its visibility set to the wait instead: never lost, never deleted.
func TestHandleSQSDeferralFallback(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	limited := &okta.Error{StatusCode: 429, RateLimitReset: now.Add(30 * time.Second)}
	answers := map[string]stubAnswer{
		key(revocation.Request{AppID: "0oaA"}): {err: fmt.Errorf("revoke: %w", limited)},
		key(revocation.Request{AppID: "0oaB"}): {err: fmt.Errorf("revoke: %w", limited)},
	}
	worn := sqsMessage("worn", `{"appId":"0oaB"}`)
	worn.MessageAttributes = map[string]events.SQSMessageAttribute{
		AttrDeferrals: {DataType: "String", StringValue: aws.String(strconv.Itoa(MaxDeferrals))},
		AttrCaller:    {DataType: "String", StringValue: aws.String("arn:aws:iam::123456789012:user/ops")},
	}
	fresh := sqsMessage("fresh", `{"appId":"0oaA"}`)
	fresh.MessageAttributes = map[string]events.SQSMessageAttribute{
		AttrDeferrals: {DataType: "String", StringValue: aws.String("7")},
		AttrCaller:    {DataType: "String", StringValue: aws.String("arn:aws:iam::123456789012:user/ops")},
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{fresh, worn}}

	t.Run("queue accepts the copy", func(t *testing.T) {
		env := newTestEnv(t, answers, func(c *Config) { c.Now = func() time.Time { return now } })
		resp, _ := env.h.HandleSQS(context.Background(), ev)
		if got := failedIDs(resp); !slices.Equal(got, []string{"worn"}) {
			t.Fatalf("failed = %v, want the message deferred %d times already", got, MaxDeferrals)
		}
		sent := env.pub.sent()
		if len(sent) != 1 || sent[0].ID != "fresh" || sent[0].Attributes[AttrDeferrals] != "8" ||
			sent[0].Attributes[AttrCaller] != "arn:aws:iam::123456789012:user/ops" {
			t.Fatalf("deferred %+v, want fresh with deferrals 8 and its caller", sent)
		}
		if v, ok := env.sqs.visibilityOf("rh-worn"); !ok || v != 32 {
			t.Errorf("visibility of the worn-out message = %d (set %v), want 32", v, ok)
		}
	})
	t.Run("queue refuses the copy", func(t *testing.T) {
		env := newTestEnv(t, answers, func(c *Config) { c.Now = func() time.Time { return now } })
		env.pub.err = errors.New("AccessDenied")
		resp, _ := env.h.HandleSQS(context.Background(), ev)
		if got := failedIDs(resp); !slices.Equal(got, []string{"fresh", "worn"}) {
			t.Fatalf("failed = %v, want both", got)
		}
		for _, id := range []string{"fresh", "worn"} {
			if v, ok := env.sqs.visibilityOf("rh-" + id); !ok || v != 32 {
				t.Errorf("visibility of %s = %d (set %v), want 32", id, v, ok)
			}
		}
		if doc := metricsDoc(t, env.metrics); doc[MetricDeferred] != nil && doc[MetricDeferred] != 0.0 {
			t.Errorf("Deferred = %v, want 0", doc[MetricDeferred])
		}
	})
}

func TestHandleSQSDeduplicates(t *testing.T) {
	tests := []struct {
		name       string
		answers    map[string]stubAnswer
		wantCalls  []string // scopes executed
		wantFailed []string
	}{
		{
			name:      "user-wide request covers the user's narrower ones",
			wantCalls: []string{"user", "app"},
		},
		{
			name:       "a failure fails every covered message",
			answers:    map[string]stubAnswer{key(revocation.Request{UserID: "00uU"}): {err: errServer}},
			wantCalls:  []string{"user", "app"},
			wantFailed: []string{"m1", "m2", "m3", "m4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, tt.answers, func(c *Config) { c.Concurrency = 1 })
			ev := events.SQSEvent{Records: []events.SQSMessage{
				sqsMessage("m1", `{"userId":"00uU","clientId":"0oaC","requestId":"r1"}`),
				sqsMessage("m2", `{"userId":"00uU","requestId":"r2"}`),
				sqsMessage("m3", `{"userId":"00uU","requestId":"r3"}`),
				sqsMessage("m4", `{"userId":"00uU","appId":"0oaA","requestId":"r4"}`),
				sqsMessage("m5", `{"appId":"0oaA","requestId":"r5"}`),
				sqsMessage("m6", `{"appId":"0oaA","requestId":"r6"}`),
			}}
			resp, _ := env.h.HandleSQS(context.Background(), ev)
			var scopes []string
			for _, r := range env.exec.called() {
				scopes = append(scopes, string(r.Scope()))
			}
			if !slices.Equal(scopes, tt.wantCalls) {
				t.Errorf("executed %v, want %v", scopes, tt.wantCalls)
			}
			if got := failedIDs(resp); !slices.Equal(got, tt.wantFailed) {
				t.Errorf("failed = %v, want %v", got, tt.wantFailed)
			}
			covered := map[string]any{}
			for _, r := range env.logs.Records(t) {
				if r["coveredBy"] != nil {
					covered[r["requestId"].(string)] = r["coveredBy"]
				}
			}
			wantCovered := map[string]any{"r1": "r2", "r3": "r2", "r4": "r2", "r6": "r5"}
			if fmt.Sprint(covered) != fmt.Sprint(wantCovered) {
				t.Errorf("covered = %v, want %v", covered, wantCovered)
			}
		})
	}
}

// A request queued for user.session.clear does not end sessions; when the
// same user's batch also has one that does (REVOKE_OKTA_SESSIONS), that one
// must lead the group, or the sessions it asks to end stay open.
func TestHandleSQSSessionEndingRequestLeads(t *testing.T) {
	env := newTestEnv(t, nil, func(c *Config) { c.Concurrency = 1 })
	ev := events.SQSEvent{Records: []events.SQSMessage{
		sqsMessage("m1", `{"userId":"00uU","clientId":"0oaC","requestId":"r1"}`),
		sqsMessage("m2", `{"userId":"00uU","requestId":"r2","reason":{"eventType":"user.session.clear"}}`),
		sqsMessage("m3", `{"userId":"00uU","requestId":"r3","reason":{"eventType":"user.account.reset_password"}}`),
		sqsMessage("m4", `{"userId":"00uU","requestId":"r4","reason":{"eventType":"user.session.clear"}}`),
	}}
	resp, _ := env.h.HandleSQS(context.Background(), ev)
	if got := failedIDs(resp); len(got) != 0 {
		t.Fatalf("failed = %v", got)
	}
	calls := env.exec.called()
	if len(calls) != 1 || calls[0].RequestID != "r3" {
		t.Fatalf("executed %+v, want only r3 (the request that ends sessions)", calls)
	}
}

func TestHandleSQSConcurrencyIsBounded(t *testing.T) {
	env := newTestEnv(t, nil, func(c *Config) { c.Concurrency = 3 })
	var (
		inFlight, peak int
		mu             = make(chan struct{}, 1)
		release        = make(chan struct{})
		entered        = make(chan struct{}, 10)
	)
	env.exec.onCall = func(revocation.Request) {
		mu <- struct{}{}
		inFlight++
		peak = max(peak, inFlight)
		<-mu
		entered <- struct{}{}
		<-release
		mu <- struct{}{}
		inFlight--
		<-mu
	}
	var ev events.SQSEvent
	for i := range 10 {
		ev.Records = append(ev.Records, sqsMessage(fmt.Sprint("m", i), fmt.Sprintf(`{"appId":"0oa%d"}`, i)))
	}
	done := make(chan events.SQSEventResponse)
	go func() {
		resp, _ := env.h.HandleSQS(context.Background(), ev)
		done <- resp
	}()
	for range 3 {
		<-entered // three workers are busy at once
	}
	close(release)
	resp := <-done
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures: %v", resp.BatchItemFailures)
	}
	if peak != 3 {
		t.Fatalf("peak concurrency %d, want 3", peak)
	}
}

func TestSQSResponseShape(t *testing.T) {
	env := newTestEnv(t, nil, nil)
	payload, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{
		sqsMessage("ok", `{"appId":"0oaA"}`), sqsMessage("bad", `{`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := env.h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"batchItemFailures":[{"itemIdentifier":"bad"}]}` {
		t.Fatalf("response = %s", out)
	}
}

func TestDeferredAttributes(t *testing.T) {
	str := func(v string) events.SQSMessageAttribute {
		return events.SQSMessageAttribute{DataType: "String", StringValue: aws.String(v)}
	}
	full := map[string]events.SQSMessageAttribute{AttrDeferrals: str("3"), "blob": {DataType: "Binary", BinaryValue: []byte{1}}}
	for i := range 10 {
		full[fmt.Sprintf("a%d", i)] = str(strconv.Itoa(i))
	}
	tests := []struct {
		name        string
		attrs       map[string]events.SQSMessageAttribute
		want        map[string]string
		wantDropped []string
	}{
		{"none", nil, map[string]string{AttrDeferrals: "1"}, nil},
		{"strings kept, count replaced", map[string]events.SQSMessageAttribute{"source": str("hr"), AttrDeferrals: str("0")},
			map[string]string{AttrDeferrals: "1", "source": "hr"}, nil},
		// SQS allows 10: the count and the first 9 by name; a Binary one
		// cannot be carried as a String.
		{"more than SQS allows", full, map[string]string{AttrDeferrals: "1", "a0": "0", "a1": "1", "a2": "2", "a3": "3", "a4": "4",
			"a5": "5", "a6": "6", "a7": "7", "a8": "8"}, []string{"a9", "blob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dropped := deferredAttributes(events.SQSMessage{MessageAttributes: tt.attrs}, 1)
			if !maps.Equal(got, tt.want) || !slices.Equal(dropped, tt.wantDropped) {
				t.Errorf("got %v, dropped %v; want %v, %v", got, dropped, tt.want, tt.wantDropped)
			}
			if len(got) > queue.MaxAttributes {
				t.Errorf("%d attributes, SQS allows %d", len(got), queue.MaxAttributes)
			}
		})
	}
}
