package oktahook

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

func TestLoadConfig(t *testing.T) {
	const (
		arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-hook-AbCdEf"
		url = "https://sqs.us-east-1.amazonaws.com/123456789012/revocations"
	)
	base := map[string]string{"HOOK_SECRET_ARN": arn, "REVOCATION_QUEUE_URL": url}
	defaults := Config{
		SecretARN: arn, QueueURL: url, AuthHeader: "Authorization",
		EventTypes:   revocation.DefaultEventTypes(),
		MaxBodyBytes: 1048576, EnqueueTimeout: 2 * time.Second, SecretCacheTTL: 5 * time.Minute,
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    func(c *Config)
		wantErr []string
	}{
		{name: "defaults", env: base},
		{
			name: "everything set",
			env: map[string]string{
				"HOOK_SECRET_ARN": " " + arn + " ", "REVOCATION_QUEUE_URL": url, "HOOK_AUTH_HEADER": "X-Okta-Hook-Key",
				"REVOKE_ON_EVENTS":    " user.lifecycle.suspend, ,user.account.update_password ,",
				"HOOK_MAX_BODY_BYTES": "262144", "HOOK_ENQUEUE_TIMEOUT": "1500ms", "SECRET_CACHE_TTL": "1m",
			},
			want: func(c *Config) {
				c.AuthHeader = "X-Okta-Hook-Key"
				c.EventTypes = []string{"user.lifecycle.suspend", "user.account.update_password"}
				c.MaxBodyBytes, c.EnqueueTimeout, c.SecretCacheTTL = 262144, 1500*time.Millisecond, time.Minute
			},
		},
		{name: "only separators means defaults", env: merge(base, map[string]string{"REVOKE_ON_EVENTS": " , "})},
		{name: "missing required", env: map[string]string{}, wantErr: []string{"HOOK_SECRET_ARN is required", "REVOCATION_QUEUE_URL is required"}},
		{name: "unknown event type", env: merge(base, map[string]string{"REVOKE_ON_EVENTS": "user.lifecycle.suspend,user.session.end"}), wantErr: []string{`REVOKE_ON_EVENTS: unknown event type "user.session.end"`}},
		{name: "bad header", env: merge(base, map[string]string{"HOOK_AUTH_HEADER": "X Hook: key"}), wantErr: []string{`HOOK_AUTH_HEADER "X Hook: key" is not a valid HTTP header name`}},
		{name: "body not a number", env: merge(base, map[string]string{"HOOK_MAX_BODY_BYTES": "1MiB"}), wantErr: []string{`HOOK_MAX_BODY_BYTES "1MiB" is not an integer`}},
		{name: "body zero", env: merge(base, map[string]string{"HOOK_MAX_BODY_BYTES": "0"}), wantErr: []string{"HOOK_MAX_BODY_BYTES 0 is out of range"}},
		{name: "body over Lambda's limit", env: merge(base, map[string]string{"HOOK_MAX_BODY_BYTES": "7000000"}), wantErr: []string{"HOOK_MAX_BODY_BYTES 7000000 is out of range 1..6291456"}},
		{name: "timeout not a duration", env: merge(base, map[string]string{"HOOK_ENQUEUE_TIMEOUT": "2"}), wantErr: []string{`HOOK_ENQUEUE_TIMEOUT "2" is not a Go duration`}},
		{name: "timeout negative", env: merge(base, map[string]string{"HOOK_ENQUEUE_TIMEOUT": "-1s"}), wantErr: []string{"HOOK_ENQUEUE_TIMEOUT -1s must be positive"}},
		{name: "timeout past Okta's", env: merge(base, map[string]string{"HOOK_ENQUEUE_TIMEOUT": "3s"}), wantErr: []string{"HOOK_ENQUEUE_TIMEOUT 3s must be under Okta's 3s timeout"}},
		{name: "ttl bad", env: merge(base, map[string]string{"SECRET_CACHE_TTL": "soon"}), wantErr: []string{`SECRET_CACHE_TTL "soon" is not a Go duration`}},
		{
			name:    "all problems at once",
			env:     map[string]string{"REVOKE_ON_EVENTS": "nope", "HOOK_ENQUEUE_TIMEOUT": "0s"},
			wantErr: []string{"HOOK_SECRET_ARN is required", "REVOCATION_QUEUE_URL is required", `unknown event type "nope"`, "HOOK_ENQUEUE_TIMEOUT 0s must be positive"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("LoadConfig = %+v, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			want := defaults
			want.EventTypes = append([]string(nil), defaults.EventTypes...)
			if tt.want != nil {
				tt.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("LoadConfig =\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
