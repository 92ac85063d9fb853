// Package localapi serves HTTP like an API Gateway HTTP API with Lambda
// proxy integrations (payload format 2.0): it matches routes the way the
// HttpApi does, turns each request into an events.APIGatewayV2HTTPRequest,
// invokes the route's function and turns its events.APIGatewayV2HTTPResponse
// back into HTTP, including API Gateway's own answers for unknown routes
// (404), function errors (500), integration timeouts (503) and oversized
// bodies (413).
//
// IAM (SigV4) authorization is not verified locally: requests to AWS_IAM
// routes are accepted and carry a local caller identity in
// requestContext.authorizer.iam.
package localapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
)

// Limits and defaults of API Gateway HTTP APIs.
const (
	// MaxBodyBytes is API Gateway's request payload limit (10 MB).
	MaxBodyBytes = 10 << 20
	// MaxIntegrationTimeout is the HTTP API integration timeout limit and
	// default (30 s).
	MaxIntegrationTimeout = 30 * time.Second
	// DefaultAPIID is the API id used when Config.APIID is empty.
	DefaultAPIID = "localapi01"
)

// Authorizers this package understands.
const (
	AuthorizerIAM  = "AWS_IAM"
	AuthorizerNone = "NONE"
)

// Invoker runs one synchronous invocation of a function;
// *lambdaruntime.Function implements it.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) (lambdaruntime.Result, error)
}

// Route connects one route of the API to a function.
type Route struct {
	// Method is the HTTP method, or "ANY".
	Method string
	// Path is the route's path, e.g. "/users/{userId}/clients" or
	// "/files/{proxy+}".
	Path string
	// Authorizer is AWS_IAM or NONE ("" means NONE).
	Authorizer string
	// Function receives the route's requests; FunctionName names it in logs.
	Function     Invoker
	FunctionName string
	// Timeout is the integration timeout; 0 or more than 30 s means 30 s.
	Timeout time.Duration
}

// Key is the route's routeKey, e.g. "GET /users/{userId}/clients".
func (r Route) Key() string { return r.Method + " " + r.Path }

// IAMIdentity is the caller identity put into IAM routes' authorizer context.
type IAMIdentity = events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription

// LocalIdentity returns the identity used for IAM routes when Config has
// none: a fixed, obviously local IAM user in accountID.
func LocalIdentity(accountID string) IAMIdentity {
	return IAMIdentity{
		AccessKey: "AKIALOCALEXAMPLE0000",
		AccountID: accountID,
		CallerID:  "AIDALOCALEXAMPLE0000",
		UserARN:   "arn:aws:iam::" + accountID + ":user/local-operator",
		UserID:    "AIDALOCALEXAMPLE0000",
	}
}

