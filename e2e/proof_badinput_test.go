package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

// hostileID is an ID as it appears in a request path (still escaped) and
// the status it must get: 400 (the function rejects the ID) or 404 (an
// encoded slash changes the path's shape, so no route matches, as at API
// Gateway).
type hostileID struct {
	name, raw string
	status    int
}

var hostileIDs = []hostileID{
	{"dot dot", "..", 400},
	{"dot", ".", 400},
	{"encoded dot dot", "%2E%2E", 400},
	{"encoded slash", "00u1%2F..%2F..%2Fapi%2Fv1%2Fusers", 404},
	{"encoded slash at the end", "00uvictim%2F", 404},
	{"NUL", "%00", 400},
	{"NUL inside", "00u1%00x", 400},
	{"too long", strings.Repeat("a", 101), 400},
	{"far too long", strings.Repeat("0", 8000), 400},
	{"unicode", "00u%C3%BC1", 400},
	{"emoji", "%F0%9F%98%80", 400},
	{"invalid UTF-8", "%FF%FE", 400},
	{"space", "00u1%20x", 400},
	{"query in the ID", "00u1%3Fexpand%3Dscope", 400},
	{"fragment in the ID", "00u1%23x", 400},
	{"percent", "00u1%25", 400},
	{"semicolon", "00u1;x", 400},
	{"colon", "00u1:x", 400},
	{"dot in the ID", "00u1.json", 400},
	{"plus", "00u1+x", 400},
	{"at", "00u1@evil", 400},
	{"CRLF", "00u1%0D%0AX-Injected:1", 400},
	{"backslash", "00u1%5C..%5Cx", 400},
}

// TestBadInputPaths sends hostile IDs in every path parameter of every
// list and revoke route: each gets its 4xx with the JSON error shape, and
// Okta never sees them.
func TestBadInputPaths(t *testing.T) {
	org := local.Okta
	from := len(org.Requests())
	const appID = "0oabadinputapp000001"
	org.AddApp(appID, "", "Bad input app")
	user, tokens := newUser(t, oktafake.DemoAppPortal, appID)
	tok := tokens[oktafake.DemoAppPortal][0]
	valid := map[string]string{"userId": user, "clientId": oktafake.DemoAppPortal, "appId": appID, "tokenId": tok}

	routes := []string{
		"GET /users/{userId}/clients",
		"GET /users/{userId}/clients/{clientId}/tokens",
		"GET /users/{userId}/clients/{clientId}/tokens/{tokenId}",
		"GET /apps/{appId}/tokens",
		"GET /apps/{appId}/tokens/{tokenId}",
		"DELETE /users/{userId}/clients/{clientId}/tokens",
		"DELETE /users/{userId}/clients/{clientId}/tokens/{tokenId}",
		"DELETE /users/{userId}/tokens",
		"DELETE /apps/{appId}/tokens",
		"DELETE /apps/{appId}/tokens/{tokenId}",
	}
	for _, key := range local.Routes {
		if (strings.HasPrefix(key, "GET /users") || strings.HasPrefix(key, "GET /apps") || strings.HasPrefix(key, "DELETE ")) && !slices.Contains(routes, key) {
			t.Errorf("route %s of the template is not covered by this test", key)
		}
	}
	calls := 0
	for _, key := range routes {
		method, pattern, _ := strings.Cut(key, " ")
		for param := range valid {
			if !strings.Contains(pattern, "{"+param+"}") {
				continue
			}
			for _, h := range hostileIDs {
				path := pattern
				for p, v := range valid {
					if p == param {
						v = h.raw
					}
					path = strings.ReplaceAll(path, "{"+p+"}", v)
				}
				r := call(t, method, path, nil, nil)
				calls++
				wantError(t, fmt.Sprintf("%s with %s %s", key, param, h.name), r, h.status)
				if h.status == 400 && !strings.Contains(string(r.Body), "invalid "+param) {
					t.Errorf("%s with %s %s: the message does not name %s: %s", key, param, h.name, param, r.Body)
				}
			}
		}
	}
	t.Logf("%d requests with hostile IDs", calls)

	// Nothing was revoked, and Okta never heard of any of it.
	if got := org.ActiveTokens(user, ""); len(got) != 2 {
		t.Errorf("the user's tokens after the hostile calls: %v, want both still active", got)
	}
	checkOktaPaths(t, org, from)
	for _, r := range org.Requests()[from:] {
		t.Errorf("a hostile call reached Okta: %s %s?%s", r.Method, r.Path, r.Query)
	}
}

