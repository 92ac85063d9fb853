package secrets

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/fakeclock"
)

const secretValue = "s3cr3t-value-never-logged"

// fakeSM is an in-memory Secrets Manager with one secret.
type fakeSM struct {
	mu     sync.Mutex
	stages map[string]string // stage -> SecretString
	binary bool              // answer with SecretBinary instead
	err    error             // returned by every call when set
	calls  map[string]int    // by stage
	gate   chan struct{}     // when set, calls block until it is closed
	ids    []string          // SecretId of each call
}

func newFake(current string) *fakeSM {
	return &fakeSM{stages: map[string]string{StageCurrent: current}, calls: map[string]int{}}
}

func (f *fakeSM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	stage := aws.ToString(in.VersionStage)
	f.calls[stage]++
	f.ids = append(f.ids, aws.ToString(in.SecretId))
	gate := f.gate
	// The answer is decided when the request arrives; the gate only delays it.
	out, err := f.answer(stage)
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, err
}

func (f *fakeSM) answer(stage string) (*secretsmanager.GetSecretValueOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.stages[stage]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret value for staging label: " + stage)}
	}
	if f.binary {
		return &secretsmanager.GetSecretValueOutput{SecretBinary: []byte(v)}, nil
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

func (f *fakeSM) set(fn func(f *fakeSM)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeSM) count(stage string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[stage]
}

// rotate makes value current and the old current previous.
func (f *fakeSM) rotate(value string) {
	f.set(func(f *fakeSM) {
		f.stages[StagePrevious] = f.stages[StageCurrent]
		f.stages[StageCurrent] = value
	})
}

// newTestCache returns a cache whose clock the test moves by hand.
func newTestCache(api API, ttl time.Duration, opts ...Option) (*Cache, *fakeclock.Clock) {
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := NewCache(api, "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-AbCdEf", ttl, opts...)
	c.now = clk.Now
	return c, clk
}

var ctx = context.Background()

func mustCurrent(t *testing.T, c *Cache) string {
	t.Helper()
	v, err := c.Current(ctx)
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return v
}

func TestCurrentTTL(t *testing.T) {
	tests := []struct {
		name      string
		advance   time.Duration
		wantValue string
		wantCalls int
	}{
		{"fresh value is cached", 59 * time.Second, "v1", 1},
		{"expired value is re-read", time.Minute, "v2", 2},
		{"long after", time.Hour, "v2", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFake("v1")
			c, clk := newTestCache(api, time.Minute)
			if got := mustCurrent(t, c); got != "v1" {
				t.Fatalf("first read = %q", got)
			}
			api.rotate("v2")
			clk.Advance(tt.advance)
			if got := mustCurrent(t, c); got != tt.wantValue {
				t.Errorf("after %s: %q, want %q", tt.advance, got, tt.wantValue)
			}
			if n := api.count(StageCurrent); n != tt.wantCalls {
				t.Errorf("%d GetSecretValue calls, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestDefaultTTL(t *testing.T) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		if c := NewCache(newFake("v"), "id", ttl); c.ttl != DefaultTTL {
			t.Errorf("NewCache(ttl=%s).ttl = %s, want %s", ttl, c.ttl, DefaultTTL)
		}
	}
}

func TestSingleFlight(t *testing.T) {
	api := newFake("v1")
	api.gate = make(chan struct{})
	c, _ := newTestCache(api, time.Minute)

	const readers = 50
	var wg sync.WaitGroup
	values := make(chan string, readers)
	for range readers {
		wg.Go(func() {
			v, err := c.Current(ctx)
			if err != nil {
				t.Error(err)
			}
			values <- v
		})
	}
	// Readers that arrive after the fetch finished read the cache, so the
	// call count is 1 whichever way the goroutines are scheduled.
	close(api.gate)
	wg.Wait()
	close(values)
	for v := range values {
		if v != "v1" {
			t.Fatalf("reader got %q", v)
		}
	}
	if n := api.count(StageCurrent); n != 1 {
		t.Fatalf("%d GetSecretValue calls for %d concurrent readers, want 1", n, readers)
	}
}

func TestCancelledReaderDoesNotFailOthers(t *testing.T) {
	api := newFake("v1")
	api.gate = make(chan struct{})
	c, _ := newTestCache(api, time.Minute)

	cancelled, cancel := context.WithCancel(ctx)
	first := make(chan error, 1)
	go func() {
		_, err := c.Current(cancelled)
		first <- err
	}()
	// Wait until the first reader's fetch is in flight, then give up on it.
	for api.count(StageCurrent) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled reader: %v, want context.Canceled", err)
	}
	second := make(chan string, 1)
	go func() { second <- mustCurrent(t, c) }()
	close(api.gate)
	if v := <-second; v != "v1" {
		t.Fatalf("second reader got %q", v)
	}
	if n := api.count(StageCurrent); n != 1 {
		t.Fatalf("%d calls, want 1: the second reader should share the first fetch", n)
	}
}

func TestInvalidate(t *testing.T) {
	api := newFake("v1")
	c, _ := newTestCache(api, time.Hour)
	mustCurrent(t, c)
	api.rotate("v2")
	if got := mustCurrent(t, c); got != "v1" {
		t.Fatalf("before Invalidate: %q, want the cached v1", got)
	}
	c.Invalidate()
	if got := mustCurrent(t, c); got != "v2" {
		t.Fatalf("after Invalidate: %q, want v2", got)
	}
	if prev, ok, err := c.Previous(ctx); err != nil || !ok || prev != "v1" {
		t.Fatalf("Previous = %q, %v, %v; want v1", prev, ok, err)
	}
	if n := api.count(StageCurrent); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}

func TestInvalidateDuringFetch(t *testing.T) {
	// A fetch that started before Invalidate may return the old value; it
	// must not be cached, and readers after Invalidate must not join it.
	api := newFake("old")
	api.gate = make(chan struct{})
	c, _ := newTestCache(api, time.Hour)
	inFlight := make(chan string, 1)
	go func() { inFlight <- mustCurrent(t, c) }()
	for api.count(StageCurrent) == 0 {
		time.Sleep(time.Millisecond)
	}
	c.Invalidate()
	gate := api.gate
	api.set(func(f *fakeSM) { f.stages[StageCurrent] = "new"; f.gate = nil })
	if got := mustCurrent(t, c); got != "new" {
		t.Fatalf("read after Invalidate = %q, want new", got)
	}
	close(gate)
	if got := <-inFlight; got != "old" {
		t.Fatalf("in-flight read = %q, want old", got)
	}
	if got := mustCurrent(t, c); got != "new" {
		t.Fatalf("cached value = %q, want new (the stale fetch must not be stored)", got)
	}
	if n := api.count(StageCurrent); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}

func TestPrevious(t *testing.T) {
	tests := []struct {
		name      string
		stages    map[string]string
		apiErr    error
		wantValue string
		wantOK    bool
		wantErr   bool
	}{
		{"present", map[string]string{StageCurrent: "new", StagePrevious: "old"}, nil, "old", true, false},
		{"absent", map[string]string{StageCurrent: "new"}, nil, "", false, false},
		{"access denied is an error", nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFake("")
			api.set(func(f *fakeSM) { f.stages = tt.stages; f.err = tt.apiErr })
			c, clk := newTestCache(api, time.Minute)
			for range 2 { // the second read, absent or not, comes from the cache
				v, ok, err := c.Previous(ctx)
				if v != tt.wantValue || ok != tt.wantOK || (err != nil) != tt.wantErr {
					t.Fatalf("Previous = %q, %v, %v; want %q, %v, error %v", v, ok, err, tt.wantValue, tt.wantOK, tt.wantErr)
				}
			}
			wantCalls := 1
			if tt.wantErr {
				wantCalls = 2 // errors are not cached
			}
			if n := api.count(StagePrevious); n != wantCalls {
				t.Errorf("%d calls, want %d", n, wantCalls)
			}
			// A rotation after the TTL shows up.
			api.set(func(f *fakeSM) {
				f.err = nil
				f.stages = map[string]string{StageCurrent: "newer", StagePrevious: "new"}
			})
			clk.Advance(time.Minute)
			if v, ok, err := c.Previous(ctx); v != "new" || !ok || err != nil {
				t.Fatalf("after rotation: %q, %v, %v", v, ok, err)
			}
		})
	}
}

func TestStaleOnRefreshFailure(t *testing.T) {
	outage := &smithy.GenericAPIError{Code: "InternalServiceError", Message: "try later", Fault: smithy.FaultServer}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))

	tests := []struct {
		name     string
		maxStale time.Duration
		advance  []time.Duration // clock steps, each followed by a read
		want     []bool          // read succeeds with the stale value
		calls    int             // total calls after the first (successful) one
	}{
		{"served within max stale, retries spaced out", 10 * time.Minute,
			[]time.Duration{time.Minute, time.Second, 5 * time.Second, 10 * time.Minute},
			[]bool{true, true, true, false}, 3},
		{"disabled", 0, []time.Duration{time.Minute}, []bool{false}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			api := newFake(secretValue)
			c, clk := newTestCache(api, time.Minute, WithMaxStale(tt.maxStale), WithLogger(logger))
			mustCurrent(t, c)
			api.set(func(f *fakeSM) { f.err = outage })
			for i, step := range tt.advance {
				clk.Advance(step)
				v, err := c.Current(ctx)
				if tt.want[i] {
					if err != nil || v != secretValue {
						t.Fatalf("read %d: %v, want the stale value", i, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("read %d succeeded, want an error", i)
				}
				if !errors.Is(err, outage) {
					t.Errorf("read %d: %v does not wrap the SDK error", i, err)
				}
			}
			if n := api.count(StageCurrent) - 1; n != tt.calls {
				t.Errorf("%d refresh calls, want %d", n, tt.calls)
			}
			if tt.maxStale > 0 && !strings.Contains(logs.String(), "serving the cached value") {
				t.Errorf("no warning logged: %s", logs.String())
			}
			if strings.Contains(logs.String(), secretValue) {
				t.Fatalf("log contains the secret value: %s", logs.String())
			}
			// Recovery: the next read after the outage gets a fresh value.
			api.set(func(f *fakeSM) { f.err = nil; f.stages[StageCurrent] = "recovered" })
			clk.Advance(10 * time.Second)
			if got := mustCurrent(t, c); got != "recovered" {
				t.Fatalf("after recovery: %q", got)
			}
		})
	}
}

