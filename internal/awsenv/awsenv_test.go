package awsenv

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// env is a fake environment for Config's getenv.
type env map[string]string

func (e env) get(name string) string { return e[name] }

func TestConfigRegionAndStaticCredentials(t *testing.T) {
	tests := []struct {
		name       string
		env        env
		wantRegion string
		wantToken  string
		wantErr    string
	}{
		{"lambda", env{EnvRegion: "eu-west-1", EnvDefaultRegion: "eu-west-1", EnvAccessKeyID: "AKIDLAMBDA", EnvSecretAccessKey: "s3cr3t", EnvSessionToken: "tok"}, "eu-west-1", "tok", ""},
		{"default region only", env{EnvDefaultRegion: "us-east-2", EnvAccessKeyID: "AKID", EnvSecretAccessKey: "s3cr3t"}, "us-east-2", "", ""},
		{"AWS_REGION wins", env{EnvRegion: "ap-south-1", EnvDefaultRegion: "us-east-2", EnvAccessKeyID: "AKID", EnvSecretAccessKey: "s3cr3t"}, "ap-south-1", "", ""},
		{"no region", env{EnvAccessKeyID: "AKID", EnvSecretAccessKey: "s3cr3t"}, "", "", "no region: set AWS_REGION"},
		{"no credentials", env{EnvRegion: "us-east-1"}, "", "", "no credentials: set AWS_ACCESS_KEY_ID"},
		{"key id without secret", env{EnvRegion: "us-east-1", EnvAccessKeyID: "AKID"}, "", "", "must be set together"},
		{"secret without key id", env{EnvRegion: "us-east-1", EnvSecretAccessKey: "s3cr3t"}, "", "", "must be set together"},
		{"keys win over the container endpoint", env{EnvRegion: "us-east-1", EnvAccessKeyID: "AKID", EnvSecretAccessKey: "s3cr3t", EnvContainerFullURI: "http://10.0.0.1/creds"}, "us-east-1", "", ""},
		{"bad ignore flag", env{EnvRegion: "us-east-1", EnvAccessKeyID: "AKID", EnvSecretAccessKey: "s3cr3t", EnvIgnoreConfiguredEndpoints: "yes please"}, "", "", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Config(t.Context(), tt.env.get)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Config = %v, want an error containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error %q shows the secret access key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			if cfg.Region != tt.wantRegion {
				t.Errorf("Region = %q, want %q", cfg.Region, tt.wantRegion)
			}
			creds, err := cfg.Credentials.Retrieve(t.Context())
			if err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			if creds.AccessKeyID != tt.env[EnvAccessKeyID] || creds.SecretAccessKey != "s3cr3t" || creds.SessionToken != tt.wantToken {
				t.Errorf("credentials = %q/%q/%q, want the environment's", creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
			}
		})
	}
}