// TestBadInputQueryParameters sends bad query parameters to the list
// routes (valid IDs): 400 each, before any Okta call.
func TestBadInputQueryParameters(t *testing.T) {
	org := local.Okta
	from := len(org.Requests())
	const appID = "0oabadqueryapp000001"
	org.AddApp(appID, "", "Bad query app")
	user, tokens := newUser(t, oktafake.DemoAppPortal, appID)
	tok := tokens[oktafake.DemoAppPortal][0]
	lists := []string{
		"/users/" + user + "/clients/" + oktafake.DemoAppPortal + "/tokens",
		"/apps/" + appID + "/tokens",
	}
	singles := []string{
		"/users/" + user + "/clients/" + oktafake.DemoAppPortal + "/tokens/" + tok,
		"/apps/" + appID + "/tokens/" + tok,
	}
	bad := []string{
		"limit=0", "limit=201", "limit=-1", "limit=abc", "limit=1.5", "limit=%2B5", "limit=", "limit=99999999999999999999",
		"limit=5&limit=5", "limit=5&limit=6", "expand=foo", "expand=scope&expand=scope", "expand=",
		"after=" + strings.Repeat("a", 1025), "after=%00", "after=a%0D%0Ab",
		"unknown=1", "LIMIT=5", "%zz=1", "limit=%zz", "a=1;b=2",
	}
	for _, path := range lists {
		for _, q := range bad {
			wantError(t, "GET "+path+"?"+q, call(t, "GET", path+"?"+q, nil, nil), 400)
		}
	}
	for _, path := range singles {
		for _, q := range []string{"limit=5", "after=abc", "expand=foo", "expand=scope&expand=scope", "x=1"} {
			wantError(t, "GET "+path+"?"+q, call(t, "GET", path+"?"+q, nil, nil), 400)
		}
	}
	// Routes that take no parameters reject any.
	for _, q := range []string{"limit=5", "expand=scope", "x=1"} {
		path := "/users/" + user + "/clients"
		if r := call(t, "GET", path+"?"+q, nil, nil); r.Status != 200 {
			wantError(t, "GET "+path+"?"+q, r, 400)
		}
	}
	checkOktaPaths(t, org, from)
	for _, r := range org.Requests()[from:] {
		if strings.Contains(r.Path, "/tokens") {
			t.Errorf("a token call with a bad query reached Okta: %s %s?%s", r.Method, r.Path, r.Query)
		}
	}

	// The cursor is opaque: one with path characters is passed on, but only
	// percent-encoded in the query, never into the path.
	from = len(org.Requests())
	call(t, "GET", lists[0]+"?after=..%2F..%2F..%2Fapps", nil, nil)
	checkOktaPaths(t, org, from)
	for _, r := range org.Requests()[from:] {
		if r.Path != "/api/v1/users/"+user+"/clients/"+oktafake.DemoAppPortal+"/tokens" || !strings.Contains(r.Query, "after=..%2F..%2F..%2Fapps") {
			t.Errorf("a cursor with path characters reached Okta as %s %s?%s", r.Method, r.Path, r.Query)
		}
	}
}

