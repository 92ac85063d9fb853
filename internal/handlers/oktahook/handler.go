// Package oktahook is the okta-hook Lambda function: it answers Okta's
// event hook calls (API Gateway HTTP API, payload 2.0) on GET and POST
// /hooks/okta, turns the delivered events into revocation requests and
// queues them. It never calls Okta.
//
// Okta waits 3 seconds, retries once on 5xx or a timeout and never on 4xx.
// So the handler answers 200 only when every request is queued, 5xx when
// queueing failed (after logging the whole delivery for replay), and 4xx only
// for calls that will never succeed.
package oktahook

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
	"github.com/okta-token-revoker/okta-token-revoker/internal/metrics"
	hook "github.com/okta-token-revoker/okta-token-revoker/internal/oktahook"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Publisher queues messages; *queue.Publisher implements it. Publish returns
// nil only when every message was accepted.
type Publisher interface {
	Publish(ctx context.Context, msgs []queue.Message) error
}

// maxChallengeLength bounds the verification challenge echoed back. Okta's
// are a few dozen characters.
const maxChallengeLength = 1024

// Time budgets within Okta's 3 s wait. Reading the hook secret (one
// Secrets Manager call when not cached) gets authTimeout; the whole call,
// enqueueing included, ends by answerBudget after it started, so even with
// Secrets Manager and SQS both slow the 5xx reaches Okta in time for its
// retry.
const (
	authTimeout  = time.Second
	answerBudget = 2750 * time.Millisecond
)

// Time budgets of the dedupe table, when there is one. Claiming gets
// claimTimeout (then the events are queued without a record: fail open);
// confirming or releasing the claims after the queue answered gets
// finishTimeout, within the answerBudget's margin to Okta's 3 s.
const (
	claimTimeout  = 500 * time.Millisecond
	finishTimeout = 200 * time.Millisecond
)

// Metrics, written in CloudWatch's Embedded Metric Format, one line per
// invocation, in namespace MetricsNamespace with dimension Function=okta-hook.
const (
	MetricsNamespace = "OktaTokenRevoker"
	// MetricEvents counts events received in authenticated deliveries.
	MetricEvents = "HookEvents"
	// MetricRevocationsQueued counts revocation requests queued.
	MetricRevocationsQueued = "HookRevocationsQueued"
	// MetricEventsSkipped counts events that asked for no revocation
	// (other types, failed outcomes, no target).
	MetricEventsSkipped = "HookEventsSkipped"
	// MetricEventsUnreadable counts events that could not be decoded.
	MetricEventsUnreadable = "HookEventsUnreadable"
	// MetricDeliveriesNotQueued counts deliveries answered 503 because
	// queueing failed: Okta retries once, then the events are lost unless
	// replayed from the ERROR log. Alarm on it.
	MetricDeliveriesNotQueued = "HookDeliveriesNotQueued"
	// MetricDeliveriesRejected counts authenticated calls answered 4xx
	// (malformed, oversized, wrong envelope): Okta does not retry them.
	MetricDeliveriesRejected = "HookDeliveriesRejected"
	// MetricUnauthenticated counts calls without the right secret.
	MetricUnauthenticated = "HookUnauthenticated"
	// MetricSecretUnavailable counts calls answered 503 because the hook
	// secret could not be read.
	MetricSecretUnavailable = "HookSecretUnavailable"
	// MetricEnqueueLatency is the time spent queueing one delivery.
	MetricEnqueueLatency = "HookEnqueueLatency"
	// MetricEventsAlreadyQueued counts events not queued because the
	// dedupe table says another delivery, the reconciler or the log stream
	// queued them (or is queueing them).
	MetricEventsAlreadyQueued = "HookEventsAlreadyQueued"
)

// counters are declared on every invocation, so dashboards see zeros, not
// gaps.
var counters = []string{
	MetricEvents, MetricRevocationsQueued, MetricEventsSkipped, MetricEventsUnreadable,
	MetricDeliveriesNotQueued, MetricDeliveriesRejected, MetricUnauthenticated, MetricSecretUnavailable,
	MetricEventsAlreadyQueued,
}

// Handler serves Okta's calls. It is safe for concurrent use.
type Handler struct {
	auth           *hook.Authenticator
	policy         *revocation.Policy
	publisher      Publisher
	dedupe         *dedupe.Store // nil: every event is queued
	logger         *slog.Logger
	metrics        io.Writer // nil: no metrics
	maxBodyBytes   int
	enqueueTimeout time.Duration
	authTimeout    time.Duration
}

// Option configures a Handler.
type Option func(*Handler)

