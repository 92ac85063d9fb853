// Package localesm emulates an AWS Lambda SQS event source mapping: it
// long-polls a queue, gathers batches (BatchSize, MaximumBatchingWindow),
// invokes the function with an events.SQSEvent built the way Lambda builds
// it, and deletes what succeeded: every message, or with
// ReportBatchItemFailures every message not listed in batchItemFailures.
// A function error, a timeout or an invalid batch response deletes nothing,
// so the messages return after the queue's visibility timeout and, after
// maxReceiveCount receives, move to the dead-letter queue by the queue's own
// redrive policy. At most MaximumConcurrency batches are in flight.
package localesm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
)

// Defaults and limits, as for Lambda's SQS event source mappings.
const (
	DefaultBatchSize          = 10
	MaxBatchSize              = 10000
	MaxBatchingWindow         = 300 * time.Second
	DefaultMaximumConcurrency = 2 // Lambda's minimum for MaximumConcurrency
	DefaultWaitTime           = 20 * time.Second
	// FunctionResponseReportBatchItemFailures is the FunctionResponseTypes
	// value that enables partial batch responses.
	FunctionResponseReportBatchItemFailures = "ReportBatchItemFailures"
)

// SQSAPI is the part of *sqs.Client the poller uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Invoker runs one synchronous invocation; *lambdaruntime.Function
// implements it.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) (lambdaruntime.Result, error)
}

