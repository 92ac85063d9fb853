package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

func hookHeaders(secret string) map[string]string {
	return map[string]string{local.HookAuthHeader: secret, "Content-Type": "application/json"}
}

// TestHookToQueueToRevocation is the main job: Okta reports a suspended
// user, the hook queues a revocation request, revoke-tokens consumes it from
// SQS and revokes, and the list API shows the tokens gone.
func TestHookToQueueToRevocation(t *testing.T) {
	clients := []string{oktafake.DemoAppPortal, oktafake.DemoClientReports}
	user, tokens := newUser(t, clients...)

	listed := map[string]bool{}
	for _, c := range getArray(t, "/users/"+user+"/clients") {
		listed[c["client_id"].(string)] = true
	}
	for _, c := range clients {
		if !listed[c] {
			t.Errorf("GET /users/%s/clients lacks client %s: %v", user, c, listed)
		}
		if got := tokenIDs(getArray(t, "/users/"+user+"/clients/"+c+"/tokens")); !slices.Equal(got, tokens[c]) {
			t.Errorf("tokens of client %s = %v, want %v", c, got, tokens[c])
		}
	}

	if r := call(t, http.MethodPost, local.HookPath, hookDelivery("user.lifecycle.suspend", user), hookHeaders("wrong-"+local.HookSecret)); r.Status != http.StatusUnauthorized {
		t.Errorf("hook with a wrong secret: %s, want 401", r)
	}
	if r := call(t, http.MethodPost, local.HookPath, hookDelivery("user.lifecycle.suspend", user), hookHeaders(local.HookSecret)); r.Status != http.StatusOK {
		t.Fatalf("hook delivery: %s, want 200", r)
	}
	eventually(t, "the user's tokens to be revoked in Okta", func() bool {
		return len(local.Okta.ActiveTokens(user, "")) == 0
	})
	for _, c := range clients {
		if got := tokenIDs(getArray(t, "/users/"+user+"/clients/"+c+"/tokens")); len(got) != 0 {
			t.Errorf("after the revocation, client %s still lists tokens %v", c, got)
		}
	}
	eventually(t, "the request to be deleted from the queue", func() bool {
		return queueDepth(t, local.RevocationQueue.URL) == 0
	})
}

func TestHookIgnoresUnmappedEvents(t *testing.T) {
	user, _ := newUser(t, oktafake.DemoAppMobile)
	r := call(t, http.MethodPost, local.HookPath, hookDelivery("user.session.start", user), hookHeaders(local.HookSecret))
	if r.Status != http.StatusOK {
		t.Fatalf("hook delivery of an unmapped event: %s, want 200", r)
	}
	// A mapped event for the same user afterwards is revoked; the unmapped
	// one, handled first by the same queue, must not have been.
	other, _ := newUser(t, oktafake.DemoAppMobile)
	if r := call(t, http.MethodPost, local.HookPath, hookDelivery("user.lifecycle.deactivate", other), hookHeaders(local.HookSecret)); r.Status != http.StatusOK {
		t.Fatalf("hook delivery: %s", r)
	}
	eventually(t, "the deactivated user's tokens to be revoked", func() bool {
		return len(local.Okta.ActiveTokens(other, "")) == 0
	})
	eventually(t, "the queue to drain", func() bool { return queueDepth(t, local.RevocationQueue.URL) == 0 })
	if got := local.Okta.ActiveTokens(user, ""); len(got) != 1 {
		t.Errorf("a user.session.start event revoked tokens: %d left, want 1", len(got))
	}
}

