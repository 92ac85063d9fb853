// Package reconcile is the reconcile Lambda function: the safety net under
// Okta's best-effort event hook.
//
// On a schedule (an EventBridge "Scheduled Event") it polls Okta's System
// Log from its stored cursor for the event types the hook acts on, maps
// each event with the same revocation.Policy as the hook, and queues what
// the hook missed: every event is claimed in the dedupe table first, so an
// event the hook (or another run) already queued is skipped, and two
// concurrent runs never queue one event twice. It also reports
// event_hook.delivery events, Okta's record of a hook delivery that failed.
//
// The same function takes Okta's System Log stream from an EventBridge
// partner event bus (an event whose detail is one LogEvent), through the
// same mapping and the same dedupe: the events arrive without an Okta call,
// and a stream event that is dropped is still found by the next poll.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/metrics"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	hook "github.com/okta-token-revoker/okta-token-revoker/internal/oktahook"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Reason.Source of the requests this function queues.
const (
	SourceSystemLog = "okta-system-log"
	SourceLogStream = "okta-log-stream"
)

// HookDeliveryEventType is the System Log event Okta writes when an event
// hook delivery failed (after its one retry).
const HookDeliveryEventType = "event_hook.delivery"

// CursorName names the System Log cursor in the dedupe table.
const CursorName = "system-log"

// What EventBridge sends.
const (
	// ScheduledEventDetailType is the detail-type of EventBridge schedule
	// rules ("Scheduled Event" from source aws.events).
	ScheduledEventDetailType = "Scheduled Event"
	// PartnerSourcePrefix starts the source of Okta's log stream events:
	// aws.partner/okta.com/<org>/<event source name>.
	PartnerSourcePrefix = "aws.partner/okta.com/"
)

// Metrics, in CloudWatch's Embedded Metric Format, one line per invocation,
// namespace MetricsNamespace, dimension Function=reconcile; the property
// "trigger" says schedule or log-stream.
const (
	MetricsNamespace = "OktaTokenRevoker"
	// MetricPages counts System Log pages read.
	MetricPages = "ReconcilePages"
	// MetricEvents counts events read (polled or streamed).
	MetricEvents = "ReconcileEvents"
	// MetricEventsQueued counts events this function queued: events the
	// hook missed (or had not delivered yet).
	MetricEventsQueued = "ReconcileEventsQueued"
	// MetricRevocationsQueued counts the revocation requests queued.
	MetricRevocationsQueued = "ReconcileRevocationsQueued"
	// MetricEventsAlreadyQueued counts events another producer had queued:
	// the normal case while the hook works.
	MetricEventsAlreadyQueued = "ReconcileEventsAlreadyQueued"
	// MetricEventsInProgress counts events another producer held a claim
	// on; a poll stops there and reads them again next time.
	MetricEventsInProgress = "ReconcileEventsInProgress"
	// MetricEventsSkipped counts events that call for no revocation.
	MetricEventsSkipped = "ReconcileEventsSkipped"
	// MetricEventsUnreadable counts events that could not be decoded.
	MetricEventsUnreadable = "ReconcileEventsUnreadable"
	// MetricHookDeliveryFailures counts event_hook.delivery events: Okta
	// failed to deliver to an event hook. Alarm on it.
	MetricHookDeliveryFailures = "HookDeliveryFailures"
	// MetricBudgetExhausted is 1 when a poll stopped at its page or time
	// budget with more events waiting: the reconciler is behind.
	MetricBudgetExhausted = "ReconcileBudgetExhausted"
	// MetricFailures counts invocations that ended in an error.
	MetricFailures = "ReconcileFailures"
)

var counters = []string{
	MetricPages, MetricEvents, MetricEventsQueued, MetricRevocationsQueued, MetricEventsAlreadyQueued,
	MetricEventsInProgress, MetricEventsSkipped, MetricEventsUnreadable, MetricHookDeliveryFailures,
	MetricBudgetExhausted, MetricFailures,
}

// LogReader reads the System Log; *okta.Client implements it.
type LogReader interface {
	// LogsURL is the URL of the first page of a poll: the first cursor.
	LogsURL(q okta.LogQuery) (string, error)
	// NextLogs reads the page at a cursor.
	NextLogs(ctx context.Context, cursor string) (okta.LogPage, error)
}

