package revocation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
)

// OktaAPI is the part of the Okta client the executor needs; *okta.Client
// satisfies it.
type OktaAPI interface {
	UserClientIDs(ctx context.Context, userID string) ([]string, error)
	RevokeUserClientTokens(ctx context.Context, userID, clientID string) error
	RevokeUserClientToken(ctx context.Context, userID, clientID, tokenID string) error
	AppClientID(ctx context.Context, appID string) (string, error)
	RevokeAppTokens(ctx context.Context, appID string) error
	RevokeAppToken(ctx context.Context, appID, tokenID string) error
	RevokeUserSessions(ctx context.Context, userID string, oauthTokens bool) error
}

// Status is the outcome of an action or of a whole request.
type Status string

// The statuses of actions and results.
const (
	// StatusRevoked: Okta revoked the tokens (204).
	StatusRevoked Status = "revoked"
	// StatusAlreadyGone: Okta answered 404, so the token, user or app no
	// longer exists. The desired state holds; this counts as success.
	StatusAlreadyGone Status = "already-gone"
	// StatusDryRun: the executor runs in dry-run mode and only logged the
	// revocation it would have made.
	StatusDryRun Status = "dry-run"
	// StatusNothingToRevoke: a user-wide request for a user who has no
	// OAuth clients, hence no refresh tokens.
	StatusNothingToRevoke Status = "nothing-to-revoke"
	// StatusOK: a lookup (listing clients, resolving an app) succeeded.
	StatusOK Status = "ok"
	// StatusFailed: the action or request failed; see the error.
	StatusFailed Status = "failed"
)

// Op names one kind of Okta call.
type Op string

// The Okta calls the executor makes.
const (
	OpListUserClients        Op = "listUserClients"        // GET /api/v1/users/{userId}/clients (all pages)
	OpResolveAppClientID     Op = "resolveAppClientId"     // GET /api/v1/apps/{appId} (cached by the client)
	OpRevokeUserClientTokens Op = "revokeUserClientTokens" // DELETE /api/v1/users/{userId}/clients/{clientId}/tokens
	OpRevokeUserClientToken  Op = "revokeUserClientToken"  // DELETE .../tokens/{tokenId}
	OpRevokeAppTokens        Op = "revokeAppTokens"        // DELETE /api/v1/apps/{appId}/tokens
	OpRevokeAppToken         Op = "revokeAppToken"         // DELETE /api/v1/apps/{appId}/tokens/{tokenId}
	OpRevokeUserSessions     Op = "revokeUserSessions"     // DELETE /api/v1/users/{userId}/sessions?oauthTokens=true
)

// Revokes reports whether the op changes state in Okta (as opposed to a
// lookup). Dry runs skip exactly these.
func (o Op) Revokes() bool {
	return o != OpListUserClients && o != OpResolveAppClientID
}

// Action is one Okta call made (or, in a dry run, planned) for a request.
// Each action gets one audit log record.
type Action struct {
	Op       Op
	UserID   string
	ClientID string
	AppID    string
	TokenID  string
	Status   Status
	// Err is the failure (Status Failed) or Okta's 404 (Status AlreadyGone).
	Err error
	// OktaRequestID is Okta's X-Okta-Request-Id when Okta answered with an
	// error ("" otherwise: the client does not expose it on success).
	OktaRequestID string
	// Duration of the call including the client's retries and waits; zero
	// when no call was made (dry run).
	Duration time.Duration
}

// Called reports whether an Okta call was made for the action.
func (a Action) Called() bool { return a.Status != StatusDryRun }

// Result is what Execute did for one request.
type Result struct {
	// Request is the executed request, with its request id filled in.
	Request Request
	// Status summarises the actions: Revoked if anything was revoked, else
	// DryRun, else AlreadyGone, else NothingToRevoke; Failed on error.
	Status Status
	// Actions lists every call made or planned, in order, including the
	// failed one.
	Actions []Action
}

