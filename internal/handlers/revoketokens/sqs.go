package revoketokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/metrics"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Message attributes POST /revocations sets, carried into audit records.
const (
	AttrSource = "source" // "revocations-api"
	AttrCaller = "caller" // the IAM identity that called POST /revocations
	// AttrDeferrals counts how often a request was deferred: sent again
	// as a new, delayed message instead of failing (see HandleSQS).
	AttrDeferrals = "deferrals"
)

// MaxDeferrals bounds how often one request is deferred; after that it
// fails like any other, and so reaches the DLQ after maxReceiveCount.
// With Okta's one-minute windows that is more than an hour and a half of
// being rate limited.
const MaxDeferrals = 100

// maxLoggedError bounds error texts in logs: a poison message's error may
// quote a field name of arbitrary length.
const maxLoggedError = 512

// job is one request to execute and the messages it answers: the first
// message's request, plus later messages of the batch whose revocation it
// covers (the same target, or a narrower one of the same user when the
// job revokes all of the user's tokens).
type job struct {
	req revocation.Request // the leading request, reqs[lead]
	// lead is the leading message's index: by position, since a caller
	// may choose another message's requestId.
	lead    int
	msgs    []events.SQSMessage
	reqs    []revocation.Request // per message, parallel to msgs
	res     revocation.Result
	err     error
	kind    failureKind
	started bool
	// late: not started because the deadline was near (rather than
	// because a systemic failure stopped the batch).
	late bool
}

// HandleSQS executes a batch from the revocation queue and reports the
// messages that failed, so SQS redelivers only those (ReportBatchItemFailures).
//
// Per message: revoked, already gone or dry run = success. Invalid messages
// (not JSON, unknown fields, invalid IDs) fail and are logged as poison:
// after the queue's maxReceiveCount they land in the DLQ. 5xx, timeouts and
// connection failures fail the message for a plain redelivery. 401/403
// fail it with an ERROR record marked configProblem.
//
// Waiting is not failing: a message that Okta's rate limit (429) kept from
// finishing, or that was not started because the deadline was near, is
// deferred: sent again as a new message delayed until Okta's window resets
// (plus jitter) or for a second or so, and reported done. Every receive
// counts towards maxReceiveCount, so failing it instead would send valid
// requests to the DLQ during a long throttle. If it cannot be sent again,
// or was deferred MaxDeferrals times, it fails with its visibility set to
// the same wait.
//
// Systemic failures (Okta rejects our credentials, or they cannot be read)
// stop the batch: messages not yet started are reported as failures without
// calling Okta again. HandleSQS never returns an error, so every failure is
// reported per message and counted in the metrics.
func (h *Handler) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	rec := newRecorder(ctx, h.cfg, "sqs")
	defer h.flush(ctx, rec)
	rec.Add(MetricMessages, float64(len(ev.Records)))

	var failed []string
	jobs := h.plan(ctx, rec, ev.Records, &failed)
	h.run(ctx, jobs)

	// Visibility changes must happen even when the work used up the
	// invocation's context, but not after Lambda's own deadline.
	finishBy := time.Now().Add(wrapUp)
	if deadline, ok := ctx.Deadline(); ok {
		finishBy = deadline.Add(-wrapUp / 10)
	}
	finishCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), finishBy)
	defer cancel()
	var deferred []deferral
	for _, j := range jobs {
		h.finish(finishCtx, rec, j, &failed, &deferred)
	}
	h.deferAll(finishCtx, rec, deferred, &failed)
	resp := events.SQSEventResponse{}
	for _, id := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return resp, nil
}

