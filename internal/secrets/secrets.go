// Package secrets reads secrets from AWS Secrets Manager through a small
// in-memory cache.
//
// Why not github.com/aws/aws-secretsmanager-caching-go: it refreshes by
// calling DescribeSecret and then GetSecretValue by version id, so the
// function's role would also need secretsmanager:DescribeSecret (SAM's
// AWSSecretsManagerGetSecretValuePolicy grants only GetSecretValue), and it
// has no way to drop a value the caller knows is bad (after Okta answers
// 401). This cache needs only GetSecretValue, reads by version stage, and
// has Invalidate.
//
// Behaviour:
//   - A value is served from memory for the TTL, then re-read. Concurrent
//     readers of an expired value share one GetSecretValue call.
//   - If re-reading fails, or has not answered within 300 ms of the TTL's
//     end (or, after Expire, before the caller's context ended), the
//     previous value keeps being served for up to MaxStale past its TTL
//     (default DefaultMaxStale), retrying at most every few seconds, so a
//     brief Secrets Manager outage, refusing or hanging, does not take the
//     function down. A warning is logged; the value never is.
//   - Invalidate drops the cached values: the next read goes to Secrets
//     Manager, and since the caller distrusts the old value, it is not served
//     stale if that read fails.
//   - Expire makes the next read go to Secrets Manager too, but keeps the
//     cached values to serve (within MaxStale) if that read fails: for a
//     caller that only suspects a rotation, such as a hook seeing a wrong
//     header, which anyone can send.
//   - Only SecretString secrets are supported; an empty or binary secret is
//     an error.
//   - Errors name the secret id and version stage and wrap the SDK error;
//     they never contain a secret value.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/sync/singleflight"
)

// API is the part of *secretsmanager.Client the cache uses.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Version stages read by the cache.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// Defaults.
const (
	// DefaultTTL is used when NewCache is given a TTL <= 0.
	DefaultTTL = 5 * time.Minute
	// DefaultMaxStale is how long past its TTL a value may be served while
	// re-reading it fails.
	DefaultMaxStale = 15 * time.Minute
	// retryStaleAfter spaces out re-reads while a stale value is served.
	retryStaleAfter = 5 * time.Second
	// staleWait is how long a read waits on a refresh before serving the
	// cached value stale: above Secrets Manager's usual answer, and short
	// enough for two such waits (the current and the previous version)
	// within the hook's 1 s budget to authenticate a call.
	staleWait = 300 * time.Millisecond
	// fetchTimeout bounds one GetSecretValue (with the SDK's retries). The
	// fetch does not follow the first caller's cancellation, since other
	// callers may be waiting on it.
	fetchTimeout = 10 * time.Second
)

// Option configures a Cache.
type Option func(*Cache)

// WithMaxStale sets how long past its TTL a value may still be served when
// re-reading it fails; 0 disables serving stale values.
func WithMaxStale(d time.Duration) Option {
	return func(c *Cache) { c.maxStale = max(d, 0) }
}

// WithLogger sets the logger for stale-value warnings (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *Cache) { c.logger = l }
}

// Cache is a cached reader of one secret's AWSCURRENT and AWSPREVIOUS
// values. It is safe for concurrent use.
type Cache struct {
	api      API
	secretID string
	ttl      time.Duration
	maxStale time.Duration
	logger   *slog.Logger
	now      func() time.Time

	flights singleflight.Group

	mu     sync.Mutex
	gen    uint64            // incremented by Invalidate; fetches of older generations are discarded
	stages map[string]*entry // by version stage
}

type entry struct {
	value     string
	present   bool      // false: the stage has no version (only for AWSPREVIOUS)
	created   time.Time // the version's CreatedDate; zero when not given
	fetchedAt time.Time
	retryAt   time.Time // while serving stale: no re-read before this
	expired   bool      // set by Expire: re-read now, but still serve stale
}

func (e *entry) result() result { return result{e.value, e.present, e.created} }

