// Package httpapi adapts handlers to API Gateway HTTP API (payload 2.0):
// routing by routeKey, the one JSON error shape every function answers with,
// and the mapping of domain and Okta errors to HTTP status codes.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Request and Response are API Gateway's payload 2.0 types.
type (
	Request  = events.APIGatewayV2HTTPRequest
	Response = events.APIGatewayV2HTTPResponse
)

// HandlerFunc serves one route. A returned error is turned into the JSON
// error shape by ErrorResponse; handlers need not build error responses.
type HandlerFunc func(ctx context.Context, req Request) (Response, error)

// ErrorBody is the JSON shape of every error answer of every function.
type ErrorBody struct {
	// Message says what went wrong, for a human. It never holds a secret.
	Message string `json:"message"`
	// Details lists individual problems, e.g. one per invalid request item.
	Details []string `json:"details,omitempty"`
	// OktaErrorCode is Okta's errorCode (e.g. E0000007) when Okta answered.
	OktaErrorCode string `json:"oktaErrorCode,omitempty"`
	// OktaRequestID is Okta's X-Okta-Request-Id when Okta answered.
	OktaRequestID string `json:"oktaRequestId,omitempty"`
	// RequestID is API Gateway's request id, to find the logs.
	RequestID string `json:"requestId,omitempty"`
}

// StatusError carries an explicit HTTP status and message, for errors the
// handler itself detects (bad query parameters, bodies too large, ...).
type StatusError struct {
	Status  int
	Message string
	Details []string
}

func (e *StatusError) Error() string { return e.Message }