// Time a poll keeps for itself before the invocation's deadline.
const (
	// pageReserve: a page after the first is started only with this much
	// time left (Okta's System Log queries may take up to 30 s).
	pageReserve = 35 * time.Second
	// finishReserve is kept for queueing and saving the cursor after a page
	// was read.
	finishReserve = 8 * time.Second
	// defaultRunTime bounds a poll when ctx has no deadline (tests, local).
	defaultRunTime = 2 * time.Minute
)

// Config configures a Handler.
type Config struct {
	Logs      LogReader
	Store     *dedupe.Store // the dedupe table: cursor and queued events
	Publisher dedupe.Publisher
	// EventTypes the policy acts on (REVOKE_ON_EVENTS, parsed).
	EventTypes []string
	Lookback   time.Duration // first poll only; default DefaultLookback
	MaxPages   int           // per poll; default DefaultMaxPages
	PageSize   int           // default DefaultPageSize
	Logger     *slog.Logger  // default slog.Default()
	Metrics    io.Writer     // EMF lines; nil = none
	Now        func() time.Time
}

// Handler handles the function's EventBridge events. It is safe for
// concurrent use.
type Handler struct {
	logs     LogReader
	store    *dedupe.Store
	policy   *revocation.Policy
	poll     *dedupe.Enqueuer
	stream   *dedupe.Enqueuer
	query    []string // event types of the System Log filter
	lookback time.Duration
	maxPages int
	pageSize int
	logger   *slog.Logger
	metrics  io.Writer
	now      func() time.Time
}

// New returns a Handler; it makes no network call.
func New(cfg Config) (*Handler, error) {
	if cfg.Logs == nil || cfg.Store == nil || cfg.Publisher == nil {
		return nil, errors.New("reconcile: Logs, Store and Publisher are required")
	}
	policy, err := revocation.NewPolicy(cfg.EventTypes)
	if err != nil {
		return nil, fmt.Errorf("reconcile: event types: %w", err)
	}
	h := &Handler{
		logs: cfg.Logs, store: cfg.Store, policy: policy,
		poll:     &dedupe.Enqueuer{Store: cfg.Store, Publisher: cfg.Publisher, Source: SourceSystemLog},
		stream:   &dedupe.Enqueuer{Store: cfg.Store, Publisher: cfg.Publisher, Source: SourceLogStream},
		query:    append(policy.EventTypes(), HookDeliveryEventType),
		lookback: cfg.Lookback, maxPages: cfg.MaxPages, pageSize: cfg.PageSize,
		logger: cfg.Logger, metrics: cfg.Metrics, now: cfg.Now,
	}
	if h.lookback <= 0 {
		h.lookback = DefaultLookback
	}
	if h.maxPages <= 0 {
		h.maxPages = DefaultMaxPages
	}
	if h.pageSize <= 0 || h.pageSize > okta.MaxLogLimit {
		h.pageSize = DefaultPageSize
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// Handle is the Lambda handler. A scheduled event runs a poll; an event
// from Okta's partner event source is one streamed LogEvent. An error
// makes Lambda retry the invocation; the poll resumes from its cursor.
func (h *Handler) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	rec := metrics.New(MetricsNamespace)
	rec.SetDimension("Function", "reconcile")
	for _, name := range counters {
		rec.Add(name, 0)
	}
	log := h.logger
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		rec.SetProperty("lambdaRequestId", lc.AwsRequestID)
		log = log.With(slog.String("lambdaRequestId", lc.AwsRequestID))
	}
	var err error
	switch {
	case strings.HasPrefix(ev.Source, PartnerSourcePrefix):
		rec.SetProperty("trigger", "log-stream")
		err = h.streamed(ctx, log.With(slog.String("trigger", "log-stream"), slog.String("eventBridgeId", ev.ID)), ev, rec)
	case ev.DetailType == ScheduledEventDetailType:
		rec.SetProperty("trigger", "schedule")
		err = h.reconcile(ctx, log.With(slog.String("trigger", "schedule")), rec)
	default:
		// Not retried: the same event would fail the same way.
		log.ErrorContext(ctx, "event ignored: neither a schedule nor Okta's log stream",
			slog.String("source", clip(ev.Source)), slog.String("detailType", clip(ev.DetailType)), slog.String("eventBridgeId", ev.ID))
	}
	if err != nil {
		rec.Add(MetricFailures, 1)
	}
	if h.metrics != nil {
		if ferr := rec.Flush(h.metrics, h.now()); ferr != nil {
			log.WarnContext(ctx, "cannot write metrics", slog.String("error", ferr.Error()))
		}
	}
	return err
}