// TestStaleWhileRefreshHangs: a Secrets Manager that hangs rather than
// refusing must not hold back a value that may be served stale: the hook
// has 1 s to authenticate a call, a hanging read takes the SDK 10 s.
func TestStaleWhileRefreshHangs(t *testing.T) {
	tests := []struct {
		name    string
		expire  func(*Cache, *fakeclock.Clock)
		timeout time.Duration // the caller's
	}{
		{"TTL over", func(_ *Cache, clk *fakeclock.Clock) { clk.Advance(2 * time.Minute) }, time.Second},
		{"expired by a wrong header", func(c *Cache, _ *fakeclock.Clock) { c.Expire() }, time.Second},
		{"the caller gives up first", func(_ *Cache, clk *fakeclock.Clock) { clk.Advance(2 * time.Minute) }, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			api := newFake(secretValue)
			c, clk := newTestCache(api, time.Minute, WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			mustCurrent(t, c)
			gate := make(chan struct{})
			api.set(func(f *fakeSM) { f.gate = gate; f.stages[StageCurrent] = "rotated" })
			tt.expire(c, clk)
			for i := range 2 {
				rctx, cancel := context.WithTimeout(ctx, tt.timeout)
				v, err := c.Current(rctx)
				cancel()
				if err != nil || v != secretValue {
					t.Fatalf("read %d during the hang: %q, %v; want the cached value", i, v, err)
				}
			}
			if n := api.count(StageCurrent); n != 2 {
				t.Errorf("%d calls, want 2: the first read and one refresh, shared", n)
			}
			if !strings.Contains(logs.String(), "serving the cached value") || strings.Contains(logs.String(), secretValue) {
				t.Errorf("logs: %s", logs.String())
			}
			// The refresh ends: its value replaces the stale one.
			close(gate)
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if v := mustCurrent(t, c); v == "rotated" {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("after the refresh: %q", v)
				}
			}
		})
	}
}

