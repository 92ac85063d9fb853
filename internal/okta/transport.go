package okta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxBodyBytes bounds a success body: a page of 200 tokens with expanded
// scopes is well under 1 MiB.
const maxBodyBytes = 16 << 20

// request is one logical call, sent up to MaxAttempts times.
type request struct {
	method string
	url    string // absolute, sent verbatim
	path   string // escaped path, for errors, logs and the bucket class
	// prepare sets the headers and body of each attempt: credentials and
	// proofs must be fresh per attempt.
	prepare func(ctx context.Context, req *http.Request) error
	// reauth: after a 401 (or a credential the token endpoint refused),
	// invalidate the credentials, re-read them and try once more.
	reauth bool
}

// response is the final answer to a request.
type response struct {
	req      *request
	status   int
	header   http.Header
	body     []byte
	attempts int
}

// apiError turns a non-2xx response into an *Error.
func (r *response) apiError() *Error {
	e := &Error{Method: r.req.method, Path: r.req.path, StatusCode: r.status, Attempts: r.attempts,
		RequestID: cleanField(r.header.Get("X-Okta-Request-Id"))}
	if r.status == http.StatusTooManyRequests {
		e.RateLimitReset, _ = parseEpoch(r.header.Get("X-Rate-Limit-Reset"))
	}
	decodeErrorBody(e, r.body)
	return e
}

// newRequest validates an absolute URL on the org's origin and returns the
// request for it.
func (c *Client) newRequest(method, rawURL string, prepare func(context.Context, *http.Request) error, reauth bool) (*request, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed URL", ErrInvalidArgument)
	}
	if !c.sameOrigin(u) || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%w: URL is not on the Okta org's origin", ErrInvalidArgument)
	}
	return &request{method: method, url: rawURL, path: u.EscapedPath(), prepare: prepare, reauth: reauth}, nil
}

// send runs r with pacing and retries and returns the final response,
// whatever its status, or an error when no answer came (transport failure,
// ctx, a rate-limit wait that does not fit the deadline, credentials).
//
//   - 429 from a spent bucket (Remaining 0): wait for the reset plus jitter,
//     if the deadline allows; otherwise return the 429 at once.
//   - 429 from the concurrency limit (Limit 0) or with budget left: short
//     jittered backoff.
//   - 5xx, timeouts, connection errors: exponential backoff, full jitter.
//   - 401 with reauth: invalidate the credentials, re-read, retry once.
func (c *Client) send(ctx context.Context, r *request) (*response, error) {
	class := bucketClass(r.method, r.path)
	reauthed := false
	var lastErr error     // the last transport failure
	var last *response    // the last 429 or 5xx answer
	var firstReqID string // X-Okta-Request-Id of the first answer, for X-Okta-Retry-For
	attempts := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, c.ctxError(ctx, r, attempts, lastErr)
		}
		t, err := c.pacer.wait(ctx, class)
		if err != nil {
			var spent *budgetExhaustedError
			if errors.As(err, &spent) {
				if last != nil && last.status == http.StatusTooManyRequests {
					return last, nil // Okta's own 429, with its headers
				}
				return nil, &Error{Method: r.method, Path: r.path, StatusCode: http.StatusTooManyRequests,
					ErrorSummary:   "not sent: this client's share of the rate limit allows the call only after the deadline",
					RateLimitReset: spent.reset, Attempts: attempts}
			}
			return nil, c.ctxError(ctx, r, attempts, lastErr)
		}
		attempts++
		resp, err := c.attempt(ctx, r, attempts, firstReqID)
		if err != nil {
			c.pacer.abandon(t)
			if ctx.Err() != nil {
				return nil, c.ctxError(ctx, r, attempts, err)
			}
			var authErr *credentialError
			if errors.As(err, &authErr) {
				if authErr.rejected && r.reauth && !reauthed {
					reauthed = true
					attempts--
					c.auth.invalidate()
					continue
				}
				return nil, err
			}
			lastErr = err
			if attempts >= c.maxAttempts || !c.sleep(ctx, c.backoff(attempts)) {
				return nil, transportError(r, attempts, err)
			}
			c.log.LogAttrs(ctx, slog.LevelDebug, "okta: retrying after a transport error",
				slog.String("method", r.method), slog.String("path", r.path), slog.Int("attempt", attempts), slog.String("error", err.Error()))
			continue
		}
		c.pacer.observe(t, resp.status, resp.header)
		resp.attempts = attempts
		if firstReqID == "" {
			firstReqID = resp.header.Get("X-Okta-Request-Id")
		}
		switch {
		case resp.status == http.StatusUnauthorized && r.reauth && !reauthed:
			reauthed = true
			attempts--
			c.log.LogAttrs(ctx, slog.LevelInfo, "okta: 401, re-reading credentials and retrying once",
				slog.String("method", r.method), slog.String("path", r.path), slog.String("requestId", resp.header.Get("X-Okta-Request-Id")))
			c.auth.invalidate()
			c.auth.noteDPoPNonce(resp.header)
			continue
		case resp.status == http.StatusTooManyRequests:
			if attempts >= c.maxAttempts {
				return resp, nil
			}
			wait, spent := c.rateLimitWait(resp.header)
			if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
				return resp, nil // the caller reschedules with RateLimitReset
			}
			c.log.LogAttrs(ctx, slog.LevelWarn, "okta: rate limited, waiting",
				slog.String("method", r.method), slog.String("path", r.path), slog.String("bucket", class),
				slog.Bool("bucketSpent", spent), slog.Duration("wait", wait), slog.Int("attempt", attempts),
				slog.String("requestId", resp.header.Get("X-Okta-Request-Id")))
			if !spent && !c.sleep(ctx, wait) {
				return nil, c.ctxError(ctx, r, attempts, nil)
			}
			// A spent bucket: the pacer holds the next attempt until the reset.
			last = resp
			continue
		case resp.status >= 500:
			last = resp
			if attempts >= c.maxAttempts || !c.sleep(ctx, c.backoff(attempts)) {
				return resp, nil
			}
			c.log.LogAttrs(ctx, slog.LevelDebug, "okta: retrying after a server error",
				slog.String("method", r.method), slog.String("path", r.path), slog.Int("status", resp.status),
				slog.Int("attempt", attempts), slog.String("requestId", resp.header.Get("X-Okta-Request-Id")))
			continue
		}
		return resp, nil
	}
}

