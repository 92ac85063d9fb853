package reconcile

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/samtemplate"
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

// TestTemplateLookbackPattern keeps the template's ReconcileLookback
// parameter from accepting a value the function then refuses at every
// start (the template leaves DEDUPE_TTL at its default).
func TestTemplateLookbackPattern(t *testing.T) {
	tpl, err := samtemplate.Load("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	param, ok := tpl.Parameters["ReconcileLookback"]
	if !ok || param.AllowedPattern == "" {
		t.Fatal("template.yaml: no ReconcileLookback parameter with an AllowedPattern")
	}
	pattern := regexp.MustCompile(param.AllowedPattern)
	base := map[string]string{EnvQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/revocations", EnvTable: "t"}
	var values []string
	for n := 1; n <= 200; n++ {
		values = append(values, fmt.Sprintf("%dh", n))
	}
	for _, n := range []int{1, 9, 10, 99, 100, 999, 1000, 5000, 9999, 10000, 10070, 10079, 10080, 10081, 10099, 10100, 12000, 99999} {
		values = append(values, fmt.Sprintf("%dm", n))
	}
	values = append(values, "0h", "0m", "01h", "1d", "1h30m", "h", "")
	for _, v := range values {
		_, err := LoadSettings(func(k string) string {
			if k == EnvLookback {
				return v
			}
			return base[k]
		})
		// The pattern may be stricter (01h, 1h30m), never looser.
		if pattern.MatchString(v) && err != nil {
			t.Errorf("ReconcileLookback %q: the template accepts it, the function refuses it: %v", v, err)
		}
	}
	for _, v := range []string{param.Default, "30m", "167h", "10079m"} {
		if !pattern.MatchString(v) {
			t.Errorf("ReconcileLookback %q: a valid look-back the template refuses", v)
		}
	}
}
