// Package listtokens serves the read-only HTTP routes of the list-tokens
// function: which OAuth clients hold tokens for a user, and which refresh
// tokens exist for a user and client or for an app. Each route mirrors an
// Okta Management API route (minus /api/v1), takes the same query
// parameters, and returns Okta's objects unchanged.
package listtokens

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/httpapi"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
)

// Route keys, exactly as the SAM template declares them.
const (
	RouteUserClients     = "GET /users/{userId}/clients"
	RouteUserClientToken = "GET /users/{userId}/clients/{clientId}/tokens/{tokenId}"
	RouteUserClientList  = "GET /users/{userId}/clients/{clientId}/tokens"
	RouteAppTokens       = "GET /apps/{appId}/tokens"
	RouteAppToken        = "GET /apps/{appId}/tokens/{tokenId}"
)

// Path parameter names used by the routes.
const (
	pathUserID   = "userId"
	pathClientID = "clientId"
	pathAppID    = "appId"
	pathTokenID  = "tokenId"
)

// deadlineMargin is kept free before the Lambda deadline so that a slow
// Okta still gets a 504 from us rather than a killed invocation, which API
// Gateway would turn into an opaque 500.
const deadlineMargin = time.Second

// maxClientPages bounds the walk over a user's clients. Okta defines no
// paging for that route; the bound only stops a runaway Link chain.
const maxClientPages = 100

// Okta is the part of the Okta client these routes need; *okta.Client
// satisfies it.
type Okta interface {
	ListUserClients(ctx context.Context, userID string) (okta.Page, error)
	ListUserClientTokens(ctx context.Context, userID, clientID string, opts okta.ListOptions) (okta.Page, error)
	GetUserClientToken(ctx context.Context, userID, clientID, tokenID, expand string) (json.RawMessage, error)
	ListAppTokens(ctx context.Context, appID string, opts okta.ListOptions) (okta.Page, error)
	GetAppToken(ctx context.Context, appID, tokenID, expand string) (json.RawMessage, error)
	NextPage(ctx context.Context, p okta.Page) (okta.Page, error)
}

// Handler serves the list-tokens routes.
type Handler struct {
	okta   Okta
	logger *slog.Logger
}

// New returns a Handler that reads from client and logs to logger.
func New(client Okta, logger *slog.Logger) *Handler {
	return &Handler{okta: client, logger: logger}
}

// Register adds every list-tokens route to r.
func (h *Handler) Register(r *httpapi.Router) {
	r.Handle(RouteUserClients, withMargin(h.userClients))
	r.Handle(RouteUserClientList, withMargin(h.userClientTokens))
	r.Handle(RouteUserClientToken, withMargin(h.userClientToken))
	r.Handle(RouteAppTokens, withMargin(h.appTokens))
	r.Handle(RouteAppToken, withMargin(h.appToken))
}

// withMargin ends the handler's context deadlineMargin before the
// invocation's deadline, when there is one.
func withMargin(next httpapi.HandlerFunc) httpapi.HandlerFunc {
	return func(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
		if deadline, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-deadlineMargin))
			defer cancel()
		}
		return next(ctx, req)
	}
}

// NewRouter returns a router serving every list-tokens route; its Serve
// method is the Lambda handler.
func NewRouter(client Okta, logger *slog.Logger) *httpapi.Router {
	r := httpapi.NewRouter(logger)
	New(client, logger).Register(r)
	return r
}

// userClients serves GET /users/{userId}/clients. Okta defines no paging
// parameters for it, so should Okta ever page the answer, every page is
// fetched and returned as one array.
func (h *Handler) userClients(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	userID, err := httpapi.PathID(req, pathUserID)
	if err != nil {
		return httpapi.Response{}, err
	}
	if _, err := queryOf(req, noParams); err != nil {
		return httpapi.Response{}, err
	}
	page, err := h.okta.ListUserClients(ctx, userID)
	if err != nil {
		return httpapi.Response{}, oktaFailure(err, "list clients of user %s", userID)
	}
	items := page.Items
	for pages := 1; page.NextURL != ""; pages++ {
		if pages >= maxClientPages {
			return httpapi.Response{}, &httpapi.StatusError{Status: http.StatusBadGateway,
				Message: fmt.Sprintf("Okta returned more than %d pages of clients", maxClientPages)}
		}
		if page, err = h.okta.NextPage(ctx, page); err != nil {
			return httpapi.Response{}, oktaFailure(err, "list clients of user %s", userID)
		}
		items = append(items, page.Items...)
	}
	h.logRead(ctx, req, len(items), false, slog.String(pathUserID, userID))
	return arrayResponse(items, ""), nil
}

// userClientTokens serves GET /users/{userId}/clients/{clientId}/tokens.
func (h *Handler) userClientTokens(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	userID, clientID, err := pathIDs2(req, pathUserID, pathClientID)
	if err != nil {
		return httpapi.Response{}, err
	}
	q, err := queryOf(req, listParams)
	if err != nil {
		return httpapi.Response{}, err
	}
	page, err := h.okta.ListUserClientTokens(ctx, userID, clientID, listOptions(q))
	if err != nil {
		return httpapi.Response{}, oktaFailure(err, "list tokens of user %s for client %s", userID, clientID)
	}
	suffix := "/users/" + userID + "/clients/" + clientID + "/tokens"
	return h.pageResponse(ctx, req, suffix, q, page, slog.String(pathUserID, userID), slog.String(pathClientID, clientID))
}