// TestBadInputRevocations sends malformed, oversized and hostile bodies to
// POST /revocations (400 or 413, nothing queued) and hostile messages to
// the queue (dead-lettered, Okta never called).
func TestBadInputRevocations(t *testing.T) {
	org := local.Okta
	from := len(org.Requests())
	bystander, _ := newUser(t, oktafake.DemoAppPortal)
	json200 := func(reqs ...map[string]any) []byte { b, _ := json.Marshal(reqs); return b }
	hostileValues := []string{"..", "../../api/v1/users", "00u1/../x", "00u1%2Fx", "00u1\x00", strings.Repeat("a", 101),
		"00uü", "00u1 ", " 00u1", "00u1?x=1", "00u1#x", "00u1\r\nX: y", "", "00u1\\x"}
	type badBody struct {
		name   string
		body   []byte
		status int
	}
	cases := []badBody{
		{"empty", nil, 400},
		{"not JSON", []byte("userId=00u1"), 400},
		{"truncated JSON", []byte(`{"userId":"` + bystander), 400},
		{"null", []byte("null"), 400},
		{"string", []byte(`"00u1"`), 400},
		{"empty object", []byte("{}"), 400},
		{"empty array", []byte("[]"), 400},
		{"two objects", []byte(`{"userId":"` + bystander + `"} {"userId":"` + bystander + `"}`), 400},
		{"unknown field", []byte(`{"userId":"` + bystander + `","admin":true}`), 400},
		{"field in another case", []byte(`{"userID":"` + bystander + `"}`), 400},
		{"duplicate field", []byte(`{"userId":"00uother000000000001","userId":"` + bystander + `"}`), 400},
		{"number ID", []byte(`{"userId":123}`), 400},
		{"version 2", []byte(`{"version":2,"userId":"` + bystander + `"}`), 400},
		{"reason not an object", []byte(`{"userId":"` + bystander + `","reason":"because"}`), 400},
		{"clientId alone", []byte(`{"clientId":"0oa1"}`), 400},
		{"tokenId alone", []byte(`{"tokenId":"oar1"}`), 400},
		{"every field", []byte(`{"userId":"00u1","clientId":"0oa1","appId":"0oa2","tokenId":"oar1"}`), 400},
		{"requestId with spaces", []byte(`{"userId":"` + bystander + `","requestId":"a b"}`), 400},
		{"requestId too long", []byte(`{"userId":"` + bystander + `","requestId":"` + strings.Repeat("r", 129) + `"}`), 400},
		{"duplicate requestIds", json200(map[string]any{"userId": bystander, "requestId": "dup"}, map[string]any{"userId": bystander, "requestId": "dup"}), 400},
		{"one valid, one invalid", json200(map[string]any{"userId": bystander}, map[string]any{"userId": "../x"}), 400},
		{"too many requests", json200(manyRequests(bystander, 501)...), 413},
		{"body over the function's limit", []byte(`{"userId":"` + bystander + `","reason":{"pad":"` + strings.Repeat("x", 300<<10) + `"}}`), 413},
		{"body over API Gateway's limit", []byte(`{"userId":"` + bystander + `","reason":{"pad":"` + strings.Repeat("x", 10<<20) + `"}}`), 413},
	}
	for _, v := range hostileValues {
		for _, field := range []string{"userId", "appId"} {
			cases = append(cases, badBody{fmt.Sprintf("%s %q", field, v), json200(map[string]any{field: v}), 400})
		}
		cases = append(cases, badBody{fmt.Sprintf("clientId %q", v), json200(map[string]any{"userId": bystander, "clientId": v}), 400})
		cases = append(cases, badBody{fmt.Sprintf("tokenId %q", v), json200(map[string]any{"appId": "0oa1", "tokenId": v}), 400})
	}
	for _, c := range cases {
		for _, ct := range []string{"application/json", "application/octet-stream"} {
			r := call(t, "POST", "/revocations", c.body, map[string]string{"Content-Type": ct})
			wantError(t, "POST /revocations "+c.name+" as "+ct, r, c.status)
		}
	}

	// Hostile messages from another producer: each fails on every receive
	// and is dead-lettered; none reaches Okta.
	ctx := context.Background()
	dlqBefore := queueDepth(t, local.DeadLetterQueue.URL)
	poison := []string{`{"userId":"../../api/v1/users/` + bystander + `"}`, `{"appId":"0oa1%2F..%2Fx"}`,
		`{"userId":"` + bystander + `","tokenId":"x"}`, `{"userId":"` + strings.Repeat("u", 5000) + `"}`, `[{"userId":"` + bystander + `"}]`,
		`{"eventType":"com.okta.event_hook","data":{"events":[]}}`, "not JSON at all ü", `{"userId":"00u1\u0000"}`}
	for _, body := range poison {
		if _, err := sqsAPI.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(local.RevocationQueue.URL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the hostile messages to be dead-lettered", func() bool {
		return queueDepth(t, local.DeadLetterQueue.URL) >= dlqBefore+len(poison)
	})
	drainQueue(t, local.DeadLetterQueue.URL)

	// A valid request sent last is revoked and the queue drains: had any
	// bad call above queued something for the bystander, it would be
	// revoked or still queued now.
	sentinel, _ := newUser(t, oktafake.DemoAppMobile)
	if r := call(t, "POST", "/revocations", []byte(`{"userId":"`+sentinel+`"}`), map[string]string{"Content-Type": "application/json"}); r.Status != 202 {
		t.Fatalf("POST /revocations of a valid request: %s", r)
	}
	checkLeftAlone(t, org, from, sentinel, bystander, "a rejected POST /revocations")
}