// TestExpireWaitsForASlowRefresh: Expire means a rotation is suspected,
// so a slow but answering Secrets Manager must deliver the new value, not
// the one the caller distrusts.
func TestExpireWaitsForASlowRefresh(t *testing.T) {
	api := newFake(secretValue)
	c, _ := newTestCache(api, time.Minute)
	mustCurrent(t, c)
	gate := make(chan struct{})
	api.set(func(f *fakeSM) { f.gate = gate; f.stages[StageCurrent] = "rotated" })
	c.Expire()
	time.AfterFunc(2*staleWait, func() { close(gate) })
	rctx, cancel := context.WithTimeout(ctx, 10*staleWait)
	defer cancel()
	if v, err := c.Current(rctx); err != nil || v != "rotated" {
		t.Fatalf("Current after Expire = %q, %v; want the rotated value", v, err)
	}
}

func TestNoStaleAfterInvalidate(t *testing.T) {
	api := newFake(secretValue)
	c, _ := newTestCache(api, time.Minute, WithMaxStale(time.Hour))
	mustCurrent(t, c)
	api.set(func(f *fakeSM) { f.err = errors.New("connection refused") })
	c.Invalidate()
	if _, err := c.Current(ctx); err == nil {
		t.Fatal("Current served the invalidated value while Secrets Manager fails")
	}
}