// pageResult is what handling one page (or one streamed event) found.
type pageResult struct {
	outcome    dedupe.Outcome
	read       int
	skipped    int
	unreadable int
	failures   int       // event_hook.delivery events reported
	newest     time.Time // the newest published time of the page's readable events
}

// handleEvents maps and queues raw LogEvents through enq, and reports hook
// delivery failures.
func (h *Handler) handleEvents(ctx context.Context, log *slog.Logger, enq *dedupe.Enqueuer, raws []json.RawMessage, rec *metrics.Recorder) (pageResult, error) {
	res := pageResult{read: len(raws)}
	var mapped []dedupe.Event
	var failures []hookFailure
	for i, raw := range raws {
		ev, err := hook.DecodeEvent(raw)
		if err != nil {
			res.unreadable++
			log.ErrorContext(ctx, "event skipped: unreadable", slog.Int("index", i),
				slog.String("error", err.Error()), slog.String("event", string(raw)))
			continue
		}
		if published, err := time.Parse(time.RFC3339Nano, ev.Published); err == nil && published.After(res.newest) {
			res.newest = published
		}
		if ev.EventType == HookDeliveryEventType {
			failures = append(failures, decodeHookFailure(ev, raw))
			continue
		}
		reqs, reason := h.policy.Map(ev)
		if reason != "" {
			res.skipped++
			log.DebugContext(ctx, "event skipped", slog.String("uuid", ev.UUID), slog.String("eventType", ev.EventType), slog.String("reason", reason))
			continue
		}
		mapped = append(mapped, dedupe.Event{Event: ev, Requests: reqs})
	}
	res.failures = h.reportHookFailures(ctx, log, enq.Source, failures)

	rec.Add(MetricEvents, float64(res.read))
	rec.Add(MetricEventsSkipped, float64(res.skipped))
	rec.Add(MetricEventsUnreadable, float64(res.unreadable))
	rec.Add(MetricHookDeliveryFailures, float64(res.failures))
	if len(mapped) == 0 {
		return res, nil
	}
	out, err := enq.Enqueue(ctx, "", mapped)
	res.outcome = out
	rec.Add(MetricEventsAlreadyQueued, float64(len(out.AlreadyQueued)))
	rec.Add(MetricEventsInProgress, float64(len(out.InProgress)))
	if out.StoreErr != nil {
		// Nothing is lost: unrecorded events were queued anyway; a failed
		// confirm or release only delays or repeats a revocation.
		log.WarnContext(ctx, "dedupe table trouble", slog.String("error", out.StoreErr.Error()), slog.Any("unrecordedEvents", out.Unrecorded))
	}
	if err != nil {
		log.ErrorContext(ctx, "revocations NOT queued; they are retried", slog.String("error", err.Error()),
			slog.Any("notQueuedEvents", out.NotQueued), slog.Any("queuedEvents", out.Queued))
		if len(out.Queued) > 0 {
			rec.Add(MetricEventsQueued, float64(len(out.Queued)))
		}
		return res, err
	}
	rec.Add(MetricEventsQueued, float64(len(out.Queued)))
	rec.Add(MetricRevocationsQueued, float64(len(out.Requests)))
	if len(out.Queued) > 0 {
		log.InfoContext(ctx, "queued revocations the event hook had not", slog.Any("eventUuids", out.Queued),
			slog.Any("revocations", revocation.Summarize(out.Requests)), slog.Any("alreadyQueued", out.AlreadyQueued))
	}
	return res, nil
}

// streamed handles one LogEvent from Okta's EventBridge log stream.
func (h *Handler) streamed(ctx context.Context, log *slog.Logger, ev events.EventBridgeEvent, rec *metrics.Recorder) error {
	res, err := h.handleEvents(ctx, log, h.stream, []json.RawMessage{ev.Detail}, rec)
	if err != nil {
		return fmt.Errorf("log stream event %s: %w", ev.ID, err)
	}
	if len(res.outcome.InProgress) > 0 {
		// Another producer is queueing it; if that one died, the next poll
		// queues it once the claim's lease ends.
		log.InfoContext(ctx, "event is being queued elsewhere", slog.Any("eventUuids", res.outcome.InProgress))
	}
	return nil
}