// Errorf returns a *StatusError with a formatted message.
func Errorf(status int, format string, args ...any) error {
	return &StatusError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Router dispatches requests by their routeKey ("GET /users/{userId}/clients").
type Router struct {
	routes map[string]HandlerFunc
	logger *slog.Logger
}

// NewRouter returns an empty router that logs failures to logger.
func NewRouter(logger *slog.Logger) *Router {
	return &Router{routes: make(map[string]HandlerFunc), logger: logger}
}

// Handle registers h for routeKey, exactly as the template declares it.
func (r *Router) Handle(routeKey string, h HandlerFunc) { r.routes[routeKey] = h }

// RouteKeys lists the registered route keys.
func (r *Router) RouteKeys() []string {
	keys := make([]string, 0, len(r.routes))
	for k := range r.routes {
		keys = append(keys, k)
	}
	return keys
}

// Serve routes req. It never returns an error: API Gateway would turn one
// into an opaque 500, so every failure becomes a JSON error response.
func (r *Router) Serve(ctx context.Context, req Request) (Response, error) {
	h, ok := r.routes[req.RouteKey]
	if !ok {
		return r.ErrorResponse(ctx, req, Errorf(http.StatusNotFound, "no route for %s", req.RouteKey)), nil
	}
	resp, err := h(ctx, req)
	if err != nil {
		return r.ErrorResponse(ctx, req, err), nil
	}
	return withDefaultHeaders(resp), nil
}

// ErrorResponse maps err to a status and the JSON error body, and logs it:
// server-side failures at ERROR, caller mistakes at INFO.
func (r *Router) ErrorResponse(ctx context.Context, req Request, err error) Response {
	status, body, headers := Classify(err)
	body.RequestID = req.RequestContext.RequestID
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []any{
		slog.String("route", req.RouteKey),
		slog.Int("status", status),
		slog.String("error", err.Error()),
		slog.String("caller", CallerIdentity(req)),
	}
	if okta.IsConfigProblem(err) {
		attrs = append(attrs, slog.Bool("configProblem", true))
	}
	r.logger.Log(ctx, level, "request failed", attrs...)
	resp := JSON(status, body)
	for k, v := range headers {
		resp.Headers[k] = v
	}
	return resp
}

// Classify maps an error to its HTTP status, error body and extra headers.
// The mapping is the one documented in the README:
//   - invalid input (StatusError, invalid IDs or requests): its 4xx, or 400
//   - Okta 401/403, or a token request Okta refused (a scope not granted):
//     502, since our credentials are wrong, not the caller's
//   - Okta 429: 429 with Retry-After; Okta 400: 400 with Okta's summary;
//     Okta 404: 404
//   - Okta 5xx, connection failures: 502; timeouts: 504
//   - the Okta credentials could not be read (Secrets Manager down): 503
//   - the Okta credentials are unusable: 502, like a 401
//   - anything else: 500 with a generic message
func Classify(err error) (int, ErrorBody, map[string]string) {
	var (
		statusErr *StatusError
		oktaErr   *okta.Error
	)
	body := ErrorBody{}
	if errors.As(err, &oktaErr) {
		body.OktaErrorCode = oktaErr.ErrorCode
		body.OktaRequestID = oktaErr.RequestID
	}
	switch {
	case errors.As(err, &statusErr):
		body.Message, body.Details = statusErr.Message, statusErr.Details
		return statusErr.Status, body, nil
	case errors.Is(err, okta.ErrInvalidArgument), errors.Is(err, revocation.ErrInvalid):
		body.Message = err.Error()
		return http.StatusBadRequest, body, nil
	case okta.IsConfigProblem(err):
		// Before Okta's 400: the token endpoint answers a missing scope
		// grant with 400 invalid_scope, which is ours to fix, not the
		// caller's, and its text lists the service app's scopes.
		body.Message = "Okta rejected this service's credentials; operators have been alerted"
		return http.StatusBadGateway, body, nil
	case errors.Is(err, okta.ErrRateLimited):
		// Before Okta's 400: when one user's clients fail differently, a
		// retry after the reset is what the caller should do first.
		body.Message = "Okta rate limit reached; retry later"
		if e := okta.RateLimitError(err); e != nil {
			body.OktaErrorCode, body.OktaRequestID = e.ErrorCode, e.RequestID
		}
		reset, _ := okta.RateLimitReset(err)
		return http.StatusTooManyRequests, body, map[string]string{"Retry-After": RetryAfter(reset, time.Now())}
	case oktaErr != nil && oktaErr.StatusCode == http.StatusBadRequest:
		// Okta rejected what passed our own checks (e.g. a foreign cursor):
		// the caller's input, so the caller's 400, with Okta's summary.
		body.Message = "Okta rejected the request: " + oktaErr.ErrorSummary
		return http.StatusBadRequest, body, nil
	case okta.IsNotFound(err):
		body.Message = "not found in Okta"
		return http.StatusNotFound, body, nil
	case errors.Is(err, okta.ErrCredentialsUnavailable):
		// Before the deadline case: a Secrets Manager timeout also
		// matches context.DeadlineExceeded, but Okta was never called.
		body.Message = "this service's Okta credentials could not be read; retry later"
		return http.StatusServiceUnavailable, body, nil
	case errors.Is(err, okta.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		body.Message = "Okta did not answer in time"
		return http.StatusGatewayTimeout, body, nil
	case errors.Is(err, okta.ErrServer), errors.Is(err, okta.ErrUnavailable):
		body.Message = "Okta is unavailable"
		return http.StatusBadGateway, body, nil
	}
	body.Message = "internal error"
	return http.StatusInternalServerError, body, nil
}

// RetryAfter renders the seconds from now until reset for a Retry-After
// header: at least 1, and 60 when the reset is unknown.
func RetryAfter(reset, now time.Time) string {
	if reset.IsZero() {
		return "60"
	}
	secs := math.Ceil(reset.Sub(now).Seconds())
	if secs < 1 {
		secs = 1
	}
	return strconv.Itoa(int(secs))
}

// JSON returns a response with v marshalled as the body.
func JSON(status int, v any) Response {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
	}
	return withDefaultHeaders(Response{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	})
}

// NoContent returns an empty 204 response.
func NoContent() Response {
	return withDefaultHeaders(Response{StatusCode: http.StatusNoContent})
}

// withDefaultHeaders adds headers every answer carries: none of it may be
// cached, since token state changes under it.
func withDefaultHeaders(resp Response) Response {
	if resp.Headers == nil {
		resp.Headers = make(map[string]string)
	}
	if _, ok := resp.Headers["Cache-Control"]; !ok {
		resp.Headers["Cache-Control"] = "no-store"
	}
	return resp
}

// PathID returns the named path parameter, validated as an Okta ID.
func PathID(req Request, name string) (string, error) {
	value := req.PathParameters[name]
	if err := okta.ValidateID(name, value); err != nil {
		return "", &StatusError{Status: http.StatusBadRequest, Message: err.Error()}
	}
	return value, nil
}

// CallerIdentity returns the IAM principal API Gateway authenticated, for
// audit logs, or "" on routes without IAM authorization.
func CallerIdentity(req Request) string {
	if a := req.RequestContext.Authorizer; a != nil && a.IAM != nil {
		if a.IAM.UserARN != "" {
			return a.IAM.UserARN
		}
		return a.IAM.CallerID
	}
	return ""
}
