package revoketokens

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
)

// stubExecutor answers each request by its target with a canned result, to
// drive the handlers through every outcome. Behaviour against Okta itself
// is tested with the fake Okta in oktafake_test.go.
type stubExecutor struct {
	mu      sync.Mutex
	answers map[string]stubAnswer // by targetKey
	calls   []revocation.Request
	// onCall runs before answering (e.g. to advance a fake clock).
	onCall func(revocation.Request)
}

type stubAnswer struct {
	status revocation.Status
	err    error
	// op is the call the answer comes from; default: listing the clients
	// for a user-wide request, revoking the app's tokens otherwise.
	op revocation.Op
}

func (s *stubExecutor) Execute(ctx context.Context, req revocation.Request) (revocation.Result, error) {
	s.mu.Lock()
	s.calls = append(s.calls, req)
	a, ok := s.answers[targetKey(req)]
	onCall := s.onCall
	s.mu.Unlock()
	if onCall != nil {
		onCall(req)
	}
	if !ok {
		a = stubAnswer{status: revocation.StatusRevoked}
	}
	res := revocation.Result{Request: req, Status: a.status}
	op := a.op
	if op == "" {
		op = revocation.OpRevokeAppTokens
		if req.Scope() == revocation.ScopeUser {
			op = revocation.OpListUserClients
		}
	}
	act := revocation.Action{Op: op, Status: a.status, Duration: 3 * time.Millisecond}
	switch {
	case a.err != nil:
		act.Status, act.Err = revocation.StatusFailed, a.err
		res.Status = revocation.StatusFailed
	case a.status == revocation.StatusAlreadyGone:
		act.Err = notFound()
	}
	if a.status != revocation.StatusNothingToRevoke {
		res.Actions = []revocation.Action{act}
	}
	return res, a.err
}

func (s *stubExecutor) called() []revocation.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]revocation.Request(nil), s.calls...)
}

func notFound() error {
	return &okta.Error{Method: "DELETE", Path: "/api/v1/x", StatusCode: 404, ErrorCode: "E0000007", ErrorSummary: "Not found: Resource not found", RequestID: "okta-req-404"}
}

var (
	errServer       = &okta.Error{Method: "DELETE", Path: "/api/v1/x", StatusCode: 503, RequestID: "okta-req-503", Attempts: 5}
	errUnauthorized = &okta.Error{Method: "DELETE", Path: "/api/v1/x", StatusCode: 401, ErrorCode: "E0000011", RequestID: "okta-req-401"}
	errForbidden    = &okta.Error{Method: "DELETE", Path: "/api/v1/x", StatusCode: 403, ErrorCode: "E0000006", RequestID: "okta-req-403"}
)

// fakeSQS records ChangeMessageVisibility calls. Publishing is tested
// through stubPublisher here and against moto_server in the integration
// test.
type fakeSQS struct {
	mu         sync.Mutex
	visibility map[string]int32 // receipt handle -> seconds
}

func (f *fakeSQS) SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	return nil, errors.New("fakeSQS: SendMessageBatch not supported")
}

func (f *fakeSQS) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.visibility == nil {
		f.visibility = map[string]int32{}
	}
	f.visibility[aws.ToString(in.ReceiptHandle)] = in.VisibilityTimeout
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func (f *fakeSQS) visibilityOf(receiptHandle string) (int32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.visibility[receiptHandle]
	return v, ok
}

var _ queue.API = (*fakeSQS)(nil)

// stubPublisher records published messages and fails as told.
type stubPublisher struct {
	mu   sync.Mutex
	msgs []queue.Message
	err  error
}

func (p *stubPublisher) Publish(_ context.Context, msgs []queue.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

// sent returns the messages published so far.
func (p *stubPublisher) sent() []queue.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs)
}

// bodyOf returns the body of the event's message id.
func bodyOf(ev events.SQSEvent, id string) string {
	for _, m := range ev.Records {
		if m.MessageId == id {
			return m.Body
		}
	}
	return ""
}

// testEnv bundles a handler with its doubles and captured output.
type testEnv struct {
	h       *Handler
	exec    *stubExecutor
	sqs     *fakeSQS
	pub     *stubPublisher
	logs    *logtest.Buffer
	metrics *logtest.Buffer
}

// metricsDoc returns the single EMF document written.
func metricsDoc(t *testing.T, b *logtest.Buffer) map[string]any {
	t.Helper()
	recs := b.Records(t)
	if len(recs) != 1 {
		t.Fatalf("want one EMF line per invocation, got %d", len(recs))
	}
	return recs[0]
}

func newTestEnv(t *testing.T, answers map[string]stubAnswer, mod func(*Config)) *testEnv {
	t.Helper()
	env := &testEnv{
		exec:    &stubExecutor{answers: answers},
		sqs:     &fakeSQS{},
		pub:     &stubPublisher{},
		logs:    &logtest.Buffer{},
		metrics: &logtest.Buffer{},
	}
	cfg := Config{
		Executor:  env.exec,
		SQS:       env.sqs,
		QueueURL:  "http://127.0.0.1:1/123456789012/revocations",
		Publisher: env.pub,
		Logger:    slog.New(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:   env.metrics,
		Jitter:    func(time.Duration) time.Duration { return 2 * time.Second },
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.h = h
	return env
}

func key(r revocation.Request) string { return targetKey(r) }