// reconcile runs one poll of the System Log.
func (h *Handler) reconcile(ctx context.Context, log *slog.Logger, rec *metrics.Recorder) error {
	start := h.now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultRunTime)
	}
	cur, err := h.start(ctx, log)
	if err != nil {
		log.ErrorContext(ctx, "poll failed: cannot read or create the cursor", slog.String("error", err.Error()))
		return fmt.Errorf("reconcile: %w", err)
	}

	var totals pageResult
	pages, stop := 0, ""
	defer func() {
		rec.Add(MetricPages, float64(pages))
		log.InfoContext(ctx, "poll finished", slog.Int("pages", pages), slog.String("stoppedBecause", stop),
			slog.Int("events", totals.read), slog.Int("eventsQueued", len(totals.outcome.Queued)),
			slog.Int("alreadyQueued", len(totals.outcome.AlreadyQueued)), slog.Int("skipped", totals.skipped),
			slog.Int("hookDeliveryFailures", totals.failures), slog.Int64("cursorVersion", cur.Version),
			slog.Int64("durationMs", h.now().Sub(start).Milliseconds()))
	}()
	for {
		// The first page is always read (within the deadline); further pages
		// only with time for a slow System Log query left.
		if pages == h.maxPages || pages > 0 && time.Until(deadline) < pageReserve {
			stop = "budget"
			if pages == h.maxPages {
				stop = "page budget"
			}
			rec.Add(MetricBudgetExhausted, 1)
			log.WarnContext(ctx, "poll stopped at its budget with events still waiting; the next run continues",
				slog.Int("maxPages", h.maxPages))
			return nil
		}
		readCtx, cancel := context.WithDeadline(ctx, deadline.Add(-finishReserve))
		page, err := h.logs.NextLogs(readCtx, cur.Next)
		cancel()
		if err != nil {
			stop = "error"
			attrs := []any{slog.String("error", err.Error()), slog.Bool("configProblem", okta.IsConfigProblem(err))}
			if reset, ok := okta.RateLimitReset(err); ok {
				attrs = append(attrs, slog.Time("rateLimitReset", reset))
			}
			log.ErrorContext(ctx, "poll failed: cannot read the System Log", attrs...)
			return fmt.Errorf("reconcile: read the System Log: %w", err)
		}
		pages++
		res, err := h.handleEvents(ctx, log, h.poll, page.Events, rec)
		totals.add(res)
		if err != nil {
			stop = "queue error"
			return fmt.Errorf("reconcile: %w", err)
		}
		if len(res.outcome.InProgress) > 0 {
			// Events claimed by another producer that has not confirmed: it is
			// queueing them now, or died doing so. Read this page again next
			// time rather than pass events nobody may queue.
			stop = "events claimed elsewhere"
			log.InfoContext(ctx, "poll stopped before events another producer is queueing; this page is read again next run",
				slog.Any("eventUuids", res.outcome.InProgress))
			return nil
		}
		if page.NextURL == "" {
			stop = "no next link"
			log.WarnContext(ctx, "Okta sent no next link on a polling page; the cursor stays")
			return nil
		}
		reached := cur.Reached
		if res.newest.After(reached) {
			reached = res.newest
		}
		caughtUp := len(page.Events) < h.pageSize
		if caughtUp && start.After(reached) {
			// Every event stored before this poll began has been read,
			// matching or not. Without this, a filter that matched nothing
			// for weeks left reached where it was, and a restart after a
			// configuration change reached back that far.
			reached = start
		}
		saved, err := h.store.SaveCursor(context.WithoutCancel(ctx), cur, page.NextURL, reached)
		if errors.Is(err, dedupe.ErrCursorConflict) {
			stop = "cursor moved by another run"
			log.InfoContext(ctx, "another run advanced the cursor; stopping")
			return nil
		}
		if err != nil {
			stop = "error"
			log.ErrorContext(ctx, "poll failed: cannot save the cursor; the page is read again next run", slog.String("error", err.Error()))
			return fmt.Errorf("reconcile: %w", err)
		}
		cur = saved
		if caughtUp {
			stop = "caught up"
			return nil
		}
	}
}

