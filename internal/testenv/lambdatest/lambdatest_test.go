package lambdatest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestEvent(t *testing.T) {
	// The working directory is this package's: the events directory is
	// found through go.mod, wherever the test runs.
	payload := Event(t, "okta-hook-suspend.json")
	if !json.Valid(payload) {
		t.Fatalf("sample event is not JSON: %s", payload)
	}
}

func TestOutputConcurrentWrites(t *testing.T) {
	var out Output
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := out.Write([]byte("line\n")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := strings.Count(out.String(), "line\n"); got != 800 {
		t.Fatalf("%d lines, want 800", got)
	}
}