// plan parses the messages, fails the poison ones, and groups the rest into
// jobs so one batch does not revoke the same thing twice.
func (h *Handler) plan(ctx context.Context, rec *metrics.Recorder, msgs []events.SQSMessage, failed *[]string) []*job {
	type parsed struct {
		msg events.SQSMessage
		req revocation.Request
	}
	var valid []parsed
	userWide := make(map[string]bool)
	for _, msg := range msgs {
		req, err := revocation.Parse([]byte(msg.Body))
		if err != nil {
			h.logger.ErrorContext(ctx, "poison message: it can never succeed and goes to the dead-letter queue after the queue's maxReceiveCount",
				slog.String("messageId", msg.MessageId),
				slog.String("receiveCount", msg.Attributes["ApproximateReceiveCount"]),
				slog.Int("bodyBytes", len(msg.Body)),
				slog.String("error", truncate(err.Error(), maxLoggedError)),
				slog.Bool("poison", true))
			recordFailure(rec, kindInvalid)
			*failed = append(*failed, msg.MessageId)
			continue
		}
		req = req.WithRequestID()
		valid = append(valid, parsed{msg, req})
		if req.Scope() == revocation.ScopeUser {
			userWide[req.UserID] = true
		}
	}

	byKey := make(map[string]*job)
	var jobs []*job
	for _, p := range valid {
		key := targetKey(p.req)
		if p.req.UserID != "" && userWide[p.req.UserID] {
			// Revoking all of the user's tokens covers every narrower
			// request for the same user.
			key = targetKey(revocation.Request{UserID: p.req.UserID})
		}
		j := byKey[key]
		if j == nil {
			j = &job{}
			byKey[key] = j
			jobs = append(jobs, j)
		}
		j.msgs = append(j.msgs, p.msg)
		j.reqs = append(j.reqs, p.req)
		if len(j.reqs) == 1 || leads(p.req, j.req) {
			j.req, j.lead = p.req, len(j.reqs)-1
		}
	}
	return jobs
}

// leads reports whether r should lead its group instead of the current
// leader: a user-wide request, wherever it is in the batch, since it covers
// the narrower ones; and of two user-wide ones, one that ends sessions
// (with REVOKE_OKTA_SESSIONS) over one queued for user.session.clear,
// which does not.
func leads(r, leader revocation.Request) bool {
	if r.Scope() != leader.Scope() {
		return r.Scope() == revocation.ScopeUser
	}
	return r.Scope() == revocation.ScopeUser && leader.AnswersSessionClear() && !r.AnswersSessionClear()
}

func targetKey(r revocation.Request) string {
	return strings.Join([]string{string(r.Scope()), r.UserID, r.ClientID, r.AppID, r.TokenID}, "\x00")
}

