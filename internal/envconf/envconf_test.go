package envconf

import (
	"strings"
	"testing"
	"time"
)

func env(v string) func(string) string {
	return func(name string) string {
		if name == "VAR" {
			return v
		}
		return ""
	}
}

func TestPositiveDuration(t *testing.T) {
	for _, tt := range []struct {
		value   string
		want    time.Duration
		wantErr string
	}{
		{"", 7 * time.Second, ""},
		{"  ", 7 * time.Second, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{" 1h30m ", 90 * time.Minute, ""},
		{"5", 0, `VAR "5" is not a Go duration`},
		{"soon", 0, `VAR "soon" is not a Go duration`},
		{"0s", 0, "VAR 0s must be positive"},
		{"-1s", 0, "VAR -1s must be positive"},
		{strings.Repeat("x", 100), 0, `VAR "` + strings.Repeat("x", 64) + `..." is not`},
	} {
		got, err := PositiveDuration(env(tt.value), "VAR", 7*time.Second)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("PositiveDuration(%q) = %v, %v; want error %q", tt.value, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("PositiveDuration(%q) = %v, %v; want %v", tt.value, got, err, tt.want)
		}
	}
}

func TestInt(t *testing.T) {
	for _, tt := range []struct {
		value   string
		want    int
		wantErr string
	}{
		{"", 3, ""},
		{"1", 1, ""},
		{" 10 ", 10, ""},
		{"0", 0, "VAR 0 is out of range 1..10"},
		{"11", 0, "VAR 11 is out of range 1..10"},
		{"1MiB", 0, `VAR "1MiB" is not an integer`},
		{strings.Repeat("9", 100), 0, `VAR "` + strings.Repeat("9", 64) + `..." is not an integer`},
	} {
		got, err := Int(env(tt.value), "VAR", 3, 1, 10)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Int(%q) = %v, %v; want error %q", tt.value, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Int(%q) = %v, %v; want %v", tt.value, got, err, tt.want)
		}
	}
}