// start returns the cursor to read from. On the very first poll it stores
// the URL of the first page (since = now - look-back) as the cursor before
// reading it, so a first poll that fails is retried from the same point,
// not from a look-back window that has moved on.
//
// The stored next link carries the org, filter and page size it was made
// with. When the configuration changed (OKTA_ORG_URL, REVOKE_ON_EVENTS,
// RECONCILE_PAGE_SIZE), the poll restarts from a new first page reaching
// back to the look-back, or to where the poll had got (the cursor's
// Reached, less a margin) if that is older, as it is when the poll runs
// behind: events already queued are skipped by the dedupe table, so
// nothing is queued twice and nothing is passed.
func (h *Handler) start(ctx context.Context, log *slog.Logger) (dedupe.Cursor, error) {
	cur, err := h.store.Cursor(ctx, CursorName)
	if err != nil {
		return cur, err
	}
	now := h.now()
	since := now.Add(-h.lookback)
	first, err := h.logs.LogsURL(okta.LogQuery{EventTypes: h.query, Since: since, Limit: h.pageSize})
	if err != nil {
		return cur, err
	}
	if cur.Version > 0 {
		if sameQuery(cur.Next, first) {
			return cur, nil
		}
		reached := cur.Reached
		if reached.IsZero() {
			reached = cur.UpdatedAt // saved before Reached was kept
		}
		if last := reached.Add(-restartMargin); !reached.IsZero() && last.Before(since) {
			since = last
			if oldest := now.Add(-maxLookback); since.Before(oldest) {
				since = oldest // beyond the retention Okta refuses the query
			}
			if first, err = h.logs.LogsURL(okta.LogQuery{EventTypes: h.query, Since: since, Limit: h.pageSize}); err != nil {
				return cur, err
			}
		}
		level, attrs := slog.LevelWarn, []any{slog.String("storedCursor", cur.Next), slog.Time("since", since)}
		if ttl := h.store.TTL(); now.Sub(since) >= ttl {
			// The poll was behind by more than the dedupe records last:
			// events queued that long ago may be queued again. Revoking
			// twice beats passing events nobody queued; say so loudly.
			level = slog.LevelError
			attrs = append(attrs, slog.Duration("dedupeTTL", ttl),
				slog.String("consequence", "events older than the dedupe TTL may be queued again"))
		}
		log.Log(ctx, level, "the stored cursor was made for another org URL, other event types or page size; restarting the poll from a new first page", attrs...)
	}
	// Everything before since is behind the new first page by design.
	saved, err := h.store.SaveCursor(ctx, cur, first, since)
	if errors.Is(err, dedupe.ErrCursorConflict) {
		// Another run started first: follow its cursor.
		return h.store.Cursor(ctx, CursorName)
	}
	if err != nil {
		return cur, err
	}
	if cur.Version == 0 {
		log.InfoContext(ctx, "first poll: reading the System Log from the look-back", slog.Time("since", since), slog.Duration("lookback", h.lookback))
	}
	return saved, nil
}

// restartMargin reaches back before where a cursor had got when the poll
// restarts from a time: events Okta stores late, out of published order.
const restartMargin = 10 * time.Minute

// sameQuery reports whether two System Log URLs are for the same org
// origin and have the same filter and page size (the parts of a query a
// stored next link keeps).
func sameQuery(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil || ua.Scheme != ub.Scheme || !strings.EqualFold(ua.Host, ub.Host) {
		return false
	}
	qa, qb := ua.Query(), ub.Query()
	return qa.Get("filter") == qb.Get("filter") && qa.Get("limit") == qb.Get("limit")
}

func (t *pageResult) add(r pageResult) {
	t.read += r.read
	t.skipped += r.skipped
	t.unreadable += r.unreadable
	t.failures += r.failures
	t.outcome.Queued = append(t.outcome.Queued, r.outcome.Queued...)
	t.outcome.AlreadyQueued = append(t.outcome.AlreadyQueued, r.outcome.AlreadyQueued...)
}

// clip shortens an untrusted value quoted in a log record.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
