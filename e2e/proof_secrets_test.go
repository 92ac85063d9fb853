package e2e

import (
	"encoding/base64"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/okta-token-revoker/okta-token-revoker/cmd/runlocal/stack"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

// TestSecretsAbsentWithServiceApp runs a stack whose functions authenticate
// to Okta as an OAuth 2.0 service app (private_key_jwt), drives every kind
// of call that reads a secret, including failing ones, and checks that no
// secret (the private key, the access tokens Okta received in the
// Authorization header, the hook secret) appears in anything the stack,
// the functions or the API produced. TestMain repeats the scan over the
// output of every stack once all tests ran.
func TestSecretsAbsentWithServiceApp(t *testing.T) {
	p := startProofStack(t, "service-app stack", stack.Options{OktaServiceApp: true})
	if !strings.Contains(p.OktaAPISecret, "PRIVATE KEY") {
		t.Fatalf("the stack's Okta API secret holds no private key; this test would prove nothing")
	}
	user, _ := newUserIn(t, p.Okta, oktafake.DemoAppPortal, oktafake.DemoAppMobile)
	user2, tokens2 := newUserIn(t, p.Okta, oktafake.DemoAppPortal)
	user3, _ := newUserIn(t, p.Okta, oktafake.DemoAppMobile)

	// The hook: wrong secret, malformed, then a real delivery.
	p.call(t, http.MethodPost, p.HookPath, oktaDelivery(p.OktaOrgURL, uuid.NewString(), "user.lifecycle.suspend", user), map[string]string{p.HookAuthHeader: "not-" + p.HookSecret})
	p.call(t, http.MethodPost, p.HookPath, []byte(`{"eventType":"com.okta.event_hook","data":`), p.hookHeaders())
	if r := p.call(t, http.MethodPost, p.HookPath, oktaDelivery(p.OktaOrgURL, uuid.NewString(), "user.lifecycle.suspend", user), p.hookHeaders()); r.Status != 200 {
		t.Fatalf("hook delivery: %s", r)
	}
	// The routes that call Okta, with the service app's access token.
	if r := p.call(t, http.MethodGet, "/users/"+user2+"/clients/"+oktafake.DemoAppPortal+"/tokens", nil, nil); r.Status != 200 {
		t.Errorf("list tokens: %s", r)
	}
	if r := p.call(t, http.MethodDelete, "/users/"+user2+"/clients/"+oktafake.DemoAppPortal+"/tokens/"+tokens2[oktafake.DemoAppPortal][0], nil, nil); r.Status != 204 {
		t.Errorf("revoke a token: %s", r)
	}
	if r := p.call(t, http.MethodPost, "/revocations", []byte(`{"userId":"`+user3+`"}`), map[string]string{"Content-Type": "application/json"}); r.Status != 202 {
		t.Errorf("POST /revocations: %s", r)
	}
	p.sendMessage(t, `{"userId":"not valid!"}`)
	// Okta rejects the access token once: the client re-reads the secret
	// and fetches a new token, and a revocation fails with 404.
	p.Okta.RevokeAccessTokens()
	if r := p.call(t, http.MethodDelete, "/users/00unosuchuser0000001/tokens", nil, nil); r.Status != 404 {
		t.Errorf("revoke the tokens of a user Okta does not know: %s, want 404", r)
	}
	eventually(t, "the queued revocations", func() bool {
		return len(p.Okta.ActiveTokens(user, "")) == 0 && len(p.Okta.ActiveTokens(user3, "")) == 0
	})

	var bearer int
	for _, r := range p.Okta.Requests() {
		if r.Auth == "SSWS" {
			t.Errorf("%s %s used an SSWS token; the stack should authenticate as the service app", r.Method, r.Path)
		}
		if r.Auth == "Bearer" {
			bearer++
		}
	}
	if bearer == 0 {
		t.Fatalf("no call to Okta carried a Bearer access token; the scan would prove nothing")
	}
	// The functions' log lines arrive through pipes: wait for this test's.
	eventually(t, "the functions' logs", func() bool {
		out := p.out.String()
		return strings.Contains(out, "[OktaHookFunction]") && strings.Contains(out, "[RevokeTokensFunction]") &&
			strings.Contains(out, "[ListTokensFunction]") && strings.Contains(out, user3)
	})
	if err := scanForSecrets(); err != nil {
		t.Error(err)
	}
	p.checkFunctions(t)
}

// TestSecretScanFindsLeaks checks the scanner itself: a secret planted in
// an output, whole, base64-encoded or as one line of a PEM key, is found.
func TestSecretScanFindsLeaks(t *testing.T) {
	const token = "00aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789-_"
	key := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuic\n-----END PRIVATE KEY-----\n"
	secrets := secretFragments("API token", token)
	maps.Copy(secrets, secretFragments("private key", key))
	for _, c := range []struct {
		name, output string
		leak         bool
	}{
		{"clean", "level=INFO msg=\"revoked\" user=00u1 authorization=[REDACTED]", false},
		{"token", "Authorization: SSWS " + token + "\n", true},
		{"token in base64", `{"body":"` + base64.StdEncoding.EncodeToString([]byte("a: "+token+" b")) + `"}`, true},
		{"token in base64, other alignment", base64.StdEncoding.EncodeToString([]byte("ab: " + token)), true},
		{"one line of the key", "error: parse key: VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuic near", true},
		{"key JSON-escaped", strings.ReplaceAll(key, "\n", `\n`), true},
	} {
		err := findSecrets(c.name, c.output, secrets)
		if (err != nil) != c.leak {
			t.Errorf("%s: findSecrets = %v, want a leak: %v", c.name, err, c.leak)
		}
		if err != nil && (strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "VJTUt9Us8cKjMzEfYyjiWA4R4")) {
			t.Errorf("%s: the report quotes the secret: %v", c.name, err)
		}
	}
}
