package oktahook

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/envconf"
	hook "github.com/okta-token-revoker/okta-token-revoker/internal/oktahook"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Defaults and bounds of the configuration.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultEnqueueTimeout = 2 * time.Second
	DefaultSecretCacheTTL = 5 * time.Minute

	// maxBodyBytesLimit is Lambda's payload limit for synchronous calls: a
	// larger body never reaches the function.
	maxBodyBytesLimit = 6 << 20
	// oktaTimeout is how long Okta waits for an answer. The enqueue budget
	// must leave room for the rest of the invocation, or a failure is
	// answered too late for Okta to retry.
	oktaTimeout = 3 * time.Second
)

// Config is the okta-hook function's configuration.
type Config struct {
	// SecretARN names the Secrets Manager secret whose SecretString is the
	// exact header value Okta sends (HOOK_SECRET_ARN).
	SecretARN string
	// AuthHeader is the header Okta sends the secret in (HOOK_AUTH_HEADER).
	AuthHeader string
	// QueueURL is the revocation queue (REVOCATION_QUEUE_URL).
	QueueURL string
	// EventTypes are the event types acted on (REVOKE_ON_EVENTS).
	EventTypes []string
	// MaxBodyBytes bounds the decoded delivery body (HOOK_MAX_BODY_BYTES).
	MaxBodyBytes int
	// EnqueueTimeout bounds the time spent queueing one delivery
	// (HOOK_ENQUEUE_TIMEOUT).
	EnqueueTimeout time.Duration
	// SecretCacheTTL is how long the hook secret is cached (SECRET_CACHE_TTL).
	SecretCacheTTL time.Duration
	// DedupeTable is the DynamoDB table recording queued event uuids
	// (DEDUPE_TABLE_NAME); empty = no deduplication, every event is queued.
	DedupeTable string
	// DedupeTTL is how long queued uuids are remembered (DEDUPE_TTL);
	// 0 = dedupe.DefaultTTL.
	DedupeTTL time.Duration
}

// LoadConfig reads the configuration through getenv (os.Getenv in the
// function). It reports every problem at once; an unknown event type in
// REVOKE_ON_EVENTS is an error, never silently ignored.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{
		SecretARN:      strings.TrimSpace(getenv("HOOK_SECRET_ARN")),
		AuthHeader:     strings.TrimSpace(getenv("HOOK_AUTH_HEADER")),
		QueueURL:       strings.TrimSpace(getenv("REVOCATION_QUEUE_URL")),
		MaxBodyBytes:   DefaultMaxBodyBytes,
		EnqueueTimeout: DefaultEnqueueTimeout,
		SecretCacheTTL: DefaultSecretCacheTTL,
		DedupeTable:    strings.TrimSpace(getenv("DEDUPE_TABLE_NAME")),
	}
	var errs []error
	if cfg.SecretARN == "" {
		errs = append(errs, errors.New("HOOK_SECRET_ARN is required"))
	}
	if cfg.QueueURL == "" {
		errs = append(errs, errors.New("REVOCATION_QUEUE_URL is required"))
	}
	if cfg.AuthHeader == "" {
		cfg.AuthHeader = hook.DefaultAuthHeader
	} else if !isToken(cfg.AuthHeader) {
		errs = append(errs, fmt.Errorf("HOOK_AUTH_HEADER %q is not a valid HTTP header name", cfg.AuthHeader))
	}

	if types, err := revocation.ParseEventTypes(getenv("REVOKE_ON_EVENTS")); err != nil {
		errs = append(errs, fmt.Errorf("REVOKE_ON_EVENTS: %w", err))
	} else {
		cfg.EventTypes = types
	}

	if n, err := envconf.Int(getenv, "HOOK_MAX_BODY_BYTES", DefaultMaxBodyBytes, 1, maxBodyBytesLimit); err != nil {
		errs = append(errs, err)
	} else {
		cfg.MaxBodyBytes = n
	}
	if d, err := envconf.PositiveDuration(getenv, "HOOK_ENQUEUE_TIMEOUT", DefaultEnqueueTimeout); err != nil {
		errs = append(errs, err)
	} else if d >= oktaTimeout {
		errs = append(errs, fmt.Errorf("HOOK_ENQUEUE_TIMEOUT %s must be under Okta's %s timeout, or failures are answered too late to be retried", d, oktaTimeout))
	} else {
		cfg.EnqueueTimeout = d
	}
	if d, err := envconf.PositiveDuration(getenv, "SECRET_CACHE_TTL", DefaultSecretCacheTTL); err != nil {
		errs = append(errs, err)
	} else {
		cfg.SecretCacheTTL = d
	}
	if d, err := envconf.PositiveDuration(getenv, "DEDUPE_TTL", 0); err != nil {
		errs = append(errs, err)
	} else {
		cfg.DedupeTTL = d
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("okta-hook configuration: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// isToken reports whether s is an HTTP header name (RFC 9110 token).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
