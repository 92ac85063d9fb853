package fakeclock

import (
	"sync"
	"testing"
	"time"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC)

func TestClock(t *testing.T) {
	tests := []struct {
		name  string
		steps []func(*Clock)
		want  time.Time
	}{
		{name: "new reads its start", want: start},
		{name: "advance", steps: []func(*Clock){advance(time.Minute), advance(30 * time.Second)}, want: start.Add(90 * time.Second)},
		{name: "advance backwards", steps: []func(*Clock){advance(-2 * time.Hour)}, want: start.Add(-2 * time.Hour)},
		{name: "set", steps: []func(*Clock){advance(time.Hour), set(start.Add(-time.Second))}, want: start.Add(-time.Second)},
		{name: "advance after set", steps: []func(*Clock){set(time.Unix(1_800_000_000, 0)), advance(time.Second)}, want: time.Unix(1_800_000_001, 0)},
		{name: "zero duration", steps: []func(*Clock){advance(0)}, want: start},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(start)
			for _, step := range tt.steps {
				step(c)
			}
			if got := c.Now(); !got.Equal(tt.want) {
				t.Fatalf("Now = %v, want %v", got, tt.want)
			}
			if got := c.Now(); !got.Equal(tt.want) {
				t.Fatalf("second Now = %v, want %v: time moved by itself", got, tt.want)
			}
		})
	}
}

func advance(d time.Duration) func(*Clock) { return func(c *Clock) { c.Advance(d) } }
func set(t time.Time) func(*Clock)         { return func(c *Clock) { c.Set(t) } }

func TestZeroValue(t *testing.T) {
	var c Clock
	if !c.Now().IsZero() {
		t.Fatalf("zero Clock reads %v, want the zero time", c.Now())
	}
	c.Advance(time.Second)
	if got, want := c.Now(), (time.Time{}).Add(time.Second); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v", got, want)
	}
}

// TestConcurrentUse moves the clock from several goroutines while others
// read it through the method value, as code under test does; -race checks
// the locking, the sum checks that no step is lost.
func TestConcurrentUse(t *testing.T) {
	c := New(start)
	now := c.Now
	const writers, steps = 8, 100
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range steps {
				c.Advance(time.Millisecond)
			}
		})
		wg.Go(func() {
			prev := now()
			for range steps {
				got := now()
				if got.Before(prev) {
					t.Errorf("clock went back from %v to %v", prev, got)
					return
				}
				prev = got
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(writers*steps*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Now = %v after %d steps, want %v", got, writers*steps, want)
	}
	c.Set(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("after Set: %v, want %v", got, start)
	}
}