// Config describes one event source mapping.
type Config struct {
	SQS SQSAPI
	// QueueURL is polled; QueueARN and Region go into every record.
	QueueURL, QueueARN, Region string
	Function                   Invoker
	FunctionName               string // for logs
	// BatchSize is the most records per invocation; default 10.
	BatchSize int
	// BatchingWindow is how long to keep gathering once a first message
	// arrived, until the batch is full; 0 invokes with what one receive got.
	BatchingWindow time.Duration
	// MaximumConcurrency bounds concurrent invocations; default 2.
	MaximumConcurrency int
	// ReportBatchItemFailures enables partial batch responses.
	ReportBatchItemFailures bool
	// WaitTime is each ReceiveMessage's long-poll wait; default 20 s.
	WaitTime time.Duration
	// OnBatch, if set, is called after each batch is handled (from the
	// batch's goroutine).
	OnBatch func(BatchReport)
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// BatchReport says what happened to one batch.
type BatchReport struct {
	// LambdaRequestID is the invocation's request id ("" if it never ran).
	LambdaRequestID string
	MessageIDs      []string
	// Bodies are the messages' bodies, in MessageIDs order.
	Bodies []string
	// Deleted lists the messages deleted from the queue; Retried those left
	// for redelivery.
	Deleted, Retried []string
	// FunctionError is the function's error, if it failed.
	FunctionError *lambdaruntime.FunctionError
	// Err is an invoke or delete failure, or an invalid batch response.
	Err error
}

// Stats counts what the poller did.
type Stats struct {
	Batches, Messages, Deleted, Retried int
	FunctionErrors, InvalidResponses    int
}

// Poller runs one event source mapping.
type Poller struct {
	cfg    Config
	logger *slog.Logger

	mu    sync.Mutex
	stats Stats
}

// New checks cfg and returns a Poller; Run starts it.
func New(cfg Config) (*Poller, error) {
	switch {
	case cfg.SQS == nil:
		return nil, errors.New("localesm: SQS client is required")
	case cfg.QueueURL == "":
		return nil, errors.New("localesm: QueueURL is required")
	case cfg.Function == nil:
		return nil, errors.New("localesm: Function is required")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > MaxBatchSize {
		return nil, fmt.Errorf("localesm: BatchSize %d is outside 1..%d", cfg.BatchSize, MaxBatchSize)
	}
	if cfg.BatchingWindow < 0 || cfg.BatchingWindow > MaxBatchingWindow {
		return nil, fmt.Errorf("localesm: BatchingWindow %s is outside 0..%s", cfg.BatchingWindow, MaxBatchingWindow)
	}
	if cfg.BatchSize > 10 && cfg.BatchingWindow < time.Second {
		// Lambda's own rule (CreateEventSourceMapping).
		return nil, errors.New("localesm: a BatchSize above 10 needs a BatchingWindow of at least 1 s")
	}
	if cfg.MaximumConcurrency == 0 {
		cfg.MaximumConcurrency = DefaultMaximumConcurrency
	}
	if cfg.MaximumConcurrency < 1 {
		return nil, fmt.Errorf("localesm: MaximumConcurrency %d must be positive", cfg.MaximumConcurrency)
	}
	if cfg.WaitTime <= 0 || cfg.WaitTime > DefaultWaitTime {
		cfg.WaitTime = DefaultWaitTime
	}
	if cfg.Region == "" {
		cfg.Region = lambdaruntime.DefaultRegion
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Poller{cfg: cfg, logger: cfg.Logger.With(slog.String("function", cfg.FunctionName), slog.String("queue", cfg.QueueURL))}, nil
}

// Stats returns a snapshot of the counters.
func (p *Poller) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Run polls until ctx ends, then waits for the batches in flight and
// returns nil. Batches whose invocation is cut short by ctx are not deleted
// and come back after the visibility timeout.
func (p *Poller) Run(ctx context.Context) error {
	slots := make(chan struct{}, p.cfg.MaximumConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	backoff := time.Duration(0)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		batch, err := p.gather(ctx)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			p.logger.Warn("receiving messages failed; retrying", slog.Any("error", err), slog.Duration("backoff", backoff))
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		if len(batch) == 0 {
			<-slots
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			p.handle(ctx, batch)
		}()
	}
}

// gather receives up to BatchSize messages: what the first non-empty
// receive brings, plus more until the batch is full or the batching window
// (counted from the first message) has passed.
func (p *Poller) gather(ctx context.Context) ([]types.Message, error) {
	var (
		batch     []types.Message
		windowEnd time.Time
	)
	for len(batch) < p.cfg.BatchSize {
		wait := p.cfg.WaitTime
		if len(batch) > 0 {
			remaining := time.Until(windowEnd)
			if remaining <= 0 {
				break
			}
			wait = min(wait, remaining)
		}
		out, err := p.cfg.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(p.cfg.QueueURL),
			MaxNumberOfMessages:         int32(min(10, p.cfg.BatchSize-len(batch))),
			WaitTimeSeconds:             int32(math.Ceil(wait.Seconds())),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if len(batch) > 0 && ctx.Err() == nil {
				// Invoke with what we have rather than hold it invisible.
				p.logger.Warn("receiving more messages failed; invoking with the batch so far", slog.Any("error", err))
				return batch, nil
			}
			return nil, fmt.Errorf("receive from %s: %w", p.cfg.QueueURL, err)
		}
		if len(batch) == 0 && len(out.Messages) > 0 {
			windowEnd = time.Now().Add(p.cfg.BatchingWindow)
		}
		batch = append(batch, out.Messages...)
		if len(batch) > 0 && p.cfg.BatchingWindow == 0 {
			break
		}
		if len(batch) == 0 {
			return nil, nil // an empty long poll: let Run check ctx
		}
	}
	return batch, nil
}

// handle invokes the function with one batch and deletes what succeeded.
func (p *Poller) handle(ctx context.Context, batch []types.Message) {
	ev := BuildEvent(batch, p.cfg.QueueARN, p.cfg.Region)
	report := BatchReport{MessageIDs: make([]string, len(batch)), Bodies: make([]string, len(batch))}
	for i, m := range batch {
		report.MessageIDs[i] = aws.ToString(m.MessageId)
		report.Bodies[i] = aws.ToString(m.Body)
	}
	succeeded := map[string]bool{}
	payload, err := json.Marshal(ev)
	if err != nil {
		report.Err = fmt.Errorf("encode SQS event: %w", err)
	} else {
		res, err := p.cfg.Function.Invoke(ctx, payload)
		report.LambdaRequestID = res.RequestID
		switch {
		case err != nil:
			report.Err = err
		case res.Error != nil:
			report.FunctionError = res.Error
		case p.cfg.ReportBatchItemFailures:
			failed, err := ParseBatchResponse(res.Payload, report.MessageIDs)
			if err != nil {
				report.Err = err
				break
			}
			for _, id := range report.MessageIDs {
				succeeded[id] = !failed[id]
			}
		default:
			for _, id := range report.MessageIDs {
				succeeded[id] = true
			}
		}
	}
	var toDelete []types.Message
	for _, m := range batch {
		if succeeded[aws.ToString(m.MessageId)] {
			toDelete = append(toDelete, m)
		}
	}
	// Deleting must not be skipped because shutdown began after a
	// successful invocation: that would redeliver handled messages.
	delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	deleted, delErr := p.delete(delCtx, toDelete)
	cancel()
	if delErr != nil && report.Err == nil {
		report.Err = delErr
	}
	for _, id := range report.MessageIDs {
		if deleted[id] {
			report.Deleted = append(report.Deleted, id)
		} else {
			report.Retried = append(report.Retried, id)
		}
	}
	p.record(report)
	p.log(report)
	if p.cfg.OnBatch != nil {
		p.cfg.OnBatch(report)
	}
}

// delete removes msgs with DeleteMessageBatch (10 per call) and returns the
// ids actually deleted.
func (p *Poller) delete(ctx context.Context, msgs []types.Message) (map[string]bool, error) {
	deleted := map[string]bool{}
	var errs []error
	for start := 0; start < len(msgs); start += 10 {
		chunk := msgs[start:min(start+10, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		byEntry := map[string]string{}
		for i, m := range chunk {
			entryID := strconv.Itoa(i)
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(entryID), ReceiptHandle: m.ReceiptHandle}
			byEntry[entryID] = aws.ToString(m.MessageId)
		}
		out, err := p.cfg.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.cfg.QueueURL), Entries: entries})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete %d messages: %w", len(chunk), err))
			continue
		}
		for _, s := range out.Successful {
			deleted[byEntry[aws.ToString(s.Id)]] = true
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("delete message %s: %s: %s", byEntry[aws.ToString(f.Id)], aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return deleted, errors.Join(errs...)
}

func (p *Poller) record(r BatchReport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Batches++
	p.stats.Messages += len(r.MessageIDs)
	p.stats.Deleted += len(r.Deleted)
	p.stats.Retried += len(r.Retried)
	if r.FunctionError != nil {
		p.stats.FunctionErrors++
	}
	var inv *InvalidResponseError
	if errors.As(r.Err, &inv) {
		p.stats.InvalidResponses++
	}
}

func (p *Poller) log(r BatchReport) {
	attrs := []any{
		slog.String("lambdaRequestId", r.LambdaRequestID),
		slog.Int("messages", len(r.MessageIDs)),
		slog.Int("deleted", len(r.Deleted)),
		slog.Int("retried", len(r.Retried)),
	}
	switch {
	case r.FunctionError != nil:
		p.logger.Warn("batch failed: function error; no message deleted", append(attrs, slog.String("errorType", r.FunctionError.Type), slog.String("errorMessage", r.FunctionError.Message))...)
	case r.Err != nil:
		p.logger.Warn("batch failed", append(attrs, slog.Any("error", r.Err))...)
	case len(r.Retried) > 0:
		p.logger.Info("batch partially failed; failed messages stay in the queue", append(attrs, slog.Any("retried", r.Retried))...)
	default:
		p.logger.Info("batch done", attrs...)
	}
}

// BuildEvent turns received messages into the event Lambda sends.
func BuildEvent(msgs []types.Message, queueARN, region string) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		attrs := make(map[string]string, len(m.Attributes))
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		rec := events.SQSMessage{
			MessageId:              aws.ToString(m.MessageId),
			ReceiptHandle:          aws.ToString(m.ReceiptHandle),
			Body:                   aws.ToString(m.Body),
			Md5OfBody:              aws.ToString(m.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes:             attrs,
			MessageAttributes:      make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes)),
			EventSourceARN:         queueARN,
			EventSource:            "aws:sqs",
			AWSRegion:              region,
		}
		for name, a := range m.MessageAttributes {
			rec.MessageAttributes[name] = events.SQSMessageAttribute{
				DataType:         aws.ToString(a.DataType),
				StringValue:      a.StringValue,
				BinaryValue:      a.BinaryValue,
				StringListValues: nonNil(a.StringListValues),
				BinaryListValues: nonNil(a.BinaryListValues),
			}
		}
		ev.Records[i] = rec
	}
	return ev
}

