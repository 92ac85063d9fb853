package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/handlers/oktahook"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/fakeclock"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
)

const (
	jane   = "00ub0oNGTSWTBKOLGLNR"
	john   = "00ub0oNGTSWTBKOLJOHN"
	portal = "0oabskvc6442nkvQO0h7"
)

// TestMissedDeliveryIsRevokedByTheNextRun: Okta never delivered the event to
// the hook; the next poll finds it in the System Log and queues it, and
// the revoker consuming the queue revokes the user's tokens.
func TestMissedDeliveryIsRevokedByTheNextRun(t *testing.T) {
	e := newEnv(t)
	e.org.AddApp(portal, "0oaportalclient00001", "Acme Portal")
	e.org.AddUser(jane)
	e.org.AddUser(john)
	janeToken := e.org.AddToken(jane, "0oaportalclient00001", "offline_access")
	johnToken := e.org.AddToken(john, "0oaportalclient00001", "offline_access")
	missed := e.add(userEvent("user.lifecycle.suspend", jane))
	e.add(userEvent("user.session.start", john)) // not a revocation event

	if err := e.handler(t).Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	got := e.queued(t)
	if len(got) != 1 || got[0].UserID != jane || got[0].Scope() != revocation.ScopeUser {
		t.Fatalf("queued %+v, want jane's tokens", got)
	}
	reason := reasonOf(t, got[0])
	if reason.Source != SourceSystemLog || reason.EventUUID != missed || reason.EventType != "user.lifecycle.suspend" || reason.EventID != "" {
		t.Fatalf("reason %+v", reason)
	}
	e.wantMetrics(t, map[string]float64{MetricPages: 1, MetricEvents: 1, MetricEventsQueued: 1, MetricRevocationsQueued: 1})

	// The consumer (revoke-tokens) executes the queued request.
	admin, err := okta.New(okta.Config{OrgURL: e.org.URL, Credentials: okta.StaticCredentials(okta.Credentials{APIToken: oktafake.DefaultAPIToken}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := revocation.NewExecutor(revocation.ExecutorConfig{Okta: admin, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Execute(context.Background(), got[0]); err != nil {
		t.Fatal(err)
	}
	if tok, _ := e.org.Token(janeToken); tok.Status != "REVOKED" {
		t.Errorf("jane's token is %s, want REVOKED", tok.Status)
	}
	if tok, _ := e.org.Token(johnToken); tok.Status != "ACTIVE" {
		t.Errorf("john's token is %s, want ACTIVE", tok.Status)
	}
}

// staticSecret is the hook secret.
type staticSecret string

func (s staticSecret) Current(context.Context) (string, error)           { return string(s), nil }
func (s staticSecret) Previous(context.Context) (string, bool, error)    { return "", false, nil }
func (s staticSecret) Invalidate()                                       {}
func (s staticSecret) Expire()                                           {}
func (s staticSecret) CurrentCreated(context.Context) (time.Time, error) { return time.Time{}, nil }
func hookDelivery(eventID string, evs ...json.RawMessage) string {
	raws := make([]string, len(evs))
	for i, ev := range evs {
		raws[i] = string(ev)
	}
	return fmt.Sprintf(`{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":"https://acme.okta.com/api/v1/eventHooks/who1","eventId":%q,"eventTime":"2026-03-02T10:15:04.512Z","contentType":"application/json","data":{"events":[%s]}}`,
		eventID, strings.Join(raws, ","))
}

// TestDeliveryTheHookReceivedIsNotQueuedTwice: the hook queued the event
// and recorded it; the poll reads it from the System Log and skips it.
func TestDeliveryTheHookReceivedIsNotQueuedTwice(t *testing.T) {
	e := newEnv(t)
	delivered := userEvent("user.lifecycle.deactivate", jane)
	missed := userEvent("user.lifecycle.suspend", john)
	e.add(delivered)
	e.add(missed)

	hookHandler, err := oktahook.New(oktahook.Config{}, staticSecret("hook-secret"), queue.NewPublisher(e.sqs, e.queueURL),
		slog.New(slog.DiscardHandler), oktahook.WithDedupe(e.store))
	if err != nil {
		t.Fatal(err)
	}
	req := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"authorization": "hook-secret"}, Body: hookDelivery("d1", delivered)}
	req.RequestContext.HTTP.Method = http.MethodPost
	resp, err := hookHandler.Handle(context.Background(), req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("hook: %d %v", resp.StatusCode, err)
	}

	if err := e.handler(t).Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	got := e.queued(t)
	if len(got) != 2 || got[0].UserID != jane || got[1].UserID != john {
		t.Fatalf("queued %+v, want jane (by the hook) and john (by the poll), once each", got)
	}
	if src := reasonOf(t, got[0]).Source; src != revocation.SourceEventHook {
		t.Errorf("jane queued by %s", src)
	}
	if src := reasonOf(t, got[1]).Source; src != SourceSystemLog {
		t.Errorf("john queued by %s", src)
	}
	e.wantMetrics(t, map[string]float64{MetricPages: 1, MetricEvents: 2, MetricEventsQueued: 1, MetricRevocationsQueued: 1, MetricEventsAlreadyQueued: 1})

	// Okta redelivers to the hook after the poll: still not queued again.
	resp, err = hookHandler.Handle(context.Background(), req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("hook redelivery: %d %v", resp.StatusCode, err)
	}
	if got := e.queued(t); len(got) != 0 {
		t.Fatalf("redelivery queued %+v", got)
	}
}

// TestConcurrentRunsNeverDoubleQueue runs several polls at once (a slow
// run overlapping the next schedule, Lambda retrying one) over many pages.
func TestConcurrentRunsNeverDoubleQueue(t *testing.T) {
	e := newEnv(t)
	var users []string
	for i := range 24 {
		u := fmt.Sprintf("00uconcurrent%07d", i)
		users = append(users, u)
		e.add(userEvent("user.lifecycle.suspend", u))
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := e.handler(t, func(c *Config) { c.PageSize = 5; c.MaxPages = 50 })
			if err := h.Handle(context.Background(), scheduled()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Runs that stopped at events another run held finish on later runs.
	for range 3 {
		if err := e.handler(t, func(c *Config) { c.PageSize = 5; c.MaxPages = 50 }).Handle(context.Background(), scheduled()); err != nil {
			t.Fatal(err)
		}
	}
	got := e.queued(t)
	var gotUsers []string
	for _, r := range got {
		gotUsers = append(gotUsers, r.UserID)
	}
	if !slices.Equal(gotUsers, users) {
		t.Fatalf("queued %d requests %v, want each of the %d users once", len(gotUsers), gotUsers, len(users))
	}
}

// TestCursorIsPersistedAndResumed: a new execution environment resumes
// from the stored next link, not from the look-back.
func TestCursorIsPersistedAndResumed(t *testing.T) {
	e := newEnv(t)
	first := e.add(userEvent("user.lifecycle.suspend", jane))
	if err := e.handler(t).Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	cur, err := e.store.Cursor(context.Background(), CursorName)
	// Version 1 was the first page's URL, stored before reading it.
	if err != nil || cur.Version != 2 || !strings.HasPrefix(cur.Next, e.org.URL+"/api/v1/logs?") {
		t.Fatalf("stored cursor %+v %v", cur, err)
	}
	u, _ := url.Parse(cur.Next)
	if u.Query().Get("after") == "" || !strings.Contains(u.Query().Get("filter"), `eventType eq "event_hook.delivery"`) {
		t.Fatalf("cursor %s lacks after or the filter", cur.Next)
	}
	if got := e.queued(t); len(got) != 1 || reasonOf(t, got[0]).EventUUID != first {
		t.Fatalf("first run queued %+v", got)
	}

	e.org.ResetRequests()
	second := e.add(userEvent("user.account.lock", john))
	if err := e.handler(t).Handle(context.Background(), scheduled()); err != nil { // a fresh handler: nothing in memory
		t.Fatal(err)
	}
	reqs := e.org.Requests()
	if len(reqs) == 0 || reqs[0].Path+"?"+reqs[0].Query != strings.TrimPrefix(cur.Next, e.org.URL) {
		t.Fatalf("second run's first request %+v, want the stored cursor %s", reqs, cur.Next)
	}
	got := e.queued(t)
	if len(got) != 1 || reasonOf(t, got[0]).EventUUID != second {
		t.Fatalf("second run queued %+v, want only the new event", got)
	}
	if now, _ := e.store.Cursor(context.Background(), CursorName); now.Version != 3 || now.Next == cur.Next {
		t.Fatalf("cursor after the second run %+v", now)
	}
}

// TestHookDeliveryFailureIsReported: an event_hook.delivery event is logged
// at ERROR and counted, once, whether polled or streamed.
func TestHookDeliveryFailureIsReported(t *testing.T) {
	e := newEnv(t)
	var failure map[string]any
	json.Unmarshal(oktafake.NewLogEvent(HookDeliveryEventType, oktafake.LogTarget{ID: "0oa1system", Type: "PublicClientApp"},
		oktafake.LogTarget{ID: "who8ab12cdEFgh34i1d7", Type: "EventHook", DisplayName: "token-revoker"}), &failure)
	failure["outcome"] = map[string]any{"result": "FAILURE", "reason": "Read timed out"}
	failure["displayMessage"] = "Event hook delivery"
	raw, _ := json.Marshal(failure)
	e.add(raw)

	h := e.handler(t)
	if err := h.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	e.wantMetrics(t, map[string]float64{MetricPages: 1, MetricEvents: 1, MetricHookDeliveryFailures: 1})
	var line map[string]any
	for _, rec := range e.logs.Records(t) {
		if rec["level"] == "ERROR" && strings.Contains(fmt.Sprint(rec["msg"]), "failed event hook delivery") {
			line = rec
		}
	}
	if line == nil {
		t.Fatalf("no ERROR line for the failed delivery:\n%s", e.logs)
	}
	f, _ := line["hookDeliveryFailure"].(map[string]any)
	hooks, _ := f["hooks"].([]any)
	if len(hooks) != 1 || hooks[0].(map[string]any)["id"] != "who8ab12cdEFgh34i1d7" || f["outcome"].(map[string]any)["reason"] != "Read timed out" {
		t.Fatalf("ERROR line %v lacks the hook or the reason", line)
	}
	// The same event arriving on the log stream is not reported again.
	if err := h.Handle(context.Background(), streamed(raw)); err != nil {
		t.Fatal(err)
	}
	e.wantMetrics(t, map[string]float64{MetricEvents: 1})
	if got := e.queued(t); len(got) != 0 {
		t.Fatalf("a hook failure queued %+v", got)
	}
}

// TestBudget: a poll reads at most MaxPages pages; the next run continues.
func TestBudget(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{jane, john, "00ub0oNGTSWTBKOLTHRD"} {
		e.add(userEvent("user.lifecycle.suspend", u))
	}
	h := e.handler(t, func(c *Config) { c.PageSize = 1; c.MaxPages = 2 })
	if err := h.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	e.wantMetrics(t, map[string]float64{MetricPages: 2, MetricEvents: 2, MetricEventsQueued: 2, MetricRevocationsQueued: 2, MetricBudgetExhausted: 1})
	if got := e.queued(t); len(got) != 2 {
		t.Fatalf("first run queued %d", len(got))
	}
	if err := h.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	// Page 3 has the last event; page 4 is empty: caught up.
	e.wantMetrics(t, map[string]float64{MetricPages: 2, MetricEvents: 1, MetricEventsQueued: 1, MetricRevocationsQueued: 1})
	if got := e.queued(t); len(got) != 1 || got[0].UserID != "00ub0oNGTSWTBKOLTHRD" {
		t.Fatalf("second run queued %+v", got)
	}
	for _, r := range e.org.Requests() {
		if q, _ := url.ParseQuery(r.Query); q.Get("limit") != "1" || q.Get("sortOrder") != "ASCENDING" || q.Has("until") {
			t.Errorf("request %s?%s: want limit 1, ascending, polling", r.Path, r.Query)
		}
	}
}

// TestQueueFailureKeepsTheCursor: nothing is skipped when the queue fails;
// on a first run the first page is kept so the look-back does not move on.
func TestQueueFailureKeepsTheCursor(t *testing.T) {
	e := newEnv(t)
	ev := e.add(userEvent("user.lifecycle.suspend", jane))
	h := e.handler(t)
	e.pub.fail.Store(true)
	err := h.Handle(context.Background(), scheduled())
	var pe *queue.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("err %v, want the queue's error", err)
	}
	e.wantMetrics(t, map[string]float64{MetricPages: 1, MetricEvents: 1, MetricFailures: 1})
	cur, err := e.store.Cursor(context.Background(), CursorName)
	if err != nil || cur.Version != 1 || !strings.Contains(cur.Next, "since=") || strings.Contains(cur.Next, "after=") {
		t.Fatalf("cursor %+v %v, want the first page (since=..., no after)", cur, err)
	}
	e.pub.fail.Store(false)
	if err := h.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	if got := e.queued(t); len(got) != 1 || reasonOf(t, got[0]).EventUUID != ev {
		t.Fatalf("retry queued %+v", got)
	}
}

// TestEventsClaimedElsewhereStopThePoll: a producer that claimed an event
// and died blocks it until the lease ends; the poll does not pass it and
// queues it once the lease is over.
func TestEventsClaimedElsewhereStopThePoll(t *testing.T) {
	e := newEnv(t)
	held := e.add(userEvent("user.lifecycle.suspend", jane))
	if r := e.store.Claim(context.Background(), held, revocation.SourceEventHook); r.Status != dedupe.Claimed {
		t.Fatal(r)
	}
	e.add(userEvent("user.lifecycle.suspend", john))
	h := e.handler(t)
	if err := h.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	got := e.queued(t)
	if len(got) != 1 || got[0].UserID != john {
		t.Fatalf("queued %+v, want john only", got)
	}
	e.wantMetrics(t, map[string]float64{MetricPages: 1, MetricEvents: 2, MetricEventsQueued: 1, MetricRevocationsQueued: 1, MetricEventsInProgress: 1})
	e.clock.Advance(2 * time.Minute) // past the lease
	if err := h.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	got = e.queued(t)
	if len(got) != 1 || got[0].UserID != jane {
		t.Fatalf("after the lease queued %+v, want jane", got)
	}
	e.wantMetrics(t, map[string]float64{MetricPages: 1, MetricEvents: 2, MetricEventsQueued: 1, MetricRevocationsQueued: 1, MetricEventsAlreadyQueued: 1})
}

// TestLogStream: an event from Okta's EventBridge log stream goes through
// the same mapping and dedupe; the poll then skips it.
func TestLogStream(t *testing.T) {
	e := newEnv(t)
	ev := oktafake.NewLogEvent("application.user_membership.remove", admin,
		oktafake.LogTarget{ID: portal, Type: "AppInstance"}, oktafake.LogTarget{ID: jane, Type: "User"})
	e.add(ev)
	h := e.handler(t)
	if err := h.Handle(context.Background(), streamed(ev)); err != nil {
		t.Fatal(err)
	}
	got := e.queued(t)
	if len(got) != 1 || got[0].UserID != jane || got[0].AppID != portal || reasonOf(t, got[0]).Source != SourceLogStream {
		t.Fatalf("streamed event queued %+v", got)
	}
	if reqs := e.org.Requests(); len(reqs) != 0 {
		t.Fatalf("a streamed event called Okta: %+v", reqs)
	}
	e.wantMetrics(t, map[string]float64{MetricEvents: 1, MetricEventsQueued: 1, MetricRevocationsQueued: 1})
	if err := h.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	if got := e.queued(t); len(got) != 0 {
		t.Fatalf("the poll queued the streamed event again: %+v", got)
	}
	// Unreadable and unrelated stream events are dropped, not retried.
	for _, detail := range []string{`"not an object"`, `{"uuid":"x","eventType":"user.session.start","outcome":{"result":"SUCCESS"}}`} {
		if err := h.Handle(context.Background(), streamed(json.RawMessage(detail))); err != nil {
			t.Fatalf("detail %s: %v", detail, err)
		}
	}
	if got := e.queued(t); len(got) != 0 {
		t.Fatalf("queued %+v", got)
	}
}

func TestUnknownEventsAreIgnored(t *testing.T) {
	e := newEnv(t)
	e.add(userEvent("user.lifecycle.suspend", jane))
	ev := events.EventBridgeEvent{Source: "aws.s3", DetailType: "Object Created", Detail: json.RawMessage(`{}`)}
	if err := e.handler(t).Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := e.queued(t); len(got) != 0 || len(e.org.Requests()) != 0 {
		t.Fatalf("an unknown event did work: %+v", got)
	}
	if !strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("not logged at ERROR:\n%s", e.logs)
	}
}

func TestOktaFailureFailsTheRun(t *testing.T) {
	e := newEnv(t)
	boom := &okta.Error{Method: "GET", Path: "/api/v1/logs", StatusCode: 403, ErrorCode: "E0000006", ErrorSummary: "You do not have permission."}
	err := e.handler(t, func(c *Config) { c.Logs = failingLogs{boom} }).Handle(context.Background(), scheduled())
	if !errors.Is(err, okta.ErrForbidden) {
		t.Fatalf("err %v, want Okta's 403", err)
	}
	e.wantMetrics(t, map[string]float64{MetricFailures: 1})
	if !strings.Contains(e.logs.String(), `"configProblem":true`) {
		t.Errorf("a 403 is not flagged as a configuration problem:\n%s", e.logs)
	}
	// The first page is the cursor, so the retry starts from the same point.
	cur, _ := e.store.Cursor(context.Background(), CursorName)
	if cur.Version != 1 || !strings.Contains(cur.Next, "since=") {
		t.Fatalf("cursor %+v, want the first page", cur)
	}
	before := cur.Next
	if err := e.handler(t, func(c *Config) { c.Logs = failingLogs{boom} }).Handle(context.Background(), scheduled()); err == nil {
		t.Fatal("second failing run succeeded")
	}
	if cur, _ := e.store.Cursor(context.Background(), CursorName); cur.Next != before || cur.Version != 1 {
		t.Fatalf("a failing run moved the cursor: %+v", cur)
	}
}

// TestSampleEvents dispatches the sample events in events/.
func TestSampleEvents(t *testing.T) {
	for name, want := range map[string]string{
		"eventbridge-schedule.json":        "schedule",
		"eventbridge-okta-log-stream.json": "log-stream",
	} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
			if err != nil {
				t.Fatal(err)
			}
			var ev events.EventBridgeEvent
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t)
			if want == "schedule" {
				e.add(userEvent("user.lifecycle.suspend", jane)) // what the poll finds
			}
			if err := e.handler(t).Handle(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			if got := e.lastMetrics(t)["trigger"]; got != want {
				t.Fatalf("trigger %v, want %s", got, want)
			}
			if got := e.queued(t); len(got) != 1 {
				t.Fatalf("queued %+v, want the sample's one revocation", got)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	if _, err := New(Config{Store: e.store, Publisher: e.pub}); err == nil {
		t.Error("no Logs accepted")
	}
	if _, err := New(Config{Logs: e.okta, Store: e.store, Publisher: e.pub, EventTypes: []string{"user.lifecycle.suspendd"}}); err == nil {
		t.Error("unknown event type accepted")
	}
}

// TestShortDeadline: with less time left than a slow System Log query
// needs, a poll reads one page and leaves the rest to the next run.
func TestShortDeadline(t *testing.T) {
	e := newEnv(t)
	e.add(userEvent("user.lifecycle.suspend", jane))
	e.add(userEvent("user.lifecycle.suspend", john))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.handler(t, func(c *Config) { c.PageSize = 1 }).Handle(ctx, scheduled()); err != nil {
		t.Fatal(err)
	}
	e.wantMetrics(t, map[string]float64{MetricPages: 1, MetricEvents: 1, MetricEventsQueued: 1, MetricRevocationsQueued: 1, MetricBudgetExhausted: 1})
}

// TestEventTypesChangedRestartsThePoll: a stored next link keeps the filter
// it was made with; after REVOKE_ON_EVENTS changes, the poll restarts from
// a new first page reaching back to where it had got, and events already
// queued are not queued again.
func TestEventTypesChangedRestartsThePoll(t *testing.T) {
	e := newEnv(t)
	orgClock := fakeclock.New(time.Now().Add(-170 * time.Minute)) // inside the first run's look-back
	e.org = oktafake.NewTest(t, oktafake.WithClock(orgClock.Now))
	client, err := okta.New(okta.Config{OrgURL: e.org.URL, Credentials: okta.StaticCredentials(okta.Credentials{APIToken: oktafake.DefaultAPIToken}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.okta = client
	e.clock.Advance(-2 * time.Hour) // the table's clock: the first run saved 2 h ago

	e.add(userEventAt(orgClock.Now(), "user.lifecycle.suspend", jane))
	orgClock.Advance(time.Hour)
	first := e.handler(t, func(c *Config) {
		c.EventTypes = []string{"user.lifecycle.suspend"}
		c.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	})
	if err := first.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	if got := e.queued(t); len(got) != 1 || got[0].UserID != jane {
		t.Fatalf("first run queued %+v", got)
	}

	// An hour and a half later (more than the look-back): a universal logout
	// happened in between, while it was not enabled; now it is.
	orgClock.Advance(30 * time.Minute)
	logout := e.add(userEventAt(orgClock.Now(), "user.authentication.universal_logout", john))
	orgClock.Advance(time.Hour)
	e.clock.Advance(2 * time.Hour)
	second := e.handler(t, func(c *Config) {
		c.EventTypes = []string{"user.lifecycle.suspend", "user.authentication.universal_logout"}
		c.Lookback = time.Minute
	})
	if err := second.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	got := e.queued(t)
	if len(got) != 1 || got[0].UserID != john || reasonOf(t, got[0]).EventUUID != logout {
		t.Fatalf("after the change queued %+v, want john's logout only", got)
	}
	if !strings.Contains(e.logs.String(), "restarting the poll") {
		t.Errorf("the restart is not logged:\n%s", e.logs)
	}
	cur, _ := e.store.Cursor(context.Background(), CursorName)
	if u, _ := url.Parse(cur.Next); !strings.Contains(u.Query().Get("filter"), "user.authentication.universal_logout") {
		t.Fatalf("cursor %s lacks the new event type", cur.Next)
	}
	// Steady again: the next run follows the new cursor without restarting.
	e.logs = &logtest.Buffer{}
	if err := second.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.logs.String(), "restarting the poll") || len(e.queued(t)) != 0 {
		t.Fatalf("a steady run restarted or queued:\n%s", e.logs)
	}
}

// TestRestartWhileBehindReachesBackToWhereThePollWas: a poll running behind
// saves its cursor every run, so the last save is recent while its position
// is hours old. A configuration change then restarts it from where it had
// got (the cursor's Reached), not from the last save, or the events in
// between would never be read.
func TestRestartWhileBehindReachesBackToWhereThePollWas(t *testing.T) {
	e := newEnv(t)
	orgClock := fakeclock.New(time.Now().Add(-3 * time.Hour))
	e.org = oktafake.NewTest(t, oktafake.WithClock(orgClock.Now))
	client, err := okta.New(okta.Config{OrgURL: e.org.URL, Credentials: okta.StaticCredentials(okta.Credentials{APIToken: oktafake.DefaultAPIToken}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.okta = client

	// Three hours ago three suspensions, ten minutes apart.
	var uuids []string
	for _, user := range []string{jane, john, "00ub0oNGTSWTBKOLBOBB"} {
		uuids = append(uuids, e.add(userEventAt(orgClock.Now(), "user.lifecycle.suspend", user)))
		orgClock.Advance(10 * time.Minute)
	}
	// A poll with a page of one event and one page a run: behind.
	behind := e.handler(t, func(c *Config) {
		c.EventTypes = []string{"user.lifecycle.suspend"}
		c.Lookback = 4 * time.Hour
		c.PageSize, c.MaxPages = 1, 1
	})
	if err := behind.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	if got := e.queued(t); len(got) != 1 || reasonOf(t, got[0]).EventUUID != uuids[0] {
		t.Fatalf("the lagging run queued %+v, want the first suspension", got)
	}
	cur, err := e.store.Cursor(context.Background(), CursorName)
	if err != nil || cur.Reached.IsZero() || time.Since(cur.Reached) < 170*time.Minute {
		t.Fatalf("cursor %+v (%v): want Reached at the first suspension, about 3 h ago", cur, err)
	}

	// The operator changes the page size (or the event types): the poll
	// restarts, with a look-back far shorter than the lag.
	restarted := e.handler(t, func(c *Config) {
		c.EventTypes = []string{"user.lifecycle.suspend"}
		c.Lookback = time.Minute
		c.PageSize = 10
	})
	if err := restarted.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	got := e.queued(t)
	if len(got) != 2 || reasonOf(t, got[0]).EventUUID == uuids[0] || reasonOf(t, got[1]).EventUUID == uuids[0] {
		t.Fatalf("after the restart queued %+v, want the two suspensions the lagging poll had not reached", got)
	}
	if !strings.Contains(e.logs.String(), "restarting the poll") {
		t.Errorf("the restart is not logged:\n%s", e.logs)
	}
}

// TestOrgURLChangedRestartsThePoll: a cursor stored for another org origin
// (OKTA_ORG_URL moved to a custom domain) restarts the poll instead of
// failing every run on a next link the client refuses to follow.
func TestOrgURLChangedRestartsThePoll(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old, err := e.store.Cursor(ctx, CursorName)
	if err != nil {
		t.Fatal(err)
	}
	first := e.handler(t)
	stale, err := first.logs.LogsURL(okta.LogQuery{EventTypes: first.query, Since: time.Now().Add(-time.Hour), Limit: first.pageSize})
	if err != nil {
		t.Fatal(err)
	}
	stale = strings.Replace(stale, e.org.URL, "https://acme.okta.com", 1)
	if _, err := e.store.SaveCursor(ctx, old, stale+"&after=1", time.Now().Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	suspended := e.add(userEvent("user.lifecycle.suspend", jane))
	if err := first.Handle(ctx, scheduled()); err != nil {
		t.Fatalf("poll with a cursor of another org URL: %v", err)
	}
	if got := e.queued(t); len(got) != 1 || reasonOf(t, got[0]).EventUUID != suspended {
		t.Fatalf("queued %+v, want the suspension", got)
	}
	if cur, _ := e.store.Cursor(ctx, CursorName); !strings.HasPrefix(cur.Next, e.org.URL+"/") {
		t.Fatalf("cursor %s is not on the org's URL", cur.Next)
	}
}

// A caught-up poll whose filter matches nothing for weeks has still read
// everything up to each run: widening REVOKE_ON_EVENTS then restarts from
// where the last poll began, not from the last matching event weeks back,
// and does not queue the events before it.
func TestRestartAfterQuietWeeksStartsFromTheLastPoll(t *testing.T) {
	e := newEnv(t)
	orgClock := e.orgFromAMonthAgo(t)
	narrow := e.handler(t, func(c *Config) {
		c.EventTypes = []string{"security.breached_credential.detected"}
		c.Now = orgClock.Now
	})
	if err := narrow.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	// 29 days ago: john's sessions were cleared (not enabled then).
	orgClock.Advance(24 * time.Hour)
	old := e.add(userEventAt(orgClock.Now(), "user.session.clear", john))
	// Caught-up polls keep running, every page empty for the filter.
	for range 3 {
		orgClock.Advance(7 * 24 * time.Hour)
		if err := narrow.Handle(context.Background(), scheduled()); err != nil {
			t.Fatal(err)
		}
	}
	lastPoll := orgClock.Now()
	orgClock.Advance(time.Since(orgClock.Now()))
	cur, _ := e.store.Cursor(context.Background(), CursorName)
	if !cur.Reached.Equal(lastPoll) {
		t.Fatalf("after weeks of caught-up polls the cursor says it reached %v, want the last poll's start %v", cur.Reached, lastPoll)
	}

	// Operator widens REVOKE_ON_EVENTS; look-back is the default 1h.
	wide := e.handler(t, func(c *Config) {
		c.EventTypes = []string{"security.breached_credential.detected", "user.session.clear"}
		c.Now = orgClock.Now
	})
	if err := wide.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.queued(t) {
		if reasonOf(t, r).EventUUID == old {
			t.Fatalf("a caught-up poll restarted from %s back and queued a 29-day-old user.session.clear (README: restart from the look-back unless the poll was behind)", time.Since(cur.Reached).Round(time.Hour))
		}
	}
	// The last poll was 8 days ago, beyond the dedupe table's 7-day TTL:
	// the restart says events may be queued again.
	var warned bool
	for _, r := range e.logs.Records(t) {
		warned = warned || r["level"] == "ERROR" && r["dedupeTTL"] != nil
	}
	if !warned {
		t.Errorf("no ERROR about reaching back past the dedupe TTL:\n%s", e.logs)
	}
}

// An event queued a month ago (its dedupe record expired after DEDUPE_TTL)
// is not queued again when RECONCILE_PAGE_SIZE changes on a caught-up,
// quiet poll.
func TestRestartDoesNotRequeueEventsPastTheDedupeTTL(t *testing.T) {
	e := newEnv(t)
	orgClock := e.orgFromAMonthAgo(t)
	e.clock.Advance(-30 * 24 * time.Hour) // the table's clock, in step with the org's
	old := e.add(userEventAt(orgClock.Now(), "user.lifecycle.suspend", jane))
	orgClock.Advance(time.Minute)
	h := e.handler(t, func(c *Config) { c.EventTypes = []string{"user.lifecycle.suspend"}; c.Now = orgClock.Now })
	if err := h.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	if got := e.queued(t); len(got) != 1 {
		t.Fatalf("first run queued %+v", got)
	}
	for range 4 { // a month of caught-up polls, nothing new
		orgClock.Advance(7 * 24 * time.Hour)
		if err := h.Handle(context.Background(), scheduled()); err != nil {
			t.Fatal(err)
		}
	}
	orgClock.Advance(time.Since(orgClock.Now()))
	e.clock.Advance(30 * 24 * time.Hour)
	h2 := e.handler(t, func(c *Config) {
		c.EventTypes = []string{"user.lifecycle.suspend"}
		c.Now = orgClock.Now
		c.PageSize = 500
	})
	if err := h2.Handle(context.Background(), scheduled()); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.queued(t) {
		if reasonOf(t, r).EventUUID == old {
			t.Fatalf("page-size change re-queued a 30-day-old suspension already queued (dedupe TTL 7d)")
		}
	}
}

// orgFromAMonthAgo gives e a fake org whose clock starts 30 days ago, and
// returns the clock, so a test can play weeks of polls.
func (e *env) orgFromAMonthAgo(t *testing.T) *fakeclock.Clock {
	t.Helper()
	orgClock := fakeclock.New(time.Now().Add(-30 * 24 * time.Hour))
	e.org = oktafake.NewTest(t, oktafake.WithClock(orgClock.Now))
	client, err := okta.New(okta.Config{OrgURL: e.org.URL, Credentials: okta.StaticCredentials(okta.Credentials{APIToken: oktafake.DefaultAPIToken}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.okta = client
	return orgClock
}