// NewCache returns a cache for the secret secretID (name or ARN) whose
// values are re-read after ttl (DefaultTTL if ttl <= 0). Nothing is read
// until the first call.
func NewCache(api API, secretID string, ttl time.Duration, opts ...Option) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	c := &Cache{
		api:      api,
		secretID: secretID,
		ttl:      ttl,
		maxStale: DefaultMaxStale,
		now:      time.Now,
		stages:   map[string]*entry{},
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// SecretID is the id (name or ARN) of the cached secret.
func (c *Cache) SecretID() string { return c.secretID }

// Current returns the secret's AWSCURRENT value.
func (c *Cache) Current(ctx context.Context) (string, error) {
	r, err := c.read(ctx, StageCurrent)
	return r.value, err
}

// CurrentCreated returns when the AWSCURRENT version was created (its
// CreatedDate): how long a rotation has been in place. Zero when Secrets
// Manager did not say.
func (c *Cache) CurrentCreated(ctx context.Context) (time.Time, error) {
	r, err := c.read(ctx, StageCurrent)
	return r.created, err
}

// Previous returns the secret's AWSPREVIOUS value; ok is false when there
// is none (the secret was never rotated). Secrets Manager cannot tell a
// missing stage from a missing secret, so a missing secret also gives
// ok=false here; Current reports it as an error.
func (c *Cache) Previous(ctx context.Context) (value string, ok bool, err error) {
	r, err := c.read(ctx, StagePrevious)
	return r.value, r.present, err
}

// Invalidate drops the cached values, so the next read goes to Secrets
// Manager. Call it when the value was rejected (for example after a 401),
// to pick up a rotation before the TTL ends.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.stages)
}

// Expire makes the next read of each cached value go to Secrets Manager,
// as if its TTL had ended: if that read fails, the cached value is still
// served as a stale one (within MaxStale of its TTL). Call it when a
// rotation is only suspected, for example when a caller presents a secret
// that does not match; use Invalidate when the value is known to be bad.
func (c *Cache) Expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.stages {
		e.expired = true
		e.retryAt = time.Time{}
	}
}

type result struct {
	value   string
	present bool
	created time.Time
}

func (c *Cache) read(ctx context.Context, stage string) (result, error) {
	c.mu.Lock()
	if r, ok := c.cached(stage); ok {
		c.mu.Unlock()
		return r, nil
	}
	gen := c.gen
	c.mu.Unlock()

	// The fetch outlives a cancelled caller, since others may share it;
	// it keeps ctx's values (request id, trace) for logs.
	fetchCtx := context.WithoutCancel(ctx)
	key := stage + "/" + strconv.FormatUint(gen, 10)
	ch := c.flights.DoChan(key, func() (any, error) {
		// A flight that ended between the check above and this one has
		// stored its value: do not read again.
		c.mu.Lock()
		r, ok := c.cached(stage)
		ok = ok && gen == c.gen
		c.mu.Unlock()
		if ok {
			return r, nil
		}
		return c.refresh(fetchCtx, stage, gen)
	})
	// A value that may be served stale is not held back for long by a
	// refresh that hangs (Secrets Manager unreachable rather than
	// refusing): once its TTL is over, after staleWait; when Expire asked
	// for the re-read (a rotation is suspected, the new value is wanted),
	// only when the caller gives up. Then it is served while the refresh
	// goes on in the background.
	var slow <-chan time.Time
	if c.waitBeforeStale(stage, gen) {
		timer := time.NewTimer(staleWait)
		defer timer.Stop()
		slow = timer.C
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return result{}, r.Err
		}
		return r.Val.(result), nil
	case <-slow:
	case <-ctx.Done():
	}
	if r, ok := c.serveStale(ctx, stage, gen); ok {
		return r, nil
	}
	if ctx.Err() == nil {
		// The stale value went past MaxStale (or was invalidated) while
		// waiting: wait for the refresh after all.
		select {
		case r := <-ch:
			if r.Err != nil {
				return result{}, r.Err
			}
			return r.Val.(result), nil
		case <-ctx.Done():
		}
	}
	return result{}, fmt.Errorf("secrets: read %s (%s): %w", c.secretID, stage, ctx.Err())
}