// nonNil makes absent lists [] like Lambda's events, not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// InvalidResponseError is a batch response Lambda would treat as a failure
// of the whole batch.
type InvalidResponseError struct{ Reason string }

func (e *InvalidResponseError) Error() string { return "invalid batch response: " + e.Reason }

// ParseBatchResponse reads a partial batch response
// ({"batchItemFailures":[{"itemIdentifier":"<messageId>"}]}) with Lambda's
// rules: an empty or null response or list means all succeeded; invalid
// JSON, or an item whose itemIdentifier is missing, empty or not a message
// of the batch, fails the whole batch (*InvalidResponseError).
func ParseBatchResponse(payload []byte, messageIDs []string) (failed map[string]bool, err error) {
	failed = map[string]bool{}
	var resp *struct {
		BatchItemFailures []map[string]json.RawMessage `json:"batchItemFailures"`
	}
	if len(payload) == 0 {
		return failed, nil
	}
	if err := json.Unmarshal(payload, &resp); err != nil {
		return nil, &InvalidResponseError{Reason: "not a JSON object with a batchItemFailures list"}
	}
	if resp == nil {
		return failed, nil
	}
	inBatch := make(map[string]bool, len(messageIDs))
	for _, id := range messageIDs {
		inBatch[id] = true
	}
	for i, item := range resp.BatchItemFailures {
		var id string
		if raw, ok := item["itemIdentifier"]; !ok || json.Unmarshal(raw, &id) != nil || id == "" {
			return nil, &InvalidResponseError{Reason: fmt.Sprintf("batchItemFailures[%d] has no itemIdentifier", i)}
		}
		if !inBatch[id] {
			return nil, &InvalidResponseError{Reason: fmt.Sprintf("batchItemFailures[%d].itemIdentifier %q is not a message of the batch", i, id)}
		}
		failed[id] = true
	}
	return failed, nil
}