// Config configures a Handler.
type Config struct {
	Routes []Route
	// APIID, Region and AccountID fill the request context; defaults
	// DefaultAPIID, us-east-1 and 123456789012.
	APIID, Region, AccountID string
	// Identity is the IAM caller on AWS_IAM routes; default LocalIdentity.
	// When a request carries a SigV4 Authorization header, its access key id
	// replaces Identity.AccessKey (the signature itself is not checked).
	Identity *IAMIdentity
	// MaxBodyBytes bounds request bodies; default (and at most) MaxBodyBytes.
	MaxBodyBytes int64
	// Logger gets one line per request and the local-IAM warning; default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Handler is the local HTTP API. It is safe for concurrent use.
type Handler struct {
	cfg    Config
	routes []*compiledRoute
	logger *slog.Logger
}

type segmentKind int

// Segment kinds, from least to most specific: routes with more specific
// segments earlier in the path win, like API Gateway's "most specific match".
const (
	greedySegment segmentKind = iota
	paramSegment
	literalSegment
)

type segment struct {
	kind  segmentKind
	value string // literal text or parameter name
}

type compiledRoute struct {
	Route
	segments []segment
}

var paramName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// New checks the routes and returns a Handler serving them.
func New(cfg Config) (*Handler, error) {
	if cfg.APIID == "" {
		cfg.APIID = DefaultAPIID
	}
	if cfg.Region == "" {
		cfg.Region = lambdaruntime.DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = lambdaruntime.DefaultAccountID
	}
	if cfg.Identity == nil {
		id := LocalIdentity(cfg.AccountID)
		cfg.Identity = &id
	}
	if cfg.MaxBodyBytes <= 0 || cfg.MaxBodyBytes > MaxBodyBytes {
		cfg.MaxBodyBytes = MaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, logger: cfg.Logger}
	seen := map[string]bool{}
	iam := false
	for _, r := range cfg.Routes {
		cr, err := compile(r)
		if err != nil {
			return nil, err
		}
		if seen[cr.Key()] {
			return nil, fmt.Errorf("localapi: duplicate route %q", cr.Key())
		}
		seen[cr.Key()] = true
		iam = iam || cr.Authorizer == AuthorizerIAM
		h.routes = append(h.routes, cr)
	}
	if iam {
		h.logger.Warn("SigV4 signatures are not verified locally: AWS_IAM routes accept any request and see a local IAM identity",
			slog.String("userArn", cfg.Identity.UserARN))
	}
	return h, nil
}

func compile(r Route) (*compiledRoute, error) {
	r.Method = strings.ToUpper(r.Method)
	if r.Method == "" || strings.ContainsAny(r.Method, " /") {
		return nil, fmt.Errorf("localapi: route %q: invalid method", r.Key())
	}
	if r.Function == nil {
		return nil, fmt.Errorf("localapi: route %q: no function", r.Key())
	}
	switch r.Authorizer {
	case "":
		r.Authorizer = AuthorizerNone
	case AuthorizerNone, AuthorizerIAM:
	default:
		return nil, fmt.Errorf("localapi: route %q: authorizer %q is not supported locally (only AWS_IAM and NONE)", r.Key(), r.Authorizer)
	}
	if r.Timeout <= 0 || r.Timeout > MaxIntegrationTimeout {
		r.Timeout = MaxIntegrationTimeout
	}
	if !strings.HasPrefix(r.Path, "/") {
		return nil, fmt.Errorf("localapi: route %q: path must start with /", r.Key())
	}
	cr := &compiledRoute{Route: r}
	if r.Path == "/" {
		return cr, nil
	}
	parts := strings.Split(strings.TrimPrefix(r.Path, "/"), "/")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}"):
			name := p[1 : len(p)-2]
			if i != len(parts)-1 || !paramName.MatchString(name) {
				return nil, fmt.Errorf("localapi: route %q: a greedy parameter must be the last segment", r.Key())
			}
			cr.segments = append(cr.segments, segment{greedySegment, name})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			name := p[1 : len(p)-1]
			if !paramName.MatchString(name) {
				return nil, fmt.Errorf("localapi: route %q: invalid parameter %q", r.Key(), p)
			}
			cr.segments = append(cr.segments, segment{paramSegment, name})
		case p == "" || strings.ContainsAny(p, "{}"):
			return nil, fmt.Errorf("localapi: route %q: invalid path segment %q", r.Key(), p)
		default:
			cr.segments = append(cr.segments, segment{literalSegment, p})
		}
	}
	return cr, nil
}

// RouteKeys lists the served route keys, sorted.
func (h *Handler) RouteKeys() []string {
	keys := make([]string, 0, len(h.routes))
	for _, r := range h.routes {
		keys = append(keys, r.Key())
	}
	sort.Strings(keys)
	return keys
}

// match finds the most specific route for method and the decoded path and
// returns it with its path parameters.
func (h *Handler) match(method, path string) (*compiledRoute, map[string]string) {
	var parts []string
	if path != "/" {
		parts = strings.Split(strings.TrimPrefix(path, "/"), "/")
	}
	var (
		best       *compiledRoute
		bestParams map[string]string
	)
	for _, r := range h.routes {
		if r.Method != method && r.Method != "ANY" {
			continue
		}
		params, ok := r.matchPath(parts)
		if !ok {
			continue
		}
		if best == nil || moreSpecific(r, best) {
			best, bestParams = r, params
		}
	}
	return best, bestParams
}

