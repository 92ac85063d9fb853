package listtokens

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
)

// Query parameter names, as Okta defines them.
const (
	ParamExpand = "expand"
	ParamAfter  = "after"
	ParamLimit  = "limit"
)

// Limits Okta places on the list routes' parameters.
const (
	MinLimit     = 1
	MaxLimit     = 200
	DefaultLimit = 20 // Okta's default when limit is absent
	// MaxAfterLength bounds the opaque cursor. Okta's cursors are short; the
	// bound only keeps hostile input out of logs and upstream URLs.
	MaxAfterLength = 1024
	// ExpandScope is the only expansion Okta defines for tokens.
	ExpandScope = "scope"
)

// Query holds a route's validated query parameters. Zero values mean the
// parameter was absent.
type Query struct {
	Expand string // "" or ExpandScope
	After  string // opaque cursor from a previous page's Link header
	Limit  int    // 0 (absent: Okta's default) or MinLimit..MaxLimit
}

// Encode renders q as a query string with only the parameters that are set.
func (q Query) Encode() string {
	v := url.Values{}
	if q.After != "" {
		v.Set(ParamAfter, q.After)
	}
	if q.Limit != 0 {
		v.Set(ParamLimit, strconv.Itoa(q.Limit))
	}
	if q.Expand != "" {
		v.Set(ParamExpand, q.Expand)
	}
	return v.Encode()
}

// Query parameters per kind of route, as Okta defines them.
var (
	listParams   = []string{ParamExpand, ParamAfter, ParamLimit}
	singleParams = []string{ParamExpand}
	noParams     = []string(nil)
)

// ParseQuery validates rawQuery (as in the request URL, still escaped)
// against the parameters a route allows. It rejects, with a 400
// *httpapi.StatusError, a malformed query string, a parameter the route
// does not define, a parameter given more than once, and a value out of
// range, so nothing ambiguous is ever forwarded to Okta.
func ParseQuery(rawQuery string, allowed []string) (Query, error) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Query{}, badRequest("malformed query string: use name=value pairs joined by '&', percent-encoded")
	}
	return parseValues(values, allowed)
}

// queryOf returns the request's query parameters. API Gateway joins repeated
// parameters with commas in QueryStringParameters, so the raw query string
// is the source of truth; the map is used only when the raw string is
// absent (hand-written events).
func queryOf(req httpapi.Request, allowed []string) (Query, error) {
	if req.RawQueryString != "" || len(req.QueryStringParameters) == 0 {
		return ParseQuery(req.RawQueryString, allowed)
	}
	values := url.Values{}
	for k, v := range req.QueryStringParameters {
		values[k] = []string{v}
	}
	return parseValues(values, allowed)
}

func parseValues(values url.Values, allowed []string) (Query, error) {
	// Check names in a fixed order so the same request always gets the
	// same message.
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return Query{}, badRequest(fmt.Sprintf("query parameter %s is not supported: this route takes no query parameters", quoteName(name)))
			}
			return Query{}, badRequest(fmt.Sprintf("query parameter %s is not supported by this route (supported: %s)", quoteName(name), strings.Join(allowed, ", ")))
		}
		if len(values[name]) > 1 {
			return Query{}, badRequest(fmt.Sprintf("query parameter %q must be given at most once", name))
		}
	}

	var q Query
	if vs, ok := values[ParamExpand]; ok {
		if vs[0] != ExpandScope {
			return Query{}, badRequest(fmt.Sprintf("query parameter %q must be %q", ParamExpand, ExpandScope))
		}
		q.Expand = ExpandScope
	}
	if vs, ok := values[ParamLimit]; ok {
		limit, ok := parseLimit(vs[0])
		if !ok {
			return Query{}, badRequest(fmt.Sprintf("query parameter %q must be an integer from %d to %d", ParamLimit, MinLimit, MaxLimit))
		}
		q.Limit = limit
	}
	if vs, ok := values[ParamAfter]; ok {
		if err := validateAfter(vs[0]); err != "" {
			return Query{}, badRequest(fmt.Sprintf("query parameter %q %s; pass the cursor from the previous page's Link header unchanged", ParamAfter, err))
		}
		q.After = vs[0]
	}
	return q, nil
}

// parseLimit accepts decimal digits only (no sign, no spaces) in range.
func parseLimit(s string) (int, bool) {
	if s == "" || len(s) > 3 {
		// More than three digits is out of range (or padded with zeros,
		// which nobody sends on purpose).
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < MinLimit || n > MaxLimit {
		return 0, false
	}
	return n, true
}

// validateAfter returns why the cursor is unacceptable, or "". The cursor is
// opaque, so only its size and alphabet (printable ASCII) are checked.
func validateAfter(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > MaxAfterLength {
		return fmt.Sprintf("must not be longer than %d characters", MaxAfterLength)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "may contain only printable ASCII characters"
		}
	}
	return ""
}

// quoteName quotes a caller-supplied parameter name for an error message,
// shortened so a hostile name cannot bloat the answer or the logs.
func quoteName(name string) string {
	const max = 40
	if len(name) > max {
		return strconv.Quote(name[:max]) + "..."
	}
	return strconv.Quote(name)
}

func badRequest(msg string) error {
	return &httpapi.StatusError{Status: http.StatusBadRequest, Message: msg}
}