// TestEveryRoute calls every route of the template at least once and fails
// when the template gains a route this test does not cover.
func TestEveryRoute(t *testing.T) {
	const appID = "0oae2eapp00000000001"
	local.Okta.AddApp(appID, "", "E2E App")
	covered := map[string]bool{}
	check := func(routeKey string, r response, wantStatus int) {
		t.Helper()
		covered[routeKey] = true
		if r.Status != wantStatus {
			t.Errorf("%s: %s, want %d", routeKey, r, wantStatus)
		}
		if r.Header.Get("Apigw-Requestid") == "" {
			t.Errorf("%s: no apigw-requestid header", routeKey)
		}
	}

	// Read routes.
	user, tokens := newUser(t, oktafake.DemoAppPortal, appID)
	tok := tokens[oktafake.DemoAppPortal][0]
	appTok := tokens[appID][0]
	r := call(t, "GET", "/users/"+user+"/clients", nil, nil)
	check("GET /users/{userId}/clients", r, 200)
	r = call(t, "GET", "/users/"+user+"/clients/"+oktafake.DemoAppPortal+"/tokens", nil, nil)
	check("GET /users/{userId}/clients/{clientId}/tokens", r, 200)
	if !strings.Contains(string(r.Body), tok) {
		t.Errorf("token list lacks %s: %s", tok, r.Body)
	}
	r = call(t, "GET", "/users/"+user+"/clients/"+oktafake.DemoAppPortal+"/tokens/"+tok, nil, nil)
	check("GET /users/{userId}/clients/{clientId}/tokens/{tokenId}", r, 200)
	if id := jsonField(t, r, "id"); id != tok {
		t.Errorf("token id = %q, want %q", id, tok)
	}
	r = call(t, "GET", "/apps/"+appID+"/tokens", nil, nil)
	check("GET /apps/{appId}/tokens", r, 200)
	if !strings.Contains(string(r.Body), appTok) {
		t.Errorf("app token list lacks %s: %s", appTok, r.Body)
	}
	r = call(t, "GET", "/apps/"+appID+"/tokens/"+appTok, nil, nil)
	check("GET /apps/{appId}/tokens/{tokenId}", r, 200)

	// Synchronous revocations, narrowest first.
	user2, tokens2 := newUser(t, oktafake.DemoAppPortal, oktafake.DemoAppPortal, oktafake.DemoAppMobile)
	portalTok := tokens2[oktafake.DemoAppPortal][0]
	r = call(t, "DELETE", "/users/"+user2+"/clients/"+oktafake.DemoAppPortal+"/tokens/"+portalTok, nil, nil)
	check("DELETE /users/{userId}/clients/{clientId}/tokens/{tokenId}", r, 204)
	if slices.Contains(local.Okta.ActiveTokens(user2, oktafake.DemoAppPortal), portalTok) {
		t.Errorf("token %s still active after DELETE", portalTok)
	}
	r = call(t, "DELETE", "/users/"+user2+"/clients/"+oktafake.DemoAppPortal+"/tokens", nil, nil)
	check("DELETE /users/{userId}/clients/{clientId}/tokens", r, 204)
	if got := local.Okta.ActiveTokens(user2, oktafake.DemoAppPortal); len(got) != 0 {
		t.Errorf("portal tokens still active: %v", got)
	}
	if got := local.Okta.ActiveTokens(user2, oktafake.DemoAppMobile); len(got) != 1 {
		t.Errorf("a client-scoped revoke touched another client: %d mobile tokens left, want 1", len(got))
	}
	r = call(t, "DELETE", "/users/"+user2+"/tokens", nil, nil)
	check("DELETE /users/{userId}/tokens", r, 204)
	if got := local.Okta.ActiveTokens(user2, ""); len(got) != 0 {
		t.Errorf("user tokens still active: %v", got)
	}
	r = call(t, "DELETE", "/apps/"+appID+"/tokens/"+appTok, nil, nil)
	check("DELETE /apps/{appId}/tokens/{tokenId}", r, 204)
	user3, _ := newUser(t, appID)
	r = call(t, "DELETE", "/apps/"+appID+"/tokens", nil, nil)
	check("DELETE /apps/{appId}/tokens", r, 204)
	if got := local.Okta.ActiveTokens("", appID); len(got) != 0 {
		t.Errorf("app tokens still active: %v", got)
	}
	if got := local.Okta.ActiveTokens(user3, ""); len(got) != 0 {
		t.Errorf("user3's app token still active: %v", got)
	}

	// Asynchronous revocation through the queue.
	user4, _ := newUser(t, oktafake.DemoAppMobile)
	r = call(t, "POST", "/revocations", []byte(`{"userId":"`+user4+`"}`), map[string]string{"Content-Type": "application/json"})
	check("POST /revocations", r, 202)
	if !strings.Contains(string(r.Body), "requestIds") {
		t.Errorf("POST /revocations answer lacks requestIds: %s", r.Body)
	}
	eventually(t, "the queued revocation", func() bool { return len(local.Okta.ActiveTokens(user4, "")) == 0 })

	// The hook routes.
	r = call(t, "GET", local.HookPath, nil, map[string]string{local.HookAuthHeader: local.HookSecret, "X-Okta-Verification-Challenge": "e2e-challenge-123"})
	check("GET "+local.HookPath, r, 200)
	if v := jsonField(t, r, "verification"); v != "e2e-challenge-123" {
		t.Errorf("verification = %q", v)
	}
	user5, _ := newUser(t, oktafake.DemoAppMobile)
	r = call(t, "POST", local.HookPath, hookDelivery("user.lifecycle.suspend", user5), hookHeaders(local.HookSecret))
	check("POST "+local.HookPath, r, 200)
	eventually(t, "the hook's revocation", func() bool { return len(local.Okta.ActiveTokens(user5, "")) == 0 })

	// API Gateway's own answers and the functions' error shape.
	r = call(t, "GET", "/no/such/route", nil, nil)
	if r.Status != 404 || strings.TrimSpace(string(r.Body)) != `{"message":"Not Found"}` {
		t.Errorf("unknown route: %s", r)
	}
	r = call(t, "GET", "/users/not%20an%20id/clients", nil, nil)
	if r.Status != 400 || jsonField(t, r, "message") == "" {
		t.Errorf("invalid user id: %s, want 400 with a message", r)
	}

	var missing []string
	for _, key := range local.Routes {
		if !covered[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes of the template not covered by this test: %v", missing)
	}
}

// TestPoisonMessageReachesDLQ sends a message that can never succeed: the
// function fails it on every receive, and after maxReceiveCount receives the
// queue's redrive policy moves it to the dead-letter queue.
func TestPoisonMessageReachesDLQ(t *testing.T) {
	const poison = `{"userId":"not a valid okta id!","unexpected":true}`
	ctx := context.Background()
	before := queueDepth(t, local.DeadLetterQueue.URL)
	if _, err := sqsAPI.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(local.RevocationQueue.URL), MessageBody: aws.String(poison)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the poison message to reach the dead-letter queue", func() bool {
		return queueDepth(t, local.DeadLetterQueue.URL) == before+1
	})
	if got := queueDepth(t, local.RevocationQueue.URL); got != 0 {
		t.Errorf("revocation queue holds %d messages, want 0", got)
	}
	out, err := sqsAPI.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(local.DeadLetterQueue.URL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range out.Messages {
		if aws.ToString(m.Body) == poison {
			found = true
			if _, err := sqsAPI.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(local.DeadLetterQueue.URL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Error(err)
			}
		}
	}
	if !found {
		t.Errorf("the dead-letter queue does not hold the poison message unchanged")
	}
}

