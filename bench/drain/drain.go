// Package drain measures how well Okta clients share one rate-limited
// bucket: N queued user-wide revocations are drained through K execution
// environments, each with its own client and its own workers, that share
// nothing but the fake Okta org's bucket (as Lambda environments share
// nothing but Okta's headers). The benchmark in drain_test.go runs it for
// internal/okta and for the okta-sdk-golang strategy (bench/sdkbaseline)
// side by side.
package drain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Defaults of Config.
const (
	// DefaultWorkers is revoke-tokens' default REVOKE_CONCURRENCY.
	DefaultWorkers = 4
	// DefaultDeadline is RevokeTokensFunction's timeout: the longest a
	// revocation may wait for Okta before it fails and is redelivered.
	DefaultDeadline = 60 * time.Second
	// DefaultMaxAttempts bounds the deliveries of one revocation (the
	// queue's maxReceiveCount); more means the drain failed.
	DefaultMaxAttempts = 5
)

// Config configures a drain.
type Config struct {
	// Org is the fake Okta org; its Bucket must have a rate limit.
	Org    *oktafake.Server
	Bucket oktafake.Bucket
	// Users get one user-wide revocation each. Their tokens must exist in
	// Org; Run checks that none is left afterwards.
	Users []string
	// Environments is K, the execution environments.
	Environments int
	// Workers is the revocations each environment runs at once; default
	// DefaultWorkers.
	Workers int
	// NewClient returns the Okta client of one environment; it is called
	// once per environment and must share nothing with the others.
	NewClient func() (revocation.OktaAPI, error)
	// Deadline bounds one revocation; default DefaultDeadline.
	Deadline time.Duration
	// MaxAttempts bounds the deliveries of one revocation; default
	// DefaultMaxAttempts.
	MaxAttempts int
}

// Result is what a drain measured.
type Result struct {
	Duration    time.Duration // first revocation taken to last one done
	Revocations int
	// Redelivered counts revocations that failed (rate limited past their
	// deadline, retries exhausted, 5xx) and went back on the queue.
	Redelivered int
	// Calls counts the calls the bucket saw, RateLimited those answered
	// 429 because it was exhausted.
	Calls, RateLimited int
	// Windows are the bucket's windows during the drain.
	Windows []oktafake.RateLimitWindow
	// Steady is the share of the bucket used in steady state.
	Steady Share
}

// RateLimitedShare is the share of calls answered 429.
func (r Result) RateLimitedShare() float64 {
	if r.Calls == 0 {
		return 0
	}
	return float64(r.RateLimited) / float64(r.Calls)
}

// Run drains one user-wide revocation per user through cfg.Environments
// environments and reports what the bucket saw. The bucket's window
// history starts afresh.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Org == nil || cfg.NewClient == nil || cfg.Environments < 1 || len(cfg.Users) == 0 {
		return Result{}, errors.New("drain: Org, NewClient, Environments >= 1 and Users are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultDeadline
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	limit, _, _ := cfg.Org.RateLimitState(cfg.Bucket)
	if limit == 0 {
		return Result{}, fmt.Errorf("drain: bucket %q has no rate limit", cfg.Bucket)
	}
	// Fresh windows: only this drain's calls are counted.
	win := cfg.Org.RateLimitWindows(cfg.Bucket)
	if len(win) > 0 {
		return Result{}, fmt.Errorf("drain: bucket %q already has %d windows; set its rate limit again before each drain", cfg.Bucket, len(win))
	}

	executors := make([]*revocation.Executor, cfg.Environments)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range executors {
		client, err := cfg.NewClient()
		if err != nil {
			return Result{}, fmt.Errorf("drain: client of environment %d: %w", i, err)
		}
		if executors[i], err = revocation.NewExecutor(revocation.ExecutorConfig{Okta: client, Logger: quiet}); err != nil {
			return Result{}, err
		}
	}

	type job struct {
		user     string
		attempts int
	}
	queue := make(chan job, len(cfg.Users))
	for _, u := range cfg.Users {
		queue <- job{user: u}
	}
	var (
		left        atomic.Int64
		redelivered atomic.Int64
		failOnce    sync.Once
		failure     error
	)
	left.Store(int64(len(cfg.Users)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		failOnce.Do(func() { failure = err; cancel() })
	}
	done := func() {
		if left.Add(-1) == 0 {
			close(queue)
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	for _, exec := range executors {
		for range cfg.Workers {
			wg.Go(func() {
				for {
					var j job
					select {
					case j = <-queue:
					case <-ctx.Done():
						return
					}
					if j.user == "" {
						return // closed: all done
					}
					jctx, jcancel := context.WithTimeout(ctx, cfg.Deadline)
					_, err := exec.Execute(jctx, revocation.Request{UserID: j.user})
					jcancel()
					switch {
					case err == nil:
						done()
					case ctx.Err() != nil:
						return
					case okta.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded):
						j.attempts++
						if j.attempts >= cfg.MaxAttempts {
							fail(fmt.Errorf("drain: revocation for %s failed %d times: %w", j.user, j.attempts, err))
							return
						}
						redelivered.Add(1)
						queue <- j // room: it held this job a moment ago
					default:
						fail(fmt.Errorf("drain: revocation for %s: %w", j.user, err))
						return
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failure != nil {
		return Result{}, failure
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("drain: %w", err)
	}
	if active := cfg.Org.ActiveTokens("", ""); len(active) > 0 {
		return Result{}, fmt.Errorf("drain: %d tokens still active after the drain", len(active))
	}

	res := Result{
		Duration:    elapsed,
		Revocations: len(cfg.Users),
		Redelivered: int(redelivered.Load()),
		Windows:     cfg.Org.RateLimitWindows(cfg.Bucket),
	}
	for _, w := range res.Windows {
		res.Calls += w.Used + w.Rejected
		res.RateLimited += w.Rejected
	}
	res.Steady = SteadyShare(res.Windows)
	return res, nil
}

// Share is the share of a bucket's capacity that calls used.
type Share struct {
	// Windows counts the windows measured: all but the first (clients
	// start knowing nothing) and the last (the queue runs dry).
	Windows int
	// Used counts the calls those windows allowed, Rejected those they
	// answered 429.
	Used, Rejected int
	// Fill is Used over the windows' limits: how full the windows were.
	Fill float64
	// Idle is the time between the end of a window and the first call of
	// the next, when the bucket was full and nobody used it.
	Idle time.Duration
	// Share is Used over the capacity of the whole span, idle time
	// included: a window's capacity is its limit, and idle time before it
	// is capacity at that window's rate, lost. 1 means every call the
	// bucket would have allowed was made.
	Share float64
}

// SteadyShare measures the share of the bucket used in steady state, from
// the bucket's windows (oldest first).
func SteadyShare(ws []oktafake.RateLimitWindow) Share {
	var s Share
	if len(ws) < 3 {
		return s
	}
	var limits, capacity float64
	for i := 1; i < len(ws)-1; i++ {
		w := ws[i]
		length := w.End.Sub(w.Start)
		if length <= 0 || w.Limit <= 0 {
			continue
		}
		idle := max(w.Start.Sub(ws[i-1].End), 0)
		s.Windows++
		s.Used += w.Used
		s.Rejected += w.Rejected
		s.Idle += idle
		limits += float64(w.Limit)
		capacity += float64(w.Limit) * float64(length+idle) / float64(length)
	}
	if s.Windows > 0 {
		s.Fill = float64(s.Used) / limits
		s.Share = float64(s.Used) / capacity
	}
	return s
}
