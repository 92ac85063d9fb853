package oktahook

import (
	"strings"
	"testing"

	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// FuzzLoadConfig reads arbitrary environments: LoadConfig never panics, and
// a configuration it accepts is one the handler can run with (known event
// types, a header name, bounds inside Okta's and Lambda's limits).
func FuzzLoadConfig(f *testing.F) {
	// The template's values first, then broken ones.
	f.Add("Authorization", "", "", "", "")
	f.Add("Authorization", "user.lifecycle.suspend, user.account.lock ,", "1048576", "2s", "5m")
	f.Add("X-Okta-Secret", "application.lifecycle.delete", "6291456", "2999ms", "1h")
	f.Add("Bad Header", "user.unknown", "0", "3s", "-1s")
	f.Add("Authorization\r\n", ",,,", "1e6", "2", "forever")
	f.Add("", "USER.LIFECYCLE.SUSPEND", "6291457", "0s", "0")
	f.Fuzz(func(t *testing.T, header, events, maxBody, enqueueTimeout, ttl string) {
		env := map[string]string{
			"HOOK_SECRET_ARN":      "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-AbCdEf",
			"REVOCATION_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
			"HOOK_AUTH_HEADER":     header,
			"REVOKE_ON_EVENTS":     events,
			"HOOK_MAX_BODY_BYTES":  maxBody,
			"HOOK_ENQUEUE_TIMEOUT": enqueueTimeout,
			"SECRET_CACHE_TTL":     ttl,
		}
		cfg, err := LoadConfig(func(k string) string { return env[k] })
		if err != nil {
			if !strings.HasPrefix(err.Error(), "okta-hook configuration: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if !isToken(cfg.AuthHeader) {
			t.Fatalf("accepted header name %q", cfg.AuthHeader)
		}
		if cfg.MaxBodyBytes < 1 || cfg.MaxBodyBytes > maxBodyBytesLimit {
			t.Fatalf("accepted HOOK_MAX_BODY_BYTES %d", cfg.MaxBodyBytes)
		}
		if cfg.EnqueueTimeout <= 0 || cfg.EnqueueTimeout >= oktaTimeout {
			t.Fatalf("accepted HOOK_ENQUEUE_TIMEOUT %s", cfg.EnqueueTimeout)
		}
		if cfg.SecretCacheTTL <= 0 {
			t.Fatalf("accepted SECRET_CACHE_TTL %s", cfg.SecretCacheTTL)
		}
		if len(cfg.EventTypes) == 0 {
			t.Fatalf("no event types")
		}
		if _, err := revocation.NewPolicy(cfg.EventTypes); err != nil {
			t.Fatalf("accepted event types the policy refuses: %v", err)
		}
	})
}
