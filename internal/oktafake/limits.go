package oktafake

import (
	"net/http"
	"slices"
	"time"
)

// limiter holds the rate-limit buckets and the concurrency limit.
type limiter struct {
	buckets     map[Bucket]*bucket
	concurrency int
}

// bucket is a fixed window of limit calls. The window opens at the first
// call after the previous one ended, and ends on a whole second.
type bucket struct {
	limit    int
	window   time.Duration
	used     int
	rejected int
	start    time.Time
	end      time.Time // zero: no window open
	closed   []RateLimitWindow
}

// RateLimitWindow is one window of a bucket: how many calls it allowed and
// how many it answered 429. Benchmarks use it to measure the share of the
// bucket a client uses.
type RateLimitWindow struct {
	Start, End time.Time // first call; end of the window (the reset)
	Limit      int
	Used       int // calls allowed
	Rejected   int // calls answered 429 because the bucket was exhausted
}

func newLimiter() limiter { return limiter{buckets: map[Bucket]*bucket{}} }

func (l *limiter) setAll(limit int, window time.Duration) {
	for _, b := range Buckets() {
		l.set(b, limit, window)
	}
}

func (l *limiter) set(b Bucket, limit int, window time.Duration) {
	if limit <= 0 || window <= 0 {
		delete(l.buckets, b)
		return
	}
	l.buckets[b] = &bucket{limit: limit, window: window}
}

func (l *limiter) restart() {
	for _, b := range l.buckets {
		b.used, b.rejected, b.start, b.end, b.closed = 0, 0, time.Time{}, time.Time{}, nil
	}
}

// take counts one call; it reports whether the call is within the limit,
// the calls left and when the window ends.
func (b *bucket) take(now time.Time) (ok bool, remaining int, reset time.Time) {
	b.roll(now)
	if b.used >= b.limit {
		b.rejected++
		return false, 0, b.end
	}
	b.used++
	return true, b.limit - b.used, b.end
}

// peek is take without counting.
func (b *bucket) peek(now time.Time) (remaining int, reset time.Time) {
	b.roll(now)
	return b.limit - b.used, b.end
}

func (b *bucket) roll(now time.Time) {
	if b.end.IsZero() || !now.Before(b.end) {
		if !b.end.IsZero() {
			b.closed = append(b.closed, b.current())
		}
		b.used, b.rejected = 0, 0
		b.start = now
		b.end = ceilSecond(now.Add(b.window))
	}
}

func (b *bucket) current() RateLimitWindow {
	return RateLimitWindow{Start: b.start, End: b.end, Limit: b.limit, Used: b.used, Rejected: b.rejected}
}

// ceilSecond rounds t up to a whole second, so a client that waits until
// X-Rate-Limit-Reset (epoch seconds) never arrives before the window ends.
func ceilSecond(t time.Time) time.Time {
	r := t.Truncate(time.Second)
	if r.Before(t) {
		r = r.Add(time.Second)
	}
	return r
}

// takeRateLimit counts the call against its bucket and sets the rate-limit
// headers. It answers 429 E0000047 and returns false when the bucket is
// exhausted.
func (s *Server) takeRateLimit(w *responseRecorder, b Bucket) bool {
	s.mu.Lock()
	bk := s.limits.buckets[b]
	if bk == nil {
		s.mu.Unlock()
		return true
	}
	ok, remaining, reset := bk.take(s.now())
	limit := bk.limit
	s.mu.Unlock()
	writeRateLimitHeaders(w, limit, remaining, reset)
	if !ok {
		w.fault = "ratelimit"
		writeError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
	}
	return ok
}

func (s *Server) concurrencyExceeded(inFlight int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits.concurrency > 0 && inFlight > s.limits.concurrency
}

// RateLimitState reports a bucket's limit, the calls left in the current
// window and when it ends (zero when no window is open or no limit is set).
func (s *Server) RateLimitState(b Bucket) (limit, remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bk := s.limits.buckets[b]
	if bk == nil {
		return 0, 0, time.Time{}
	}
	if bk.end.IsZero() || !s.now().Before(bk.end) {
		return bk.limit, bk.limit, time.Time{}
	}
	return bk.limit, bk.limit - bk.used, bk.end
}

// RateLimitWindows returns the bucket's windows so far, oldest first; the
// last one may still be open.
func (s *Server) RateLimitWindows(b Bucket) []RateLimitWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	bk := s.limits.buckets[b]
	if bk == nil {
		return nil
	}
	out := slices.Clone(bk.closed)
	if !bk.end.IsZero() {
		out = append(out, bk.current())
	}
	return out
}
