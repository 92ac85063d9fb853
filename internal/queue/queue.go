// Package queue publishes messages to an Amazon SQS standard queue and
// delays the redelivery of received ones.
//
// SQS delivers at least once, and Publish may resend a batch whose answer was
// lost, so consumers must be idempotent (revoking a token twice is harmless).
package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// API is the part of *sqs.Client the package uses.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// SQS limits (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html).
const (
	// MaxBatchEntries is the most entries one SendMessageBatch takes.
	MaxBatchEntries = 10
	// MaxBatchBytes is the payload size a batch is kept under (bodies plus
	// attribute names, types and values). SQS now accepts 1 MiB in most
	// regions; 256 KiB is the long-standing limit that holds everywhere,
	// including moto. A single larger message is sent alone and SQS decides.
	MaxBatchBytes = 256 << 10
	// MaxAttributes is the most message attributes a message may carry.
	MaxAttributes = 10
	// MaxVisibilityTimeout is the longest visibility timeout SQS accepts.
	MaxVisibilityTimeout = 12 * time.Hour
	// MaxDelay is the longest delivery delay SQS accepts for a message.
	MaxDelay = 15 * time.Minute
)

// Message is one message to publish.
type Message struct {
	// ID identifies the message to the caller (for example the request id);
	// it must be unique within one Publish call and is what PublishError
	// reports. It is not sent to SQS.
	ID string
	// Body is the message body; it must be non-empty and contain only
	// characters SQS accepts.
	Body string
	// Attributes are sent as SQS message attributes of type String.
	Attributes map[string]string
	// Delay keeps the message invisible this long after it is sent
	// (DelaySeconds, rounded up to a second; 0..MaxDelay).
	Delay time.Duration
}

// Publisher sends messages to one queue. It is safe for concurrent use.
type Publisher struct {
	api      API
	queueURL string
	// Backoff between retries of failed entries: full jitter over an
	// exponential window from minBackoff to maxBackoff.
	minBackoff, maxBackoff time.Duration
}

// NewPublisher returns a Publisher for the queue at queueURL.
func NewPublisher(api API, queueURL string) *Publisher {
	return &Publisher{api: api, queueURL: queueURL, minBackoff: 50 * time.Millisecond, maxBackoff: 2 * time.Second}
}

// ErrInvalidMessage marks messages that were not sent because SQS would
// never accept them (checked before sending).
var ErrInvalidMessage = errors.New("queue: invalid message")

// PublishError reports the messages Publish did not get accepted.
type PublishError struct {
	// Failed are the IDs of every message that was not sent, in input order.
	Failed []string
	// Reasons maps a failed ID to why it failed (an SQS error code and
	// message, a validation problem, or "not attempted").
	Reasons map[string]string
	// Permanent are the IDs, among Failed, that SQS (or validation) rejected
	// as the sender's fault; resending them unchanged will not help.
	Permanent []string
	// Err is the error that ended the attempts, if any: the context's error,
	// the last SendMessageBatch error, or ErrInvalidMessage.
	Err error
	// Total is the number of messages Publish was given.
	Total int
}

func (e *PublishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "queue: %d of %d messages not sent", len(e.Failed), e.Total)
	const show = 10
	ids := e.Failed
	if len(ids) > show {
		ids = ids[:show]
	}
	fmt.Fprintf(&b, " (ids: %s", strings.Join(ids, ", "))
	if len(e.Failed) > show {
		fmt.Fprintf(&b, ", and %d more", len(e.Failed)-show)
	}
	b.WriteString(")")
	if len(e.Permanent) > 0 {
		fmt.Fprintf(&b, ", %d rejected permanently", len(e.Permanent))
		if r := e.Reasons[e.Permanent[0]]; r != "" {
			fmt.Fprintf(&b, " (%s: %s)", e.Permanent[0], r)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *PublishError) Unwrap() error { return e.Err }

// pending is a message still to be sent; entryID is its index in the input,
// which satisfies SQS's [A-Za-z0-9_-]{1,80} whatever the caller's ID is.
type pending struct {
	index   int
	entryID string
	size    int
}

// Publish sends msgs with SendMessageBatch, in chunks of at most
// MaxBatchEntries entries and MaxBatchBytes bytes. Entries that fail for a
// reason that may pass (throttling, a server fault, a lost connection) are
// retried with jittered exponential backoff until ctx ends; entries SQS
// rejects as the sender's fault, and messages that fail validation, are not
// retried. Publish returns nil only when every message was accepted;
// otherwise a *PublishError naming the IDs that were not sent.
func (p *Publisher) Publish(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	state := &publishState{msgs: msgs, reasons: map[int]string{}, permanent: map[int]bool{}}
	todo := state.validate()
rounds:
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, p.backoff(attempt)); err != nil {
				state.ended(err)
				break
			}
		}
		var retry []pending
		batches := chunks(todo)
		for i, batch := range batches {
			if err := ctx.Err(); err != nil {
				state.ended(err)
				todo = append(retry, slices.Concat(batches[i:]...)...)
				break rounds
			}
			failed, stop := p.send(ctx, batch, state)
			retry = append(retry, failed...)
			if stop {
				// A queue-level failure: the other batches would fail alike.
				for _, m := range slices.Concat(batches[i+1:]...) {
					state.reasons[m.index] = "not attempted: " + state.lastErr.Error()
					state.permanent[m.index] = true
				}
				todo = retry
				break rounds
			}
		}
		todo = retry
	}
	for _, m := range todo {
		if _, ok := state.reasons[m.index]; !ok {
			state.reasons[m.index] = "not attempted before the context ended"
		}
	}
	return state.result(todo)
}

