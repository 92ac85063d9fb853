//go:build proof

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"

	"github.com/okta-token-revoker/okta-token-revoker/cmd/runlocal/stack"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

// TestProofOutages takes the stack's dependencies away one at a time and
// checks that nothing acknowledged is lost and nothing failed is deleted:
//
//   - Secrets Manager unreachable from the start (cold execution
//     environments, no cached secret): the hook answers 503, the list and
//     revoke routes 5xx with the JSON error shape, queued requests stay
//     queued; once it is back everything queued is revoked.
//   - SQS unreachable while a delivery arrives: the hook answers 5xx, never
//     2xx, and logs the delivery at ERROR for replay; POST /revocations
//     answers 503; Okta's retry after the outage is queued and revoked.
//   - the hook's DynamoDB dedupe table unreachable: the hook queues anyway.
//   - Okta credentials rotated (the old API token gets 401) and later fixed
//     in Secrets Manager: requests that failed meanwhile are not deleted and
//     are revoked after the fix.
func TestProofOutages(t *testing.T) {
	smProxy := newSwitchableProxy(t)
	sqsProxy := newSwitchableProxy(t)
	ddbProxy := newSwitchableProxy(t)
	window := time.Duration(0)
	p := startProofStack(t, "outage stack", stack.Options{
		VisibilityTimeout: 2 * time.Second,
		// Failed messages come back every 2 s; 15 receives leave each
		// outage below half a minute before anything is dead-lettered.
		MaxReceiveCount: 15,
		BatchingWindow:  &window,
		FunctionEnv: map[string]string{
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": smProxy.URL,
			"AWS_ENDPOINT_URL_SQS":             sqsProxy.URL,
			"AWS_ENDPOINT_URL_DYNAMODB":        ddbProxy.URL,
		},
	})
	smProxy.SetTarget(t, p.Moto.URL())
	sqsProxy.SetTarget(t, p.Moto.URL())
	ddbProxy.SetTarget(t, p.Moto.URL())
	org := p.Okta
	jsonHeaders := map[string]string{"Content-Type": "application/json"}

	t.Run("secrets manager unavailable", func(t *testing.T) {
		smProxy.SetDown(true)
		hookUser, _ := newUserIn(t, org, oktafake.DemoAppPortal)
		apiUser, _ := newUserIn(t, org, oktafake.DemoAppPortal)
		postUser, _ := newUserIn(t, org, oktafake.DemoAppPortal)
		queuedUser, _ := newUserIn(t, org, oktafake.DemoAppMobile)
		from := len(org.Requests())

		delivery := oktaDelivery(p.OktaOrgURL, uuid.NewString(), "user.lifecycle.suspend", hookUser)
		wantError(t, "hook delivery without the hook secret", p.call(t, "POST", p.HookPath, delivery, p.hookHeaders()), 503)
		wantError(t, "hook verification without the hook secret", p.call(t, "GET", p.HookPath, nil,
			merge(p.hookHeaders(), map[string]string{"X-Okta-Verification-Challenge": "c"})), 503)
		wantError(t, "list without the Okta secret", p.call(t, "GET", "/users/"+apiUser+"/clients", nil, nil), 503)
		wantError(t, "revoke without the Okta secret", p.call(t, "DELETE", "/users/"+apiUser+"/tokens", nil, nil), 503)
		// Queueing needs no secret: acknowledged, so it must happen later.
		if r := p.call(t, "POST", "/revocations", []byte(`{"userId":"`+postUser+`"}`), jsonHeaders); r.Status != 202 {
			t.Fatalf("POST /revocations: %s, want 202", r)
		}
		p.sendMessage(t, `{"userId":"`+queuedUser+`"}`)

		retried := p.retried.Load()
		eventually(t, "both queued requests to fail at least twice", func() bool { return p.retried.Load() >= retried+4 })
		if n := p.queueDepth(t); n != 2 {
			t.Errorf("the queue holds %d messages during the outage, want the 2 that failed", n)
		}
		for _, u := range []string{hookUser, apiUser, postUser, queuedUser} {
			if got := org.ActiveTokens(u, ""); len(got) != 1 {
				t.Errorf("user %s has %d active tokens during the outage, want 1", u, len(got))
			}
		}
		if reqs := org.Requests()[from:]; len(reqs) != 0 {
			t.Errorf("Okta was called without credentials: %d calls, first %s %s", len(reqs), reqs[0].Method, reqs[0].Path)
		}

		smProxy.SetDown(false)
		eventually(t, "the queued requests to be revoked once Secrets Manager is back", func() bool {
			return len(org.ActiveTokens(postUser, "")) == 0 && len(org.ActiveTokens(queuedUser, "")) == 0
		})
		// Okta retries the delivery it got a 503 for; the operator retries.
		if r := p.call(t, "POST", p.HookPath, delivery, p.hookHeaders()); r.Status != 200 {
			t.Errorf("Okta's retry of the delivery: %s, want 200", r)
		}
		if r := p.call(t, "DELETE", "/users/"+apiUser+"/tokens", nil, nil); r.Status != 204 {
			t.Errorf("the operator's retry: %s, want 204", r)
		}
		eventually(t, "the retried delivery to be revoked", func() bool { return len(org.ActiveTokens(hookUser, "")) == 0 })
		eventually(t, "the queue to drain", func() bool { return p.queueDepth(t) == 0 })
	})

	t.Run("queue unreachable", func(t *testing.T) {
		sqsProxy.SetDown(true)
		hookUser, _ := newUserIn(t, org, oktafake.DemoAppPortal)
		postUser, _ := newUserIn(t, org, oktafake.DemoAppPortal)
		eventID := uuid.NewString()
		delivery := oktaDelivery(p.OktaOrgURL, eventID, "user.lifecycle.deactivate", hookUser)
		r := p.call(t, "POST", p.HookPath, delivery, p.hookHeaders())
		wantError(t, "hook delivery while the queue is unreachable", r, 500, 502, 503, 504)
		r = p.call(t, "POST", "/revocations", []byte(`{"userId":"`+postUser+`","requestId":"outage-post-1"}`), jsonHeaders)
		wantError(t, "POST /revocations while the queue is unreachable", r, 503)
		if !strings.Contains(string(r.Body), "outage-post-1") {
			t.Errorf("the 503 does not list the request that was not queued: %s", r.Body)
		}
		// The delivery can be replayed from the ERROR record.
		eventually(t, "the ERROR record of the delivery that was not queued", func() bool {
			for line := range p.out.Lines() {
				if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "delivery NOT queued") &&
					strings.Contains(line, eventID) && strings.Contains(line, hookUser) {
					return true
				}
			}
			return false
		})

		sqsProxy.SetDown(false)
		if r := p.call(t, "POST", p.HookPath, delivery, p.hookHeaders()); r.Status != 200 {
			t.Errorf("Okta's retry of the delivery: %s, want 200", r)
		}
		if r := p.call(t, "POST", "/revocations", []byte(`{"userId":"`+postUser+`","requestId":"outage-post-1"}`), jsonHeaders); r.Status != 202 {
			t.Errorf("the producer's retry of POST /revocations: %s, want 202", r)
		}
		eventually(t, "the retried requests to be revoked", func() bool {
			return len(org.ActiveTokens(hookUser, "")) == 0 && len(org.ActiveTokens(postUser, "")) == 0
		})
		eventually(t, "the queue to drain", func() bool { return p.queueDepth(t) == 0 })
	})

	t.Run("dedupe table unreachable", func(t *testing.T) {
		// The hook's dedupe table only saves duplicate work: without it the
		// hook queues anyway (fail open), and a duplicate is harmless.
		ddbProxy.SetDown(true)
		user, _ := newUserIn(t, org, oktafake.DemoAppPortal, oktafake.DemoAppMobile)
		delivery := oktaDelivery(p.OktaOrgURL, uuid.NewString(), "user.account.lock", user)
		for i := range 2 {
			if r := p.call(t, "POST", p.HookPath, delivery, p.hookHeaders()); r.Status != 200 {
				t.Errorf("delivery %d while the dedupe table is unreachable: %s, want 200", i+1, r)
			}
		}
		eventually(t, "the delivery to be revoked", func() bool { return len(org.ActiveTokens(user, "")) == 0 })
		// Not vacuous: the hook did try the table and logged its failure.
		eventually(t, "the hook's record of the unreachable dedupe table", func() bool {
			for line := range p.out.Lines() {
				if strings.Contains(line, "dedupeError") && strings.Contains(line, user) {
					return true
				}
			}
			return false
		})
		ddbProxy.SetDown(false)
		eventually(t, "the queue to drain", func() bool { return p.queueDepth(t) == 0 })
	})

	t.Run("okta credentials rotated, then fixed", func(t *testing.T) {
		rotated := "rotated-" + rand.Text()
		watchSecret("rotated Okta API token", rotated)
		org.SetAPIToken(rotated)
		from := len(org.Requests())

		const appID = "0oaoutageapp00000001"
		org.AddApp(appID, "", "Outage app")
		userWide, _ := newUserIn(t, org, oktafake.DemoAppPortal, oktafake.DemoAppMobile)
		userClient, _ := newUserIn(t, org, oktafake.DemoAppPortal, oktafake.DemoAppMobile)
		appUser, appTokens := newUserIn(t, org, appID)
		hookUser, _ := newUserIn(t, org, oktafake.DemoAppMobile)
		apiUser, _ := newUserIn(t, org, oktafake.DemoAppMobile)
		p.sendMessage(t, `{"userId":"`+userWide+`"}`)
		p.sendMessage(t, `{"userId":"`+userClient+`","clientId":"`+oktafake.DemoAppPortal+`"}`)
		p.sendMessage(t, `{"appId":"`+appID+`","tokenId":"`+appTokens[appID][0]+`"}`)
		if r := p.call(t, "POST", p.HookPath, oktaDelivery(p.OktaOrgURL, uuid.NewString(), "user.lifecycle.suspend", hookUser), p.hookHeaders()); r.Status != 200 {
			t.Fatalf("hook delivery (the hook does not call Okta): %s, want 200", r)
		}
		r := p.call(t, "DELETE", "/users/"+apiUser+"/tokens", nil, nil)
		wantError(t, "revoke with rejected credentials", r, 502)
		if !strings.Contains(string(r.Body), "E0000011") {
			t.Errorf("the 502 does not carry Okta's error code: %s", r.Body)
		}
		wantError(t, "list with rejected credentials", p.call(t, "GET", "/users/"+apiUser+"/clients", nil, nil), 502)

		retried := p.retried.Load()
		eventually(t, "the four queued requests to fail at least twice", func() bool { return p.retried.Load() >= retried+8 })
		if n := p.queueDepth(t); n != 4 {
			t.Errorf("the queue holds %d messages while Okta rejects the credentials, want the 4 that failed", n)
		}
		for _, u := range []string{userWide, userClient, appUser, hookUser, apiUser} {
			if got := org.ActiveTokens(u, ""); len(got) == 0 {
				t.Errorf("user %s lost tokens while Okta rejected every call", u)
			}
		}
		unauthorized := 0
		for _, rec := range org.Requests()[from:] {
			if rec.Status == 401 {
				unauthorized++
			}
		}
		if unauthorized == 0 {
			t.Fatalf("Okta answered no 401: the rotation did not take effect")
		}

		b, _ := json.Marshal(map[string]string{"apiToken": rotated})
		p.putAPISecret(t, string(b))
		eventually(t, "the failed requests to be revoked after the fix", func() bool {
			return len(org.ActiveTokens(userWide, "")) == 0 && len(org.ActiveTokens(userClient, oktafake.DemoAppPortal)) == 0 &&
				len(org.ActiveTokens(appUser, "")) == 0 && len(org.ActiveTokens(hookUser, "")) == 0
		})
		if got := org.ActiveTokens(userClient, oktafake.DemoAppMobile); len(got) != 1 {
			t.Errorf("the client-scoped request revoked another client's token: %d left, want 1", len(got))
		}
		if r := p.call(t, "DELETE", "/users/"+apiUser+"/tokens", nil, nil); r.Status != 204 {
			t.Errorf("the operator's retry after the fix: %s, want 204", r)
		}
		eventually(t, "the queue to drain", func() bool { return p.queueDepth(t) == 0 })
	})

	if n := p.dlqDepth(t); n != 0 {
		t.Errorf("the dead-letter queue holds %d messages: a request was given up", n)
	}
	checkOktaPaths(t, org, 0)
	p.checkFunctions(t)
}

