package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/okta-token-revoker/okta-token-revoker/cmd/runlocal/stack"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

// reconcileFunction is the logical id of the function whose schedule polls
// Okta's System Log.
const reconcileFunction = "ReconcileFunction"

// runDemo walks through the main job against the running stack: list the
// user's refresh tokens, deliver an Okta user.lifecycle.suspend event to
// the hook, show the queued revocation request being consumed, and list
// again to show the tokens gone. With the fake org a fifth step shows the
// reconciler queueing a suspension the hook never received.
//
// With dryRun (the DryRun parameter), revoke-tokens only logs what it would
// revoke: the demo then checks that every token is still there.
func runDemo(ctx context.Context, s *stack.Stack, userID string, dryRun bool, batches <-chan batch, p printer) error {
	api := apiClient{base: s.URL, http: &http.Client{Timeout: 35 * time.Second}}
	steps := 4
	if s.Okta != nil {
		steps = 5
	}

	p.step("1/%d  Refresh tokens of user %s (GET /users/{userId}/clients, GET .../clients/{clientId}/tokens)", steps, userID)
	before, err := api.userTokens(ctx, userID)
	if err != nil {
		return err
	}
	total := printTokens(p, before)
	if total == 0 {
		p.line("     (the user has no refresh tokens; the demo still runs)")
	}

	p.step("2/%d  Okta delivers a user.lifecycle.suspend event hook for the user (POST %s)", steps, s.HookPath)
	if s.HookPath == "" {
		return fmt.Errorf("the template has no Okta event hook route")
	}
	body := suspendDelivery(s.OktaOrgURL, userID, time.Now())
	started := time.Now()
	status, answer, err := api.do(ctx, http.MethodPost, s.HookPath, body, map[string]string{
		s.HookAuthHeader: s.HookSecret,
		"Content-Type":   "application/json",
		"User-Agent":     "Okta Event Hooks (runlocal demo)",
	})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("the hook answered %d: %s", status, answer)
	}
	p.line("     hook answered %d in %s: the request is on the revocation queue", status, time.Since(started).Round(time.Millisecond))

	p.step("3/%d  revoke-tokens receives the queued request from SQS and revokes", steps)
	b, err := waitForUser(ctx, batches, userID, p)
	if err != nil {
		return fmt.Errorf("waiting for the revocation request to be consumed: %w", err)
	}
	outcome := fmt.Sprintf("%d deleted from the queue, %d left for retry", len(b.report.Deleted), len(b.report.Retried))
	if b.report.FunctionError != nil {
		outcome = "function error " + b.report.FunctionError.Type + "; the batch will be retried"
	}
	p.line("     %s handled a batch of %d message(s): %s", b.function, len(b.report.MessageIDs), outcome)
	if len(b.report.Retried) > 0 || b.report.FunctionError != nil || b.report.Err != nil {
		return fmt.Errorf("the revocation did not succeed (see the function log above)")
	}

	p.step("4/%d  Refresh tokens of user %s again", steps, userID)
	after, err := api.userTokens(ctx, userID)
	if err != nil {
		return err
	}
	if err := checkRevoked(p, s, userID, total, printTokens(p, after), dryRun); err != nil {
		return err
	}
	if !dryRun {
		p.line("     all %d refresh tokens revoked, %s after the event", total, time.Since(started).Round(time.Millisecond))
	}
	if s.Okta == nil {
		return nil
	}
	return reconcileDemo(ctx, s, api, userID, dryRun, batches, p, steps)
}

// checkRevoked checks that none of the user's total tokens is left (left
// counted through the API; the fake org asked too), or with dryRun that
// all are.
func checkRevoked(p printer, s *stack.Stack, userID string, total, left int, dryRun bool) error {
	active := left
	if s.Okta != nil {
		active = len(s.Okta.ActiveTokens(userID, ""))
	}
	switch {
	case dryRun && (left != total || active != total):
		return fmt.Errorf("dry run, yet %d of %d refresh tokens were revoked", total-min(left, active), total)
	case dryRun:
		p.line("     dry run (DryRun=true): all %d refresh tokens are still active, as they should be; the revoke-tokens log lists what would have been revoked (outcome dry-run)", total)
	case left > 0:
		return fmt.Errorf("%d refresh tokens are still active", left)
	case active > 0:
		return fmt.Errorf("the fake Okta org still holds %d active tokens for the user", active)
	}
	return nil
}

