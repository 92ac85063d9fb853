// Package awsenv builds the AWS SDK configuration of a Lambda function from
// the environment Lambda gives it: the region, the execution role's
// credentials and, for local runs, endpoint overrides.
//
// It stands in for the SDK's config.LoadDefaultConfig on purpose. That
// loader links the SSO, SSO OIDC, STS and sign-in clients and the EC2
// metadata client for its shared-config, web-identity and IMDS credential
// sources, none of which a Lambda function can use. Their package
// initialisation cost every cold start about 1.2 ms and each bootstrap about
// 2 MB (see BENCHMARKS.md). What a function can use is supported, with the
// SDK's own variable names and precedence:
//
//   - region: AWS_REGION, else AWS_DEFAULT_REGION;
//   - credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
//     AWS_SESSION_TOKEN (how Lambda passes the execution role's
//     credentials, and how `sam local invoke` passes the developer's), else
//     the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
//     or AWS_CONTAINER_CREDENTIALS_FULL_URI, with
//     AWS_CONTAINER_AUTHORIZATION_TOKEN or
//     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE), which environments that
//     outlive one set of credentials use;
//   - endpoints: AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> (the service's
//     SDK ID in capitals, spaces as underscores: AWS_ENDPOINT_URL_SQS,
//     AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_DYNAMODB) and
//     AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
//
// Unlike the SDK's loader, missing credentials are an error here, at init,
// rather than on the first call.
package awsenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// Environment variable names, as the AWS SDKs define them.
const (
	EnvRegion                    = "AWS_REGION"
	EnvDefaultRegion             = "AWS_DEFAULT_REGION"
	EnvAccessKeyID               = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey           = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken              = "AWS_SESSION_TOKEN"
	EnvContainerRelativeURI      = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
	EnvContainerFullURI          = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvContainerAuthToken        = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
	EnvContainerAuthTokenFile    = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	EnvEndpointURL               = "AWS_ENDPOINT_URL"
	EnvIgnoreConfiguredEndpoints = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
)

// ecsContainerHost serves AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; a
// variable so that tests can point it at a local server.
var ecsContainerHost = "http://169.254.170.2"

// The container credential hosts the SDKs accept over plain HTTP besides
// loopback: ECS's and EKS Pod Identity's.
var (
	ecsContainerIPv4 = net.IPv4(169, 254, 170, 2)
	eksContainerIPv4 = net.IPv4(169, 254, 170, 23)
	eksContainerIPv6 = net.ParseIP("fd00:ec2::23")
)

// Config returns the configuration the environment describes: Region,
// Credentials (cached), BaseEndpoint and the per-service endpoint
// overrides. getenv is os.Getenv outside tests. The caller adds the retryer
// and the HTTP client.
func Config(ctx context.Context, getenv func(string) string) (aws.Config, error) {
	region := getenv(EnvRegion)
	if region == "" {
		region = getenv(EnvDefaultRegion)
	}
	if region == "" {
		return aws.Config{}, fmt.Errorf("no region: set %s", EnvRegion)
	}
	creds, err := credentialsProvider(ctx, getenv)
	if err != nil {
		return aws.Config{}, err
	}
	src, err := newEndpointSource(getenv)
	if err != nil {
		return aws.Config{}, err
	}
	cfg := aws.Config{
		Region:        region,
		Credentials:   aws.NewCredentialsCache(creds),
		ConfigSources: []any{src},
	}
	if u := getenv(EnvEndpointURL); u != "" && !src.ignore {
		cfg.BaseEndpoint = aws.String(u)
	}
	return cfg, nil
}

