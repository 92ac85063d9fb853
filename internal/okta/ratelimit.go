package okta

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate limiting
//
// Okta counts calls per bucket (a group of endpoints) per window, org-wide,
// and reports the bucket's state on every response: X-Rate-Limit-Limit,
// X-Rate-Limit-Remaining and X-Rate-Limit-Reset (epoch seconds). Several
// goroutines of one Client, and several Clients in other Lambda execution
// environments that know nothing of each other, draw from the same bucket.
//
// The pacer keeps one state per bucket class (see bucketClass) and spaces
// this client's calls so that, together with the others, the remaining
// budget lasts until the reset:
//
//	interval = (reset - now) / (remaining - in flight - reserve) × share
//
// computed at each of our responses (not as time passes: a stale
// Remaining with a shrinking time-to-reset would speed a client up just
// when the others have spent the budget).
//
// share estimates how many equally busy clients use the bucket: between two
// of our own responses, Remaining drops by our calls plus everyone else's,
// so drop ÷ own calls (over the last few responses) is the number of
// clients at our pace. If every client spaces its calls this way, the sum
// of their rates is the remaining budget over the time left, whatever the
// number of clients. Until a client has seen enough of its own calls to
// trust the estimate it sends nothing ahead of that schedule; afterwards a
// tenth of its fair part may go at once (GCRA burst), so a client with a
// few calls to make is not slowed down. A reserve of 2 % of the limit
// absorbs estimation error. When the budget is spent, calls wait for the
// reset (plus jitter, so the clients do not all return at the same
// instant); after a reset one probe call learns the new window before the
// others follow.
//
// BenchmarkDrain measures the result against internal/oktafake.

// bucketClass groups requests the way Okta's buckets do, as far as they
// are known, so that headers from different buckets never mix in one state:
//
//	POST /oauth2/v1/token            -> "oauth2"    (the token endpoint)
//	/api/v1/apps, /api/v1/apps/...   -> "apps"      (one documented bucket, all methods)
//	/api/v1/users/{id}/<sub>...      -> "<METHOD> users/<sub>" (e.g. "DELETE users/clients")
//	/api/v1/users/{id}               -> "<METHOD> users"
//	/api/v1/logs                     -> "logs"
//	anything else                    -> "<METHOD> other"
//
// Which bucket serves /users/{id}/clients and /sessions is not documented,
// so those are split by method and sub-resource. Splitting one Okta bucket
// into several classes is harmless: each class sees the other's calls as
// another client's and the shares add up. Merging two buckets would not be.
func bucketClass(method, path string) string {
	switch {
	case strings.HasPrefix(path, "/oauth2/"):
		return "oauth2"
	case path == "/api/v1/apps" || strings.HasPrefix(path, "/api/v1/apps/"):
		return "apps"
	case path == "/api/v1/logs":
		return "logs"
	}
	if rest, ok := strings.CutPrefix(path, "/api/v1/users/"); ok {
		parts := strings.SplitN(rest, "/", 3)
		if len(parts) == 1 {
			return method + " users"
		}
		return method + " users/" + parts[1]
	}
	return method + " other"
}

// rateLimitHeaders is the bucket state a response reports.
type rateLimitHeaders struct {
	limit, remaining int
	reset            time.Time
}

// parseRateLimitHeaders reads X-Rate-Limit-*; ok is false when any is
// missing or malformed.
func parseRateLimitHeaders(h http.Header) (rateLimitHeaders, bool) {
	limit, err1 := strconv.Atoi(strings.TrimSpace(h.Get("X-Rate-Limit-Limit")))
	remaining, err2 := strconv.Atoi(strings.TrimSpace(h.Get("X-Rate-Limit-Remaining")))
	reset, ok := parseEpoch(h.Get("X-Rate-Limit-Reset"))
	if err1 != nil || err2 != nil || !ok || limit < 0 || remaining < 0 {
		return rateLimitHeaders{}, false
	}
	return rateLimitHeaders{limit: limit, remaining: min(remaining, limit), reset: reset}, true
}

// pacer paces this client's calls per bucket class; safe for concurrent use.
type pacer struct {
	now func() time.Time // time.Now; replaceable in tests

	mu      sync.Mutex
	buckets map[string]*bucket
}

func newPacer() *pacer {
	return &pacer{now: time.Now, buckets: make(map[string]*bucket)}
}

// Tuning.
const (
	shareSamples   = 16                     // responses the share estimate looks back over
	shareTrustAt   = 8                      // own calls after which a window's estimate replaces the prior
	maxShare       = 200                    // no more clients than this are assumed
	maxResetJitter = time.Second            // upper bound of the per-window jitter after a reset
	probeRecheck   = 250 * time.Millisecond // re-check while a probe is in flight, in case it is lost
	burstFraction  = 0.1                    // share of our fair budget that may go ahead of the schedule
	// resetSlack covers the 1 s resolution of X-Rate-Limit-Reset: a window
	// that reported a reset in the past is assumed to end within this time.
	resetSlack = time.Second
)

