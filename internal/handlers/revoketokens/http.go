package revoketokens

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
	"github.com/okta-token-revoker/okta-token-revoker/internal/metrics"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Route keys, exactly as the SAM template declares them.
const (
	RouteUserClientTokens = "DELETE /users/{userId}/clients/{clientId}/tokens"
	RouteUserClientToken  = "DELETE /users/{userId}/clients/{clientId}/tokens/{tokenId}"
	RouteUserTokens       = "DELETE /users/{userId}/tokens"
	RouteAppTokens        = "DELETE /apps/{appId}/tokens"
	RouteAppToken         = "DELETE /apps/{appId}/tokens/{tokenId}"
	RouteRevocations      = "POST /revocations"
)

// SourceAPI is the AttrSource value of messages queued by POST /revocations.
const SourceAPI = "revocations-api"

// RouteKeys lists every route this handler serves.
func RouteKeys() []string {
	return []string{RouteUserClientTokens, RouteUserClientToken, RouteUserTokens, RouteAppTokens, RouteAppToken, RouteRevocations}
}

func (h *Handler) register(r *httpapi.Router) {
	r.Handle(RouteUserClientTokens, h.revokeRoute("userId", "clientId"))
	r.Handle(RouteUserClientToken, h.revokeRoute("userId", "clientId", "tokenId"))
	r.Handle(RouteUserTokens, h.revokeRoute("userId"))
	r.Handle(RouteAppTokens, h.revokeRoute("appId"))
	r.Handle(RouteAppToken, h.revokeRoute("appId", "tokenId"))
	r.Handle(RouteRevocations, h.enqueue)
}

// HandleHTTP serves an API Gateway HTTP API request. It never returns an
// error: failures are answered with the shared JSON error shape.
func (h *Handler) HandleHTTP(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	rec := newRecorder(ctx, h.cfg, "http")
	defer h.flush(ctx, rec)
	st := &httpState{rec: rec}
	ctx = context.WithValue(ctx, httpStateKey{}, st)
	ctx, cancel := boundedContext(ctx, h.cfg.HTTPTimeout)
	defer cancel()
	resp, err := h.router.Serve(ctx, req)
	switch {
	case st.failure != "":
		recordFailure(rec, st.failure)
	case !st.done && resp.StatusCode >= 400:
		// Rejected before any work: bad path IDs, unknown route, bad body.
		recordFailure(rec, kindOfStatus(resp.StatusCode))
	}
	return resp, err
}

// httpState carries one HTTP request's metrics through the router.
type httpState struct {
	rec     *metrics.Recorder
	done    bool        // the request's work ran (revocation or publish)
	failure failureKind // why it failed, if it did
}

type httpStateKey struct{}

func stateFrom(ctx context.Context) *httpState {
	if st, ok := ctx.Value(httpStateKey{}).(*httpState); ok {
		return st
	}
	// Routes called without HandleHTTP (not done in this package) still work.
	return &httpState{rec: metrics.New(DefaultNamespace)}
}

// revokeRoute returns the handler of a DELETE route whose path parameters
// name the request's IDs.
func (h *Handler) revokeRoute(params ...string) httpapi.HandlerFunc {
	return func(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
		var r revocation.Request
		for _, name := range params {
			id, err := httpapi.PathID(req, name)
			if err != nil {
				return httpapi.Response{}, err
			}
			switch name {
			case "userId":
				r.UserID = id
			case "clientId":
				r.ClientID = id
			case "appId":
				r.AppID = id
			case "tokenId":
				r.TokenID = id
			}
		}
		r = r.WithRequestID()
		ctx = revocation.WithAuditAttrs(ctx,
			slog.String("caller", httpapi.CallerIdentity(req)),
			slog.String("apiRequestId", req.RequestContext.RequestID),
			slog.String("route", req.RouteKey))
		st := stateFrom(ctx)
		res, err := h.cfg.Executor.Execute(ctx, r)
		st.done = true
		recordResult(st.rec, res)
		if err != nil {
			st.failure = classify(err)
			return httpapi.Response{}, err
		}
		switch {
		case res.Status == revocation.StatusDryRun:
			return httpapi.JSON(http.StatusOK, dryRunBody(res)), nil
		case res.Status == revocation.StatusAlreadyGone && r.TokenID == "" && res.Gone() != nil:
			// On a bulk route Okta's 404 for the target means the user,
			// client or app does not exist. For one token it cannot tell
			// a gone token from a gone user; either way the token is
			// unusable: 204.
			return httpapi.Response{}, fmt.Errorf("%s: %w", describe(r), res.Gone())
		}
		return httpapi.NoContent(), nil
	}
}

func describe(r revocation.Request) string {
	switch {
	case r.ClientID != "":
		return fmt.Sprintf("user %s or client %s", r.UserID, r.ClientID)
	case r.UserID != "":
		return "user " + r.UserID
	}
	return "app " + r.AppID
}