// reconcileDemo shows the safety net under the best-effort hook: another
// user is suspended in the fake org, the event lands in the System Log but
// no hook is delivered, and the reconciler's poll queues the revocation.
func reconcileDemo(ctx context.Context, s *stack.Stack, api apiClient, demoUser string, dryRun bool, batches <-chan batch, p printer, steps int) error {
	var userID string
	for _, u := range s.Demo.Users {
		if u != demoUser && len(s.Okta.ActiveTokens(u, "")) > 0 {
			userID = u
			break
		}
	}
	if userID == "" {
		return fmt.Errorf("the fake org has no other user with refresh tokens")
	}
	var sched stack.Schedule
	for _, sc := range s.Schedules {
		if sc.Function == reconcileFunction {
			sched = sc
		}
	}
	if sched.Function == "" {
		return fmt.Errorf("%s has no emulated schedule in the template", reconcileFunction)
	}

	p.step("%d/%d  Never miss an event: Okta suspends user %s, but the event hook delivery is lost", steps, steps, userID)
	before, err := api.userTokens(ctx, userID)
	if err != nil {
		return err
	}
	total := printTokens(p, before)
	ev := oktafake.NewLogEvent("user.lifecycle.suspend",
		oktafake.LogTarget{ID: "00uadminrunlocal0001", Type: "User", AlternateID: "admin@example.com", DisplayName: "Local Admin"},
		oktafake.LogTarget{ID: userID, Type: "User", AlternateID: userID + "@example.com", DisplayName: "Demo User"})
	s.Okta.AddLogEvent(ev)
	var logged struct {
		UUID string `json:"uuid"`
	}
	_ = json.Unmarshal(ev, &logged)
	p.line("     System Log event %s (user.lifecycle.suspend) written; no hook delivered", logged.UUID)

	every := "every " + sched.Period.String()
	if sched.Period == 0 {
		every = "no timer"
	}
	p.line("     %s polls the System Log on its schedule (%s %s, %s); triggering it now", reconcileFunction, sched.Name(), sched.Expression, every)
	started := time.Now()
	res, err := s.RunSchedule(ctx, sched.Name())
	if err != nil {
		return fmt.Errorf("run the reconciler: %w", err)
	}
	if res.Error != nil {
		return fmt.Errorf("the reconciler failed (see the function log above): %v", res.Error)
	}
	p.line("     the poll finished in %s", res.Duration.Round(time.Millisecond))

	b, err := waitForUser(ctx, batches, userID, p)
	if err != nil {
		return fmt.Errorf("waiting for the reconciled revocation request to be consumed: %w", err)
	}
	p.line("     %s handled a batch of %d message(s): %d deleted from the queue, %d left for retry", b.function, len(b.report.MessageIDs), len(b.report.Deleted), len(b.report.Retried))
	if len(b.report.Retried) > 0 || b.report.FunctionError != nil || b.report.Err != nil {
		return fmt.Errorf("the reconciled revocation did not succeed (see the function log above)")
	}
	after, err := api.userTokens(ctx, userID)
	if err != nil {
		return err
	}
	if err := checkRevoked(p, s, userID, total, printTokens(p, after), dryRun); err != nil {
		return fmt.Errorf("user %s: %w", userID, err)
	}
	if !dryRun {
		p.line("     all %d refresh tokens of %s revoked, %s after the poll started, without any hook delivery", total, userID, time.Since(started).Round(time.Millisecond))
	}
	return nil
}

// clientTokens is one OAuth client of a user and its refresh tokens.
type clientTokens struct {
	ClientID, ClientName string
	TokenIDs             []string
}