// credentialsServer is a container credentials endpoint: it answers with
// fresh credentials when the Authorization header carries the token.
func credentialsServer(t *testing.T, token *atomic.Value) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/v2/credentials/abc" {
			http.NotFound(w, r)
			return
		}
		if got := r.Header.Get("Authorization"); got != token.Load().(string) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"AccessDenied","message":"bad token"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId":     "ASIACONTAINER",
			"SecretAccessKey": "container-secret",
			"Token":           "container-session",
			// Short-lived, so that the cache refreshes on the next call.
			"Expiration": time.Now().Add(time.Second).UTC().Format(time.RFC3339),
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestConfigContainerCredentials(t *testing.T) {
	token := &atomic.Value{}
	token.Store("Bearer first")
	srv, calls := credentialsServer(t, token)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("Bearer first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oldHost := ecsContainerHost
	ecsContainerHost = srv.URL
	t.Cleanup(func() { ecsContainerHost = oldHost })

	tests := []struct {
		name string
		env  env
	}{
		{"full URI with token", env{EnvContainerFullURI: srv.URL + "/v2/credentials/abc", EnvContainerAuthToken: "Bearer first"}},
		{"full URI with token file", env{EnvContainerFullURI: srv.URL + "/v2/credentials/abc", EnvContainerAuthTokenFile: tokenFile}},
		{"relative URI", env{EnvContainerRelativeURI: "/v2/credentials/abc", EnvContainerAuthToken: "Bearer first"}},
		{"relative URI before full URI", env{EnvContainerRelativeURI: "/v2/credentials/abc", EnvContainerFullURI: "http://192.0.2.1/elsewhere", EnvContainerAuthToken: "Bearer first"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			tt.env[EnvRegion] = "us-east-1"
			cfg, err := Config(t.Context(), tt.env.get)
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("Config called the endpoint %d times; it must not call the network", n)
			}
			creds, err := cfg.Credentials.Retrieve(t.Context())
			if err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			if creds.AccessKeyID != "ASIACONTAINER" || creds.SessionToken != "container-session" {
				t.Errorf("credentials = %q/%q, want the endpoint's", creds.AccessKeyID, creds.SessionToken)
			}
		})
	}

	t.Run("token file is re-read on refresh", func(t *testing.T) {
		cfg, err := Config(t.Context(), env{EnvRegion: "us-east-1", EnvContainerFullURI: srv.URL + "/v2/credentials/abc", EnvContainerAuthTokenFile: tokenFile}.get)
		if err != nil {
			t.Fatalf("Config: %v", err)
		}
		if _, err := cfg.Credentials.Retrieve(t.Context()); err != nil {
			t.Fatalf("first Retrieve: %v", err)
		}
		// The agent rotates the token; the cached credentials expire.
		token.Store("Bearer second")
		if err := os.WriteFile(tokenFile, []byte("Bearer second"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Credentials.(*aws.CredentialsCache).Invalidate()
		if _, err := cfg.Credentials.Retrieve(t.Context()); err != nil {
			t.Fatalf("Retrieve after rotation: %v", err)
		}
	})
}

func TestCheckContainerURI(t *testing.T) {
	tests := []struct {
		uri     string
		wantErr string
	}{
		{"http://127.0.0.1:8080/creds", ""},
		{"http://[::1]/creds", ""},
		{"http://localhost/creds", ""},
		{"http://169.254.170.2/v2/credentials", ""},
		{"http://169.254.170.23/v1/credentials", ""},
		{"http://[fd00:ec2::23]/v1/credentials", ""},
		{"https://credentials.example.com/creds", ""}, // HTTPS: any host, no lookup
		{"http://10.0.0.1/creds", "only loopback and the ECS/EKS credential hosts"},
		{"http://192.0.2.1/creds", "only loopback"},
		{"ftp://127.0.0.1/creds", `scheme "ftp"`},
		{"http:///creds", "no host"},
		{"http://%zz/", "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			err := checkContainerURI(t.Context(), tt.uri)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkContainerURI = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("checkContainerURI = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	// The full URI's check is part of Config.
	_, err := Config(t.Context(), env{EnvRegion: "us-east-1", EnvContainerFullURI: "http://10.0.0.1/creds"}.get)
	if err == nil || !strings.Contains(err.Error(), EnvContainerFullURI) {
		t.Fatalf("Config with a plain-HTTP remote URI = %v, want an error naming %s", err, EnvContainerFullURI)
	}
}

// TestConfigEndpoints checks the overrides as the SDK's service clients
// resolve them. They read AWS_ENDPOINT_URL* from the process environment
// themselves too, so the variables are set there and Config reads os.Getenv.
func TestConfigEndpoints(t *testing.T) {
	for _, name := range []string{EnvEndpointURL, "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB", EnvIgnoreConfiguredEndpoints} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	t.Setenv(EnvRegion, "us-east-1")
	t.Setenv(EnvAccessKeyID, "AKID")
	t.Setenv(EnvSecretAccessKey, "s3cr3t")

	tests := []struct {
		name                    string
		env                     env
		wantSQS, wantSM, wantDB string
	}{
		{"none", nil, "", "", ""},
		{"global", env{EnvEndpointURL: "http://moto:5000"}, "http://moto:5000", "http://moto:5000", "http://moto:5000"},
		{"per service", env{"AWS_ENDPOINT_URL_SQS": "http://sqs:1", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://sm:2"}, "http://sqs:1", "http://sm:2", ""},
		{"per service wins over global", env{EnvEndpointURL: "http://moto:5000", "AWS_ENDPOINT_URL_DYNAMODB": "http://ddb:3"}, "http://moto:5000", "http://moto:5000", "http://ddb:3"},
		{"ignored", env{EnvEndpointURL: "http://moto:5000", "AWS_ENDPOINT_URL_SQS": "http://sqs:1", EnvIgnoreConfiguredEndpoints: "true"}, "", "", ""},
		{"ignore flag false", env{EnvEndpointURL: "http://moto:5000", EnvIgnoreConfiguredEndpoints: "false"}, "http://moto:5000", "http://moto:5000", "http://moto:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := Config(context.Background(), os.Getenv)
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			got := []string{
				aws.ToString(sqs.NewFromConfig(cfg).Options().BaseEndpoint),
				aws.ToString(secretsmanager.NewFromConfig(cfg).Options().BaseEndpoint),
				aws.ToString(dynamodb.NewFromConfig(cfg).Options().BaseEndpoint),
			}
			want := []string{tt.wantSQS, tt.wantSM, tt.wantDB}
			for i, svc := range []string{"SQS", "Secrets Manager", "DynamoDB"} {
				if got[i] != want[i] {
					t.Errorf("%s endpoint = %q, want %q", svc, got[i], want[i])
				}
			}
		})
	}
}

func TestServiceEndpointEnv(t *testing.T) {
	for sdkID, want := range map[string]string{
		"SQS":             "AWS_ENDPOINT_URL_SQS",
		"Secrets Manager": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
		"DynamoDB":        "AWS_ENDPOINT_URL_DYNAMODB",
	} {
		if got := ServiceEndpointEnv(sdkID); got != want {
			t.Errorf("ServiceEndpointEnv(%q) = %q, want %q", sdkID, got, want)
		}
	}
}