// userClientToken serves GET /users/{userId}/clients/{clientId}/tokens/{tokenId}.
func (h *Handler) userClientToken(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	userID, clientID, err := pathIDs2(req, pathUserID, pathClientID)
	if err != nil {
		return httpapi.Response{}, err
	}
	tokenID, err := httpapi.PathID(req, pathTokenID)
	if err != nil {
		return httpapi.Response{}, err
	}
	q, err := queryOf(req, singleParams)
	if err != nil {
		return httpapi.Response{}, err
	}
	token, err := h.okta.GetUserClientToken(ctx, userID, clientID, tokenID, q.Expand)
	if err != nil {
		return httpapi.Response{}, oktaFailure(err, "get token %s of user %s for client %s", tokenID, userID, clientID)
	}
	h.logRead(ctx, req, 1, false, slog.String(pathUserID, userID), slog.String(pathClientID, clientID), slog.String(pathTokenID, tokenID))
	return rawResponse(token), nil
}

// appTokens serves GET /apps/{appId}/tokens.
func (h *Handler) appTokens(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	appID, err := httpapi.PathID(req, pathAppID)
	if err != nil {
		return httpapi.Response{}, err
	}
	q, err := queryOf(req, listParams)
	if err != nil {
		return httpapi.Response{}, err
	}
	page, err := h.okta.ListAppTokens(ctx, appID, listOptions(q))
	if err != nil {
		return httpapi.Response{}, oktaFailure(err, "list tokens of app %s", appID)
	}
	return h.pageResponse(ctx, req, "/apps/"+appID+"/tokens", q, page, slog.String(pathAppID, appID))
}

// appToken serves GET /apps/{appId}/tokens/{tokenId}.
func (h *Handler) appToken(ctx context.Context, req httpapi.Request) (httpapi.Response, error) {
	appID, tokenID, err := pathIDs2(req, pathAppID, pathTokenID)
	if err != nil {
		return httpapi.Response{}, err
	}
	q, err := queryOf(req, singleParams)
	if err != nil {
		return httpapi.Response{}, err
	}
	token, err := h.okta.GetAppToken(ctx, appID, tokenID, q.Expand)
	if err != nil {
		return httpapi.Response{}, oktaFailure(err, "get token %s of app %s", tokenID, appID)
	}
	h.logRead(ctx, req, 1, false, slog.String(pathAppID, appID), slog.String(pathTokenID, tokenID))
	return rawResponse(token), nil
}

// pageResponse answers with one page of a list and, when Okta has more, a
// Link to the next page on this API's own route.
func (h *Handler) pageResponse(ctx context.Context, req httpapi.Request, suffix string, q Query, page okta.Page, attrs ...slog.Attr) (httpapi.Response, error) {
	link := ""
	if page.NextURL != "" {
		if page.After == "" || validateAfter(page.After) != "" {
			// Without a usable cursor the caller could not reach the rest
			// of the list; answering with a partial list would hide that.
			return httpapi.Response{}, &httpapi.StatusError{Status: http.StatusBadGateway,
				Message: "Okta returned a next page without a usable cursor"}
		}
		next := q
		next.After = page.After
		link = "<" + NextURL(req, suffix, next) + `>; rel="next"`
	}
	h.logRead(ctx, req, len(page.Items), link != "", attrs...)
	return arrayResponse(page.Items, link), nil
}

func (h *Handler) logRead(ctx context.Context, req httpapi.Request, items int, more bool, attrs ...slog.Attr) {
	attrs = append(attrs,
		slog.String("route", req.RouteKey),
		slog.String("caller", httpapi.CallerIdentity(req)),
		slog.String("requestId", req.RequestContext.RequestID),
		slog.Int("items", items),
		slog.Bool("morePages", more),
	)
	h.logger.LogAttrs(ctx, slog.LevelInfo, "read from Okta", attrs...)
}

// oktaFailure adds what was being done to an Okta error. Okta answers 400
// to these reads, whose IDs and parameters passed validation here, for what
// only Okta can check, such as a stale or foreign after cursor: that is the
// caller's mistake, so it becomes a 400 carrying Okta's summary (the
// shared mapping would otherwise answer 500).
func oktaFailure(err error, format string, args ...any) error {
	doing := fmt.Sprintf(format, args...)
	var oktaErr *okta.Error
	if errors.As(err, &oktaErr) && oktaErr.StatusCode == http.StatusBadRequest {
		msg := "Okta rejected the request"
		if summary := oktaErr.ErrorSummary; summary != "" {
			msg += ": " + truncate(summary, 200)
		}
		return fmt.Errorf("%s: %w: %w", doing, &httpapi.StatusError{Status: http.StatusBadRequest, Message: msg}, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func pathIDs2(req httpapi.Request, first, second string) (string, string, error) {
	a, err := httpapi.PathID(req, first)
	if err != nil {
		return "", "", err
	}
	b, err := httpapi.PathID(req, second)
	if err != nil {
		return "", "", err
	}
	return a, b, nil
}

func listOptions(q Query) okta.ListOptions {
	return okta.ListOptions{Expand: q.Expand, After: q.After, Limit: q.Limit}
}

// arrayResponse writes Okta's objects as a JSON array, byte for byte as
// Okta sent them: re-encoding could drop or reorder fields.
func arrayResponse(items []json.RawMessage, link string) httpapi.Response {
	var body bytes.Buffer
	body.WriteByte('[')
	for i, item := range items {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(item)
	}
	body.WriteByte(']')
	resp := httpapi.Response{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       body.String(),
	}
	if link != "" {
		resp.Headers["Link"] = link
	}
	return resp
}

// rawResponse writes one of Okta's objects unchanged.
func rawResponse(item json.RawMessage) httpapi.Response {
	return httpapi.Response{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(item),
	}
}
