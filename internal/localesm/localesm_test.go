package localesm

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

var motoSrv *moto.Server

func TestMain(m *testing.M) { moto.Main(m, &motoSrv) }

// fakeFunction answers each SQS event with answer(event).
type fakeFunction struct {
	answer func(events.SQSEvent) lambdaruntime.Result

	mu          sync.Mutex
	events      []events.SQSEvent
	inFlight    atomic.Int32
	maxInFlight atomic.Int32
	delay       time.Duration
}

func (f *fakeFunction) Invoke(ctx context.Context, payload []byte) (lambdaruntime.Result, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return lambdaruntime.Result{}, err
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	return f.answer(ev), nil
}

func (f *fakeFunction) records() []events.SQSMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []events.SQSMessage
	for _, ev := range f.events {
		all = append(all, ev.Records...)
	}
	return all
}

func succeed(events.SQSEvent) lambdaruntime.Result {
	return lambdaruntime.Result{Payload: []byte(`{"batchItemFailures":null}`)}
}

// failBodies reports the records whose body starts with "fail" as failed.
func failBodies(ev events.SQSEvent) lambdaruntime.Result {
	var resp events.SQSEventResponse
	for _, r := range ev.Records {
		if strings.HasPrefix(r.Body, "fail") {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	b, _ := json.Marshal(resp)
	return lambdaruntime.Result{Payload: b}
}

var queueSeq atomic.Int32

// newQueue creates a fresh queue (and DLQ) on the shared moto server.
func newQueue(t *testing.T, visibility time.Duration, maxReceive int) (url, arn, dlqURL string) {
	t.Helper()
	name := fmt.Sprintf("esm-test-%d", queueSeq.Add(1))
	url, dlqURL = motoSrv.CreateQueueWithDLQ(t, name, visibility, maxReceive)
	out, err := motoSrv.SQS().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	return url, out.Attributes[string(types.QueueAttributeNameQueueArn)], dlqURL
}

func send(t *testing.T, url string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		_, err := motoSrv.SQS().SendMessage(context.Background(), &sqs.SendMessageInput{
			QueueUrl:    aws.String(url),
			MessageBody: aws.String(b),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"source": {DataType: aws.String("String"), StringValue: aws.String("test")},
			},
		})
		if err != nil {
			t.Fatalf("send %q: %v", b, err)
		}
	}
}

// queueDepth is visible + in-flight messages.
func queueDepth(t *testing.T, url string) int {
	t.Helper()
	out, err := motoSrv.SQS().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	b, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return a + b
}

