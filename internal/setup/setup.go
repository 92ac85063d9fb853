// Package setup holds the wiring the functions' main packages share:
// reading environment variables with clear errors, the AWS SDK
// configuration, and the Okta client. Everything here runs once per Lambda
// execution environment and makes no network call.
package setup

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/okta-token-revoker/okta-token-revoker/internal/awsenv"
	"github.com/okta-token-revoker/okta-token-revoker/internal/envconf"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/secrets"
)

// AWS SDK limits. A Lambda invocation has seconds, not minutes: fail fast
// and let the caller (SQS redelivery, Okta's hook retry) try again.
const (
	// AWSMaxAttempts is the attempts per AWS API call, the first included.
	AWSMaxAttempts = 3
	// AWSMaxBackoff caps the wait between attempts.
	AWSMaxBackoff = 2 * time.Second
	// AWSRequestTimeout bounds one HTTP request to an AWS API; the
	// caller's ctx deadline still wins when it is sooner.
	AWSRequestTimeout = 5 * time.Second
)

// Environment variable names read by OktaClient.
const (
	EnvOktaOrgURL       = "OKTA_ORG_URL"
	EnvOktaAPISecretARN = "OKTA_API_SECRET_ARN"
	EnvSecretCacheTTL   = "SECRET_CACHE_TTL"
)

// AWSConfig builds the SDK configuration from the function's environment
// (see internal/awsenv: region, the execution role's credentials, endpoint
// overrides such as AWS_ENDPOINT_URL for moto_server in local runs and
// tests) with bounded retries (AWSMaxAttempts, AWSMaxBackoff) and a
// per-request timeout. A missing region or missing credentials are errors,
// reported now rather than on the first call; nothing here calls the
// network.
func AWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := awsenv.Config(ctx, os.Getenv)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = AWSMaxAttempts
			o.MaxBackoff = AWSMaxBackoff
		})
	}
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTimeout(AWSRequestTimeout)
	return cfg, nil
}

// OktaClient builds the Okta client from OKTA_ORG_URL and the secret named
// by OKTA_API_SECRET_ARN, read through a secrets.Cache with TTL
// SECRET_CACHE_TTL (default secrets.DefaultTTL). The secret is read on the
// first Okta call, not here; the client re-reads it after a 401, so a
// rotation is picked up. Each tune function may adjust the client's
// configuration (scopes, timeouts) before it is built.
func OktaClient(ctx context.Context, awsCfg aws.Config, logger *slog.Logger, tune ...func(*okta.Config)) (*okta.Client, error) {
	orgURL, err := RequireEnv(EnvOktaOrgURL)
	if err != nil {
		return nil, err
	}
	secretARN, err := RequireEnv(EnvOktaAPISecretARN)
	if err != nil {
		return nil, err
	}
	ttl, err := envconf.PositiveDuration(os.Getenv, EnvSecretCacheTTL, secrets.DefaultTTL)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	cache := secrets.NewCache(secretsmanager.NewFromConfig(awsCfg), secretARN, ttl, secrets.WithLogger(logger))
	cfg := okta.Config{
		OrgURL:      orgURL,
		Credentials: okta.CredentialsFromSecret(cache),
		Logger:      logger,
	}
	for _, t := range tune {
		t(&cfg)
	}
	client, err := okta.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvOktaOrgURL, err)
	}
	return client, nil
}

// Env returns the value of the environment variable name, with surrounding
// spaces removed, or def when it is unset or blank.
func Env(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// RequireEnv returns the value of the environment variable name, or an
// error saying it is required when it is unset or blank.
func RequireEnv(name string) (string, error) {
	v := Env(name, "")
	if v == "" {
		return "", fmt.Errorf("%s is required", name)
	}
	return v, nil
}

// BoolEnv parses the environment variable name as a boolean (true/false,
// 1/0, t/f in any case); def when unset or blank.
func BoolEnv(name string, def bool) (bool, error) {
	v := Env(name, "")
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: invalid boolean %q (use true or false)", name, clip(v))
	}
	return b, nil
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

// Fail logs why the function cannot start and exits, so Lambda reports an
// init error instead of serving invocations that cannot succeed.
func Fail(logger *slog.Logger, function, step string, err error) {
	logger.Error(function+" cannot start", slog.String("step", step), slog.String("error", err.Error()))
	os.Exit(1)
}
