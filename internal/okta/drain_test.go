package okta

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

// windowMeter sits in front of the fake Okta and counts the calls each
// rate-limit window let through, keyed by the window's X-Rate-Limit-Reset,
// and the calls answered 429.
type windowMeter struct {
	next http.Handler

	mu          sync.Mutex
	perWindow   map[string]int
	ok, limited int
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (m *windowMeter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	m.next.ServeHTTP(sw, r)
	reset := w.Header().Get("X-Rate-Limit-Reset")
	if reset == "" || w.Header().Get("X-Rate-Limit-Limit") == "0" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sw.status == http.StatusTooManyRequests {
		m.limited++
		return
	}
	m.ok++
	m.perWindow[reset]++
}

// drainStats summarises a drain: the share of the bucket used in the
// windows wholly inside the run (all but the first and the last), and the
// share of calls answered 429.
type drainStats struct {
	used, rejected float64
	windows        int
}

func (m *windowMeter) stats(limit int) drainStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	var first, last string
	for reset := range m.perWindow {
		// Resets are epoch seconds of equal length: string order is time order.
		if first == "" || reset < first {
			first = reset
		}
		if reset > last {
			last = reset
		}
	}
	var st drainStats
	var sum int
	for reset, n := range m.perWindow {
		if reset != first && reset != last {
			sum += n
			st.windows++
		}
	}
	if st.windows > 0 {
		st.used = float64(sum) / float64(st.windows*limit)
	}
	if total := m.ok + m.limited; total > 0 {
		st.rejected = float64(m.limited) / float64(total)
	}
	return st
}

// drainSetup starts a fake org whose buckets allow limit calls per window,
// seeded with one token for each of jobs users, behind a windowMeter.
func drainSetup(tb testing.TB, limit int, window time.Duration, jobs int) (*oktafake.Server, *windowMeter, string) {
	fake := oktafake.NewHandler(oktafake.WithRateLimit(limit, window))
	for i := range jobs {
		fake.AddToken(drainUser(i), "0oaDrainClient")
	}
	meter := &windowMeter{next: fake.Handler(), perWindow: make(map[string]int)}
	srv := httptest.NewServer(meter)
	tb.Cleanup(srv.Close)
	return fake, meter, srv.URL
}

func drainUser(i int) string { return fmt.Sprintf("00u%017d", i) }

// drain revokes the tokens of jobs users through k independent clients
// (each standing for one Lambda execution environment, with workers
// goroutines) that share nothing but the fake's rate-limit bucket.
func drain(tb testing.TB, url string, k, workers, jobs int) error {
	queue := make(chan int, jobs)
	for i := range jobs {
		queue <- i
	}
	close(queue)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, k*workers)
	for range k {
		c := testClient(tb, url, StaticCredentials(Credentials{APIToken: oktafake.DefaultAPIToken}), func(cfg *Config) { cfg.MaxAttempts = 10 })
		for range workers {
			wg.Go(func() {
				for i := range queue {
					if err := c.RevokeUserClientTokens(ctx, drainUser(i), "0oaDrainClient"); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// TestDrainRevokesEverythingThroughIndependentClients checks what the
// benchmark measures for correctness only: every token revoked, no error,
// whatever the 429s on the way.
func TestDrainRevokesEverythingThroughIndependentClients(t *testing.T) {
	const jobs = 120
	fake, _, url := drainSetup(t, 100, time.Second, jobs)
	if err := drain(t, url, 4, 3, jobs); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if left := fake.ActiveTokens("", "0oaDrainClient"); len(left) != 0 {
		t.Fatalf("%d tokens still active", len(left))
	}
	if bad := fake.MalformedRequests(); len(bad) != 0 {
		t.Fatalf("malformed requests: %+v", bad)
	}
}

// BenchmarkDrain drains 400 revocations against the fake Okta
// (internal/oktafake) with a rate limit of 50 calls per 1 s window (the
// fake rounds each window's end up to a whole second, so windows last 1-2
// s), through 1, 4 and 10 independent clients of 4 workers each, and
// reports the share of the bucket used in steady state (bucket-used, goal
// >= 0.90) and the share of calls answered 429 (429-share, goal < 0.02).
// Run it with:
//
//	go test -run '^$' -bench BenchmarkDrain -benchtime 1x ./internal/okta
//
// Each sub-benchmark takes 10-15 s of wall time.
func BenchmarkDrain(b *testing.B) {
	const limit, jobs = 50, 400
	for _, k := range []int{1, 4, 10} {
		b.Run(fmt.Sprintf("clients=%d", k), func(b *testing.B) {
			var used, rejected float64
			for range b.N {
				fake, meter, url := drainSetup(b, limit, time.Second, jobs)
				if err := drain(b, url, k, 4, jobs); err != nil {
					b.Fatal(err)
				}
				if left := fake.ActiveTokens("", "0oaDrainClient"); len(left) != 0 {
					b.Fatalf("%d tokens still active", len(left))
				}
				st := meter.stats(limit)
				used += st.used
				rejected += st.rejected
			}
			b.ReportMetric(used/float64(b.N), "bucket-used")
			b.ReportMetric(rejected/float64(b.N), "429-share")
		})
	}
}