// run executes the jobs on a bounded pool. Jobs are started in batch order
// until the deadline is near or a systemic failure stops the batch.
func (h *Handler) run(ctx context.Context, jobs []*job) {
	deadline, hasDeadline := ctx.Deadline()
	workCtx := ctx
	if hasDeadline {
		var cancel context.CancelFunc
		workCtx, cancel = context.WithDeadline(ctx, deadline.Add(-wrapUp))
		defer cancel()
	}
	var stop atomic.Bool
	var forbidden atomic.Int32 // 403s seen
	next := make(chan *job)
	var wg sync.WaitGroup
	for range min(h.cfg.Concurrency, len(jobs)) {
		wg.Go(func() {
			for j := range next {
				if stop.Load() {
					continue // left unstarted
				}
				if hasDeadline && deadline.Sub(h.cfg.Now()) < h.cfg.DeadlineReserve {
					j.late = true
					continue
				}
				j.started = true
				h.execute(workCtx, j)
				if stopsBatch(j, &forbidden) {
					stop.Store(true)
				}
			}
		})
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
}

// stopsBatch reports whether j's failure is one every other message of the
// batch would meet too. A 403 may concern only j's target (an admin role
// without permission on that user or app, such as a Super Admin under a
// lesser role), and stopping would cost the batch's other messages a
// receive towards the DLQ: the batch stops at the second 403, which makes
// a missing permission or scope likely.
func stopsBatch(j *job, forbidden *atomic.Int32) bool {
	switch {
	case j.kind == kindOther:
		return true
	case j.kind != kindConfig:
		return false
	case errors.Is(j.err, okta.ErrForbidden) && !errors.Is(j.err, okta.ErrUnauthorized) && !errors.Is(j.err, okta.ErrInvalidCredentials):
		return forbidden.Add(1) >= 2
	}
	return true
}

func (h *Handler) execute(ctx context.Context, j *job) {
	msg := j.msgs[j.lead]
	attrs := []slog.Attr{
		slog.String("messageId", msg.MessageId),
		slog.String("receiveCount", msg.Attributes["ApproximateReceiveCount"]),
	}
	if sender := msg.Attributes["SenderId"]; sender != "" {
		// Set by SQS, unlike the caller attribute, which the sender writes.
		attrs = append(attrs, slog.String("senderId", sender))
	}
	if a, ok := msg.MessageAttributes[AttrCaller]; ok && a.StringValue != nil {
		attrs = append(attrs, slog.String("enqueuedBy", *a.StringValue))
	}
	if n := deferralsOf(msg); n > 0 {
		attrs = append(attrs, slog.Int(AttrDeferrals, n))
	}
	ctx = revocation.WithAuditAttrs(ctx, attrs...)
	j.res, j.err = h.cfg.Executor.Execute(ctx, j.req)
	if j.err != nil {
		j.kind = classify(j.err)
	}
}

// classify says why a request failed. Joined errors (one user's clients
// failing differently) take the kind that matters most for what happens
// next: a rate limit delays, a config problem alerts, a transient failure
// retries. Only kindConfig and kindOther stop the batch (see stopsBatch):
// they are the failures every other message would meet too.
func classify(err error) failureKind {
	var oktaErr *okta.Error
	switch {
	case errors.Is(err, okta.ErrRateLimited):
		return kindRateLimited
	case okta.IsConfigProblem(err), errors.Is(err, okta.ErrInvalidCredentials):
		return kindConfig
	case errors.Is(err, okta.ErrCredentialsUnavailable):
		// Before the timeout case: a Secrets Manager timeout also matches
		// context.DeadlineExceeded, and the next message would wait on
		// Secrets Manager just the same.
		return kindOther
	case errors.Is(err, okta.ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kindTimeout
	case errors.Is(err, okta.ErrServer), errors.Is(err, okta.ErrUnavailable):
		return kindServer
	case errors.Is(err, revocation.ErrInvalid), errors.Is(err, okta.ErrInvalidArgument):
		return kindInvalid
	case errors.As(err, &oktaErr) && oktaErr.StatusCode >= 400 && oktaErr.StatusCode < 500:
		// Okta refused this request (a 400, 405, 409...): a fault of
		// this message, not of the service.
		return kindRejected
	}
	return kindOther
}

// finish logs and counts a job's outcome for each of its messages, adds
// the failed ones to failed and those to send again later to deferred.
func (h *Handler) finish(ctx context.Context, rec *metrics.Recorder, j *job, failed *[]string, deferred *[]deferral) {
	if j.started {
		recordResult(rec, j.res)
	}
	for i, msg := range j.msgs {
		req := j.reqs[i]
		attrs := []slog.Attr{
			slog.String("messageId", msg.MessageId),
			slog.String("requestId", req.RequestID),
			slog.String("scope", string(req.Scope())),
			slog.String("receiveCount", msg.Attributes["ApproximateReceiveCount"]),
		}
		if i != j.lead {
			attrs = append(attrs, slog.String("coveredBy", j.req.RequestID))
		}
		switch {
		case !j.started && j.late:
			recordFailure(rec, kindUnstarted)
			h.logger.LogAttrs(ctx, slog.LevelWarn, "message not started: the deadline is near", attrs...)
			// Nothing is wrong with it: let another invocation take it in
			// seconds rather than after the visibility timeout.
			*deferred = append(*deferred, deferral{msg, UnstartedDelay + h.cfg.Jitter(MaxJitter), "not started"})
		case !j.started:
			// The batch stopped on a systemic failure (credentials): the
			// visibility timeout is the backoff before the next attempt.
			*failed = append(*failed, msg.MessageId)
			recordFailure(rec, kindUnstarted)
			h.logger.LogAttrs(ctx, slog.LevelWarn, "message not started: the batch stopped; SQS redelivers it after the visibility timeout", attrs...)
		case j.err == nil:
			attrs = append(attrs, slog.String("outcome", string(j.res.Status)))
			if len(req.Reason) > 0 && i != j.lead {
				attrs = append(attrs, slog.Any("reason", req.Reason))
			}
			h.logger.LogAttrs(ctx, slog.LevelInfo, "message done", attrs...)
		case j.kind == kindRateLimited:
			recordFailure(rec, j.kind)
			h.logFailure(ctx, j, attrs)
			*deferred = append(*deferred, deferral{msg, h.rateLimitWait(j.err), "rate limited"})
		default:
			*failed = append(*failed, msg.MessageId)
			recordFailure(rec, j.kind)
			h.logFailure(ctx, j, attrs)
		}
	}
}

func (h *Handler) logFailure(ctx context.Context, j *job, attrs []slog.Attr) {
	attrs = append(attrs,
		slog.String("outcome", string(revocation.StatusFailed)),
		slog.String("failure", string(j.kind)),
		slog.String("error", truncate(j.err.Error(), maxLoggedError)))
	if id := okta.RequestIDOf(j.err); id != "" {
		attrs = append(attrs, slog.String("oktaRequestId", id))
	}
	level, msg := slog.LevelWarn, "message failed; SQS redelivers it"
	switch j.kind {
	case kindConfig:
		level, msg = slog.LevelError, "Okta rejected this service's credentials or they are unusable; fix the configuration"
		attrs = append(attrs, slog.Bool("configProblem", true))
	case kindInvalid:
		level, msg = slog.LevelError, "poison message: it can never succeed and goes to the dead-letter queue after the queue's maxReceiveCount"
		attrs = append(attrs, slog.Bool("poison", true))
	case kindRateLimited:
		msg = "rate limited: the request is deferred until Okta's window resets"
	case kindRejected:
		level, msg = slog.LevelError, "Okta rejected this request; SQS redelivers it and it goes to the dead-letter queue after the queue's maxReceiveCount"
		var oktaErr *okta.Error
		if errors.As(j.err, &oktaErr) {
			attrs = append(attrs, slog.Int("oktaStatus", oktaErr.StatusCode))
		}
	case kindOther:
		level = slog.LevelError
	}
	h.logger.LogAttrs(ctx, level, msg, attrs...)
}

// rateLimitWait is how long a rate-limited request waits: until Okta's
// window resets, plus jitter, so it does not hit Okta while it still says
// no, nor together with every other request waiting for the same window.
func (h *Handler) rateLimitWait(err error) time.Duration {
	wait := DefaultRateLimitDelay
	if reset, _ := okta.RateLimitReset(err); !reset.IsZero() {
		wait = reset.Sub(h.cfg.Now())
	}
	return max(wait, time.Second) + h.cfg.Jitter(MaxJitter)
}

// deferral is a message to send again after wait, and why.
type deferral struct {
	msg  events.SQSMessage
	wait time.Duration
	why  string
}

// deferAll sends each deferred message again as a new message delayed by
// its wait (capped at SQS's 15 minutes), carrying its attributes and a
// deferral count, and leaves the original to be deleted as done. What
// cannot be sent, or was deferred MaxDeferrals times already, fails
// instead with its visibility set to its wait: nothing is lost either way.
func (h *Handler) deferAll(ctx context.Context, rec *metrics.Recorder, ds []deferral, failed *[]string) {
	var msgs []queue.Message
	var sending, fallback []deferral
	for _, d := range ds {
		n := deferralsOf(d.msg)
		if h.cfg.Publisher == nil || n >= MaxDeferrals {
			fallback = append(fallback, d)
			continue
		}
		attrs, dropped := deferredAttributes(d.msg, n+1)
		if len(dropped) > 0 {
			h.logger.WarnContext(ctx, "deferred copy leaves out message attributes",
				slog.String("messageId", d.msg.MessageId), slog.Any("dropped", dropped))
		}
		msgs = append(msgs, queue.Message{ID: d.msg.MessageId, Body: d.msg.Body, Attributes: attrs, Delay: min(d.wait, queue.MaxDelay)})
		sending = append(sending, d)
	}
	if len(msgs) > 0 {
		notSent := make(map[string]bool)
		if err := h.cfg.Publisher.Publish(ctx, msgs); err != nil {
			var pe *queue.PublishError
			if errors.As(err, &pe) {
				for _, id := range pe.Failed {
					notSent[id] = true
				}
			} else {
				for _, m := range msgs {
					notSent[m.ID] = true
				}
			}
			h.logger.WarnContext(ctx, "cannot defer messages as new ones; they fail and SQS redelivers them",
				slog.Int("notSent", len(notSent)), slog.String("error", truncate(err.Error(), maxLoggedError)))
		}
		for i, d := range sending {
			if notSent[d.msg.MessageId] {
				fallback = append(fallback, d)
				continue
			}
			rec.Add(MetricDeferred, 1)
			h.logger.InfoContext(ctx, "message deferred: sent again as a new, delayed message",
				slog.String("messageId", d.msg.MessageId), slog.String("why", d.why),
				slog.Int64("delaySeconds", int64((msgs[i].Delay+time.Second-1)/time.Second)),
				slog.String(AttrDeferrals, msgs[i].Attributes[AttrDeferrals]))
		}
	}
	for _, d := range fallback {
		*failed = append(*failed, d.msg.MessageId)
		h.redeliverAfter(ctx, d.msg, d.wait, d.why)
	}
}

// deferredAttributes are the attributes of msg's deferred copy: the
// deferral count and, in name order, as many of its String attributes as
// SQS allows beside it. The request is the body; attributes are only
// context for logs, so a copy without some of them beats a message that
// cannot be deferred. dropped names those left out.
func deferredAttributes(msg events.SQSMessage, deferrals int) (attrs map[string]string, dropped []string) {
	attrs = map[string]string{AttrDeferrals: strconv.Itoa(deferrals)}
	for _, name := range slices.Sorted(maps.Keys(msg.MessageAttributes)) {
		a := msg.MessageAttributes[name]
		switch {
		case name == AttrDeferrals:
		case a.DataType != "String" || a.StringValue == nil || len(attrs) >= queue.MaxAttributes:
			dropped = append(dropped, name)
		default:
			attrs[name] = *a.StringValue
		}
	}
	return attrs, dropped
}

// deferralsOf is the message's deferral count (0 when absent or unreadable).
func deferralsOf(msg events.SQSMessage) int {
	a, ok := msg.MessageAttributes[AttrDeferrals]
	if !ok || a.StringValue == nil {
		return 0
	}
	n, err := strconv.Atoi(*a.StringValue)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// redeliverAfter sets a failed message's visibility so SQS redelivers it
// after wait instead of after the queue's visibility timeout. If that
// fails, the visibility timeout still brings it back: nothing is lost.
func (h *Handler) redeliverAfter(ctx context.Context, msg events.SQSMessage, wait time.Duration, why string) {
	if h.cfg.SQS == nil || h.cfg.QueueURL == "" {
		h.logger.WarnContext(ctx, "cannot set redelivery: no queue configured", slog.String("messageId", msg.MessageId), slog.String("why", why))
		return
	}
	if err := queue.DelayRedelivery(ctx, h.cfg.SQS, h.cfg.QueueURL, msg.ReceiptHandle, wait); err != nil {
		h.logger.WarnContext(ctx, "cannot set redelivery; SQS redelivers after the visibility timeout",
			slog.String("messageId", msg.MessageId), slog.String("why", why), slog.String("error", err.Error()))
		return
	}
	h.logger.InfoContext(ctx, "redelivery set", slog.String("messageId", msg.MessageId), slog.String("why", why),
		slog.Int64("delaySeconds", int64((wait+time.Second-1)/time.Second)))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:n], len(s))
}