func printTokens(p printer, clients []clientTokens) int {
	total := 0
	for _, c := range clients {
		p.line("     %-22s %-26s %d token(s) %s", c.ClientName, c.ClientID, len(c.TokenIDs), strings.Join(c.TokenIDs, " "))
		total += len(c.TokenIDs)
	}
	if len(clients) == 0 {
		p.line("     no OAuth clients hold tokens for the user")
	}
	return total
}

// apiClient calls the local API.
type apiClient struct {
	base string
	http *http.Client
}

func (c apiClient) do(ctx context.Context, method, path string, body []byte, headers map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp.StatusCode, out, nil
}

// getJSON GETs path and decodes a 200 answer into v.
func (c apiClient) getJSON(ctx context.Context, path string, v any) error {
	status, body, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, status, compact(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// userTokens lists the user's clients and each client's active refresh
// tokens through the list-tokens routes.
func (c apiClient) userTokens(ctx context.Context, userID string) ([]clientTokens, error) {
	var clients []struct {
		ClientID   string `json:"client_id"`
		ClientName string `json:"client_name"`
	}
	if err := c.getJSON(ctx, "/users/"+url.PathEscape(userID)+"/clients", &clients); err != nil {
		return nil, err
	}
	var out []clientTokens
	for _, cl := range clients {
		var tokens []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		path := "/users/" + url.PathEscape(userID) + "/clients/" + url.PathEscape(cl.ClientID) + "/tokens"
		if err := c.getJSON(ctx, path, &tokens); err != nil {
			return nil, err
		}
		ct := clientTokens{ClientID: cl.ClientID, ClientName: cl.ClientName}
		for _, t := range tokens {
			if t.Status == "" || t.Status == "ACTIVE" {
				ct.TokenIDs = append(ct.TokenIDs, t.ID)
			}
		}
		out = append(out, ct)
	}
	return out, nil
}

// suspendDelivery is an Okta event hook delivery carrying one
// user.lifecycle.suspend System Log event for userID, shaped like Okta's.
func suspendDelivery(orgURL, userID string, now time.Time) []byte {
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	delivery := map[string]any{
		"eventType":          "com.okta.event_hook",
		"eventTypeVersion":   "1.0",
		"cloudEventsVersion": "0.1",
		"source":             strings.TrimRight(orgURL, "/") + "/api/v1/eventHooks/whorunlocaldemo0001",
		"eventId":            uuid.NewString(),
		"eventTime":          ts,
		"contentType":        "application/json",
		"data": map[string]any{"events": []any{map[string]any{
			"uuid":           uuid.NewString(),
			"published":      ts,
			"eventType":      "user.lifecycle.suspend",
			"version":        "0",
			"displayMessage": "Suspend Okta user",
			"severity":       "INFO",
			"actor":          map[string]any{"id": "00uadminrunlocal0001", "type": "User", "alternateId": "admin@example.com", "displayName": "Local Admin"},
			"outcome":        map[string]any{"result": "SUCCESS"},
			"target":         []any{map[string]any{"id": userID, "type": "User", "alternateId": userID + "@example.com", "displayName": "Demo User"}},
		}}},
	}
	b, _ := json.Marshal(delivery)
	return b
}

// compact shortens a JSON text for one line of output.
func compact(s string) string {
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(s)) == nil {
		s = buf.String()
	}
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// waitForUser waits up to a minute for a batch carrying a revocation
// request for userID, and prints those requests.
func waitForUser(ctx context.Context, batches <-chan batch, userID string, p printer) (batch, error) {
	forUser := func(body string) bool { return strings.Contains(body, userID) }
	b, err := waitFor(ctx, batches, time.Minute, func(b batch) bool { return slices.ContainsFunc(b.report.Bodies, forUser) })
	if err != nil {
		return b, err
	}
	for _, body := range b.report.Bodies {
		if forUser(body) {
			p.line("     queued request: %s", compact(body))
		}
	}
	return b, nil
}
