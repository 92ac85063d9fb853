package okta

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/fakeclock"
)

// newTestPacer returns a pacer whose clock the test drives by hand.
func newTestPacer() (*pacer, *fakeclock.Clock) {
	clock := fakeclock.New(time.Unix(1_800_000_000, 0))
	p := newPacer()
	p.now = clock.Now
	return p, clock
}

func rlHeader(limit, remaining int, reset time.Time) http.Header {
	return http.Header{
		"X-Rate-Limit-Limit":     {strconv.Itoa(limit)},
		"X-Rate-Limit-Remaining": {strconv.Itoa(remaining)},
		"X-Rate-Limit-Reset":     {strconv.FormatInt(reset.Unix(), 10)},
	}
}

// send advances the clock to the call's slot and takes its ticket.
func send(t *testing.T, p *pacer, clock *fakeclock.Clock, class string) *ticket {
	t.Helper()
	if d, _ := delayOf(p, class); d > 0 {
		clock.Advance(d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	tk, err := p.wait(ctx, class)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return tk
}

func delayOf(p *pacer, class string) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, probe, _, _ := p.bucket(class).delay(p.now())
	return d, probe
}

func TestPacerProbesAnUnknownBucketOneCallAtATime(t *testing.T) {
	p, clock := newTestPacer()
	first := send(t, p, clock, "apps")
	if !first.probe {
		t.Fatal("first call into an unknown bucket is not a probe")
	}
	if d, _ := delayOf(p, "apps"); d <= 0 {
		t.Fatal("a second call went out while the probe was in flight")
	}
	// Another class is independent.
	if d, _ := delayOf(p, "GET users/clients"); d != 0 {
		t.Fatalf("other class delayed by %v", d)
	}
	p.observe(first, 200, rlHeader(100, 99, clock.Now().Add(60*time.Second)))
	if d, probe := delayOf(p, "apps"); d > time.Second || probe {
		t.Fatalf("after the probe: delay %v (probe %v), want one pacing interval", d, probe)
	}
}

func TestPacerWithoutHeadersDoesNotPace(t *testing.T) {
	p, clock := newTestPacer()
	tk := send(t, p, clock, "apps")
	p.observe(tk, 204, http.Header{})
	for range 10 {
		if d, _ := delayOf(p, "apps"); d != 0 {
			t.Fatalf("unmetered call delayed %v", d)
		}
		send(t, p, clock, "apps")
	}
}

func TestPacerSpacesCallsOverTheWindow(t *testing.T) {
	p, clock := newTestPacer()
	reset := clock.Now().Add(60 * time.Second)
	tk := send(t, p, clock, "apps")
	p.observe(tk, 200, rlHeader(100, 99, reset))
	// Alone in the bucket: 99 calls left, 2 in reserve, 60 s: one per ~619 ms.
	want := 60 * time.Second / 97
	p.mu.Lock()
	got := p.buckets["apps"].interval
	p.mu.Unlock()
	if math.Abs(float64(got-want)) > float64(time.Millisecond) {
		t.Fatalf("interval %v, want %v", got, want)
	}
	// The probe used up the first slot.
	if d, _ := delayOf(p, "apps"); math.Abs(float64(d-want)) > float64(time.Millisecond) {
		t.Fatalf("next call waits %v, want %v", d, want)
	}
}

func TestPacerEstimatesTheShareFromRemaining(t *testing.T) {
	p, clock := newTestPacer()
	reset := clock.Now().Add(60 * time.Second)
	remaining := 1000
	// Each of our calls sees Remaining drop by 4: three others at our pace.
	for range 12 {
		tk := send(t, p, clock, "apps")
		remaining -= 4
		p.observe(tk, 200, rlHeader(1200, remaining, reset))
	}
	p.mu.Lock()
	b := p.buckets["apps"]
	share, informed, burst, interval := b.share, b.informed, b.burst, b.interval
	budget := b.budget(clock.Now())
	p.mu.Unlock()
	if math.Abs(share-4) > 0.01 || !informed {
		t.Fatalf("share %.2f (informed %v), want 4", share, informed)
	}
	// Each of four clients spends a quarter of what is left until the reset.
	want := time.Duration(float64(reset.Sub(clock.Now())) * 4 / budget)
	if math.Abs(float64(interval-want)) > float64(time.Millisecond) {
		t.Errorf("interval %v, want %v", interval, want)
	}
	// Once the share is known, a tenth of our part may go ahead of the schedule.
	if wantBurst := math.Floor(0.1 * budget / 4); burst != wantBurst || burst < 1 {
		t.Errorf("burst %v, want %v", burst, wantBurst)
	}
}

func TestPacerWaitsForTheResetWhenTheBudgetIsSpent(t *testing.T) {
	p, clock := newTestPacer()
	reset := clock.Now().Add(10 * time.Second)
	tk := send(t, p, clock, "apps")
	p.observe(tk, 429, rlHeader(100, 0, reset))
	d, _ := delayOf(p, "apps")
	if d < 10*time.Second || d > 11*time.Second {
		t.Fatalf("delay %v, want the 10 s to the reset plus under 1 s of jitter", d)
	}
	// A deadline before the reset fails at once with the reset time.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := p.wait(ctx, "apps")
	var spent *budgetExhaustedError
	if !errors.As(err, &spent) || spent.reset.Before(reset) || spent.reset.After(reset.Add(time.Second)) {
		t.Fatalf("wait = %v, want budgetExhaustedError at %v", err, reset)
	}
	// After the reset one probe goes, then the others wait for it.
	clock.Advance(11 * time.Second)
	probe := send(t, p, clock, "apps")
	if !probe.probe {
		t.Fatal("first call after the reset is not a probe")
	}
	if d, _ := delayOf(p, "apps"); d <= 0 {
		t.Fatal("a second call went out before the probe answered")
	}
	p.observe(probe, 200, rlHeader(100, 99, clock.Now().Add(60*time.Second)))
	p.mu.Lock()
	b := p.buckets["apps"]
	p.mu.Unlock()
	if b.remaining != 99 || b.ownDone != 1 {
		t.Fatalf("new window not taken: remaining %d, own %d", b.remaining, b.ownDone)
	}
}

func TestPacerIgnoresWhatDoesNotDescribeTheWindow(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header func(now time.Time) http.Header
	}{
		{"concurrency 429", 429, func(now time.Time) http.Header { return rlHeader(0, 0, now.Add(time.Second)) }},
		{"429 with budget left", 429, func(now time.Time) http.Header { return rlHeader(100, 40, now.Add(time.Hour)) }},
		{"429 without headers", 429, func(time.Time) http.Header { return http.Header{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, clock := newTestPacer()
			tk := send(t, p, clock, "apps")
			p.observe(tk, 200, rlHeader(100, 90, clock.Now().Add(60*time.Second)))
			tk = send(t, p, clock, "apps")
			p.observe(tk, tc.status, tc.header(clock.Now()))
			p.mu.Lock()
			b := p.buckets["apps"]
			p.mu.Unlock()
			if b.limit != 100 || b.remaining != 90 || b.inflight != 0 {
				t.Fatalf("state changed: limit %d remaining %d inflight %d", b.limit, b.remaining, b.inflight)
			}
		})
	}
}

func TestPacerWindowBookkeeping(t *testing.T) {
	p, clock := newTestPacer()
	reset := clock.Now().Add(60 * time.Second)
	a, b := send(t, p, clock, "apps"), (*ticket)(nil)
	p.observe(a, 200, rlHeader(100, 50, reset))
	a, b = send(t, p, clock, "apps"), send(t, p, clock, "apps")
	// Answers out of order: the lowest Remaining wins.
	p.observe(b, 200, rlHeader(100, 40, reset))
	p.observe(a, 200, rlHeader(100, 45, reset))
	state := func() *bucket {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.buckets["apps"]
	}
	if st := state(); st.remaining != 40 || st.inflight != 0 {
		t.Fatalf("remaining %d inflight %d", st.remaining, st.inflight)
	}
	// A late answer from the previous window does not roll it back.
	clock.Set(reset.Add(time.Second))
	probe := send(t, p, clock, "apps")
	p.observe(probe, 200, rlHeader(100, 99, reset.Add(60*time.Second)))
	late := send(t, p, clock, "apps")
	p.observe(late, 200, rlHeader(100, 3, reset))
	if st := state(); st.remaining != 99 || !st.reported.Equal(reset.Add(60*time.Second)) {
		t.Fatalf("late answer changed the window: remaining %d reset %v", st.remaining, st.reported)
	}
	// A different limit is a different bucket: start over.
	tk := send(t, p, clock, "apps")
	p.observe(tk, 200, rlHeader(20, 19, reset.Add(60*time.Second)))
	if st := state(); st.limit != 20 || st.remaining != 19 {
		t.Fatalf("limit change: %+v", st)
	}
	// abandon releases without learning anything.
	tk = send(t, p, clock, "apps")
	p.abandon(tk)
	p.abandon(tk) // twice is harmless
	if st := state(); st.inflight != 0 {
		t.Fatalf("inflight %d after abandon", st.inflight)
	}
}

func TestPacerResetInThePast(t *testing.T) {
	p, clock := newTestPacer()
	tk := send(t, p, clock, "apps")
	// Whole-second Reset already passed, yet the answer counted in it.
	p.observe(tk, 200, rlHeader(100, 10, clock.Now().Add(-500*time.Millisecond)))
	p.mu.Lock()
	reset := p.buckets["apps"].reset
	p.mu.Unlock()
	if !reset.Equal(clock.Now().Add(resetSlack)) {
		t.Fatalf("reset %v, want now + %v", reset, resetSlack)
	}
}

func TestPacerCallerContextWins(t *testing.T) {
	p, clock := newTestPacer()
	tk := send(t, p, clock, "apps")
	p.observe(tk, 429, rlHeader(100, 0, clock.Now().Add(time.Hour)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.wait(ctx, "apps"); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait = %v", err)
	}
}

func TestReserve(t *testing.T) {
	for limit, want := range map[int]int{0: 1, 10: 1, 50: 1, 100: 2, 600: 12, 1200: 24} {
		if got := reserve(limit); got != want {
			t.Errorf("reserve(%d) = %d, want %d", limit, got, want)
		}
	}
}

func TestPacerProbeWaitIsNotARateLimit(t *testing.T) {
	p, clock := newTestPacer()
	send(t, p, clock, "apps") // the probe, unanswered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := p.wait(ctx, "apps")
	var spent *budgetExhaustedError
	if errors.As(err, &spent) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait = %v, want the deadline, not a rate limit", err)
	}
}

// In the first window a client sees, the others are as new as it is and may
// each spend a call on the same stale Remaining: one call per estimated
// client is kept back then, and only then (measured: without it, 10 fresh
// clients drew about one 429 each at the end of their first window).
func TestPacerKeepsACallPerClientBackInTheFirstWindow(t *testing.T) {
	p, clock := newTestPacer()
	reset := clock.Now().Add(10 * time.Second)
	remaining := 100
	for range 4 { // Remaining drops by 5 per own call: five clients
		tk := send(t, p, clock, "apps")
		remaining -= 5
		p.observe(tk, 200, rlHeader(100, remaining, reset))
	}
	p.mu.Lock()
	b := p.buckets["apps"]
	first, share := b.budget(clock.Now()), b.share
	p.mu.Unlock()
	if math.Abs(share-5) > 0.01 {
		t.Fatalf("share %.2f, want 5", share)
	}
	if want := float64(remaining - reserve(100) - 4); first != want {
		t.Errorf("first-window budget %v, want %v (remaining less the reserve less 4 others' calls)", first, want)
	}

	clock.Set(reset.Add(2 * time.Second))
	tk := send(t, p, clock, "apps")
	p.observe(tk, 200, rlHeader(100, 95, clock.Now().Add(10*time.Second)))
	p.mu.Lock()
	second := b.budget(clock.Now())
	p.mu.Unlock()
	if want := float64(95 - reserve(100)); second != want {
		t.Errorf("second-window budget %v, want %v (the reserve only)", second, want)
	}
}