// DryRunAction is one revocation a dry run would have made.
type DryRunAction struct {
	Action   string `json:"action"`
	UserID   string `json:"userId,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	AppID    string `json:"appId,omitempty"`
	TokenID  string `json:"tokenId,omitempty"`
}

// DryRunResponse is the 200 body of a DELETE route in dry-run mode.
type DryRunResponse struct {
	DryRun      bool           `json:"dryRun"`
	RequestID   string         `json:"requestId"`
	WouldRevoke []DryRunAction `json:"wouldRevoke"`
}

func dryRunBody(res revocation.Result) DryRunResponse {
	body := DryRunResponse{DryRun: true, RequestID: res.Request.RequestID, WouldRevoke: []DryRunAction{}}
	for _, a := range res.Actions {
		if a.Status == revocation.StatusDryRun {
			body.WouldRevoke = append(body.WouldRevoke, DryRunAction{
				Action: string(a.Op), UserID: a.UserID, ClientID: a.ClientID, AppID: a.AppID, TokenID: a.TokenID,
			})
		}
	}
	return body
}

// EnqueueResponse is the 202 body of POST /revocations: the request ids, in
// the order of the body's requests.
type EnqueueResponse struct {
	RequestIDs []string `json:"requestIds"`
}

// enqueue serves POST /revocations: validate every request, queue them all,
// answer 202 with their ids.
func (h *Handler) enqueue(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	if h.cfg.Publisher == nil {
		return httpapi.Response{}, errors.New("revoke-tokens: no publisher configured for POST /revocations")
	}
	body, err := h.readBody(req)
	if err != nil {
		return httpapi.Response{}, err
	}
	reqs, err := revocation.ParseBatch(body)
	if err != nil {
		return httpapi.Response{}, &httpapi.StatusError{
			Status:  http.StatusBadRequest,
			Message: "invalid revocation requests; nothing was queued",
			Details: details(err),
		}
	}
	if len(reqs) > h.cfg.MaxBatchItems {
		return httpapi.Response{}, httpapi.Errorf(http.StatusRequestEntityTooLarge,
			"%d revocation requests in one call; at most %d", len(reqs), h.cfg.MaxBatchItems)
	}
	caller := httpapi.CallerIdentity(req)
	ids := make([]string, len(reqs))
	msgs := make([]queue.Message, len(reqs))
	seen := make(map[string]int, len(reqs))
	for i, r := range reqs {
		r = r.WithRequestID()
		if j, dup := seen[r.RequestID]; dup {
			return httpapi.Response{}, httpapi.Errorf(http.StatusBadRequest,
				"requests [%d] and [%d] have the same requestId; nothing was queued", j, i)
		}
		seen[r.RequestID] = i
		data, err := json.Marshal(r)
		if err != nil {
			return httpapi.Response{}, fmt.Errorf("encode revocation request %s: %w", r.RequestID, err)
		}
		attrs := map[string]string{AttrSource: SourceAPI}
		if caller != "" {
			attrs[AttrCaller] = caller
		}
		ids[i] = r.RequestID
		msgs[i] = queue.Message{ID: r.RequestID, Body: string(data), Attributes: attrs}
	}
	logAttrs := []any{
		slog.String("caller", caller),
		slog.String("apiRequestId", req.RequestContext.RequestID),
		slog.Int("count", len(ids)),
		slog.Any("requestIds", ids),
	}
	st := stateFrom(ctx)
	st.done = true
	pubCtx, cancel := context.WithTimeout(ctx, h.cfg.EnqueueTimeout)
	defer cancel()
	if err := h.cfg.Publisher.Publish(pubCtx, msgs); err != nil {
		st.failure = kindQueue
		var pe *queue.PublishError
		notQueued := ids
		if errors.As(err, &pe) {
			notQueued = pe.Failed
		}
		h.logger.ErrorContext(ctx, "revocation requests not queued", append(logAttrs,
			slog.Any("notQueued", notQueued), slog.String("error", err.Error()))...)
		return httpapi.Response{}, &httpapi.StatusError{
			Status: http.StatusServiceUnavailable,
			Message: fmt.Sprintf("could not queue %d of %d revocation requests; retry the call (requests are idempotent)",
				len(notQueued), len(ids)),
			Details: notQueued,
		}
	}
	h.logger.InfoContext(ctx, "revocation requests queued", logAttrs...)
	return httpapi.JSON(http.StatusAccepted, EnqueueResponse{RequestIDs: ids}), nil
}

// readBody returns the request body, decoded from base64 when API Gateway
// encoded it, and bounded by MaxBodyBytes.
func (h *Handler) readBody(req httpapi.Request) ([]byte, error) {
	limit := h.cfg.MaxBodyBytes
	tooLarge := httpapi.Errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", limit)
	if !req.IsBase64Encoded {
		if len(req.Body) > limit {
			return nil, tooLarge
		}
		return []byte(req.Body), nil
	}
	if len(req.Body) > base64.StdEncoding.EncodedLen(limit) {
		return nil, tooLarge
	}
	data, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, httpapi.Errorf(http.StatusBadRequest, "request body is not valid base64")
	}
	if len(data) > limit {
		return nil, tooLarge
	}
	return data, nil
}

// details splits ParseBatch's error into one line per invalid item
// (errors.Join separates them with newlines).
func details(err error) []string {
	var out []string
	for line := range strings.Lines(err.Error()) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, truncate(line, maxLoggedError))
		}
	}
	return out
}

func kindOfStatus(status int) failureKind {
	switch {
	case status == http.StatusTooManyRequests:
		return kindRateLimited
	case status == http.StatusGatewayTimeout:
		return kindTimeout
	case status >= 500:
		return kindServer
	}
	return kindInvalid
}
