package revocation

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
)

// memOkta is an in-memory OktaAPI with Okta's 404 semantics, for unit tests
// of the executor's control flow. Behaviour against real HTTP answers is
// tested with the fake Okta server in executor_oktafake_test.go.
type memOkta struct {
	mu     sync.Mutex
	users  map[string]map[string][]string // user -> client -> active token ids
	apps   map[string]string              // app id -> client id
	fail   map[Op]error                   // injected failures by op
	calls  []Op
	failOn map[string]error // injected failures by client id (per-client revokes)
}

func newMemOkta() *memOkta {
	return &memOkta{users: map[string]map[string][]string{}, apps: map[string]string{}, fail: map[Op]error{}, failOn: map[string]error{}}
}

func (m *memOkta) addToken(user, client, token string) {
	if m.users[user] == nil {
		m.users[user] = map[string][]string{}
	}
	m.users[user][client] = append(m.users[user][client], token)
}

func (m *memOkta) active() int {
	n := 0
	for _, clients := range m.users {
		for _, toks := range clients {
			n += len(toks)
		}
	}
	return n
}

func notFound(path string) error {
	return &okta.Error{Method: http.MethodDelete, Path: path, StatusCode: 404, ErrorCode: "E0000007", RequestID: "req-404"}
}

func (m *memOkta) enter(op Op) error {
	m.calls = append(m.calls, op)
	return m.fail[op]
}