func (r *compiledRoute) matchPath(parts []string) (map[string]string, bool) {
	var params map[string]string
	for i, s := range r.segments {
		if s.kind == greedySegment {
			rest := strings.Join(parts[min(i, len(parts)):], "/")
			if rest == "" {
				return nil, false // {proxy+} needs at least one character
			}
			if params == nil {
				params = map[string]string{}
			}
			params[s.value] = rest
			return params, true
		}
		if i >= len(parts) || parts[i] == "" {
			return nil, false
		}
		switch s.kind {
		case literalSegment:
			if parts[i] != s.value {
				return nil, false
			}
		case paramSegment:
			if params == nil {
				params = map[string]string{}
			}
			params[s.value] = parts[i]
		}
	}
	return params, len(parts) == len(r.segments)
}

// moreSpecific reports whether a beats b: the first differing segment kind
// decides, then a longer path, then an explicit method over ANY.
func moreSpecific(a, b *compiledRoute) bool {
	for i := 0; i < len(a.segments) && i < len(b.segments); i++ {
		if a.segments[i].kind != b.segments[i].kind {
			return a.segments[i].kind > b.segments[i].kind
		}
	}
	if len(a.segments) != len(b.segments) {
		return len(a.segments) > len(b.segments)
	}
	return a.Method != "ANY" && b.Method == "ANY"
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	requestID := newRequestID()
	w.Header().Set("Apigw-Requestid", requestID)
	route, params := h.match(r.Method, r.URL.Path)
	if route == nil {
		h.writeMessage(w, http.StatusNotFound, "Not Found")
		h.logAccess(r, requestID, "-", http.StatusNotFound, start)
		return
	}
	status := h.serveRoute(w, r, route, params, requestID, start)
	h.logAccess(r, requestID, route.Key(), status, start)
}

func (h *Handler) serveRoute(w http.ResponseWriter, r *http.Request, route *compiledRoute, params map[string]string, requestID string, start time.Time) int {
	var body []byte
	var err error
	if r.Body != nil { // always set on server requests; not on hand-made ones
		body, err = io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBodyBytes+1))
	}
	if err != nil {
		h.logger.Info("reading the request body failed", slog.String("requestId", requestID), slog.Any("error", err))
		return h.writeMessage(w, http.StatusBadRequest, "Bad Request")
	}
	if int64(len(body)) > h.cfg.MaxBodyBytes {
		return h.writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
	}
	event := h.event(r, route, params, body, requestID, start)
	payload, err := json.Marshal(event)
	if err != nil {
		h.logger.Error("encoding the event failed", slog.String("requestId", requestID), slog.Any("error", err))
		return h.writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
	}

	ctx, cancel := context.WithTimeout(r.Context(), route.Timeout)
	defer cancel()
	res, err := route.Function.Invoke(ctx, payload)
	switch {
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		h.logger.Warn("integration timed out", slog.String("requestId", requestID), slog.String("function", route.FunctionName), slog.Duration("timeout", route.Timeout))
		return h.writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
	case err != nil:
		if r.Context().Err() != nil {
			return 499 // the client went away; nobody reads an answer
		}
		h.logger.Error("invoke failed", slog.String("requestId", requestID), slog.String("function", route.FunctionName), slog.Any("error", err))
		return h.writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
	case res.Error != nil:
		h.logger.Warn("function error", slog.String("requestId", requestID), slog.String("function", route.FunctionName),
			slog.String("lambdaRequestId", res.RequestID), slog.String("errorType", res.Error.Type), slog.String("errorMessage", res.Error.Message))
		return h.writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
	}
	resp, err := ParseResponse(res.Payload)
	if err != nil {
		h.logger.Warn("malformed function response", slog.String("requestId", requestID), slog.String("function", route.FunctionName), slog.Any("error", err))
		return h.writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
	}
	return writeResponse(w, resp)
}