// TestSecretsAbsentFromOutput runs requests that handle both secrets, then
// checks that neither appears in anything the stack, the functions or the
// API produced.
func TestSecretsAbsentFromOutput(t *testing.T) {
	user, _ := newUser(t, oktafake.DemoAppPortal)
	call(t, http.MethodPost, local.HookPath, hookDelivery("user.lifecycle.suspend", user), hookHeaders("bad-secret"))
	call(t, http.MethodPost, local.HookPath, []byte(`{"not":"a delivery"}`), hookHeaders(local.HookSecret))
	if r := call(t, http.MethodPost, local.HookPath, hookDelivery("user.lifecycle.suspend", user), hookHeaders(local.HookSecret)); r.Status != 200 {
		t.Fatalf("hook: %s", r)
	}
	eventually(t, "the revocation (which reads the Okta API secret)", func() bool { return len(local.Okta.ActiveTokens(user, "")) == 0 })
	call(t, http.MethodGet, "/users/"+user+"/clients", nil, nil)
	// The functions' log lines arrive through pipes; make sure this test's
	// invocations have been logged before looking.
	eventually(t, "the functions' logs of this test", func() bool { return strings.Count(captured.String(), user) >= 3 })

	out := captured.String()
	if !strings.Contains(out, "[OktaHookFunction]") || !strings.Contains(out, "[RevokeTokensFunction]") {
		t.Fatalf("captured output lacks function logs; the check below would prove nothing")
	}
	for name, secret := range map[string]string{"hook secret": local.HookSecret, "Okta API token": local.OktaAPIToken} {
		if len(secret) < 16 {
			t.Fatalf("%s is too short (%d) for a meaningful search", name, len(secret))
		}
		if i := strings.Index(out, secret); i >= 0 {
			start := max(0, i-200)
			excerpt := strings.ReplaceAll(out[start:min(len(out), i+len(secret)+50)], secret, "<"+name+">")
			t.Errorf("the %s appears in the captured output: ...%s...", name, excerpt)
		}
	}
}

func tokenIDs(items []map[string]any) []string {
	var ids []string
	for _, it := range items {
		if s, _ := it["status"].(string); s != "" && s != "ACTIVE" {
			continue
		}
		ids = append(ids, it["id"].(string))
	}
	sort.Strings(ids)
	return ids
}

func jsonField(t *testing.T, r response, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Errorf("answer is not a JSON object: %s", r)
		return ""
	}
	s, _ := m[field].(string)
	return s
}
