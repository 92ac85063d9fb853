package logging

import (
	"log/slog"
	"strings"
	"testing"
)

// FuzzParseLevel reads arbitrary LOG_LEVEL values: an accepted one is a
// level near slog's four (the name, maybe with an offset), and a refused
// one logs at info.
func FuzzParseLevel(f *testing.F) {
	for _, s := range []string{"", "debug", "INFO", " warn ", "warning", "error", "info+2", "error-8", "trace", "debug+99999999999", "WARN-", "4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		level, err := ParseLevel(s)
		if err != nil {
			if level != slog.LevelInfo {
				t.Fatalf("ParseLevel(%q) refused it but returned %s, want info", s, level)
			}
			return
		}
		name := strings.ToLower(strings.TrimSpace(s))
		if name == "" || name == "warning" {
			return
		}
		for _, base := range []string{"debug", "info", "warn", "error"} {
			if strings.HasPrefix(name, base) {
				return
			}
		}
		t.Fatalf("ParseLevel(%q) = %s: accepted something that names no level", s, level)
	})
}
