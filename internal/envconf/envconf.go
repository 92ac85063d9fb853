// Package envconf parses the functions' settings from environment
// variables read through a getenv function (os.Getenv in the functions, a
// map in tests). Errors name the variable and quote at most 64 bytes of
// its value.
package envconf

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PositiveDuration reads name as a Go duration greater than zero ("500ms",
// "30s", "1h"); def when it is unset or blank.
func PositiveDuration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a Go duration (e.g. 500ms, 30s, 1h)", name, clip(v))
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s %s must be positive", name, d)
	}
	return d, nil
}

// Int reads name as a decimal integer in [lo, hi]; def when it is unset or
// blank.
func Int(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", name, clip(v))
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s %d is out of range %d..%d", name, n, lo, hi)
	}
	return n, nil
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
