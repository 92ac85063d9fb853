package setup

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

const testVar = "SETUP_TEST_VAR"

var motoServer *moto.Server

func TestMain(m *testing.M) { moto.Main(m, &motoServer) }

// setEnv sets (or, for nil, unsets) testVar for the test.
func setEnv(t *testing.T, v *string) {
	t.Helper()
	t.Setenv(testVar, "")
	if v == nil {
		os.Unsetenv(testVar)
		return
	}
	t.Setenv(testVar, *v)
}

func ptr(s string) *string { return &s }

func TestEnvAndRequireEnv(t *testing.T) {
	tests := []struct {
		name    string
		value   *string
		env     string
		require string
		wantErr bool
	}{
		{"unset", nil, "def", "", true},
		{"blank", ptr("  "), "def", "", true},
		{"set", ptr("value"), "value", "value", false},
		{"trimmed", ptr(" https://acme.okta.com \n"), "https://acme.okta.com", "https://acme.okta.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.value)
			if got := Env(testVar, "def"); got != tt.env {
				t.Errorf("Env = %q, want %q", got, tt.env)
			}
			got, err := RequireEnv(testVar)
			if got != tt.require || (err != nil) != tt.wantErr {
				t.Fatalf("RequireEnv = %q, %v", got, err)
			}
			if err != nil && err.Error() != testVar+" is required" {
				t.Errorf("error %q, want %q", err, testVar+" is required")
			}
		})
	}
}

func TestBoolEnv(t *testing.T) {
	tests := []struct {
		value   *string
		want    bool
		wantErr string
	}{
		{nil, true, ""},
		{ptr("false"), false, ""},
		{ptr("FALSE"), false, ""},
		{ptr("0"), false, ""},
		{ptr("true"), true, ""},
		{ptr("1"), true, ""},
		{ptr("yes"), false, `SETUP_TEST_VAR: invalid boolean "yes" (use true or false)`},
	}
	for _, tt := range tests {
		name := "unset"
		if tt.value != nil {
			name = *tt.value
		}
		t.Run(name, func(t *testing.T) {
			setEnv(t, tt.value)
			got, err := BoolEnv(testVar, true)
			checkErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("BoolEnv = %v, want %v", got, tt.want)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want %q", err, want)
	}
}

// isolateAWS points the SDK at srv through the environment only, as a
// function binary would see it, and clears the developer's endpoint
// overrides.
func isolateAWS(t *testing.T, srv *moto.Server) {
	t.Helper()
	for _, name := range []string{"AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SECRETS_MANAGER",
		"AWS_ENDPOINT_URL_DYNAMODB", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	if srv != nil {
		for _, kv := range srv.Env() {
			name, value, _ := strings.Cut(kv, "=")
			t.Setenv(name, value)
		}
	}
}

func TestAWSConfigHonoursEndpointURL(t *testing.T) {
	srv := motoServer
	isolateAWS(t, srv)
	ctx := context.Background()
	cfg, err := AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(cfg.BaseEndpoint); got != srv.URL() {
		t.Errorf("BaseEndpoint = %q, want %q", got, srv.URL())
	}
	if n := cfg.Retryer().MaxAttempts(); n != AWSMaxAttempts {
		t.Errorf("retryer MaxAttempts = %d, want %d", n, AWSMaxAttempts)
	}
	// Both clients reach moto through the environment alone.
	if _, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("setup")}); err != nil {
		t.Fatalf("SQS via AWS_ENDPOINT_URL: %v", err)
	}
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("setup"), SecretString: aws.String("x"),
	}); err != nil {
		t.Fatalf("Secrets Manager via AWS_ENDPOINT_URL: %v", err)
	}
}

func TestAWSConfigWithoutRegion(t *testing.T) {
	isolateAWS(t, nil)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	_, err := AWSConfig(context.Background())
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("AWSConfig = %v, want an error naming AWS_REGION", err)
	}
}

func TestOktaClientConfigErrors(t *testing.T) {
	valid := map[string]string{
		EnvOktaOrgURL:       "https://acme.okta.com",
		EnvOktaAPISecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-AbCdEf",
		EnvSecretCacheTTL:   "",
	}
	tests := []struct {
		name    string
		change  map[string]string
		wantErr string
	}{
		{"valid", nil, ""},
		{"no org url", map[string]string{EnvOktaOrgURL: ""}, "OKTA_ORG_URL is required"},
		{"no secret", map[string]string{EnvOktaAPISecretARN: " "}, "OKTA_API_SECRET_ARN is required"},
		{"bad ttl", map[string]string{EnvSecretCacheTTL: "5 minutes"}, `SECRET_CACHE_TTL "5 minutes" is not a Go duration`},
		{"zero ttl", map[string]string{EnvSecretCacheTTL: "0s"}, "SECRET_CACHE_TTL 0s must be positive"},
		{"http org url", map[string]string{EnvOktaOrgURL: "http://acme.okta.com"}, "OKTA_ORG_URL: okta: config"},
		{"org url with path", map[string]string{EnvOktaOrgURL: "https://acme.okta.com/api/v1"}, "OKTA_ORG_URL: okta: config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range valid {
				t.Setenv(k, v)
			}
			for k, v := range tt.change {
				t.Setenv(k, v)
			}
			client, err := OktaClient(context.Background(), aws.Config{Region: "us-east-1"}, nil)
			checkErr(t, err, tt.wantErr)
			if err == nil && client == nil {
				t.Fatal("nil client without error")
			}
		})
	}
}

// TestOktaClientEndToEnd wires the real pieces: the API secret in moto's
// Secrets Manager, the Okta client against the fake org, and a rotation of
// the API token picked up after Okta's 401.
func TestOktaClientEndToEnd(t *testing.T) {
	srv := motoServer
	isolateAWS(t, srv)
	org := oktafake.NewTest(t)
	org.AddUser("00u1")
	org.AddApp("0oa1", "0oa1", "app")
	org.AddToken("00u1", "0oa1")

	arn := srv.CreateSecret(t, "okta/api", `{"apiToken":"`+oktafake.DefaultAPIToken+`"}`)
	t.Setenv(EnvOktaOrgURL, org.URL)
	t.Setenv(EnvOktaAPISecretARN, arn)
	t.Setenv(EnvSecretCacheTTL, "1h")

	ctx := context.Background()
	cfg, err := AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client, err := OktaClient(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	clientIDs := func() []string {
		t.Helper()
		ids, err := client.UserClientIDs(ctx, "00u1")
		if err != nil {
			t.Fatalf("UserClientIDs: %v", err)
		}
		return ids
	}
	if got := clientIDs(); len(got) != 1 || got[0] != "0oa1" {
		t.Fatalf("UserClientIDs = %v, want [0oa1]", got)
	}

	// Rotate: Okta accepts only the new token, the secret holds it; the
	// cached old token gets a 401, the client invalidates and re-reads.
	org.SetAPIToken("rotated-token")
	srv.PutSecretValue(t, arn, `{"apiToken":"rotated-token"}`)
	if got := clientIDs(); len(got) != 1 {
		t.Fatalf("after rotation UserClientIDs = %v", got)
	}
	var statuses []int
	for _, r := range org.Requests() {
		statuses = append(statuses, r.Status)
	}
	if !slices.Equal(statuses, []int{200, 401, 200}) {
		t.Fatalf("Okta saw statuses %v, want [200 401 200]: a 401, then the re-read token accepted", statuses)
	}
}
