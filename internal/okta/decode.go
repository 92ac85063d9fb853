package okta

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Limits on what DecodeError keeps from an error body, which may come from
// a proxy rather than Okta and may be huge or hostile.
const (
	maxErrorBodyBytes = 64 << 10
	maxErrorFieldLen  = 512
	maxErrorCauses    = 20
)

// DecodeError turns an error response from Okta into an *Error: status,
// Okta's error body (errorCode, errorSummary, errorLink, errorId,
// errorCauses[].errorSummary; or the OAuth error and error_description of
// the token endpoint), X-Okta-Request-Id and, on a 429, X-Rate-Limit-Reset.
// It reads at most 64 KiB of the body and does not close it. A body that is
// not Okta's JSON (an HTML page from a proxy, garbage, nothing) leaves the
// body fields empty; DecodeError never fails. Method and Path come from
// resp.Request when it is set.
func DecodeError(resp *http.Response) *Error {
	e := &Error{StatusCode: resp.StatusCode, RequestID: cleanField(resp.Header.Get("X-Okta-Request-Id"))}
	if req := resp.Request; req != nil {
		e.Method = req.Method
		if req.URL != nil {
			e.Path = req.URL.EscapedPath()
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if reset, ok := parseEpoch(resp.Header.Get("X-Rate-Limit-Reset")); ok {
			e.RateLimitReset = reset
		}
	}
	if resp.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		decodeErrorBody(e, body)
	}
	return e
}

// decodeErrorBody fills e from Okta's error JSON, leniently: a field of the
// wrong type is ignored, not fatal.
func decodeErrorBody(e *Error, body []byte) {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return
	}
	str := func(key string) string {
		var s string
		if json.Unmarshal(raw[key], &s) != nil {
			return ""
		}
		return cleanField(s)
	}
	e.ErrorCode = str("errorCode")
	e.ErrorSummary = str("errorSummary")
	e.ErrorLink = str("errorLink")
	e.ErrorID = str("errorId")
	var causes []json.RawMessage
	if json.Unmarshal(raw["errorCauses"], &causes) == nil {
		for _, c := range causes {
			if len(e.ErrorCauses) == maxErrorCauses {
				break
			}
			var cause struct{ ErrorSummary any }
			if json.Unmarshal(c, &cause) != nil {
				continue
			}
			if s, ok := cause.ErrorSummary.(string); ok && cleanField(s) != "" {
				e.ErrorCauses = append(e.ErrorCauses, cleanField(s))
			}
		}
	}
	// The OAuth token endpoint answers RFC 6749 errors instead.
	if e.ErrorCode == "" {
		e.ErrorCode = str("error")
		if e.ErrorSummary == "" {
			e.ErrorSummary = str("error_description")
		}
	}
}

// cleanField makes a string from a response safe and short enough for an
// error message or a log line: control characters become spaces, and it is
// cut at maxErrorFieldLen bytes.
func cleanField(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.TrimSpace(s), maxErrorFieldLen)
}

// parseEpoch parses X-Rate-Limit-Reset: UTC epoch seconds.
func parseEpoch(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	// Reject nonsense (before 2001 or after 2286) rather than waiting on it.
	if err != nil || n < 1e9 || n > 1e10 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}