type bucket struct {
	// The current window, from Okta's headers.
	known       bool      // a response with rate-limit headers was seen
	unmetered   bool      // the last response had no rate-limit headers: do not pace
	limit       int       // X-Rate-Limit-Limit
	remaining   int       // lowest X-Rate-Limit-Remaining seen in this window
	reset       time.Time // when the window ends (our estimate)
	reported    time.Time // X-Rate-Limit-Reset of this window
	resetJitter time.Duration

	// This client's calls.
	inflight int           // sent, no answer yet
	probing  bool          // a probe of a new window is in flight
	tat      time.Time     // theoretical arrival time of the next call (GCRA)
	interval time.Duration // pacing interval, set at each observation
	burst    float64       // calls that may go ahead of the schedule
	ownDone  int           // our responses seen in this window

	// The share estimate.
	share      float64 // estimated equally busy clients, >= 1
	priorShare float64 // share when this window began
	informed   bool    // share rests on enough of our own calls
	windows    int     // windows seen, counting the current one
	samples    []shareSample

	changed chan struct{} // closed and replaced on every observation
}

type shareSample struct {
	remaining int // b.remaining after the observation
	own       int // b.ownDone after the observation
}

// ticket is one call let through by the pacer.
type ticket struct {
	class string
	probe bool
	done  bool
}

// budgetExhaustedError is returned by wait when the next slot in the
// bucket, reset, is later than the caller's deadline.
type budgetExhaustedError struct{ reset time.Time }

func (e *budgetExhaustedError) Error() string {
	return "okta rate limit: no budget before the deadline"
}

func (p *pacer) bucket(class string) *bucket {
	b := p.buckets[class]
	if b == nil {
		b = &bucket{share: 1, priorShare: 1, changed: make(chan struct{})}
		p.buckets[class] = b
	}
	return b
}

