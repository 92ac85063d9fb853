// Package revoketokens is the revoke-tokens Lambda function: one handler for
// two triggers. SQS batches from the revocation queue are executed on a
// bounded worker pool with partial-batch failure reporting; API Gateway
// (HTTP API, payload 2.0) requests revoke synchronously (DELETE routes) or
// queue revocation requests (POST /revocations).
//
// # Timing
//
// The template gives the function a 60 s timeout and the queue a visibility
// timeout of at least 6x that (360 s), as AWS advises for SQS event sources.
// All work of an invocation runs under the invocation's context, whose
// deadline is the function timeout, and the Okta client bounds every wait
// (per-attempt timeouts, 429 waits, retries) by that context. So no work
// outlives the invocation, and a batch is never redelivered while it is
// still being worked on. Near the deadline the handler stops starting
// messages (DeadlineReserve before it, by default the Okta client's
// per-attempt timeout) and defers the unstarted ones: each is sent again as
// a new message delayed by UnstartedDelay (or, if that fails, reported as
// a failure for SQS to redeliver). HTTP requests are bounded
// by HTTPTimeout (25 s), below API Gateway's 30 s integration timeout.
package revoketokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
	"github.com/okta-token-revoker/okta-token-revoker/internal/metrics"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Executor executes one revocation request; *revocation.Executor
// implements it.
type Executor interface {
	Execute(ctx context.Context, req revocation.Request) (revocation.Result, error)
}

// Publisher queues revocation requests; *queue.Publisher implements it.
type Publisher interface {
	Publish(ctx context.Context, msgs []queue.Message) error
}

// Defaults for Config's zero values.
const (
	DefaultNamespace       = "OktaTokenRevoker"
	DefaultConcurrency     = 4
	DefaultDeadlineReserve = 10 * time.Second
	DefaultHTTPTimeout     = 25 * time.Second
	// DefaultEnqueueTimeout bounds POST /revocations' wait for SQS: a caller
	// learns of a queue outage in seconds, not at the gateway's timeout.
	DefaultEnqueueTimeout = 5 * time.Second
	DefaultMaxBodyBytes   = 256 << 10
	DefaultMaxBatchItems  = 500
	// DefaultRateLimitDelay is how long a rate-limited message waits when
	// Okta did not say when its window resets.
	DefaultRateLimitDelay = 60 * time.Second
	// MaxJitter spreads the redelivery of rate-limited messages, so they do
	// not all hit Okta in the first second of the new window.
	MaxJitter = 5 * time.Second
	// UnstartedDelay (plus up to MaxJitter) is when a message left
	// unstarted because the invocation's deadline was near is redelivered.
	UnstartedDelay = time.Second
)

// wrapUp is the time kept free at the end of an invocation to change
// message visibilities, write metrics and return the response.
const wrapUp = 2 * time.Second

// Config configures a Handler.
type Config struct {
	// Executor revokes. Required.
	Executor Executor
	// Publisher queues POST /revocations. Required for that route.
	Publisher Publisher
	// SQS and QueueURL are used to delay the redelivery of rate-limited
	// messages (ChangeMessageVisibility on the revocation queue, which is
	// also the queue this function consumes). Required for SQS batches.
	SQS      queue.API
	QueueURL string
	// Logger for handler records; the executor writes the audit records.
	Logger *slog.Logger
	// Metrics receives one EMF line per invocation. Default os.Stdout.
	Metrics io.Writer
	// Namespace of the CloudWatch metrics. Default DefaultNamespace.
	Namespace string
	// Concurrency bounds the requests of one SQS batch worked on at once
	// (REVOKE_CONCURRENCY). Default DefaultConcurrency.
	Concurrency int
	// DeadlineReserve: no message is started when less than this remains
	// before the invocation's deadline. Default DefaultDeadlineReserve.
	DeadlineReserve time.Duration
	// HTTPTimeout bounds a synchronous HTTP request. Default DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// EnqueueTimeout bounds queueing POST /revocations. Default DefaultEnqueueTimeout.
	EnqueueTimeout time.Duration
	// MaxBodyBytes bounds POST /revocations bodies. Default DefaultMaxBodyBytes.
	MaxBodyBytes int
	// MaxBatchItems bounds the requests of one POST /revocations.
	// Default DefaultMaxBatchItems.
	MaxBatchItems int
	// DryRun is reported in metrics and responses; the executor does the
	// actual dry run.
	DryRun bool
	// Now and Jitter are for tests. Defaults: time.Now and a uniform random
	// duration in [0, max). Now is used to decide whether enough time is
	// left to start a message and to compute rate-limit delays; contexts
	// always use the real clock.
	Now    func() time.Time
	Jitter func(max time.Duration) time.Duration
}

