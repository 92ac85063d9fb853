//go:build unix

package moto

import (
	"testing"
	"time"
)

// TestWatchdogKillsOrphan simulates the test binary dying without Cleanup:
// closing the lifeline is what the kernel does to the pipe then.
func TestWatchdogKillsOrphan(t *testing.T) {
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.lifeline.Close()
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("moto_server still running 30s after its lifeline closed")
	}
}
