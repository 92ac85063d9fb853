package okta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// System Log polling
//
// GET /api/v1/logs read in polling mode (no until, sortOrder ASCENDING)
// returns events in the order Okta stored them and always carries a
// rel="next" link, even on an empty page. Okta asks clients to follow that
// link verbatim and never to page by hand with since/until, so the link is
// the cursor: persist LogPage.NextURL and read it with NextLogs on the next
// poll.
//
// Pacing: /api/v1/logs is its own rate-limit bucket (120 calls a minute on
// Workforce orgs, 50 on One App, 20 on Integrator Free; by default one token
// or service app may use half of it). The client keeps a separate pacer
// state for it (bucket class "logs"), so polling never draws on the budget
// of the token endpoints, and a 429 there waits for that bucket's reset
// only. Callers bound their own use by the number of pages they read per
// run; see internal/handlers/reconcile.

// MaxLogLimit is the largest page GET /api/v1/logs serves.
const MaxLogLimit = 1000

// maxLogCursorLength bounds a System Log cursor URL read back from storage.
const maxLogCursorLength = 8192

// maxEventTypeLength bounds one event type in a filter; Okta's are under 80.
const maxEventTypeLength = 128

// logsPath is the System Log's path: a cursor must point here.
const logsPath = "/api/v1/logs"

// LogQuery selects the events of the first page of a System Log poll.
type LogQuery struct {
	// EventTypes restricts the poll to these event types (a filter
	// `eventType eq "a" or eventType eq "b"`); empty = every event.
	EventTypes []string
	// Since is the earliest persistence time to read from; zero = Okta's
	// default (7 days before now).
	Since time.Time
	// Limit is the page size, 1..MaxLogLimit; 0 = Okta's default (100).
	Limit int
}

// LogPage is one page of a System Log poll.
type LogPage struct {
	// Events are Okta's LogEvent objects, byte for byte.
	Events []json.RawMessage
	// URL is the URL the page was read from: reading it again returns these
	// events (and any stored after them), so it is the cursor to keep when
	// the page could not be handled.
	URL string
	// NextURL is Okta's rel="next" link, verbatim: the cursor after this
	// page. Polling always has one; it is "" only if Okta sent none.
	NextURL string
}

// LogFilter returns the System Log filter matching any of eventTypes:
// `eventType eq "a" or eventType eq "b"`. Event types may contain only
// letters, digits, '.' and '_', so the filter needs no escaping.
func LogFilter(eventTypes []string) (string, error) {
	parts := make([]string, 0, len(eventTypes))
	for _, t := range eventTypes {
		if !isEventType(t) {
			return "", fmt.Errorf("%w: event type %q: want letters, digits, '.' and '_' (at most %d)", ErrInvalidArgument, truncate(t, 64), maxEventTypeLength)
		}
		parts = append(parts, `eventType eq "`+t+`"`)
	}
	return strings.Join(parts, " or "), nil
}

func isEventType(s string) bool {
	if s == "" || len(s) > maxEventTypeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// LogsURL returns the URL of the first page of a poll for q, on the org's
// origin: what ListLogs reads.
func (c *Client) LogsURL(q LogQuery) (string, error) {
	if q.Limit < 0 || q.Limit > MaxLogLimit {
		return "", fmt.Errorf("okta: list logs: %w: limit must be 1..%d (or 0 for Okta's default)", ErrInvalidArgument, MaxLogLimit)
	}
	v := url.Values{}
	v.Set("sortOrder", "ASCENDING")
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	if len(q.EventTypes) > 0 {
		f, err := LogFilter(q.EventTypes)
		if err != nil {
			return "", fmt.Errorf("okta: list logs: %w", err)
		}
		v.Set("filter", f)
	}
	return c.origin + logsPath + "?" + v.Encode(), nil
}

// ListLogs reads the first page of a System Log poll (polling mode: no
// until, ascending): GET /api/v1/logs.
func (c *Client) ListLogs(ctx context.Context, q LogQuery) (LogPage, error) {
	u, err := c.LogsURL(q)
	if err != nil {
		return LogPage{}, err
	}
	return c.readLogs(ctx, u)
}

// NextLogs reads the page at cursor: a LogPage's NextURL (or URL) as it was
// stored. The cursor must be a System Log URL on the org's origin, so a
// tampered cursor cannot send the credentials anywhere else.
func (c *Client) NextLogs(ctx context.Context, cursor string) (LogPage, error) {
	if err := c.checkLogCursor(cursor); err != nil {
		return LogPage{}, fmt.Errorf("okta: next logs: %w", err)
	}
	return c.readLogs(ctx, cursor)
}

// checkLogCursor accepts an absolute URL of GET /api/v1/logs on the org's
// origin.
func (c *Client) checkLogCursor(cursor string) error {
	if cursor == "" {
		return fmt.Errorf("%w: empty cursor", ErrInvalidArgument)
	}
	if len(cursor) > maxLogCursorLength {
		return fmt.Errorf("%w: cursor longer than %d characters", ErrInvalidArgument, maxLogCursorLength)
	}
	u, err := url.Parse(cursor)
	if err != nil || !u.IsAbs() || !c.sameOrigin(u) || u.User != nil || u.Fragment != "" || u.EscapedPath() != logsPath {
		return fmt.Errorf("%w: cursor is not a %s URL on the org's origin %s", ErrInvalidArgument, logsPath, c.origin)
	}
	return nil
}

func (c *Client) readLogs(ctx context.Context, pageURL string) (LogPage, error) {
	resp, err := c.doURL(ctx, http.MethodGet, pageURL)
	if err != nil {
		return LogPage{}, err
	}
	p, err := c.page(resp)
	if err != nil {
		return LogPage{}, err
	}
	if p.NextURL != "" {
		if err := c.checkLogCursor(p.NextURL); err != nil {
			return LogPage{}, fmt.Errorf("okta: %s %s: %w: bad next link (%s)", resp.req.method, resp.req.path, ErrServer, err)
		}
	}
	return LogPage{Events: p.Items, URL: pageURL, NextURL: p.NextURL}, nil
}