// event builds the payload 2.0 event API Gateway would send.
func (h *Handler) event(r *http.Request, route *compiledRoute, params map[string]string, body []byte, requestID string, now time.Time) events.APIGatewayV2HTTPRequest {
	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	headers, cookies := eventHeaders(r, sourceIP)
	domain := r.Host
	if host, _, err := net.SplitHostPort(r.Host); err == nil {
		domain = host
	}
	domainPrefix := domain
	if net.ParseIP(domain) == nil {
		domainPrefix, _, _ = strings.Cut(domain, ".")
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.Key(),
		RawPath:               r.URL.Path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: queryParameters(r.URL.RawQuery),
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route.Key(),
			AccountID:    h.cfg.AccountID,
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        h.cfg.APIID,
			DomainName:   domain,
			DomainPrefix: domainPrefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if route.Authorizer == AuthorizerIAM {
		id := *h.cfg.Identity
		if key := sigV4AccessKey(r.Header.Get("Authorization")); key != "" {
			id.AccessKey = key
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{IAM: &id}
	}
	if len(body) > 0 {
		if isTextContent(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// eventHeaders lower-cases header names and comma-joins repeated ones, adds
// the headers API Gateway adds, and moves cookies to their own list.
func eventHeaders(r *http.Request, sourceIP string) (map[string]string, []string) {
	headers := make(map[string]string, len(r.Header)+5)
	var cookies []string
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if lower == "cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lower] = strings.Join(values, ",")
	}
	headers["host"] = r.Host
	if r.ContentLength > 0 {
		headers["content-length"] = strconv.FormatInt(r.ContentLength, 10)
	}
	if prior := headers["x-forwarded-for"]; prior != "" {
		headers["x-forwarded-for"] = prior + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"] = "http"
	if r.TLS != nil {
		headers["x-forwarded-proto"] = "https"
	}
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		headers["x-forwarded-port"] = port
	}
	if headers["x-amzn-trace-id"] == "" {
		headers["x-amzn-trace-id"] = newTraceID()
	}
	return headers, cookies
}

// queryParameters decodes the query; repeated names are comma-joined like
// API Gateway does. Unparsable pairs are skipped (rawQueryString keeps them).
func queryParameters(raw string) map[string]string {
	if raw == "" {
		return nil
	}
	params := map[string]string{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		if prior, ok := params[key]; ok {
			params[key] = prior + "," + val
		} else {
			params[key] = val
		}
	}
	if len(params) == 0 {
		return nil
	}
	return params
}

// isTextContent reports whether API Gateway passes a body of this content
// type as text; all other bodies (and bodies without a type) are base64.
func isTextContent(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", mt == "application/xml", mt == "application/javascript",
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	return false
}

// sigV4AccessKey returns the access key id of a SigV4 Authorization header
// ("AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ..."),
// or "" if there is none.
func sigV4AccessKey(authorization string) string {
	rest, ok := strings.CutPrefix(authorization, "AWS4-HMAC-SHA256 ")
	if !ok {
		return ""
	}
	for part := range strings.SplitSeq(rest, ",") {
		if cred, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential="); ok {
			key, _, _ := strings.Cut(cred, "/")
			if paramName.MatchString(key) && len(key) <= 128 {
				return key
			}
		}
	}
	return ""
}

// ParseResponse interprets a function's output the way API Gateway does for
// payload 2.0: a JSON object with statusCode is a response description;
// any other valid JSON is a 200 application/json body.
func ParseResponse(payload []byte) (events.APIGatewayV2HTTPResponse, error) {
	if !json.Valid(payload) {
		return events.APIGatewayV2HTTPResponse{}, errors.New("function output is not valid JSON")
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(payload, &probe) != nil || probe["statusCode"] == nil {
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusOK,
			Headers:    map[string]string{"content-type": "application/json"},
			Body:       string(payload),
		}, nil
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return resp, fmt.Errorf("function response: %w", err)
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return resp, fmt.Errorf("function response: invalid statusCode %d", resp.StatusCode)
	}
	if resp.IsBase64Encoded {
		raw, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return resp, fmt.Errorf("function response: body is not valid base64: %w", err)
		}
		resp.Body, resp.IsBase64Encoded = string(raw), false
	}
	return resp, nil
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) int {
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.WriteString(w, resp.Body)
	return resp.StatusCode
}

// writeMessage writes API Gateway's own JSON answer, e.g. {"message":"Not Found"}.
func (h *Handler) writeMessage(w http.ResponseWriter, status int, message string) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{message})
	return status
}

func (h *Handler) logAccess(r *http.Request, requestID, routeKey string, status int, start time.Time) {
	h.logger.Info("http",
		slog.String("requestId", requestID),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", routeKey),
		slog.Int("status", status),
		slog.Duration("duration", h.cfg.Now().Sub(start)))
}

// newRequestID returns an id shaped like API Gateway's (16 characters).
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])[:15] + "="
}

func newTraceID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", time.Now().Unix(), hex.EncodeToString(b[:]))
}