func (m *memOkta) UserClientIDs(_ context.Context, userID string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter(OpListUserClients); err != nil {
		return nil, err
	}
	clients, ok := m.users[userID]
	if !ok {
		return nil, notFound("/api/v1/users/" + userID + "/clients")
	}
	var ids []string
	for c, toks := range clients {
		if len(toks) > 0 {
			ids = append(ids, c)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (m *memOkta) RevokeUserClientTokens(_ context.Context, userID, clientID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter(OpRevokeUserClientTokens); err != nil {
		return err
	}
	if err := m.failOn[clientID]; err != nil {
		return err
	}
	if _, ok := m.users[userID]; !ok {
		return notFound("/api/v1/users/" + userID + "/clients/" + clientID + "/tokens")
	}
	delete(m.users[userID], clientID)
	return nil
}

func (m *memOkta) RevokeUserClientToken(_ context.Context, userID, clientID, tokenID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter(OpRevokeUserClientToken); err != nil {
		return err
	}
	toks := m.users[userID][clientID]
	i := slices.Index(toks, tokenID)
	if i < 0 {
		return notFound("/api/v1/users/" + userID + "/clients/" + clientID + "/tokens/" + tokenID)
	}
	m.users[userID][clientID] = slices.Delete(toks, i, i+1)
	return nil
}

func (m *memOkta) AppClientID(_ context.Context, appID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter(OpResolveAppClientID); err != nil {
		return "", err
	}
	c, ok := m.apps[appID]
	if !ok {
		return "", notFound("/api/v1/apps/" + appID)
	}
	return c, nil
}

func (m *memOkta) RevokeAppTokens(_ context.Context, appID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter(OpRevokeAppTokens); err != nil {
		return err
	}
	c, ok := m.apps[appID]
	if !ok {
		return notFound("/api/v1/apps/" + appID + "/tokens")
	}
	for _, clients := range m.users {
		delete(clients, c)
	}
	return nil
}

func (m *memOkta) RevokeAppToken(_ context.Context, appID, tokenID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter(OpRevokeAppToken); err != nil {
		return err
	}
	c, ok := m.apps[appID]
	if !ok {
		return notFound("/api/v1/apps/" + appID + "/tokens/" + tokenID)
	}
	for _, clients := range m.users {
		if i := slices.Index(clients[c], tokenID); i >= 0 {
			clients[c] = slices.Delete(clients[c], i, i+1)
			return nil
		}
	}
	return notFound("/api/v1/apps/" + appID + "/tokens/" + tokenID)
}

func (m *memOkta) RevokeUserSessions(_ context.Context, userID string, oauthTokens bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter(OpRevokeUserSessions); err != nil {
		return err
	}
	if _, ok := m.users[userID]; !ok {
		return notFound("/api/v1/users/" + userID + "/sessions")
	}
	if oauthTokens {
		m.users[userID] = map[string][]string{}
	}
	return nil
}

var (
	errServer    = &okta.Error{Method: "DELETE", Path: "/x", StatusCode: 500, ErrorCode: "E0000009", RequestID: "req-500", Attempts: 5}
	errRateLimit = &okta.Error{Method: "DELETE", Path: "/x", StatusCode: 429, ErrorCode: "E0000047", RequestID: "req-429",
		RateLimitReset: time.Unix(1_900_000_000, 0)}
	errUnauthorized = &okta.Error{Method: "DELETE", Path: "/x", StatusCode: 401, ErrorCode: "E0000011", RequestID: "req-401"}
	errRejected     = &okta.Error{Method: "DELETE", Path: "/x", StatusCode: 400, ErrorCode: "E0000001", RequestID: "req-400"}
)

func seeded() *memOkta {
	m := newMemOkta()
	m.addToken("00uAlice", "0oaMail", "oarM1")
	m.addToken("00uAlice", "0oaMail", "oarM2")
	m.addToken("00uAlice", "0oaChat", "oarC1")
	m.addToken("00uBob", "0oaMail", "oarM3")
	m.users["00uNoTokens"] = map[string][]string{}
	m.apps["0oaMailApp"] = "0oaMail"
	return m
}

// firstOktaStatus matches an error whose first Okta error has status.
func firstOktaStatus(status int) func(error) bool {
	return func(err error) bool {
		var e *okta.Error
		return errors.As(err, &e) && e.StatusCode == status
	}
}

func TestExecute(t *testing.T) {
	tests := []struct {
		name         string
		req          Request
		dryRun       bool
		sessions     bool
		fail         map[Op]error
		failOn       map[string]error
		wantStatus   Status
		wantErr      func(error) bool
		wantOps      []Op
		wantActive   int // tokens left of the 4 seeded
		wantOutcomes []Status
	}{
		{
			name: "user: every client", req: Request{UserID: "00uAlice"},
			wantStatus: StatusRevoked, wantActive: 1,
			wantOps:      []Op{OpListUserClients, OpRevokeUserClientTokens, OpRevokeUserClientTokens},
			wantOutcomes: []Status{StatusOK, StatusRevoked, StatusRevoked},
		},
		{
			name: "user with sessions", req: Request{UserID: "00uAlice"}, sessions: true,
			wantStatus: StatusRevoked, wantActive: 1,
			wantOps: []Op{OpListUserClients, OpRevokeUserClientTokens, OpRevokeUserClientTokens, OpRevokeUserSessions},
		},
		{
			// Ending the sessions logs user.session.clear, which is queued
			// again: answering that event must not end them again.
			name: "user with sessions, for a user.session.clear event", sessions: true,
			req:        Request{UserID: "00uAlice", Reason: json.RawMessage(`{"source":"okta-event-hook","eventUuid":"e1","eventType":"user.session.clear"}`)},
			wantStatus: StatusRevoked, wantActive: 1,
			wantOps: []Op{OpListUserClients, OpRevokeUserClientTokens, OpRevokeUserClientTokens},
		},
		{
			name: "user with sessions, for another event", sessions: true,
			req:        Request{UserID: "00uAlice", Reason: json.RawMessage(`{"source":"okta-event-hook","eventUuid":"e2","eventType":"user.lifecycle.suspend"}`)},
			wantStatus: StatusRevoked, wantActive: 1,
			wantOps: []Op{OpListUserClients, OpRevokeUserClientTokens, OpRevokeUserClientTokens, OpRevokeUserSessions},
		},
		{
			name: "user gone", req: Request{UserID: "00uDeleted"},
			wantStatus: StatusAlreadyGone, wantActive: 4,
			wantOps: []Op{OpListUserClients}, wantOutcomes: []Status{StatusAlreadyGone},
		},
		{
			name: "user without clients", req: Request{UserID: "00uNoTokens"},
			wantStatus: StatusNothingToRevoke, wantActive: 4, wantOps: []Op{OpListUserClients},
		},
		{
			name: "user: dry run lists but revokes nothing", req: Request{UserID: "00uAlice"}, dryRun: true, sessions: true,
			wantStatus: StatusDryRun, wantActive: 4,
			wantOps:      []Op{OpListUserClients},
			wantOutcomes: []Status{StatusOK, StatusDryRun, StatusDryRun, StatusDryRun},
		},
		{
			name: "user: 5xx listing clients", req: Request{UserID: "00uAlice"}, fail: map[Op]error{OpListUserClients: errServer},
			wantStatus: StatusFailed, wantErr: okta.IsRetryable, wantActive: 4, wantOps: []Op{OpListUserClients},
		},
		{
			name: "user: 429 stops at the first client", req: Request{UserID: "00uAlice"},
			fail:       map[Op]error{OpRevokeUserClientTokens: errRateLimit},
			wantStatus: StatusFailed, wantActive: 4,
			wantErr: func(err error) bool {
				reset, ok := okta.RateLimitReset(err)
				return ok && reset.Equal(errRateLimit.RateLimitReset)
			},
			wantOps: []Op{OpListUserClients, OpRevokeUserClientTokens},
		},
		{
			name: "user: 401 stops and is a config problem", req: Request{UserID: "00uAlice"},
			fail:       map[Op]error{OpRevokeUserClientTokens: errUnauthorized},
			wantStatus: StatusFailed, wantErr: okta.IsConfigProblem, wantActive: 4,
			wantOps: []Op{OpListUserClients, OpRevokeUserClientTokens},
		},
		{
			name: "user: one client's 5xx does not stop the others", req: Request{UserID: "00uAlice"}, sessions: true,
			failOn:     map[string]error{"0oaChat": errServer},
			wantStatus: StatusFailed, wantErr: okta.IsRetryable, wantActive: 2,
			wantOps:      []Op{OpListUserClients, OpRevokeUserClientTokens, OpRevokeUserClientTokens},
			wantOutcomes: []Status{StatusOK, StatusFailed, StatusRevoked},
		},
		{
			// Callers read the first Okta error: the one that stopped the
			// walk, whatever came before it.
			name: "user: a 429 after another client's 400 decides", req: Request{UserID: "00uAlice"},
			failOn:     map[string]error{"0oaChat": errRejected, "0oaMail": errRateLimit},
			wantStatus: StatusFailed, wantErr: firstOktaStatus(429), wantActive: 4,
			wantOps: []Op{OpListUserClients, OpRevokeUserClientTokens, OpRevokeUserClientTokens},
		},
		{
			// A retry may cure the 5xx, so it decides over the 400.
			name: "user: a 5xx after another client's 400 decides", req: Request{UserID: "00uAlice"},
			failOn:     map[string]error{"0oaChat": errRejected, "0oaMail": errServer},
			wantStatus: StatusFailed, wantErr: firstOktaStatus(500), wantActive: 4,
			wantOps: []Op{OpListUserClients, OpRevokeUserClientTokens, OpRevokeUserClientTokens},
		},
		{
			name: "user+client", req: Request{UserID: "00uAlice", ClientID: "0oaMail"},
			wantStatus: StatusRevoked, wantActive: 2, wantOps: []Op{OpRevokeUserClientTokens},
		},
		{
			name: "user+client: user gone", req: Request{UserID: "00uDeleted", ClientID: "0oaMail"},
			wantStatus: StatusAlreadyGone, wantActive: 4, wantOps: []Op{OpRevokeUserClientTokens},
		},
		{
			name: "user+client: 5xx", req: Request{UserID: "00uAlice", ClientID: "0oaMail"}, fail: map[Op]error{OpRevokeUserClientTokens: errServer},
			wantStatus: StatusFailed, wantErr: okta.IsRetryable, wantActive: 4, wantOps: []Op{OpRevokeUserClientTokens},
		},
		{
			name: "user+client+token", req: Request{UserID: "00uAlice", ClientID: "0oaMail", TokenID: "oarM1"},
			wantStatus: StatusRevoked, wantActive: 3, wantOps: []Op{OpRevokeUserClientToken},
		},
		{
			name: "user+client+token: already gone", req: Request{UserID: "00uAlice", ClientID: "0oaMail", TokenID: "oarGone"},
			wantStatus: StatusAlreadyGone, wantActive: 4, wantOps: []Op{OpRevokeUserClientToken},
		},
		{
			name: "user+client+token: dry run", req: Request{UserID: "00uAlice", ClientID: "0oaMail", TokenID: "oarM1"}, dryRun: true,
			wantStatus: StatusDryRun, wantActive: 4, wantOps: nil, wantOutcomes: []Status{StatusDryRun},
		},
		{
			name: "user+app resolves the client id", req: Request{UserID: "00uAlice", AppID: "0oaMailApp"},
			wantStatus: StatusRevoked, wantActive: 2, wantOps: []Op{OpResolveAppClientID, OpRevokeUserClientTokens},
		},
		{
			name: "user+app: app gone", req: Request{UserID: "00uAlice", AppID: "0oaDeletedApp"},
			wantStatus: StatusAlreadyGone, wantActive: 4, wantOps: []Op{OpResolveAppClientID},
		},
		{
			name: "user+app: 401 resolving", req: Request{UserID: "00uAlice", AppID: "0oaMailApp"},
			fail:       map[Op]error{OpResolveAppClientID: errUnauthorized},
			wantStatus: StatusFailed, wantErr: okta.IsConfigProblem, wantActive: 4, wantOps: []Op{OpResolveAppClientID},
		},
		{
			name: "app", req: Request{AppID: "0oaMailApp"},
			wantStatus: StatusRevoked, wantActive: 1, wantOps: []Op{OpRevokeAppTokens},
		},
		{
			name: "app gone", req: Request{AppID: "0oaDeletedApp"},
			wantStatus: StatusAlreadyGone, wantActive: 4, wantOps: []Op{OpRevokeAppTokens},
		},
		{
			name: "app: 429", req: Request{AppID: "0oaMailApp"}, fail: map[Op]error{OpRevokeAppTokens: errRateLimit},
			wantStatus: StatusFailed, wantErr: func(err error) bool { _, ok := okta.RateLimitReset(err); return ok },
			wantActive: 4, wantOps: []Op{OpRevokeAppTokens},
		},
		{
			name: "app+token", req: Request{AppID: "0oaMailApp", TokenID: "oarM3"},
			wantStatus: StatusRevoked, wantActive: 3, wantOps: []Op{OpRevokeAppToken},
		},
		{
			name: "app+token: already gone", req: Request{AppID: "0oaMailApp", TokenID: "oarNope"},
			wantStatus: StatusAlreadyGone, wantActive: 4, wantOps: []Op{OpRevokeAppToken},
		},
		{
			name: "invalid request makes no call", req: Request{UserID: "00u/../admin"},
			wantStatus: StatusFailed, wantErr: func(err error) bool { return errors.Is(err, ErrInvalid) }, wantActive: 4,
		},
		{
			name: "no scope makes no call", req: Request{TokenID: "oarM1"},
			wantStatus: StatusFailed, wantErr: func(err error) bool { return errors.Is(err, ErrInvalid) }, wantActive: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := seeded()
			if tt.fail != nil {
				m.fail = tt.fail
			}
			if tt.failOn != nil {
				m.failOn = tt.failOn
			}
			var logs logtest.Buffer
			e, err := NewExecutor(ExecutorConfig{
				Okta: m, DryRun: tt.dryRun, RevokeSessions: tt.sessions,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Execute(context.Background(), tt.req)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if tt.wantErr != nil && (err == nil || !tt.wantErr(err)) {
				t.Fatalf("Execute error = %v, not the expected kind", err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("Status = %s, want %s", res.Status, tt.wantStatus)
			}
			if !slices.Equal(m.calls, tt.wantOps) {
				t.Errorf("Okta calls = %v, want %v", m.calls, tt.wantOps)
			}
			if got := m.active(); got != tt.wantActive {
				t.Errorf("active tokens = %d, want %d", got, tt.wantActive)
			}
			if tt.wantOutcomes != nil {
				var got []Status
				for _, a := range res.Actions {
					got = append(got, a.Status)
				}
				if !slices.Equal(got, tt.wantOutcomes) {
					t.Errorf("action outcomes = %v, want %v", got, tt.wantOutcomes)
				}
			}
			if res.Request.RequestID == "" {
				t.Error("no request id generated")
			}
			// One audit record per action, each naming the request.
			records := logs.Records(t)
			if len(records) != len(res.Actions) {
				t.Errorf("%d audit records for %d actions", len(records), len(res.Actions))
			}
			for _, r := range records {
				if r["requestId"] != res.Request.RequestID || r["action"] == nil || r["outcome"] == nil {
					t.Errorf("audit record lacks request id, action or outcome: %v", r)
				}
			}
		})
	}
}

func TestExecuteIsIdempotent(t *testing.T) {
	m := seeded()
	m.failOn["0oaMail"] = errServer
	e, err := NewExecutor(ExecutorConfig{Okta: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{RequestID: "r1", UserID: "00uAlice"}
	if _, err := e.Execute(context.Background(), req); err == nil {
		t.Fatal("first attempt: want the injected failure")
	}
	if got := m.active(); got != 3 { // oarC1 gone, oarM1+oarM2 left, plus Bob's
		t.Fatalf("after partial progress: %d active, want 3", got)
	}
	delete(m.failOn, "0oaMail")
	res, err := e.Execute(context.Background(), req)
	if err != nil {
		t.Fatalf("redo: %v", err)
	}
	if res.Status != StatusRevoked || m.active() != 1 {
		t.Fatalf("redo: status %s, %d active", res.Status, m.active())
	}
	res, err = e.Execute(context.Background(), req)
	if err != nil || res.Status != StatusNothingToRevoke {
		t.Fatalf("third run: status %s, err %v", res.Status, err)
	}
}

func TestAuditRecord(t *testing.T) {
	m := seeded()
	m.fail[OpRevokeUserClientTokens] = errUnauthorized
	var logs logtest.Buffer
	e, err := NewExecutor(ExecutorConfig{Okta: m, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithAuditAttrs(context.Background(), slog.String("caller", "arn:aws:iam::123456789012:user/ops"))
	ctx = WithAuditAttrs(ctx, slog.String("messageId", "m-1"))
	req := Request{RequestID: "r-42", UserID: "00uAlice", ClientID: "0oaMail", Reason: json.RawMessage(`{"eventType":"user.lifecycle.suspend"}`)}
	if _, err := e.Execute(ctx, req); !okta.IsConfigProblem(err) {
		t.Fatalf("err = %v", err)
	}
	records := logs.Records(t)
	if len(records) != 1 {
		t.Fatalf("%d records", len(records))
	}
	r := records[0]
	want := map[string]any{
		"level": "ERROR", "requestId": "r-42", "scope": "user-client", "action": "revokeUserClientTokens",
		"outcome": "failed", "userId": "00uAlice", "clientId": "0oaMail", "oktaRequestId": "req-401",
		"configProblem": true, "caller": "arn:aws:iam::123456789012:user/ops", "messageId": "m-1",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %v, want %v", k, r[k], v)
		}
	}
	if reason, _ := r["reason"].(map[string]any); reason["eventType"] != "user.lifecycle.suspend" {
		t.Errorf("reason = %v, want the request's reason object", r["reason"])
	}
	if _, ok := r["durationMs"]; !ok {
		t.Error("no durationMs")
	}
}

func TestResultGone(t *testing.T) {
	m := seeded()
	e, err := NewExecutor(ExecutorConfig{Okta: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Execute(context.Background(), Request{AppID: "0oaDeletedApp"})
	if err != nil {
		t.Fatal(err)
	}
	if gone := res.Gone(); !okta.IsNotFound(gone) || okta.RequestIDOf(gone) != "req-404" {
		t.Fatalf("Gone() = %v", gone)
	}
	res, err = e.Execute(context.Background(), Request{AppID: "0oaMailApp"})
	if err != nil || res.Gone() != nil {
		t.Fatalf("Gone() = %v, err %v", res.Gone(), err)
	}

	// A user-wide request: the user is gone only if listing says so.
	res, err = e.Execute(context.Background(), Request{UserID: "00uNobody"})
	if err != nil || !okta.IsNotFound(res.Gone()) {
		t.Fatalf("unknown user: Gone() = %v, err %v", res.Gone(), err)
	}
	// Each client's grants vanish between the listing and the revoke.
	m.failOn["0oaMail"] = notFound("/api/v1/users/00uAlice/clients/0oaMail/tokens")
	m.failOn["0oaChat"] = notFound("/api/v1/users/00uAlice/clients/0oaChat/tokens")
	res, err = e.Execute(context.Background(), Request{UserID: "00uAlice"})
	if err != nil || res.Status != StatusAlreadyGone || res.Gone() != nil {
		t.Fatalf("clients gone after listing: status %s, Gone() = %v, err %v; want already-gone with the user existing", res.Status, res.Gone(), err)
	}
}

func TestNewExecutorNeedsOkta(t *testing.T) {
	if _, err := NewExecutor(ExecutorConfig{}); err == nil {
		t.Fatal("want an error without an Okta client")
	}
}
