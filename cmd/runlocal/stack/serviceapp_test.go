package stack

import (
	"context"
	"strings"
	"testing"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

// TestRegisterServiceApp checks that the secret written for
// Options.OktaServiceApp is one the functions' Okta client accepts and that
// the fake org authenticates it as the service app, not with SSWS.
func TestRegisterServiceApp(t *testing.T) {
	org := oktafake.NewTest(t)
	secret, err := registerServiceApp(org)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := okta.ParseCredentials(secret)
	if err != nil {
		t.Fatalf("the service app secret does not parse: %v", err)
	}
	if creds.ClientID != serviceAppClientID || creds.KeyID != serviceAppKeyID || creds.APIToken != "" ||
		!strings.Contains(creds.PrivateKey, "BEGIN PRIVATE KEY") {
		t.Fatalf("credentials = %v, want the service app %s with key %s", creds, serviceAppClientID, serviceAppKeyID)
	}
	oktafake.SeedDemo(org)
	client, err := okta.New(okta.Config{OrgURL: org.URL, Credentials: okta.StaticCredentials(creds)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.ListUserClients(context.Background(), oktafake.DemoUserAlice); err != nil {
		t.Fatalf("list a user's clients as the service app: %v", err)
	}
	var auth []string
	for _, r := range org.Requests() {
		auth = append(auth, r.Method+" "+r.Path+" "+r.Auth)
	}
	if len(auth) != 2 || !strings.HasPrefix(auth[0], "POST /oauth2/v1/token") || !strings.HasSuffix(auth[1], " Bearer") {
		t.Errorf("requests = %q, want a token request, then the call with a Bearer token", auth)
	}
}