// WithMetrics writes one EMF metrics line per invocation to w (os.Stdout in
// Lambda, where CloudWatch Logs extracts the metrics).
func WithMetrics(w io.Writer) Option {
	return func(h *Handler) { h.metrics = w }
}

// WithDedupe records each queued event's uuid in store and skips events
// already recorded there (queued by an earlier delivery, the reconciler or
// the log stream). Without it every event is queued.
func WithDedupe(store *dedupe.Store) Option {
	return func(h *Handler) { h.dedupe = store }
}

// New returns a Handler. secrets supplies the hook secret (a
// *secrets.Cache of cfg.SecretARN), publisher queues to cfg.QueueURL.
func New(cfg Config, secrets hook.SecretReader, publisher Publisher, logger *slog.Logger, opts ...Option) (*Handler, error) {
	policy, err := revocation.NewPolicy(cfg.EventTypes)
	if err != nil {
		return nil, fmt.Errorf("event types: %w", err)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.EnqueueTimeout <= 0 {
		cfg.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if cfg.AuthHeader == "" {
		cfg.AuthHeader = hook.DefaultAuthHeader
	}
	h := &Handler{
		auth:           hook.NewAuthenticator(cfg.AuthHeader, secrets),
		policy:         policy,
		publisher:      publisher,
		logger:         logger,
		maxBodyBytes:   cfg.MaxBodyBytes,
		enqueueTimeout: cfg.EnqueueTimeout,
		authTimeout:    authTimeout,
	}
	for _, opt := range opts {
		opt(h)
	}
	return h, nil
}

// Handle is the Lambda handler. It never returns an error: every outcome is
// an HTTP answer, since API Gateway would turn an error into an opaque 500.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	rec := metrics.New(MetricsNamespace)
	rec.SetDimension("Function", "okta-hook")
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		rec.SetProperty("lambdaRequestId", lc.AwsRequestID)
	}
	for _, name := range counters {
		rec.Add(name, 0)
	}
	resp := h.serve(ctx, req, rec)
	if h.metrics != nil {
		if err := rec.Flush(h.metrics, time.Now()); err != nil {
			h.logger.WarnContext(ctx, "cannot write metrics", slog.String("error", err.Error()))
		}
	}
	return resp, nil
}

func (h *Handler) serve(ctx context.Context, req events.APIGatewayV2HTTPRequest, rec *metrics.Recorder) events.APIGatewayV2HTTPResponse {
	start := time.Now()
	log := h.logger.With(slog.String("apiRequestId", req.RequestContext.RequestID))
	method := req.RequestContext.HTTP.Method
	if method != http.MethodGet && method != http.MethodPost {
		resp := errorResponse(req, http.StatusMethodNotAllowed, "method not allowed")
		resp.Headers["Allow"] = "GET, POST"
		log.InfoContext(ctx, "hook call rejected", slog.String("method", method), slog.Int("status", resp.StatusCode))
		return resp
	}

	// Authentication comes first for every method, so unauthenticated callers
	// learn nothing about bodies or challenges.
	authCtx, cancel := context.WithTimeout(ctx, h.authTimeout)
	err := h.auth.Authenticate(authCtx, req.Headers)
	cancel()
	if err != nil {
		if errors.Is(err, hook.ErrUnauthenticated) {
			_, present := hook.Header(req.Headers, h.auth.HeaderName())
			log.WarnContext(ctx, "hook call rejected: unauthenticated",
				slog.String("method", method),
				slog.String("sourceIp", req.RequestContext.HTTP.SourceIP),
				slog.String("authHeader", h.auth.HeaderName()),
				slog.Bool("authHeaderPresent", present))
			rec.Add(MetricUnauthenticated, 1)
			return errorResponse(req, http.StatusUnauthorized, "unauthorized")
		}
		// Okta retries a 5xx once; a 401 would drop the delivery.
		log.ErrorContext(ctx, "cannot authenticate hook call: hook secret unavailable",
			slog.String("method", method), slog.String("error", err.Error()))
		rec.Add(MetricSecretUnavailable, 1)
		return errorResponse(req, http.StatusServiceUnavailable, "service unavailable")
	}

	if method == http.MethodGet {
		return h.verify(ctx, log, req)
	}
	return h.deliver(ctx, log, req, rec, start)
}

// verify answers Okta's one-time verification GET.
func (h *Handler) verify(ctx context.Context, log *slog.Logger, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	challenge, _ := hook.Header(req.Headers, hook.VerificationHeader)
	switch {
	case challenge == "":
		log.InfoContext(ctx, "verification rejected: no challenge header")
		return errorResponse(req, http.StatusBadRequest, "missing "+hook.VerificationHeader+" header")
	case len(challenge) > maxChallengeLength:
		log.InfoContext(ctx, "verification rejected: challenge too long", slog.Int("length", len(challenge)))
		return errorResponse(req, http.StatusBadRequest, hook.VerificationHeader+" header too long")
	}
	log.InfoContext(ctx, "verification challenge answered")
	return httpapi.JSON(http.StatusOK, hook.VerificationResponse{Verification: challenge})
}