// runPoller runs a poller until stop returns true for the reports so far
// (or 20 s pass), then stops it and returns the reports.
func runPoller(t *testing.T, cfg Config, stop func([]BatchReport) bool) []BatchReport {
	t.Helper()
	var (
		mu      sync.Mutex
		reports []BatchReport
		changed = make(chan struct{}, 100)
	)
	cfg.SQS = motoSrv.SQS()
	cfg.Region = moto.Region
	cfg.WaitTime = time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.OnBatch = func(r BatchReport) {
		mu.Lock()
		reports = append(reports, r)
		mu.Unlock()
		changed <- struct{}{}
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	timeout := time.After(20 * time.Second)
	for {
		mu.Lock()
		finished := stop(reports)
		mu.Unlock()
		if finished {
			break
		}
		select {
		case <-changed:
		case <-timeout:
			cancel()
			<-done
			t.Fatalf("poller did not finish; reports so far: %+v", reports)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return reports
}

func messagesHandled(n int) func([]BatchReport) bool {
	return func(rs []BatchReport) bool {
		total := 0
		for _, r := range rs {
			total += len(r.MessageIDs)
		}
		return total >= n
	}
}

func TestBatchOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		answer      func(events.SQSEvent) lambdaruntime.Result
		partial     bool
		bodies      []string
		wantDeleted int
		wantErr     bool
	}{
		{"all succeed", succeed, true, []string{"a", "b", "c"}, 3, false},
		{"partial failure deletes only the others", failBodies, true, []string{"a", "fail-1", "b", "fail-2"}, 2, false},
		{"function error deletes nothing", func(events.SQSEvent) lambdaruntime.Result {
			return lambdaruntime.Result{Error: &lambdaruntime.FunctionError{Type: "errorString", Message: "boom"}}
		}, true, []string{"a", "b"}, 0, false},
		{"unknown itemIdentifier deletes nothing", func(events.SQSEvent) lambdaruntime.Result {
			return lambdaruntime.Result{Payload: []byte(`{"batchItemFailures":[{"itemIdentifier":"not-in-batch"}]}`)}
		}, true, []string{"a", "b"}, 0, true},
		{"invalid JSON deletes nothing", func(events.SQSEvent) lambdaruntime.Result {
			return lambdaruntime.Result{Payload: []byte(`"ok"`)}
		}, true, []string{"a"}, 0, true},
		{"without ReportBatchItemFailures a response is ignored", failBodies, false, []string{"a", "fail-1"}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each case has its own queue
			url, arn, _ := newQueue(t, 30*time.Second, 5)
			send(t, url, tt.bodies...)
			fn := &fakeFunction{answer: tt.answer}
			reports := runPoller(t, Config{
				QueueURL: url, QueueARN: arn, Function: fn, FunctionName: "F",
				BatchSize: 10, BatchingWindow: 300 * time.Millisecond, ReportBatchItemFailures: tt.partial,
			}, messagesHandled(len(tt.bodies)))
			deleted, retried := 0, 0
			for _, r := range reports {
				deleted += len(r.Deleted)
				retried += len(r.Retried)
				if (r.Err != nil) != tt.wantErr {
					t.Errorf("report error = %v, want error %v", r.Err, tt.wantErr)
				}
			}
			if deleted != tt.wantDeleted || retried != len(tt.bodies)-tt.wantDeleted {
				t.Errorf("deleted %d retried %d, want %d and %d", deleted, retried, tt.wantDeleted, len(tt.bodies)-tt.wantDeleted)
			}
			if got := queueDepth(t, url); got != len(tt.bodies)-tt.wantDeleted {
				t.Errorf("queue holds %d messages, want %d", got, len(tt.bodies)-tt.wantDeleted)
			}
		})
	}
}

func TestEventShape(t *testing.T) {
	url, arn, _ := newQueue(t, 30*time.Second, 5)
	send(t, url, `{"userId":"00u1"}`)
	fn := &fakeFunction{answer: succeed}
	reports := runPoller(t, Config{QueueURL: url, QueueARN: arn, Function: fn, ReportBatchItemFailures: true}, messagesHandled(1))
	if len(reports) != 1 || !reflect.DeepEqual(reports[0].Bodies, []string{`{"userId":"00u1"}`}) {
		t.Errorf("reports = %+v", reports)
	}
	recs := fn.records()
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	r := recs[0]
	if r.MessageId == "" || r.ReceiptHandle == "" || r.Body != `{"userId":"00u1"}` {
		t.Errorf("record = %+v", r)
	}
	if sum := md5.Sum([]byte(r.Body)); r.Md5OfBody != hex.EncodeToString(sum[:]) {
		t.Errorf("md5OfBody = %q", r.Md5OfBody)
	}
	if r.EventSource != "aws:sqs" || r.EventSourceARN != arn || r.AWSRegion != moto.Region {
		t.Errorf("source = %q %q %q", r.EventSource, r.EventSourceARN, r.AWSRegion)
	}
	if r.Attributes["ApproximateReceiveCount"] != "1" || r.Attributes["SentTimestamp"] == "" || r.Attributes["ApproximateFirstReceiveTimestamp"] == "" {
		t.Errorf("attributes = %v", r.Attributes)
	}
	want := events.SQSMessageAttribute{DataType: "String", StringValue: aws.String("test"), StringListValues: []string{}, BinaryListValues: [][]byte{}}
	if got := r.MessageAttributes["source"]; !reflect.DeepEqual(got, want) {
		t.Errorf("messageAttributes[source] = %+v, want %+v", got, want)
	}
	raw, _ := json.Marshal(BuildEvent([]types.Message{{MessageId: aws.String("m"), MessageAttributes: map[string]types.MessageAttributeValue{"a": {DataType: aws.String("Number"), StringValue: aws.String("1")}}}}, arn, "us-east-1"))
	if !strings.Contains(string(raw), `"messageAttributes":{"a":{"stringValue":"1","stringListValues":[],"binaryListValues":[],"dataType":"Number"}}`) {
		t.Errorf("event JSON = %s", raw)
	}
}