// publishState collects what happened to each message during one Publish.
type publishState struct {
	msgs      []Message
	reasons   map[int]string // by input index
	permanent map[int]bool
	lastErr   error // the last failure seen (it may concern a message later sent)
	invalid   error // the last validation failure
}

// ended records that ctx ended, keeping the last failure as context.
func (s *publishState) ended(ctxErr error) {
	switch {
	case s.lastErr == nil:
		s.lastErr = ctxErr
		return
	case errors.Is(s.lastErr, ctxErr):
		return // already says so, with more detail
	}
	s.lastErr = fmt.Errorf("%w; last failure: %w", ctxErr, s.lastErr)
}

// validate returns the messages worth sending and records the others as
// permanent failures.
func (s *publishState) validate() []pending {
	count := make(map[string]int, len(s.msgs))
	for _, m := range s.msgs {
		count[m.ID]++
	}
	todo := make([]pending, 0, len(s.msgs))
	for i, m := range s.msgs {
		err := validate(m)
		if err == nil && count[m.ID] > 1 {
			// Every copy fails: a reported ID then always means "not sent".
			err = fmt.Errorf("message ID used %d times", count[m.ID])
		}
		if err != nil {
			s.reasons[i] = err.Error()
			s.permanent[i] = true
			s.invalid = fmt.Errorf("%w: message %q: %v", ErrInvalidMessage, m.ID, err)
			continue
		}
		todo = append(todo, pending{index: i, entryID: strconv.Itoa(i), size: size(m)})
	}
	return todo
}

func (s *publishState) result(unsent []pending) error {
	failed := make([]int, 0, len(unsent)+len(s.permanent))
	for _, m := range unsent {
		failed = append(failed, m.index)
	}
	for i := range s.permanent {
		failed = append(failed, i)
	}
	if len(failed) == 0 {
		return nil
	}
	// Report in input order.
	slices.Sort(failed)
	cause := s.lastErr
	switch {
	case s.invalid == nil:
	case cause == nil:
		cause = s.invalid
	default:
		cause = fmt.Errorf("%w; %w", s.invalid, cause)
	}
	e := &PublishError{Reasons: map[string]string{}, Err: cause, Total: len(s.msgs)}
	for _, i := range failed {
		id := s.msgs[i].ID
		e.Failed = append(e.Failed, id)
		e.Reasons[id] = s.reasons[i]
		if s.permanent[i] {
			e.Permanent = append(e.Permanent, id)
		}
	}
	return e
}

// send sends one batch and returns the entries to retry. stop is true when
// the whole request failed in a way retrying cannot fix (for example the
// queue does not exist or access is denied); then every entry of the batch
// is recorded as a permanent failure.
func (p *Publisher) send(ctx context.Context, batch []pending, s *publishState) (retry []pending, stop bool) {
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(p.queueURL), Entries: make([]types.SendMessageBatchRequestEntry, len(batch))}
	byEntry := make(map[string]pending, len(batch))
	for i, m := range batch {
		msg := s.msgs[m.index]
		in.Entries[i] = types.SendMessageBatchRequestEntry{
			Id:                aws.String(m.entryID),
			MessageBody:       aws.String(msg.Body),
			MessageAttributes: attributes(msg.Attributes),
			DelaySeconds:      int32((msg.Delay + time.Second - 1) / time.Second),
		}
		byEntry[m.entryID] = m
	}
	out, err := p.api.SendMessageBatch(ctx, in)
	if err != nil {
		err = fmt.Errorf("send message batch to %s: %w", p.queueURL, err)
		s.lastErr = err
		permanent := isPermanent(err)
		for _, m := range batch {
			s.reasons[m.index] = err.Error()
			if permanent {
				s.permanent[m.index] = true
			}
		}
		if permanent {
			// The other batches would fail the same way.
			return nil, true
		}
		return batch, false
	}
	for _, ok := range out.Successful {
		delete(byEntry, aws.ToString(ok.Id))
	}
	for _, f := range out.Failed {
		m, known := byEntry[aws.ToString(f.Id)]
		if !known {
			continue
		}
		delete(byEntry, aws.ToString(f.Id))
		s.reasons[m.index] = aws.ToString(f.Code) + ": " + aws.ToString(f.Message)
		s.lastErr = fmt.Errorf("send message batch to %s: entry failed: %s", p.queueURL, s.reasons[m.index])
		if f.SenderFault {
			s.permanent[m.index] = true
			continue
		}
		retry = append(retry, m)
	}
	// An entry SQS reported neither way: treat as not sent, retry.
	for _, m := range batch {
		if _, left := byEntry[m.entryID]; left {
			s.reasons[m.index] = "SQS did not report the entry"
			retry = append(retry, m)
		}
	}
	return retry, false
}

