package reconcile

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

func TestLoadSettings(t *testing.T) {
	base := map[string]string{EnvQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/revocations", EnvTable: "okta-token-revoker-dedupe"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	defaults := Settings{QueueURL: base[EnvQueueURL], Table: base[EnvTable], DedupeTTL: dedupe.DefaultTTL,
		EventTypes: revocation.DefaultEventTypes(), Lookback: time.Hour, MaxPages: 10, PageSize: 1000}
	tests := []struct {
		name    string
		env     map[string]string
		want    func(*Settings)
		wantErr []string
	}{
		{name: "defaults", env: base},
		{name: "everything", env: with(EnvEventTypes, " user.lifecycle.suspend, user.account.update_password ,", EnvLookback, "30m",
			EnvMaxPages, "3", EnvPageSize, "200", EnvDedupeTTL, "72h"),
			want: func(s *Settings) {
				s.EventTypes = []string{"user.lifecycle.suspend", "user.account.update_password"}
				s.Lookback, s.MaxPages, s.PageSize, s.DedupeTTL = 30*time.Minute, 3, 200, 72*time.Hour
			}},
		{name: "required", env: map[string]string{}, wantErr: []string{EnvQueueURL, EnvTable}},
		{name: "unknown event type", env: with(EnvEventTypes, "user.lifecycle.suspend,user.lifecycle.suspendd"), wantErr: []string{`"user.lifecycle.suspendd"`}},
		{name: "bad numbers", env: with(EnvMaxPages, "0", EnvPageSize, "1001"), wantErr: []string{EnvMaxPages, EnvPageSize}},
		{name: "too many pages", env: with(EnvMaxPages, "51"), wantErr: []string{EnvMaxPages}},
		{name: "not a number", env: with(EnvMaxPages, "ten"), wantErr: []string{EnvMaxPages}},
		{name: "bad durations", env: with(EnvLookback, "1 hour", EnvDedupeTTL, "-1h"), wantErr: []string{EnvLookback, EnvDedupeTTL}},
		{name: "look-back beyond retention", env: with(EnvLookback, "2200h"), wantErr: []string{"retention"}},
		{name: "look-back not shorter than the TTL", env: with(EnvLookback, "48h", EnvDedupeTTL, "48h"), wantErr: []string{"shorter than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadSettings(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; got %+v", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			if tt.want != nil {
				tt.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}