func TestBatchingAndConcurrency(t *testing.T) {
	url, arn, _ := newQueue(t, 30*time.Second, 5)
	var bodies []string
	for i := range 12 {
		bodies = append(bodies, "m"+strconv.Itoa(i))
	}
	send(t, url, bodies...)
	fn := &fakeFunction{answer: succeed, delay: 100 * time.Millisecond}
	reports := runPoller(t, Config{
		QueueURL: url, QueueARN: arn, Function: fn,
		BatchSize: 3, BatchingWindow: 200 * time.Millisecond, MaximumConcurrency: 2, ReportBatchItemFailures: true,
	}, messagesHandled(12))
	seen := map[string]bool{}
	for _, r := range reports {
		if len(r.MessageIDs) > 3 {
			t.Errorf("batch of %d messages, BatchSize is 3", len(r.MessageIDs))
		}
		for _, id := range r.MessageIDs {
			if seen[id] {
				t.Errorf("message %s delivered twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != 12 {
		t.Errorf("%d distinct messages handled, want 12", len(seen))
	}
	if m := fn.maxInFlight.Load(); m > 2 {
		t.Errorf("%d concurrent invocations, MaximumConcurrency is 2", m)
	}
	if got := queueDepth(t, url); got != 0 {
		t.Errorf("queue holds %d messages, want 0", got)
	}
}

func TestPoisonMessageReachesDLQ(t *testing.T) {
	url, arn, dlqURL := newQueue(t, time.Second, 2)
	send(t, url, "poison")
	fn := &fakeFunction{answer: func(events.SQSEvent) lambdaruntime.Result {
		return lambdaruntime.Result{Error: &lambdaruntime.FunctionError{Type: "errorString", Message: "always fails"}}
	}}
	inDLQ := func([]BatchReport) bool { return queueDepth(t, dlqURL) == 1 }
	runPollerUntil(t, Config{QueueURL: url, QueueARN: arn, Function: fn, ReportBatchItemFailures: true}, inDLQ)
	if got := queueDepth(t, url); got != 0 {
		t.Errorf("main queue holds %d messages, want 0", got)
	}
	out, err := motoSrv.SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlqURL)})
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "poison" {
		t.Errorf("DLQ receive = %v, %v", out, err)
	}
	if recs := fn.records(); len(recs) != 2 {
		t.Errorf("function saw the poison message %d times, want maxReceiveCount (2)", len(recs))
	}
}

// runPollerUntil is runPoller with a condition polled on a ticker, for
// conditions that are not about reports (e.g. the DLQ depth).
func runPollerUntil(t *testing.T, cfg Config, cond func([]BatchReport) bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	cfg.OnBatch = nil
	cfg.SQS = motoSrv.SQS()
	cfg.WaitTime = time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.After(20 * time.Second)
	for !cond(nil) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("condition not met; stats %+v", p.Stats())
		}
	}
}

