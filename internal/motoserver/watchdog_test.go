//go:build unix

package motoserver

import (
	"context"
	"testing"
	"time"
)

// TestWatchdogKillsOrphan simulates our process dying without Close:
// closing the lifeline is what the kernel does to the pipe then.
func TestWatchdogKillsOrphan(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.lifeline.Close()
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("moto_server still running 30s after its lifeline closed")
	}
}