// Gone returns the Okta 404 that made the request a no-op because its
// target does not exist, or nil. For the bulk scopes it means the user,
// client or app does not exist. A user-wide request's target is the user:
// only a 404 listing the user's clients counts, not one revoking a client
// whose grants vanished after the listing (another revocation won the
// race; the user exists and holds no tokens).
func (r Result) Gone() error {
	if r.Status != StatusAlreadyGone {
		return nil
	}
	userWide := r.Request.Scope() == ScopeUser
	for _, a := range r.Actions {
		if a.Status == StatusAlreadyGone && (!userWide || a.Op == OpListUserClients) {
			return a.Err
		}
	}
	return nil
}

// ExecutorConfig configures an Executor.
type ExecutorConfig struct {
	// Okta makes the calls. Required.
	Okta OktaAPI
	// Logger receives one audit record per action. Default slog.Default().
	Logger *slog.Logger
	// DryRun logs the revocations that would be made and makes none.
	// Lookups (listing a user's clients, resolving an app's client id)
	// still happen, so the log shows exactly what would be revoked.
	DryRun bool
	// RevokeSessions makes user-wide requests also end the user's Okta
	// sessions with oauthTokens=true, after the per-client revocations.
	RevokeSessions bool
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// Executor turns revocation requests into Okta calls. It is safe for
// concurrent use. Every request is idempotent: repeating one after partial
// progress revokes what is left, and what is gone counts as done.
type Executor struct {
	okta           OktaAPI
	logger         *slog.Logger
	dryRun         bool
	revokeSessions bool
	now            func() time.Time
}

// NewExecutor returns an Executor.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	if cfg.Okta == nil {
		return nil, errors.New("revocation: executor needs an Okta client")
	}
	e := &Executor{
		okta:           cfg.Okta,
		logger:         cfg.Logger,
		dryRun:         cfg.DryRun,
		revokeSessions: cfg.RevokeSessions,
		now:            cfg.Now,
	}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e, nil
}

// DryRun reports whether the executor only logs what it would revoke.
func (e *Executor) DryRun() bool { return e.dryRun }

type auditAttrsKey struct{}