// Handler serves both triggers of the revoke-tokens function.
type Handler struct {
	cfg    Config
	logger *slog.Logger
	router *httpapi.Router
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Executor == nil {
		return nil, errors.New("revoketokens: an executor is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = os.Stdout
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.DeadlineReserve <= 0 {
		cfg.DeadlineReserve = DefaultDeadlineReserve
	}
	if cfg.EnqueueTimeout <= 0 {
		cfg.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = DefaultHTTPTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBatchItems <= 0 {
		cfg.MaxBatchItems = DefaultMaxBatchItems
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max)
		}
	}
	h := &Handler{cfg: cfg, logger: cfg.Logger}
	h.router = httpapi.NewRouter(cfg.Logger)
	h.register(h.router)
	return h, nil
}

// Invoke is the Lambda entry point (it implements lambda.Handler). It tells
// the triggers apart by the event's shape: an SQS batch has Records whose
// eventSource is "aws:sqs"; an HTTP API request has a routeKey and
// requestContext.http.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
		RouteKey       string `json:"routeKey"`
		RequestContext struct {
			HTTP *struct {
				Method string `json:"method"`
			} `json:"http"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("revoke-tokens: event is not a JSON object: %w", err)
	}
	switch {
	case len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs":
		var ev events.SQSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("revoke-tokens: decode SQS event: %w", err)
		}
		resp, err := h.HandleSQS(ctx, ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	case probe.RouteKey != "" && probe.RequestContext.HTTP != nil:
		var req httpapi.Request
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, fmt.Errorf("revoke-tokens: decode HTTP API request: %w", err)
		}
		resp, err := h.HandleHTTP(ctx, req)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	}
	return nil, errors.New("revoke-tokens: unsupported event: want an SQS batch or an API Gateway HTTP API (payload 2.0) request")
}

// Metric names. Failures counts every failed message or request; the
// Failures<Kind> metrics split it by cause.
const (
	MetricMessages    = "Messages"
	MetricRevocations = "Revocations"
	MetricAlreadyGone = "AlreadyGone"
	MetricDryRun      = "DryRunRevocations"
	MetricFailures    = "Failures"
	MetricRateLimited = "RateLimited"
	MetricDeferred    = "Deferred"
	MetricOktaLatency = "OktaLatency"
)

// failureKind classifies why a message or request failed.
type failureKind string

const (
	kindInvalid     failureKind = "Invalid"     // can never succeed: poison
	kindRateLimited failureKind = "RateLimited" // Okta 429 beyond what the deadline allowed to wait
	kindConfig      failureKind = "Config"      // Okta 401/403 or unusable credentials
	kindServer      failureKind = "Server"      // Okta 5xx or connection failures
	kindTimeout     failureKind = "Timeout"     // Okta or the deadline timed out
	kindUnstarted   failureKind = "Unstarted"   // not started: deadline near or batch stopped
	kindQueue       failureKind = "Queue"       // POST /revocations could not queue everything
	kindRejected    failureKind = "Rejected"    // another Okta 4xx (400, 409...): this request's fault
	kindOther       failureKind = "Other"       // anything else (e.g. the secret cannot be read)
)

func newRecorder(ctx context.Context, cfg Config, trigger string) *metrics.Recorder {
	rec := metrics.New(cfg.Namespace)
	rec.SetDimension("Trigger", trigger)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		rec.SetProperty("lambdaRequestId", lc.AwsRequestID)
	}
	if cfg.DryRun {
		rec.SetProperty("dryRun", true)
	}
	// Declare the counters so dashboards see zeros, not gaps.
	for _, name := range []string{MetricRevocations, MetricAlreadyGone, MetricFailures, MetricRateLimited} {
		rec.Add(name, 0)
	}
	return rec
}

// recordResult counts the Okta calls of one executed request.
func recordResult(rec *metrics.Recorder, res revocation.Result) {
	for _, a := range res.Actions {
		switch a.Status {
		case revocation.StatusRevoked:
			rec.Add(MetricRevocations, 1)
		case revocation.StatusAlreadyGone:
			rec.Add(MetricAlreadyGone, 1)
		case revocation.StatusDryRun:
			rec.Add(MetricDryRun, 1)
		}
		if a.Called() {
			rec.Observe(MetricOktaLatency, metrics.Milliseconds, float64(a.Duration.Microseconds())/1000)
		}
	}
}

func recordFailure(rec *metrics.Recorder, kind failureKind) {
	rec.Add(MetricFailures, 1)
	rec.Add(MetricFailures+string(kind), 1) // FailuresInvalid, FailuresServer, ...
	if kind == kindRateLimited {
		rec.Add(MetricRateLimited, 1)
	}
}

func (h *Handler) flush(ctx context.Context, rec *metrics.Recorder) {
	if err := rec.Flush(h.cfg.Metrics, h.cfg.Now()); err != nil {
		h.logger.WarnContext(ctx, "cannot write metrics", slog.String("error", err.Error()))
	}
}

// boundedContext returns ctx limited to max and to the invocation deadline
// less the wrap-up time, so a response is always sent in time. Deadlines are
// real time, whatever Config.Now says.
func boundedContext(ctx context.Context, max time.Duration) (context.Context, context.CancelFunc) {
	limit := time.Now().Add(max)
	if deadline, ok := ctx.Deadline(); ok && deadline.Add(-wrapUp).Before(limit) {
		limit = deadline.Add(-wrapUp)
	}
	return context.WithDeadline(ctx, limit)
}
