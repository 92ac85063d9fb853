// Package fakeclock provides a clock that tests set and move by hand, to
// drive code that reads the time through an injected func() time.Time
// (leases, TTLs, rate-limit windows, deadlines) without waiting.
//
// It imports nothing of this repository, so any package's tests may use it.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a settable time source that is safe for concurrent use: code
// under test reads it from its own goroutines while the test moves it. Time
// stands still between calls to Advance and Set. The zero value reads the
// zero time; New starts it elsewhere.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock that reads t until it is moved.
func New(t time.Time) *Clock {
	return &Clock{now: t}
}

// Now returns the clock's time. Its method value (c.Now) fits options that
// take a func() time.Time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d; a negative d moves it back.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