// putAPISecret stores a new value of the Okta API secret, as an operator
// fixing or rotating it would.
func (p *proofStack) putAPISecret(t *testing.T, value string) {
	t.Helper()
	p.watchAPISecret(value)
	_, err := p.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(p.SecretARNs[stack.EnvOktaAPISecretARN]),
		SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatalf("put the Okta API secret: %v", err)
	}
}

func (p *proofStack) queueDepth(t *testing.T) int {
	t.Helper()
	return queueDepthOf(t, p.sqs, p.RevocationQueue.URL)
}

func (p *proofStack) dlqDepth(t *testing.T) int {
	t.Helper()
	return queueDepthOf(t, p.sqs, p.DeadLetterQueue.URL)
}

// ----------------------------------------------------------------- proxy

// switchableProxy forwards HTTP to a target while up; while down, or
// before it has a target, it drops every connection the moment it arrives,
// as an unreachable endpoint would.
type switchableProxy struct {
	URL     string
	down    atomic.Bool
	forward atomic.Pointer[httputil.ReverseProxy]
}

func newSwitchableProxy(t *testing.T) *switchableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchableProxy{URL: "http://" + ln.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forward := p.forward.Load()
		if p.down.Load() || forward == nil {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		forward.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// SetTarget starts forwarding to target.
func (p *switchableProxy) SetTarget(t *testing.T, target string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p.forward.Store(httputil.NewSingleHostReverseProxy(u))
}

// SetDown takes the endpoint down (true) or brings it back.
func (p *switchableProxy) SetDown(down bool) { p.down.Store(down) }