// maxLoggedDelivery bounds the delivery body copied into a log record, so a
// record stays well inside CloudWatch Logs' event size limit (256 KB, or
// 1 MB in newer regions' quotas) whatever HOOK_MAX_BODY_BYTES allows.
const maxLoggedDelivery = 64 << 10

// deliveryAttr is the log attribute that keeps a delivery for diagnosis or
// replay: the whole body when it fits maxLoggedDelivery, otherwise its size
// and first maxLoggedDelivery bytes.
func deliveryAttr(body []byte) slog.Attr {
	if len(body) <= maxLoggedDelivery {
		return slog.String("delivery", string(body))
	}
	return slog.Group("delivery",
		slog.Int("bytes", len(body)),
		slog.Bool("truncated", true),
		slog.String("head", strings.ToValidUTF8(string(body[:maxLoggedDelivery]), "")))
}

// notQueued returns the requests whose ids are in failed, in order.
func notQueued(reqs []revocation.Request, failed []string) []revocation.Request {
	var out []revocation.Request
	for _, r := range reqs {
		if slices.Contains(failed, r.RequestID) {
			out = append(out, r)
		}
	}
	return out
}

// deliver handles one POSTed delivery.
//
// The caller is authenticated, so a delivery rejected here is Okta's (or
// comes from someone holding the secret): Okta does not retry a 4xx, hence
// the ERROR level.
func (h *Handler) deliver(ctx context.Context, log *slog.Logger, req events.APIGatewayV2HTTPRequest, rec *metrics.Recorder, start time.Time) events.APIGatewayV2HTTPResponse {
	body, status, problem := h.body(req)
	if status != 0 {
		log.ErrorContext(ctx, "delivery rejected; its events are lost", slog.Int("status", status),
			slog.String("error", problem), slog.Int("bodyLength", len(req.Body)))
		rec.Add(MetricDeliveriesRejected, 1)
		return errorResponse(req, status, problem)
	}
	delivery, err := hook.ParseDelivery(body)
	if err != nil {
		// The body is logged so nothing is lost if this was a real delivery
		// we failed to read.
		log.ErrorContext(ctx, "delivery rejected; its events are lost", slog.Int("status", http.StatusBadRequest),
			slog.String("error", err.Error()), deliveryAttr(body))
		rec.Add(MetricDeliveriesRejected, 1)
		return errorResponse(req, http.StatusBadRequest, err.Error())
	}
	log = log.With(slog.String("eventId", delivery.EventID))

	var (
		mapped    []dedupe.Event
		uuids     []string
		skipped   []skippedEvent
		malformed int
	)
	for i, raw := range delivery.Events {
		ev, err := hook.DecodeEvent(raw)
		if err != nil {
			// One unreadable event must not cost the others; it is logged in
			// full so it can be handled by hand.
			malformed++
			log.ErrorContext(ctx, "event skipped: unreadable", slog.Int("index", i),
				slog.String("error", err.Error()), slog.String("event", string(raw)))
			continue
		}
		uuids = append(uuids, ev.UUID)
		reqs, reason := h.policy.Map(ev)
		if reason != "" {
			skipped = append(skipped, skippedEvent{UUID: ev.UUID, EventType: ev.EventType, Reason: reason})
			continue
		}
		mapped = append(mapped, dedupe.Event{Event: ev, Requests: reqs})
	}

	rec.Add(MetricEvents, float64(len(delivery.Events)))
	rec.Add(MetricEventsSkipped, float64(len(skipped)))
	rec.Add(MetricEventsUnreadable, float64(malformed))
	summary := []any{
		slog.Int("events", len(delivery.Events)),
		slog.Any("eventUuids", uuids),
		slog.Int("skipped", len(skipped)),
		slog.Int("malformed", malformed),
	}
	if len(skipped) > 0 {
		summary = append(summary, slog.Any("skippedEvents", skipped))
	}
	if len(mapped) == 0 {
		log.InfoContext(ctx, "delivery had nothing to revoke", append(summary, slog.Int("requests", 0))...)
		return ok()
	}

	pubCtx, cancel := context.WithDeadline(ctx, h.enqueueDeadline(start, time.Now()))
	defer cancel()
	// Claim (when deduplicating), queue, then confirm or release: see
	// dedupe.Enqueuer. Built per call: the publisher may be swapped in tests.
	enq := &dedupe.Enqueuer{Store: h.dedupe, Publisher: h.publisher, Source: revocation.SourceEventHook,
		ClaimTimeout: claimTimeout, FinishTimeout: finishTimeout}
	enqueueStart := time.Now()
	out, err := enq.Enqueue(pubCtx, delivery.EventID, mapped)
	rec.Observe(MetricEnqueueLatency, metrics.Milliseconds, float64(time.Since(enqueueStart).Microseconds())/1000)
	rec.Add(MetricEventsAlreadyQueued, float64(len(out.AlreadyQueued)+len(out.InProgress)))

	summary = append(summary, slog.Int("requests", len(out.Requests)), slog.Any("revocations", revocation.Summarize(out.Requests)))
	if h.dedupe != nil {
		summary = append(summary, slog.Any("alreadyQueued", out.AlreadyQueued), slog.Any("inProgressElsewhere", out.InProgress))
		if out.StoreErr != nil {
			// Nothing is lost: events the table could not record were queued
			// anyway (a duplicate revocation is harmless).
			summary = append(summary, slog.String("dedupeError", out.StoreErr.Error()), slog.Any("unrecorded", out.Unrecorded))
		}
	}
	if err != nil {
		attrs := append(summary,
			slog.String("error", err.Error()),
			slog.Int64("durationMs", time.Since(start).Milliseconds()),
			deliveryAttr(body))
		replay := out.Requests
		var pubErr *queue.PublishError
		if errors.As(err, &pubErr) {
			attrs = append(attrs, slog.Any("notQueued", pubErr.Failed))
			if named := notQueued(out.Requests, pubErr.Failed); len(named) > 0 {
				replay = named
			}
		}
		// The requests themselves, each a message body for the queue: a
		// replay that does not need the delivery, whatever its size.
		attrs = append(attrs, slog.Any("replay", replay))
		log.ErrorContext(ctx, "delivery NOT queued: answering 503 so Okta retries once; replay the delivery from this log if it keeps failing", attrs...)
		rec.Add(MetricDeliveriesNotQueued, 1)
		return errorResponse(req, http.StatusServiceUnavailable, "could not queue the events; retry later")
	}
	rec.Add(MetricRevocationsQueued, float64(len(out.Requests)))
	summary = append(summary, slog.Int64("durationMs", time.Since(start).Milliseconds()))
	if len(out.Requests) == 0 {
		log.InfoContext(ctx, "delivery already queued by another source", summary...)
		return ok()
	}
	log.InfoContext(ctx, "delivery queued", summary...)
	return ok()
}