// credentialsProvider picks the credential source, in the SDKs' order for
// the sources a function can have: static keys, then the container
// endpoint (relative URI before full URI).
func credentialsProvider(ctx context.Context, getenv func(string) string) (aws.CredentialsProvider, error) {
	id, secret := getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey)
	switch {
	case id != "" && secret != "":
		return credentials.NewStaticCredentialsProvider(id, secret, getenv(EnvSessionToken)), nil
	case id != "" || secret != "":
		// Half a key pair is a mistake worth reporting, not a reason to
		// fall through to another source the operator did not mean.
		return nil, fmt.Errorf("credentials: %s and %s must be set together", EnvAccessKeyID, EnvSecretAccessKey)
	}
	if rel := getenv(EnvContainerRelativeURI); rel != "" {
		return containerProvider(ecsContainerHost+rel, getenv), nil
	}
	if full := getenv(EnvContainerFullURI); full != "" {
		if err := checkContainerURI(ctx, full); err != nil {
			return nil, fmt.Errorf("credentials: %s: %w", EnvContainerFullURI, err)
		}
		return containerProvider(full, getenv), nil
	}
	return nil, fmt.Errorf("no credentials: set %s and %s, or %s (Lambda sets them for the execution role)",
		EnvAccessKeyID, EnvSecretAccessKey, EnvContainerFullURI)
}

// containerProvider reads credentials from a container credentials
// endpoint, sending the authorization token from the environment or, when
// set, re-read from its file on every refresh (the file is rotated).
func containerProvider(endpoint string, getenv func(string) string) aws.CredentialsProvider {
	token, tokenFile := getenv(EnvContainerAuthToken), getenv(EnvContainerAuthTokenFile)
	return endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
		o.AuthorizationToken = token
		if tokenFile != "" {
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return "", fmt.Errorf("read %s: %w", EnvContainerAuthTokenFile, err)
				}
				return strings.TrimSpace(string(b)), nil
			})
		}
	})
}

// checkContainerURI applies the SDKs' rule for a full container
// credentials URI: HTTPS anywhere, plain HTTP only to loopback or the ECS
// and EKS credential hosts, so credentials never cross a network in clear.
func checkContainerURI(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	host := u.Hostname()
	switch {
	case host == "":
		return errors.New("no host in URL")
	case u.Scheme == "https":
		return nil
	case u.Scheme != "http":
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	addrs := []string{host}
	if net.ParseIP(host) == nil {
		if addrs, err = net.DefaultResolver.LookupHost(ctx, host); err != nil {
			return fmt.Errorf("resolve host %q: %w", host, err)
		}
	}
	for _, addr := range addrs {
		ip := net.ParseIP(addr)
		if ip == nil || !(ip.IsLoopback() || ip.Equal(ecsContainerIPv4) || ip.Equal(eksContainerIPv4) || ip.Equal(eksContainerIPv6)) {
			return fmt.Errorf("plain HTTP to host %q: only loopback and the ECS/EKS credential hosts are allowed", host)
		}
	}
	return nil
}

// endpointSource answers the service clients' endpoint lookups
// (AWS_ENDPOINT_URL_<SERVICE>) from the environment. The SDK's service
// packages find it among aws.Config.ConfigSources by its methods.
type endpointSource struct {
	getenv func(string) string
	ignore bool
}

func newEndpointSource(getenv func(string) string) (endpointSource, error) {
	src := endpointSource{getenv: getenv}
	if v := getenv(EnvIgnoreConfiguredEndpoints); v != "" {
		ignore, err := strconv.ParseBool(v)
		if err != nil {
			return endpointSource{}, fmt.Errorf("%s: want true or false, got %q", EnvIgnoreConfiguredEndpoints, v)
		}
		src.ignore = ignore
	}
	return src, nil
}

// GetIgnoreConfiguredEndpoints reports AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
func (s endpointSource) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	return s.ignore, s.ignore, nil
}

// GetServiceBaseEndpoint returns AWS_ENDPOINT_URL_<SERVICE> for the
// service with SDK ID sdkID ("SQS", "Secrets Manager", "DynamoDB").
func (s endpointSource) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if s.ignore {
		return "", false, nil
	}
	u := s.getenv(ServiceEndpointEnv(sdkID))
	return u, u != "", nil
}

// ServiceEndpointEnv is the variable that overrides the endpoint of the
// service with SDK ID sdkID: "Secrets Manager" → AWS_ENDPOINT_URL_SECRETS_MANAGER.
func ServiceEndpointEnv(sdkID string) string {
	return EnvEndpointURL + "_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_")
}