// attempt sends r once, bounded by the attempt timeout, and reads the body.
func (c *Client) attempt(ctx context.Context, r *request, n int, firstReqID string) (*response, error) {
	actx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, r.method, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot build request", ErrInvalidArgument)
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "application/json")
	if n > 1 && firstReqID != "" && isHeaderToken(firstReqID) {
		req.Header.Set("X-Okta-Retry-For", firstReqID)
		req.Header.Set("X-Okta-Retry-Count", strconv.Itoa(n-1))
	}
	if r.prepare != nil {
		if err := r.prepare(actx, req); err != nil {
			return nil, err
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := int64(maxBodyBytes)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = maxErrorBodyBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return nil, fmt.Errorf("okta: %s %s: response body larger than %d bytes", r.method, r.path, limit)
		}
		body = body[:limit] // an error body is only decoded as far as it goes
	}
	return &response{req: r, status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// rateLimitWait is how long to wait after a 429, and whether the bucket is
// spent (then the wait is until the reset and the pacer enforces it).
func (c *Client) rateLimitWait(h http.Header) (time.Duration, bool) {
	rl, ok := parseRateLimitHeaders(h)
	if ok && rl.limit > 0 && rl.remaining == 0 {
		wait := max(0, time.Until(rl.reset))
		return wait + jitter(min(maxResetJitter, wait/20+10*time.Millisecond)), true
	}
	// Concurrency limit (Limit 0, Reset only a suggestion), budget left, or
	// no headers: someone else is bursting; back off briefly.
	return c.shortBackoff/2 + jitter(c.shortBackoff/2), false
}

// backoff is the wait before attempt n+1 after a 5xx or transport failure:
// full jitter over an exponentially growing ceiling.
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.retryBase << min(n-1, 16)
	if ceiling <= 0 || ceiling > c.retryCap {
		ceiling = c.retryCap
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// sleep waits d, or until ctx ends (false). It returns false at once when
// d would outlast ctx's deadline: no point waiting for a retry that cannot
// happen.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && time.Now().Add(d).After(deadline) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ctxError reports the end of the caller's context: a deadline is also an
// ErrTimeout; a cancellation is only context.Canceled.
func (c *Client) ctxError(ctx context.Context, r *request, attempts int, cause error) error {
	err := context.Cause(ctx)
	if err == nil {
		err = ctx.Err()
	}
	msg := fmt.Sprintf("okta: %s %s", r.method, r.path)
	if attempts > 0 {
		msg += fmt.Sprintf(" after %d attempts", attempts)
	}
	if cause != nil {
		msg += ": " + describe(cause)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w: %w", msg, ErrTimeout, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// transportError classifies a failure to get an answer after the retries
// ran out: ErrTimeout or ErrUnavailable.
func transportError(r *request, attempts int, err error) error {
	kind := ErrUnavailable
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		kind = ErrTimeout
	}
	return fmt.Errorf("okta: %s %s: %w after %d attempts: %s", r.method, r.path, kind, attempts, describe(err))
}

// describe is err's message without the URL that *url.Error adds (the
// path is already in our message).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