func TestExpire(t *testing.T) {
	api := newFake("v1")
	c, clk := newTestCache(api, time.Hour, WithMaxStale(15*time.Minute))
	mustCurrent(t, c)

	// A suspected rotation: the next read goes to Secrets Manager.
	api.rotate("v2")
	c.Expire()
	if got := mustCurrent(t, c); got != "v2" {
		t.Fatalf("after Expire: %q, want v2 read from the store", got)
	}
	if n := api.count(StageCurrent); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}

	// Unlike Invalidate, a failed re-read still serves the cached value.
	api.set(func(f *fakeSM) { f.err = errors.New("connection refused") })
	c.Expire()
	if got := mustCurrent(t, c); got != "v2" {
		t.Fatalf("after Expire with Secrets Manager down: %q, want the cached v2", got)
	}
	calls := api.count(StageCurrent)
	if calls != 3 {
		t.Fatalf("%d calls, want 3: Expire must force a re-read", calls)
	}
	// The next read must not hammer Secrets Manager again.
	mustCurrent(t, c)
	if n := api.count(StageCurrent); n != calls {
		t.Fatalf("%d calls, want %d: the failed re-read is retried only after a pause", n, calls)
	}
	// Stale is bounded by the TTL plus MaxStale from the value's read.
	clk.Advance(time.Hour + 15*time.Minute)
	if _, err := c.Current(ctx); err == nil {
		t.Fatal("Current served a value past TTL+MaxStale")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *fakeSM)
		wantIn []string
		wantAs any
	}{
		{
			name: "sdk error wrapped with id and stage",
			setup: func(f *fakeSM) {
				f.err = &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
			},
			wantIn: []string{"okta-AbCdEf", "AWSCURRENT", "can't find the specified secret"},
			wantAs: new(*types.ResourceNotFoundException),
		},
		{
			name:   "binary secret",
			setup:  func(f *fakeSM) { f.binary = true },
			wantIn: []string{"binary secret", "SecretString", "okta-AbCdEf"},
		},
		{
			name:   "empty secret",
			setup:  func(f *fakeSM) { f.stages[StageCurrent] = "" },
			wantIn: []string{"empty SecretString"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFake(secretValue)
			api.set(tt.setup)
			c, _ := newTestCache(api, time.Minute)
			v, err := c.Current(ctx)
			if err == nil || v != "" {
				t.Fatalf("Current = %q, %v; want an error", v, err)
			}
			for _, want := range tt.wantIn {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Fatalf("error contains the secret value: %v", err)
			}
			if tt.wantAs != nil && !errors.As(err, tt.wantAs) {
				t.Errorf("error %v does not unwrap to %T", err, tt.wantAs)
			}
		})
	}
}

func TestCancelledContext(t *testing.T) {
	api := newFake("v")
	api.gate = make(chan struct{})
	defer close(api.gate)
	c, _ := newTestCache(api, time.Minute)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err := c.Current(cctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "okta-AbCdEf") {
		t.Fatalf("Current = %v, want a deadline error naming the secret", err)
	}
}

func TestRequestsNameTheSecret(t *testing.T) {
	api := newFake("v")
	c, _ := newTestCache(api, time.Minute)
	mustCurrent(t, c)
	if len(api.ids) != 1 || api.ids[0] != c.SecretID() {
		t.Fatalf("SecretId sent = %v, want %q", api.ids, c.SecretID())
	}
}

func BenchmarkCurrentCached(b *testing.B) {
	c := NewCache(newFake("v"), "id", time.Hour)
	if _, err := c.Current(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Current(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
