package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/lambdatest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/samples"
)

// apiToken is the fake org's API token; it must never be logged.
const apiToken = "00Bootstrap-Test-API-Token-Never-Logged"

// TestBootstrap builds the function as Lambda runs it and invokes it with
// the sample events under a local Runtime API, against moto_server (the
// secret) and the fake Okta: the wiring in main really reads the secret
// and really lists from Okta.
func TestBootstrap(t *testing.T) {
	bin := lambdatest.Build(t, "ListTokensFunction")
	srv := moto.Start(t)
	secretARN := srv.CreateSecret(t, "okta-token-revoker/okta-api", `{"apiToken":"`+apiToken+`"}`)
	org := oktafake.NewTest(t, oktafake.WithAPIToken(apiToken))
	token := org.AddToken(samples.User, samples.Client, "offline_access")

	fn, out := bin.Start(t, lambdatest.Env(srv, map[string]string{
		"OKTA_ORG_URL":        org.URL,
		"OKTA_API_SECRET_ARN": secretARN,
	}), 20*time.Second)

	call := func(event string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(lambdatest.Invoke(t, fn, out, event).Payload, &resp); err != nil {
			t.Fatalf("%s: response is not an API Gateway response: %v", event, err)
		}
		return resp
	}

	resp := call("list-user-clients.json")
	var clients []struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &clients); resp.StatusCode != 200 || err != nil ||
		len(clients) != 1 || clients[0].ClientID != samples.Client {
		t.Errorf("list-user-clients: %d %s", resp.StatusCode, resp.Body)
	}

	resp = call("list-user-client-tokens.json")
	var tokens []struct {
		ID       string `json:"id"`
		Embedded *struct {
			Scopes []json.RawMessage `json:"scopes"`
		} `json:"_embedded"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &tokens); resp.StatusCode != 200 || err != nil ||
		len(tokens) != 1 || tokens[0].ID != token || tokens[0].Embedded == nil {
		t.Errorf("list-user-client-tokens (expand=scope): %d %s", resp.StatusCode, resp.Body)
	}
	if resp.Headers["Cache-Control"] != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", resp.Headers["Cache-Control"])
	}

	// The sample app does not exist in the fake org: Okta's 404, mapped.
	if resp := call("list-app-tokens.json"); resp.StatusCode != 404 || !strings.Contains(resp.Body, "E0000007") {
		t.Errorf("list-app-tokens for an unknown app: %d %s", resp.StatusCode, resp.Body)
	}

	if !slices.ContainsFunc(org.Requests(), func(r oktafake.Recorded) bool { return r.Path == "/api/v1/users/"+samples.User+"/clients" }) {
		t.Error("Okta never saw the list of the user's clients")
	}
	if strings.Contains(out.String(), apiToken) {
		t.Error("the Okta API token is in the function's output")
	}
}

// TestBootstrapFailsInitWithoutConfiguration checks that a function missing
// its Okta configuration fails at init, as Lambda reports it, instead of
// answering every request with an error.
func TestBootstrapFailsInitWithoutConfiguration(t *testing.T) {
	bin := lambdatest.Build(t, "ListTokensFunction")
	srv := moto.Start(t)
	fn, out := bin.Start(t, lambdatest.Env(srv, nil), 5*time.Second)
	res, err := fn.Invoke(t.Context(), lambdatest.Event(t, "list-user-clients.json"))
	if err == nil && res.Error == nil {
		t.Fatalf("invoke succeeded without OKTA_ORG_URL: %s", res.Payload)
	}
	if !strings.Contains(out.String(), "list-tokens cannot start") || !strings.Contains(out.String(), "OKTA_ORG_URL") {
		t.Errorf("init failure not logged with the missing variable:\n%s", out)
	}
}

// TestBootstrapAsReadOnlyServiceApp checks that the read routes ask an
// OAuth service app for the read scopes only: the fake org grants the app
// nothing else, and answers a request for more with invalid_scope.
func TestBootstrapAsReadOnlyServiceApp(t *testing.T) {
	bin := lambdatest.Build(t, "ListTokensFunction")
	srv := moto.Start(t)
	org := oktafake.NewTest(t)
	org.AddToken(samples.User, samples.Client, "offline_access")
	secret, err := org.NewServiceApp("0oareadonlyapp01", "ro-key", okta.ReadScopes...)
	if err != nil {
		t.Fatal(err)
	}
	secretARN := srv.CreateSecret(t, "okta-token-revoker/okta-api", secret)
	fn, out := bin.Start(t, lambdatest.Env(srv, map[string]string{
		"OKTA_ORG_URL":        org.URL,
		"OKTA_API_SECRET_ARN": secretARN,
	}), 20*time.Second)
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(lambdatest.Invoke(t, fn, out, "list-user-clients.json").Payload, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, samples.Client) {
		t.Fatalf("list-user-clients as a read-only service app: %d %s\n%s", resp.StatusCode, resp.Body, out)
	}
	if !slices.ContainsFunc(org.Requests(), func(r oktafake.Recorded) bool { return r.Path == "/oauth2/v1/token" }) {
		t.Error("the function did not authenticate as the service app")
	}
}