// wait blocks until a call in class may be sent and returns its ticket, which
// must be passed to observe or abandon. It returns ctx's error when ctx
// ends, and a *budgetExhaustedError at once when the wait would outlast
// ctx's deadline.
func (p *pacer) wait(ctx context.Context, class string) (*ticket, error) {
	for {
		p.mu.Lock()
		now := p.now()
		b := p.bucket(class)
		d, probe, interval, at := b.delay(now)
		if d <= 0 {
			b.inflight++
			b.tat = later(b.tat, now).Add(interval)
			if probe {
				b.probing = true
			}
			p.mu.Unlock()
			return &ticket{class: class, probe: probe}, nil
		}
		changed := b.changed
		p.mu.Unlock()

		if deadline, ok := ctx.Deadline(); ok && !at.IsZero() && at.After(deadline) {
			// No point waiting: the caller can reschedule the call for at.
			return nil, &budgetExhaustedError{reset: at}
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-changed:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// spentUntil reports until when class's bucket holds every call back
// because its budget is spent (a 429, or Remaining at the reserve); zero
// when a call could go now or soon.
func (p *pacer) spentUntil(class string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.buckets[class]
	if b == nil {
		return time.Time{}
	}
	return b.spentUntil(p.now())
}

// spentUntil is when the bucket lets calls through again if its budget is
// spent now (the window is out of budget, or over but its reset jitter not
// yet passed); zero otherwise. Called with the pacer locked.
func (b *bucket) spentUntil(now time.Time) time.Time {
	if b.unmetered || !b.known {
		return time.Time{}
	}
	at := b.reset.Add(b.resetJitter)
	if !now.Before(at) || (now.Before(b.reset) && b.budget(now) > 0) {
		return time.Time{}
	}
	return at
}

// delay is how long a new call must wait now (0: send it), whether it
// would be the probe of a new window, the pacing interval the call uses up,
// and, for a wait on the budget (not on a probe), when the call may go.
// Called with the pacer locked.
//
// Pacing is a virtual schedule (GCRA): each call moves the theoretical
// arrival time tat one interval on, and a call may go when tat is at most
// a small burst ahead of now. So a client with a few calls to make sends
// them at once, and a busy one settles at one call per interval.
func (b *bucket) delay(now time.Time) (d time.Duration, probe bool, interval time.Duration, at time.Time) {
	if b.unmetered {
		return 0, false, 0, time.Time{}
	}
	if at := b.spentUntil(now); !at.IsZero() {
		return at.Sub(now), false, 0, at
	}
	if !b.known || !now.Before(b.reset) {
		// The window is unknown or over: one probe learns the new one.
		if b.probing {
			return probeRecheck, false, 0, time.Time{}
		}
		return 0, true, 0, time.Time{}
	}
	next := later(b.tat, now).Add(-time.Duration(b.burst * float64(b.interval)))
	if !next.After(now) {
		return 0, false, b.interval, time.Time{}
	}
	if !next.Before(b.reset) {
		// Our next fair slot is after the reset: start afresh then.
		next = b.reset.Add(b.resetJitter)
	}
	return next.Sub(now), false, b.interval, next
}

// budget estimates the calls this client may still make in the window:
// the last Remaining seen, less our calls in flight, less what the others
// have spent since at their observed rate, less the reserve.
func (b *bucket) budget(now time.Time) float64 {
	r := reserve(b.limit)
	if b.windows <= 1 {
		// In the first window we see, the share rests on a few samples and
		// the others, just as new, may each spend a call on the same stale
		// Remaining as we do: keep one call per estimated client back.
		r += int(math.Ceil(b.share)) - 1
	}
	return float64(b.remaining - b.inflight - r)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// reserve is the part of a bucket this client leaves unused, to absorb
// the error of the share estimate: 2 % of the limit, at least 1.
func reserve(limit int) int {
	return max(1, int(math.Ceil(float64(limit)*0.02)))
}

// observe records the answer to a ticket's call: status and headers.
func (p *pacer) observe(t *ticket, status int, h http.Header) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	b := p.bucket(t.class)
	b.release(t)
	rl, ok := parseRateLimitHeaders(h)
	switch {
	case !ok && status != http.StatusTooManyRequests:
		// Okta always sends the headers; their absence (a test double, a
		// proxy's error page) means nothing is metered here.
		b.unmetered = !b.known || status < 500
	case !ok, rl.limit == 0, status == http.StatusTooManyRequests && rl.remaining > 0:
		// A 429 without headers, a concurrency-limit 429 (Limit 0, whose
		// Reset is only a suggestion) or one with budget left (the headers
		// describe another limit than the one hit): nothing to learn about
		// the window; the retry loop backs off.
	default:
		b.unmetered = false
		b.record(p.now(), rl)
	}
	b.notify()
}

// abandon releases a ticket whose call got no answer.
func (p *pacer) abandon(t *ticket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	b := p.bucket(t.class)
	b.release(t)
	b.notify()
}

func (b *bucket) release(t *ticket) {
	b.inflight--
	if t.probe {
		b.probing = false
	}
}

func (b *bucket) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// record folds one response's rate-limit headers into the bucket.
func (b *bucket) record(now time.Time, rl rateLimitHeaders) {
	reset := rl.reset
	newWindow := false
	if !reset.After(now) {
		// The header's whole seconds say the window is over, yet this
		// answer was counted in it: it ends within the header's resolution.
		reset = now.Add(resetSlack)
	}
	switch {
	case !b.known || rl.limit != b.limit || rl.reset.After(b.reported):
		// A new window (or, with a different limit, a different bucket).
		b.known = true
		b.limit = rl.limit
		b.remaining = rl.remaining
		b.reset = reset
		b.reported = rl.reset
		b.resetJitter = jitter(min(maxResetJitter, reset.Sub(now)/20))
		b.ownDone = 0
		b.samples = b.samples[:0]
		newWindow = true
		b.windows++
		b.priorShare = b.share
	case rl.reset.Before(b.reported):
		return // an answer from the previous window, arriving late
	default:
		if reset.After(b.reset) {
			b.reset = reset
		}
	}
	b.ownDone++
	b.remaining = min(b.remaining, rl.remaining)
	if len(b.samples) == shareSamples {
		copy(b.samples, b.samples[1:])
		b.samples = b.samples[:shareSamples-1]
	}
	b.samples = append(b.samples, shareSample{remaining: b.remaining, own: b.ownDone})
	first := b.samples[0]
	own := b.ownDone - first.own
	if own > 0 {
		drop := first.remaining - b.remaining
		w := 1.0 // no prior yet: trust what we see
		if b.informed {
			w = min(1, float64(own)/shareTrustAt)
		}
		b.share = min(maxShare, max(1, (1-w)*b.priorShare+w*float64(drop)/float64(own)))
		if own >= shareTrustAt {
			b.informed = true
		}
	}
	// The interval is fixed here, from fresh numbers, not recomputed as
	// time passes: with a stale Remaining, a shrinking time-to-reset would
	// speed us up just when the others have spent the budget.
	if budget := b.budget(now); budget > 0 {
		b.interval = time.Duration(float64(b.reset.Sub(now)) * b.share / budget)
		// Calls allowed ahead of the schedule: a tenth of our fair part,
		// once we know how many share the bucket.
		b.burst = 0
		if b.informed {
			b.burst = math.Floor(burstFraction * budget / b.share)
		}
	}
	if newWindow {
		// The probe that found this window used up a slot too.
		b.tat = now.Add(b.interval)
	}
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}