// WithAuditAttrs returns a context whose audit records carry attrs in
// addition to the request's fields: who asked (the caller's IAM identity),
// the SQS message id, the API Gateway request id.
func WithAuditAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(auditAttrsKey{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(append(all, prev...), attrs...)
	return context.WithValue(ctx, auditAttrsKey{}, all)
}

// Execute revokes what req asks for. A 404 from Okta counts as done
// (StatusAlreadyGone), not as an error. Errors keep Okta's error in their
// chain (okta.IsConfigProblem, okta.RateLimitReset, okta.IsRetryable work on
// them); an invalid request returns an error wrapping ErrInvalid and makes
// no call.
func (e *Executor) Execute(ctx context.Context, req Request) (Result, error) {
	req = req.WithRequestID()
	res := Result{Request: req, Status: StatusFailed}
	if err := req.Validate(); err != nil {
		return res, err
	}
	var err error
	switch req.Scope() {
	case ScopeUser:
		err = e.revokeUserTokens(ctx, &res)
	case ScopeUserClient:
		err = e.revokeUserClient(ctx, &res, req.UserID, req.ClientID, "")
	case ScopeUserClientToken:
		_, err = e.do(ctx, &res, Action{Op: OpRevokeUserClientToken, UserID: req.UserID, ClientID: req.ClientID, TokenID: req.TokenID},
			func(ctx context.Context) error {
				return e.okta.RevokeUserClientToken(ctx, req.UserID, req.ClientID, req.TokenID)
			})
	case ScopeUserApp:
		err = e.revokeUserApp(ctx, &res)
	case ScopeApp:
		_, err = e.do(ctx, &res, Action{Op: OpRevokeAppTokens, AppID: req.AppID},
			func(ctx context.Context) error { return e.okta.RevokeAppTokens(ctx, req.AppID) })
	case ScopeAppToken:
		_, err = e.do(ctx, &res, Action{Op: OpRevokeAppToken, AppID: req.AppID, TokenID: req.TokenID},
			func(ctx context.Context) error { return e.okta.RevokeAppToken(ctx, req.AppID, req.TokenID) })
	}
	if err != nil {
		return res, fmt.Errorf("revocation %s (%s): %w", req.RequestID, req.Scope(), err)
	}
	res.Status = summarize(res.Actions)
	return res, nil
}

// revokeUserTokens revokes the user's tokens client by client: Okta has no
// single call for "all refresh tokens of a user" short of ending sessions.
func (e *Executor) revokeUserTokens(ctx context.Context, res *Result) error {
	userID := res.Request.UserID
	var clientIDs []string
	gone, err := e.do(ctx, res, Action{Op: OpListUserClients, UserID: userID}, func(ctx context.Context) error {
		var err error
		clientIDs, err = e.okta.UserClientIDs(ctx, userID)
		return err
	})
	if err != nil || gone {
		return err
	}
	var errs []error
	for _, clientID := range clientIDs {
		if err := e.revokeUserClient(ctx, res, userID, clientID, ""); err != nil {
			errs = append(errs, err)
			// Rate limits, bad credentials and the deadline hit every
			// later call too: stop and let the retry redo the rest. Other
			// failures are specific to this client; go on with the others.
			if !continueAfter(ctx, err) {
				return joinClientErrors(errs)
			}
		}
	}
	if len(errs) > 0 {
		return joinClientErrors(errs)
	}
	if e.revokeSessions && !res.Request.AnswersSessionClear() {
		_, err := e.do(ctx, res, Action{Op: OpRevokeUserSessions, UserID: userID}, func(ctx context.Context) error {
			return e.okta.RevokeUserSessions(ctx, userID, true)
		})
		return err
	}
	return nil
}

// EventSessionClear is the Okta event logged when a user's sessions are
// ended, by an admin or by this service's RevokeUserSessions call.
const EventSessionClear = "user.session.clear"

// AnswersSessionClear reports whether r was queued for a
// user.session.clear event. Its sessions are already gone; ending them
// again would log another user.session.clear, which the hook and the
// reconciler would queue again: a loop that never ends.
func (r Request) AnswersSessionClear() bool {
	if len(r.Reason) == 0 {
		return false
	}
	reason, err := r.DecodeReason()
	return err == nil && reason.EventType == EventSessionClear
}

// joinClientErrors joins the failures of one user's clients, the one that
// decides what happens next first, since callers read the first Okta error
// (its status, its rate-limit reset): the one that stopped the walk (a
// rate limit, bad credentials, the deadline), else one a retry may cure
// (5xx, timeout) before one it cannot (a 400 for that client), so the
// request is retried rather than given up while part of it may succeed.
func joinClientErrors(errs []error) error {
	rank := func(err error) int {
		switch {
		case stopsWalk(err):
			return 0
		case okta.IsRetryable(err):
			return 1
		}
		return 2
	}
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(rank(a), rank(b)) })
	return errors.Join(errs...)
}

func continueAfter(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !stopsWalk(err)
}