func TestReceiveErrorsAreRetried(t *testing.T) {
	api := &flakySQS{SQSAPI: motoSrv.SQS(), failures: 2}
	url, arn, _ := newQueue(t, 30*time.Second, 5)
	send(t, url, "x")
	fn := &fakeFunction{answer: succeed}
	cfg := Config{QueueURL: url, QueueARN: arn, Function: fn, ReportBatchItemFailures: true}
	var got atomic.Int32
	cfg.OnBatch = func(r BatchReport) { got.Add(int32(len(r.Deleted))) }
	cfg.SQS = api
	cfg.WaitTime = time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for got.Load() == 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if got.Load() != 1 || api.calls.Load() < 3 {
		t.Errorf("deleted %d after %d receive calls; want 1 after at least 3", got.Load(), api.calls.Load())
	}
}

type flakySQS struct {
	SQSAPI
	failures int32
	calls    atomic.Int32
}

func (f *flakySQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if f.calls.Add(1) <= f.failures {
		return nil, errors.New("connection refused")
	}
	return f.SQSAPI.ReceiveMessage(ctx, in, opts...)
}

func TestNewValidates(t *testing.T) {
	fn := &fakeFunction{answer: succeed}
	base := Config{SQS: motoSrv.SQS(), QueueURL: "http://q", Function: fn}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no sqs", func(c *Config) { c.SQS = nil }, "SQS client"},
		{"no queue", func(c *Config) { c.QueueURL = "" }, "QueueURL"},
		{"no function", func(c *Config) { c.Function = nil }, "Function"},
		{"batch too big", func(c *Config) { c.BatchSize = 10001 }, "BatchSize"},
		{"big batch without window", func(c *Config) { c.BatchSize = 11 }, "BatchingWindow of at least 1 s"},
		{"window too long", func(c *Config) { c.BatchingWindow = 301 * time.Second }, "BatchingWindow"},
		{"negative concurrency", func(c *Config) { c.MaximumConcurrency = -1 }, "MaximumConcurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mutate(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestParseBatchResponse(t *testing.T) {
	ids := []string{"m1", "m2", "m3"}
	tests := []struct {
		payload    string
		wantFailed []string
		wantErr    bool
	}{
		{``, nil, false},
		{`null`, nil, false},
		{`{}`, nil, false},
		{`{"batchItemFailures":null}`, nil, false},
		{`{"batchItemFailures":[]}`, nil, false},
		{`{"batchItemFailures":[{"itemIdentifier":"m2"}]}`, []string{"m2"}, false},
		{`{"batchItemFailures":[{"itemIdentifier":"m1"},{"itemIdentifier":"m3"}]}`, []string{"m1", "m3"}, false},
		{`{"batchItemFailures":[{"itemIdentifier":""}]}`, nil, true},
		{`{"batchItemFailures":[{"itemIdentifier":null}]}`, nil, true},
		{`{"batchItemFailures":[{"itemId":"m1"}]}`, nil, true},
		{`{"batchItemFailures":[{"itemIdentifier":"m9"}]}`, nil, true},
		{`{"batchItemFailures":[{"itemIdentifier":1}]}`, nil, true},
		{`{"batchItemFailures":"m1"}`, nil, true},
		{`"m1"`, nil, true},
		{`[]`, nil, true},
		{`{`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			failed, err := ParseBatchResponse([]byte(tt.payload), ids)
			var inv *InvalidResponseError
			if tt.wantErr != (err != nil) || (err != nil && !errors.As(err, &inv)) {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(failed) != len(tt.wantFailed) {
				t.Errorf("failed = %v, want %v", failed, tt.wantFailed)
			}
			for _, id := range tt.wantFailed {
				if !failed[id] {
					t.Errorf("failed = %v, want %v", failed, tt.wantFailed)
				}
			}
		})
	}
}

func FuzzParseBatchResponse(f *testing.F) {
	for _, s := range []string{`{"batchItemFailures":[{"itemIdentifier":"m1"}]}`, `null`, `{}`, `{"batchItemFailures":[{}]}`, `x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		failed, err := ParseBatchResponse(payload, []string{"m1", "m2"})
		if err != nil {
			return
		}
		for id := range failed {
			if id != "m1" && id != "m2" {
				t.Fatalf("failed id %q is not in the batch", id)
			}
		}
	})
}
