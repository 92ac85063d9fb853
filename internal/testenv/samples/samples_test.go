package samples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEventsCarryTheSamples keeps this package and events/ in step.
func TestEventsCarryTheSamples(t *testing.T) {
	for _, tt := range []struct {
		event string
		want  []string
	}{
		{"okta-hook-suspend.json", []string{HookSecret, HookUser}},
		{"okta-hook-verification.json", []string{HookSecret}},
		{"list-user-client-tokens.json", []string{User, Client}},
		{"revoke-user-client-token.json", []string{User, Client, Token}},
		{"sqs-revocations.json", []string{User, User2, Client}},
	} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", tt.event))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range tt.want {
			if !strings.Contains(string(b), v) {
				t.Errorf("events/%s does not carry %q", tt.event, v)
			}
		}
	}
}