// body returns the request body, base64-decoded when API Gateway encoded
// it, or a 4xx status and the problem.
func (h *Handler) body(req events.APIGatewayV2HTTPRequest) ([]byte, int, string) {
	tooLarge := fmt.Sprintf("body larger than %d bytes", h.maxBodyBytes)
	if !req.IsBase64Encoded {
		if len(req.Body) > h.maxBodyBytes {
			return nil, http.StatusRequestEntityTooLarge, tooLarge
		}
		return []byte(req.Body), 0, ""
	}
	// Check before decoding, so an oversized body costs no allocation.
	if base64.StdEncoding.DecodedLen(len(req.Body)) > h.maxBodyBytes+2 {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	b, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, http.StatusBadRequest, "body is not valid base64"
	}
	if len(b) > h.maxBodyBytes {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	return b, 0, ""
}

// skippedEvent is logged for each event that caused no revocation.
type skippedEvent struct {
	UUID      string `json:"uuid"`
	EventType string `json:"eventType"`
	Reason    string `json:"reason"`
}

// ok is the answer to a delivery that is fully handled: 200 with an empty
// body, as Okta asks.
func ok() events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Cache-Control": "no-store"}}
}

func errorResponse(req events.APIGatewayV2HTTPRequest, status int, message string) events.APIGatewayV2HTTPResponse {
	return httpapi.JSON(status, httpapi.ErrorBody{Message: message, RequestID: req.RequestContext.RequestID})
}

// enqueueDeadline is when queueing a delivery whose call started at start
// must end, queueing from now: after HOOK_ENQUEUE_TIMEOUT, and early enough
// to answer within answerBudget, keeping back the dedupe table's
// confirm-or-release step (finishTimeout, which runs after the queue has
// answered) when there is a table.
func (h *Handler) enqueueDeadline(start, now time.Time) time.Time {
	budget := answerBudget
	if h.dedupe != nil {
		budget -= finishTimeout
	}
	deadline := now.Add(h.enqueueTimeout)
	if latest := start.Add(budget); latest.Before(deadline) {
		return latest
	}
	return deadline
}
