package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe/dedupetest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

var motoSrv *moto.Server

func TestMain(m *testing.M) { moto.Main(m, &motoSrv) }

var seq atomic.Int64

// clock is a settable time source for the dedupe table's leases: the wall
// clock moved by an offset, not a frozen fakeclock.Clock, because the
// handler and the fake org in these tests read the real time and the
// table's claims and saves must keep in step with them.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

// env is one test's world: a fake Okta org with a System Log, a queue and
// a dedupe table on the shared moto_server.
type env struct {
	org      *oktafake.Server
	okta     *okta.Client
	store    *dedupe.Store
	clock    *clock
	sqs      *sqs.Client
	queueURL string
	pub      *switchPublisher
	logs     *logtest.Buffer
	metrics  *logtest.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	n := seq.Add(1)
	e := &env{org: oktafake.NewTest(t), clock: &clock{}, sqs: motoSrv.SQS(), logs: &logtest.Buffer{}, metrics: &logtest.Buffer{}}
	q, err := e.sqs.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("revocations-%d", n))})
	if err != nil {
		t.Fatal(err)
	}
	e.queueURL = aws.ToString(q.QueueUrl)
	e.pub = &switchPublisher{next: queue.NewPublisher(e.sqs, e.queueURL)}
	table := fmt.Sprintf("dedupe-%d", n)
	e.store = dedupe.New(dedupetest.CreateTable(t, motoSrv.AWSConfig(), table), table, dedupe.WithClock(e.clock.Now), dedupe.WithLease(time.Minute))
	e.okta, err = okta.New(okta.Config{
		OrgURL:      e.org.URL,
		Credentials: okta.StaticCredentials(okta.Credentials{APIToken: oktafake.DefaultAPIToken}),
		Logger:      slog.New(slog.DiscardHandler),
		Scopes:      []string{"okta.logs.read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs)
		}
	})
	return e
}

func (e *env) handler(t *testing.T, mutate ...func(*Config)) *Handler {
	t.Helper()
	cfg := Config{
		Logs: e.okta, Store: e.store, Publisher: e.pub,
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: e.metrics,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// scheduled is what an EventBridge schedule rule sends.
func scheduled() events.EventBridgeEvent {
	return events.EventBridgeEvent{Version: "0", ID: "sched-1", DetailType: ScheduledEventDetailType, Source: "aws.events",
		AccountID: "123456789012", Region: "us-east-1", Detail: json.RawMessage(`{}`)}
}

// streamed is what Okta's log stream puts on the partner event bus.
func streamed(logEvent json.RawMessage) events.EventBridgeEvent {
	return events.EventBridgeEvent{Version: "0", ID: "stream-1", DetailType: "SystemLog", Source: PartnerSourcePrefix + "acme/okta-logs",
		AccountID: "123456789012", Region: "us-east-1", Detail: logEvent}
}

// add appends a LogEvent to the org's System Log and returns its uuid.
func (e *env) add(ev json.RawMessage) string {
	e.org.AddLogEvent(ev)
	return uuidOf(ev)
}

func uuidOf(ev json.RawMessage) string {
	var v struct{ UUID string }
	if err := json.Unmarshal(ev, &v); err != nil {
		panic(err)
	}
	return v.UUID
}

var admin = oktafake.LogTarget{ID: "00uadm1nXyZ12345h1d7", Type: "User", AlternateID: "it.admin@acme.com"}

func userEvent(eventType, userID string) json.RawMessage {
	return userEventAt(time.Now(), eventType, userID)
}

// userEventAt is userEvent published at; with a fake org on another clock,
// pass that clock's time, as Okta publishes events when it stores them.
func userEventAt(at time.Time, eventType, userID string) json.RawMessage {
	return oktafake.NewLogEventAt(at, eventType, admin, oktafake.LogTarget{ID: userID, Type: "User"})
}

// queued drains the queue and returns its requests sorted by user.
func (e *env) queued(t *testing.T) []revocation.Request {
	t.Helper()
	ctx := context.Background()
	var out []revocation.Request
	for {
		resp, err := e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queueURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Messages) == 0 {
			break
		}
		for _, m := range resp.Messages {
			r, err := revocation.Parse([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatalf("queued %s: %v", aws.ToString(m.Body), err)
			}
			out = append(out, r)
			if _, err := e.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(e.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID+out[i].AppID < out[j].UserID+out[j].AppID })
	return out
}

func reasonOf(t *testing.T, r revocation.Request) revocation.Reason {
	t.Helper()
	reason, err := r.DecodeReason()
	if err != nil {
		t.Fatal(err)
	}
	return reason
}

// lastMetrics returns the last EMF line.
func (e *env) lastMetrics(t *testing.T) map[string]any {
	t.Helper()
	recs := e.metrics.Records(t)
	if len(recs) == 0 {
		t.Fatal("no metrics written")
	}
	return recs[len(recs)-1]
}

func (e *env) wantMetrics(t *testing.T, want map[string]float64) {
	t.Helper()
	doc := e.lastMetrics(t)
	if doc["Function"] != "reconcile" {
		t.Errorf("dimension Function = %v", doc["Function"])
	}
	for _, name := range counters {
		if got := doc[name]; got != want[name] {
			t.Errorf("%s = %v, want %v", name, got, want[name])
		}
	}
}

// switchPublisher forwards to the real queue unless told to fail.
type switchPublisher struct {
	next dedupe.Publisher
	fail atomic.Bool
}

func (p *switchPublisher) Publish(ctx context.Context, msgs []queue.Message) error {
	if p.fail.Load() {
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		return &queue.PublishError{Failed: ids, Total: len(msgs), Err: io.ErrUnexpectedEOF}
	}
	return p.next.Publish(ctx, msgs)
}

// failingLogs is a LogReader whose reads always fail.
type failingLogs struct{ err error }

func (f failingLogs) LogsURL(q okta.LogQuery) (string, error) {
	return "https://acme.okta.com/api/v1/logs?since=" + q.Since.UTC().Format(time.RFC3339), nil
}

func (f failingLogs) NextLogs(context.Context, string) (okta.LogPage, error) {
	return okta.LogPage{}, f.err
}