// stopsWalk reports whether err would hit every later call of the walk too.
func stopsWalk(err error) bool {
	return errors.Is(err, okta.ErrRateLimited) || okta.IsConfigProblem(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

func (e *Executor) revokeUserApp(ctx context.Context, res *Result) error {
	req := res.Request
	var clientID string
	gone, err := e.do(ctx, res, Action{Op: OpResolveAppClientID, UserID: req.UserID, AppID: req.AppID}, func(ctx context.Context) error {
		var err error
		clientID, err = e.okta.AppClientID(ctx, req.AppID)
		return err
	})
	if err != nil || gone {
		// A deleted app has no tokens left for anyone.
		return err
	}
	return e.revokeUserClient(ctx, res, req.UserID, clientID, req.AppID)
}

func (e *Executor) revokeUserClient(ctx context.Context, res *Result, userID, clientID, appID string) error {
	_, err := e.do(ctx, res, Action{Op: OpRevokeUserClientTokens, UserID: userID, ClientID: clientID, AppID: appID},
		func(ctx context.Context) error { return e.okta.RevokeUserClientTokens(ctx, userID, clientID) })
	return err
}

// do makes one call (or, for a revocation in a dry run, only plans it),
// records it in res and writes its audit record. gone reports Okta's 404.
func (e *Executor) do(ctx context.Context, res *Result, a Action, call func(context.Context) error) (gone bool, err error) {
	if e.dryRun && a.Op.Revokes() {
		a.Status = StatusDryRun
		e.record(ctx, res, a)
		return false, nil
	}
	start := e.now()
	err = call(ctx)
	a.Duration = e.now().Sub(start)
	a.OktaRequestID = okta.RequestIDOf(err)
	switch {
	case err == nil && a.Op.Revokes():
		a.Status = StatusRevoked
	case err == nil:
		a.Status = StatusOK
	case okta.IsNotFound(err):
		a.Status, a.Err = StatusAlreadyGone, err
	default:
		a.Status, a.Err = StatusFailed, err
	}
	e.record(ctx, res, a)
	if a.Status == StatusFailed {
		return false, fmt.Errorf("%s: %w", a.describe(), err)
	}
	return a.Status == StatusAlreadyGone, nil
}

func (a Action) describe() string {
	switch a.Op {
	case OpListUserClients:
		return fmt.Sprintf("list clients of user %s", a.UserID)
	case OpResolveAppClientID:
		return fmt.Sprintf("resolve client id of app %s", a.AppID)
	case OpRevokeUserClientTokens:
		return fmt.Sprintf("revoke tokens of user %s for client %s", a.UserID, a.ClientID)
	case OpRevokeUserClientToken:
		return fmt.Sprintf("revoke token %s of user %s for client %s", a.TokenID, a.UserID, a.ClientID)
	case OpRevokeAppTokens:
		return fmt.Sprintf("revoke tokens of app %s", a.AppID)
	case OpRevokeAppToken:
		return fmt.Sprintf("revoke token %s of app %s", a.TokenID, a.AppID)
	case OpRevokeUserSessions:
		return fmt.Sprintf("revoke sessions of user %s", a.UserID)
	}
	return string(a.Op)
}

// record appends a to res and writes its audit record. The record holds
// IDs, outcome and timing only: the request carries no credential, and
// errors from the Okta client never contain one.
func (e *Executor) record(ctx context.Context, res *Result, a Action) {
	res.Actions = append(res.Actions, a)
	req := res.Request
	attrs := []slog.Attr{
		slog.String("requestId", req.RequestID),
		slog.String("scope", string(req.Scope())),
		slog.String("action", string(a.Op)),
		slog.String("outcome", string(a.Status)),
	}
	for _, f := range []struct{ key, value string }{
		{"userId", a.UserID}, {"clientId", a.ClientID}, {"appId", a.AppID}, {"tokenId", a.TokenID},
		{"oktaRequestId", a.OktaRequestID},
	} {
		if f.value != "" {
			attrs = append(attrs, slog.String(f.key, f.value))
		}
	}
	if a.Called() {
		attrs = append(attrs, slog.Int64("durationMs", a.Duration.Milliseconds()))
	}
	if e.dryRun {
		attrs = append(attrs, slog.Bool("dryRun", true))
	}
	if len(req.Reason) > 0 {
		attrs = append(attrs, slog.Any("reason", req.Reason))
	}
	level, msg := slog.LevelInfo, "okta action"
	if a.Status == StatusDryRun {
		msg = "okta action (dry run: not sent)"
	}
	if a.Status == StatusFailed {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", a.Err.Error()))
		if okta.IsConfigProblem(a.Err) {
			level = slog.LevelError
			attrs = append(attrs, slog.Bool("configProblem", true))
		}
	}
	if extra, ok := ctx.Value(auditAttrsKey{}).([]slog.Attr); ok {
		attrs = append(attrs, extra...)
	}
	e.logger.LogAttrs(ctx, level, msg, attrs...)
}

func summarize(actions []Action) Status {
	has := func(s Status) bool {
		for _, a := range actions {
			if a.Status == s {
				return true
			}
		}
		return false
	}
	switch {
	case has(StatusRevoked):
		return StatusRevoked
	case has(StatusDryRun):
		return StatusDryRun
	case has(StatusAlreadyGone):
		return StatusAlreadyGone
	}
	return StatusNothingToRevoke
}