// isPermanent reports whether a failed SendMessageBatch call is the
// caller's fault (wrong queue, no permission, malformed request) rather than
// throttling, a server fault or a transport problem. Context errors are not
// permanent: the loop stops on them anyway.
func isPermanent(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "RequestThrottled", "ThrottlingException", "Throttling", "KmsThrottled",
		"RequestLimitExceeded", "TooManyRequestsException", "ServiceUnavailable", "InternalError":
		return false
	}
	return apiErr.ErrorFault() == smithy.FaultClient
}

// chunks splits ms into batches of at most MaxBatchEntries entries and
// MaxBatchBytes bytes.
func chunks(ms []pending) [][]pending {
	var out [][]pending
	start, bytes := 0, 0
	for i, m := range ms {
		if i > start && (i-start == MaxBatchEntries || bytes+m.size > MaxBatchBytes) {
			out = append(out, ms[start:i])
			start, bytes = i, 0
		}
		bytes += m.size
	}
	if start < len(ms) {
		out = append(out, ms[start:])
	}
	return out
}

func (p *Publisher) backoff(attempt int) time.Duration {
	window := p.maxBackoff
	if attempt < 30 {
		if w := p.minBackoff << attempt; w > 0 && w < window {
			window = w
		}
	}
	if window <= 0 {
		return 0
	}
	return rand.N(window) + 1
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func attributes(attrs map[string]string) map[string]types.MessageAttributeValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make(map[string]types.MessageAttributeValue, len(attrs))
	for k, v := range attrs {
		out[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return out
}

// size is the message's payload size as SQS counts it for the batch limit.
func size(m Message) int {
	n := len(m.Body)
	for k, v := range m.Attributes {
		n += len(k) + len("String") + len(v)
	}
	return n
}

// validate checks what SQS would reject for every attempt, so the message
// is reported at once instead of being retried.
func validate(m Message) error {
	if m.ID == "" {
		return errors.New("empty message ID")
	}
	if m.Body == "" {
		return errors.New("empty body")
	}
	if err := validText(m.Body); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if len(m.Attributes) > MaxAttributes {
		return fmt.Errorf("%d attributes, SQS allows %d", len(m.Attributes), MaxAttributes)
	}
	if m.Delay < 0 || m.Delay > MaxDelay {
		return fmt.Errorf("delay %s: SQS allows 0 to %s", m.Delay, MaxDelay)
	}
	for k, v := range m.Attributes {
		if err := validAttributeName(k); err != nil {
			return fmt.Errorf("attribute name %q: %w", k, err)
		}
		if v == "" {
			return fmt.Errorf("attribute %q: empty value", k)
		}
		if err := validText(v); err != nil {
			return fmt.Errorf("attribute %q: %w", k, err)
		}
	}
	return nil
}

// validText accepts the characters SQS allows in bodies and String
// attribute values: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
// #x10000-#x10FFFF.
func validText(s string) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return fmt.Errorf("invalid UTF-8 at byte %d", i)
		case r == 0x9 || r == 0xA || r == 0xD,
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
		default:
			return fmt.Errorf("character %U at byte %d is not allowed by SQS", r, i)
		}
	}
	return nil
}

// validAttributeName applies SQS's naming rules for message attributes.
func validAttributeName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > 256:
		return errors.New("longer than 256 characters")
	case strings.HasPrefix(name, "."), strings.HasSuffix(name, "."), strings.Contains(name, ".."):
		return errors.New("leading, trailing or repeated period")
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return errors.New(`the prefixes "AWS." and "Amazon." are reserved`)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("character %q not allowed (use A-Z a-z 0-9 _ - .)", r)
		}
	}
	return nil
}

// DelayRedelivery makes a received message invisible for d (clamped to
// 0..MaxVisibilityTimeout and rounded up to whole seconds), counted from
// now. Use it to back off before a retry, for example until a rate limit
// resets; d = 0 makes the message visible again at once.
func DelayRedelivery(ctx context.Context, api API, queueURL, receiptHandle string, d time.Duration) error {
	if receiptHandle == "" {
		return errors.New("queue: delay redelivery: empty receipt handle")
	}
	d = min(max(d, 0), MaxVisibilityTimeout)
	seconds := int32((d + time.Second - 1) / time.Second)
	_, err := api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(queueURL),
		ReceiptHandle:     aws.String(receiptHandle),
		VisibilityTimeout: seconds,
	})
	if err != nil {
		return fmt.Errorf("queue: delay redelivery by %ds on %s: %w", seconds, queueURL, err)
	}
	return nil
}
