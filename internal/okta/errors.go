package okta

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors classify failures; test with errors.Is. An *Error from
// Okta matches the sentinel of its status class.
var (
	// ErrInvalidArgument: the caller passed something that cannot be sent
	// (an invalid ID or option). Never retried; nothing was sent.
	ErrInvalidArgument = errors.New("okta: invalid argument")
	// ErrNotFound: Okta answered 404. On a revoke it means already gone.
	ErrNotFound = errors.New("okta: not found")
	// ErrRateLimited: Okta answered 429 and waiting for the reset did not fit
	// the caller's deadline or the retry budget. See RateLimitReset.
	ErrRateLimited = errors.New("okta: rate limited")
	// ErrUnauthorized: 401 even after re-reading the credentials. A
	// configuration problem: our credentials are wrong, not the caller's.
	ErrUnauthorized = errors.New("okta: unauthorized")
	// ErrForbidden: 403, missing scope or admin role. A configuration problem.
	ErrForbidden = errors.New("okta: forbidden")
	// ErrServer: 5xx after the retries ran out.
	ErrServer = errors.New("okta: server error")
	// ErrTimeout: Okta did not answer in time (per-attempt timeout or the
	// caller's deadline) after the retries ran out.
	ErrTimeout = errors.New("okta: timeout")
	// ErrUnavailable: the connection failed (DNS, refused, reset) after the
	// retries ran out.
	ErrUnavailable = errors.New("okta: unavailable")
	// ErrCredentialsUnavailable: the credentials could not be read (e.g.
	// Secrets Manager did not answer). Nothing was sent; retry later.
	ErrCredentialsUnavailable = errors.New("okta: credentials unavailable")
)

// Error is an error answer from Okta, with the fields of Okta's error body
// and the headers that matter for support and retries. It never contains a
// credential.
type Error struct {
	Method     string // HTTP method of the request
	Path       string // path of the request, without the query string
	StatusCode int
	// From Okta's error body.
	ErrorCode    string   // e.g. "E0000007"
	ErrorSummary string   // human-readable summary
	ErrorLink    string   // currently equal to ErrorCode
	ErrorID      string   // quote it to Okta support
	ErrorCauses  []string // errorCauses[].errorSummary
	// RequestID is the X-Okta-Request-Id header.
	RequestID string
	// RateLimitReset is when the rate-limit window resets (X-Rate-Limit-Reset),
	// zero when Okta did not say. Set on 429s.
	RateLimitReset time.Time
	// Attempts is how many times the request was sent.
	Attempts int
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "okta: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, " (%s: %s", e.ErrorCode, e.ErrorSummary)
		if len(e.ErrorCauses) > 0 {
			fmt.Fprintf(&b, "; causes: %s", strings.Join(e.ErrorCauses, "; "))
		}
		b.WriteString(")")
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", e.RequestID)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// Is maps the status code to the sentinel errors above.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrServer:
		return e.StatusCode >= 500 && e.StatusCode != http.StatusGatewayTimeout
	case ErrTimeout:
		return e.StatusCode == http.StatusGatewayTimeout
	}
	return false
}

// IsNotFound reports whether err is Okta's 404. For a revoke this means the
// token, user or app is already gone: the desired state holds.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConfigProblem reports whether err means our own Okta credentials are
// wrong, unusable or lack a scope or role (401/403). Retrying will not help;
// alert.
func IsConfigProblem(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalidCredentials)
}

// RateLimitReset reports whether err is a rate-limit error, and when Okta's
// window resets (zero when unknown), so the caller can reschedule the work.
func RateLimitReset(err error) (time.Time, bool) {
	if !errors.Is(err, ErrRateLimited) {
		return time.Time{}, false
	}
	if e := RateLimitError(err); e != nil {
		return e.RateLimitReset, true
	}
	return time.Time{}, true
}

// RateLimitError returns the 429 *Error in err's tree, or nil. Not
// errors.As: in a joined error (one user's clients failing differently)
// the first *Error may be another client's 400.
func RateLimitError(err error) *Error {
	if e, ok := err.(*Error); ok && e.StatusCode == http.StatusTooManyRequests {
		return e
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return RateLimitError(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, inner := range u.Unwrap() {
			if e := RateLimitError(inner); e != nil {
				return e
			}
		}
	}
	return nil
}

// IsRetryable reports whether the same request may succeed later without
// any change: rate limits, 5xx, timeouts, connection failures and
// credentials that could not be read.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrRateLimited) || errors.Is(err, ErrServer) ||
		errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable) ||
		errors.Is(err, ErrCredentialsUnavailable)
}

// RequestIDOf returns the X-Okta-Request-Id carried by err, if any.
func RequestIDOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.RequestID
	}
	return ""
}