// cached returns stage's value if it may be served without a re-read:
// within its TTL and not expired, or stale while re-reads are spaced out.
// Called with c.mu held.
func (c *Cache) cached(stage string) (result, bool) {
	e := c.stages[stage]
	if e == nil {
		return result{}, false
	}
	now := c.now()
	age := now.Sub(e.fetchedAt)
	if (age < c.ttl && !e.expired) || (now.Before(e.retryAt) && age < c.ttl+c.maxStale) {
		return e.result(), true
	}
	return result{}, false
}

// servable returns stage's entry if it is of generation gen and may still
// be served stale (within MaxStale past its TTL). Called with c.mu held.
func (c *Cache) servable(stage string, gen uint64, now time.Time) *entry {
	e := c.stages[stage]
	if e == nil || gen != c.gen || now.Sub(e.fetchedAt) >= c.ttl+c.maxStale {
		return nil
	}
	return e
}

// waitBeforeStale reports whether a read of stage should wait only
// staleWait on a refresh: its value may be served stale and its TTL is
// over (not merely expired by Expire).
func (c *Cache) waitBeforeStale(stage string, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	e := c.servable(stage, gen, now)
	return e != nil && now.Sub(e.fetchedAt) >= c.ttl
}

// serveStale returns stage's cached value while a refresh is slow, if it
// may still be served.
func (c *Cache) serveStale(ctx context.Context, stage string, gen uint64) (result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if r, ok := c.cached(stage); ok {
		// Refreshed meanwhile, or another reader already serves it stale.
		return r, true
	}
	e := c.servable(stage, gen, now)
	if e == nil {
		return result{}, false
	}
	c.servingStale(ctx, e, stage, now, "secrets: refresh is slow, serving the cached value")
	return e.result(), true
}

// servingStale spaces out the next re-reads of e (reads meanwhile get the
// stale value at once) and warns, without the value. Called with c.mu held.
func (c *Cache) servingStale(ctx context.Context, e *entry, stage string, now time.Time, msg string, attrs ...slog.Attr) {
	e.retryAt = now.Add(retryStaleAfter)
	c.log().LogAttrs(ctx, slog.LevelWarn, msg, append([]slog.Attr{
		slog.String("resource", c.secretID),
		slog.String("stage", stage),
		slog.Duration("age", now.Sub(e.fetchedAt)),
	}, attrs...)...)
}

// refresh reads stage from Secrets Manager and stores it, unless the cache
// was invalidated meanwhile. If the read fails and a recent enough value is
// cached, that value is served instead.
func (c *Cache) refresh(ctx context.Context, stage string, gen uint64) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	fetched, err := c.fetch(ctx, stage)

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	current := gen == c.gen
	if err != nil {
		e := c.servable(stage, gen, now)
		if e == nil {
			return result{}, err
		}
		c.servingStale(ctx, e, stage, now, "secrets: refresh failed, serving the cached value", slog.String("error", err.Error()))
		return e.result(), nil
	}
	if current {
		c.stages[stage] = &entry{value: fetched.value, present: fetched.present, created: fetched.created, fetchedAt: now}
	}
	return fetched, nil
}

func (c *Cache) fetch(ctx context.Context, stage string) (result, error) {
	out, err := c.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     &c.secretID,
		VersionStage: &stage,
	})
	if err != nil {
		var notFound *types.ResourceNotFoundException
		if stage == StagePrevious && errors.As(err, &notFound) {
			return result{}, nil
		}
		return result{}, fmt.Errorf("secrets: get secret value of %s (%s): %w", c.secretID, stage, err)
	}
	switch {
	case out.SecretString == nil && out.SecretBinary != nil:
		return result{}, fmt.Errorf("secrets: %s (%s) is a binary secret; store the value as SecretString", c.secretID, stage)
	case out.SecretString == nil || *out.SecretString == "":
		return result{}, fmt.Errorf("secrets: %s (%s) has an empty SecretString", c.secretID, stage)
	}
	return result{value: *out.SecretString, present: true, created: aws.ToTime(out.CreatedDate)}, nil
}

func (c *Cache) log() *slog.Logger {
	if c.logger != nil {
		return c.logger
	}
	return slog.Default()
}