// checkLeftAlone waits until sentinel, a valid request sent after the bad
// ones, is revoked and the queue has drained; then had any bad request
// queued something for victim, it would have been revoked by now. It checks
// that victim still has its one token, that no call for victim reached
// Okta, and that every Okta call since the from-th had a well-formed path.
func checkLeftAlone(t *testing.T, org *oktafake.Server, from int, sentinel, victim, bad string) {
	t.Helper()
	eventually(t, "the valid request to be revoked", func() bool { return len(org.ActiveTokens(sentinel, "")) == 0 })
	eventually(t, "the queue to drain", func() bool { return queueDepth(t, local.RevocationQueue.URL) == 0 })
	if got := org.ActiveTokens(victim, ""); len(got) != 1 {
		t.Errorf("%s revoked %s's tokens: %v left, want 1", bad, victim, got)
	}
	checkOktaPaths(t, org, from)
	for _, r := range org.Requests()[from:] {
		if strings.Contains(r.Path, victim) {
			t.Errorf("%s reached Okta: %s %s", bad, r.Method, r.Path)
		}
	}
}

// TestBadInputHook sends the hook calls without or with a wrong secret,
// malformed or oversized bodies, unknown envelopes and hostile event
// contents: each gets its documented answer, and nothing reaches Okta.
func TestBadInputHook(t *testing.T) {
	org := local.Okta
	from := len(org.Requests())
	victim, _ := newUser(t, oktafake.DemoAppPortal)
	good := hookDelivery("user.lifecycle.suspend", victim)
	auth := local.HookAuthHeader

	// Authentication comes before anything else.
	for _, c := range []struct {
		name    string
		headers map[string]string
	}{
		{"no secret", map[string]string{"Content-Type": "application/json"}},
		{"empty secret", map[string]string{auth: ""}},
		{"wrong secret", map[string]string{auth: "wrong-" + local.HookSecret}},
		{"secret prefix", map[string]string{auth: local.HookSecret[:len(local.HookSecret)-1]}},
		{"secret with a suffix", map[string]string{auth: local.HookSecret + "x"}},
		{"secret with a scheme", map[string]string{auth: "Bearer " + local.HookSecret}},
		{"secret in lower case", map[string]string{auth: strings.ToLower(local.HookSecret)}},
		{"secret in another header", map[string]string{"X-Okta-Secret": local.HookSecret}},
		{"very long header", map[string]string{auth: strings.Repeat("s", 7000)}},
	} {
		if c.name == "secret in lower case" && strings.ToLower(local.HookSecret) == local.HookSecret {
			continue
		}
		wantError(t, "POST hook, "+c.name, call(t, "POST", local.HookPath, good, c.headers), 401)
		wantError(t, "GET hook, "+c.name, call(t, "GET", local.HookPath, nil,
			merge(c.headers, map[string]string{"X-Okta-Verification-Challenge": "challenge"})), 401)
	}
	wantError(t, "POST hook, secret in the query", call(t, "POST", local.HookPath+"?"+auth+"="+local.HookSecret, good, nil), 401)

	// Authenticated, but the call can never succeed: 4xx (Okta does not
	// retry them), and the delivery is in the ERROR log.
	h := hookHeaders(local.HookSecret)
	for _, c := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"empty body", nil, 400},
		{"not JSON", []byte("eventType=com.okta.event_hook"), 400},
		{"truncated", good[:len(good)/2], 400},
		{"null", []byte("null"), 400},
		{"array", []byte("[" + string(good) + "]"), 400},
		{"other envelope", []byte(`{"eventType":"com.example.webhook","data":{"events":[]}}`), 400},
		{"events not a list", []byte(`{"eventType":"com.okta.event_hook","data":{"events":{"uuid":"x"}}}`), 400},
		{"no events", []byte(`{"eventType":"com.okta.event_hook","eventId":"e0","data":{}}`), 400},
		{"oversized", []byte(`{"eventType":"com.okta.event_hook","data":{"events":[]},"pad":"` + strings.Repeat("x", 1<<20) + `"}`), 413},
	} {
		wantError(t, "POST hook, "+c.name, call(t, "POST", local.HookPath, c.body, h), c.status)
	}
	wantError(t, "GET hook without a challenge", call(t, "GET", local.HookPath, nil, h), 400)
	wantError(t, "GET hook with a huge challenge", call(t, "GET", local.HookPath, nil,
		merge(h, map[string]string{"X-Okta-Verification-Challenge": strings.Repeat("c", 4000)})), 400)
	wantError(t, "PUT hook", call(t, "PUT", local.HookPath, good, h), 404)

	// Unknown event types and hostile targets in a well-formed delivery: 200
	// (Okta must not retry what will never be revocable), nothing queued.
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"unknown event type", hookDelivery("com.example.unknown", victim)},
		{"unmapped event type", hookDelivery("user.session.start", victim)},
		{"event not an object", []byte(`{"eventType":"com.okta.event_hook","eventId":"e1","data":{"events":[1,"x",null,[]]}}`)},
		{"target without id", []byte(strings.Replace(string(hookDelivery("user.lifecycle.suspend", victim)), `"id":"`+victim+`"`, `"x":"`+victim+`"`, 1))},
	} {
		if r := call(t, "POST", local.HookPath, c.body, h); r.Status != 200 {
			t.Errorf("POST hook, %s: %s, want 200", c.name, r)
		}
	}
	for _, id := range []string{"..", "../../api/v1/users", "00u1/x", "00u1%2Fx", "00u1\u0000", strings.Repeat("a", 101), "00uü1", "00u1 x", ""} {
		if r := call(t, "POST", local.HookPath, hookDelivery("user.lifecycle.suspend", id), h); r.Status != 200 {
			t.Errorf("POST hook, hostile target %q: %s, want 200 with the event skipped", id, r)
		}
	}

	// A hostile challenge is echoed only inside JSON, never as a page.
	challenge := `<script>alert("x")</script>`
	r := call(t, "GET", local.HookPath, nil, merge(h, map[string]string{"X-Okta-Verification-Challenge": challenge}))
	var verification struct{ Verification string }
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") ||
		json.Unmarshal(r.Body, &verification) != nil || verification.Verification != challenge {
		t.Errorf("verification with a hostile challenge: %s %v, want 200 with the challenge in a JSON body", r, r.Header)
	}

	// The victim was never revoked: a valid delivery sent last is, and the
	// queue drains; a queued hostile request would still be queued or would
	// have failed into the DLQ, and the malformed-path check catches any
	// call it made. The delivery also carries a hostile event: one bad
	// event must not cost the others.
	sentinel, _ := newUser(t, oktafake.DemoAppMobile)
	if r := call(t, "POST", local.HookPath, oktaDelivery(local.OktaOrgURL, "mixed-delivery", "user.lifecycle.suspend", "../../x", sentinel, "00u1%2F"), h); r.Status != 200 {
		t.Fatalf("valid delivery: %s", r)
	}
	checkLeftAlone(t, org, from, sentinel, victim, "a rejected or skipped delivery")
	// The rejected authenticated deliveries are logged for replay.
	eventually(t, "the ERROR record of a rejected delivery", func() bool {
		return strings.Contains(captured.String(), "delivery rejected; its events are lost")
	})
}

func manyRequests(userID string, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"userId": userID, "requestId": fmt.Sprintf("many-%d", i)}
	}
	return out
}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// drainQueue deletes every message of a queue.
func drainQueue(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	for range 20 {
		out, err := sqsAPI.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return
		}
		for _, m := range out.Messages {
			if _, err := sqsAPI.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
