// Package lambdaruntime runs a Lambda function's bootstrap executable
// locally, the way AWS Lambda runs a provided.al2023 function: each
// execution environment is one bootstrap process that talks to its own
// Runtime API server, handles one invocation at a time, gets the standard
// Lambda environment, is killed when an invocation exceeds the function
// timeout and is replaced after a crash.
//
// It implements the Runtime API (2018-06-01) as documented in
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html; the
// Extensions and Telemetry APIs are answered with 404, which aws-lambda-go
// tolerates.
package lambdaruntime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Defaults applied by New for zero Config fields. They are Lambda's.
const (
	DefaultTimeout     = 3 * time.Second
	DefaultInitTimeout = 10 * time.Second
	DefaultMemorySize  = 128
	DefaultRegion      = "us-east-1"
	DefaultAccountID   = "123456789012"
	// DefaultMaxEnvironments bounds concurrent invocations of one function.
	DefaultMaxEnvironments = 4
	// MaxPayloadSize is Lambda's limit for synchronous invocation requests
	// and responses (6 MB).
	MaxPayloadSize = 6 * 1024 * 1024
)

// Error types Lambda reports for failures the function did not report itself.
const (
	ErrorTypeTimeout          = "Sandbox.Timedout"
	ErrorTypeExit             = "Runtime.ExitError"
	ErrorTypeResponseTooLarge = "Function.ResponseSizeTooLarge"
	ErrorTypeInvalidResponse  = "Runtime.InvalidResponse"
)

// Config describes one function.
type Config struct {
	// FunctionName is the function's name (AWS_LAMBDA_FUNCTION_NAME). Required.
	FunctionName string
	// Bootstrap is the path of the executable to run. Its directory is the
	// task root (LAMBDA_TASK_ROOT) and the process's working directory. Required.
	Bootstrap string
	// Handler is the template's Handler (_HANDLER); default "bootstrap".
	Handler string
	// Env is the function's environment (the template's variables plus,
	// locally, things like AWS_ENDPOINT_URL). Lambda's reserved names are
	// rejected, like Lambda does.
	Env map[string]string
	// Credentials are the AWS credentials the process sees; default test/test.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Timeout is the function timeout; default 3s.
	Timeout time.Duration
	// InitTimeout bounds the time from exec to the first /next; default 10s.
	InitTimeout time.Duration
	// MemorySize in MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE); default 128.
	// Informational only: memory is not limited locally.
	MemorySize int
	// MaxEnvironments bounds the execution environments, and with it the
	// concurrent invocations; default 4.
	MaxEnvironments int
	// Region and AccountID make the function ARN and AWS_REGION.
	Region, AccountID string
	// Output receives the function's stdout and stderr and the platform's
	// START/END/REPORT lines, one Write per line, each prefixed with
	// "[FunctionName] ". If several functions share it, it must be safe for
	// concurrent use. Default os.Stderr.
	Output io.Writer
	// Logger receives the runner's own diagnostics; default slog.Default().
	Logger *slog.Logger
}

// reserved are the environment variables Lambda sets itself and refuses in
// a function's configuration (plus AWS_LAMBDA_MAX_CONCURRENCY, which would
// make aws-lambda-go run concurrent handlers in one environment).
var reserved = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true,
	"AWS_LAMBDA_LOG_GROUP_NAME": true, "AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
	"AWS_LAMBDA_MAX_CONCURRENCY": true,
}

// FunctionError is an invocation's error as Lambda reports it: either what
// the runtime posted to /error, or a platform error (timeout, crash).
type FunctionError struct {
	Message    string          `json:"errorMessage"`
	Type       string          `json:"errorType"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Type + ": " + e.Message
}

// Result is the outcome of one invocation that reached the function.
type Result struct {
	// RequestID is the invocation's Lambda-Runtime-Aws-Request-Id.
	RequestID string
	// Payload is the function's response when Error is nil.
	Payload []byte
	// Error is the function's error, or a platform error such as a timeout.
	Error *FunctionError
	// ColdStart reports whether the invocation started a new environment.
	ColdStart bool
	// InitDuration is the time from exec to the first /next of a cold start.
	InitDuration time.Duration
	// Duration is the time from delivering the event to the response.
	Duration time.Duration
}

// Stats counts what happened to a function so far.
type Stats struct {
	Invocations int
	ColdStarts  int
	Timeouts    int
	// Crashes counts environments that exited or failed init unexpectedly.
	Crashes int
	// InitDurations lists the time to first /next of every cold start.
	InitDurations []time.Duration
	// PeakRSS lists the peak resident set size, in bytes, of every
	// execution environment the runner stopped (Close, a timeout), read
	// just before the kill (Linux only: VmHWM in /proc/<pid>/status).
	// Environments that exited by themselves are not listed.
	PeakRSS []int64
}

// Function runs invocations of one function in a bounded pool of execution
// environments. It is safe for concurrent use.
type Function struct {
	cfg    Config
	arn    string
	out    *lineOutput
	logger *slog.Logger

	slots chan struct{} // one token per environment that may exist

	mu     sync.Mutex
	idle   []*environment
	all    map[*environment]struct{}
	stats  Stats
	closed bool
	seq    int
	wg     sync.WaitGroup // acquired environments, released by release
}

// New validates cfg and returns a Function. Environments are started on
// demand by Invoke, so New starts no process.
func New(cfg Config) (*Function, error) {
	if cfg.FunctionName == "" {
		return nil, errors.New("lambdaruntime: FunctionName is required")
	}
	if cfg.Bootstrap == "" {
		return nil, fmt.Errorf("lambdaruntime: function %s: Bootstrap is required", cfg.FunctionName)
	}
	abs, err := filepath.Abs(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("lambdaruntime: function %s: bootstrap path: %w", cfg.FunctionName, err)
	}
	cfg.Bootstrap = abs
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("lambdaruntime: function %s: %w", cfg.FunctionName, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("lambdaruntime: function %s: %s is not an executable file", cfg.FunctionName, abs)
	}
	for k := range cfg.Env {
		if reserved[k] {
			return nil, fmt.Errorf("lambdaruntime: function %s: environment variable %s is reserved by Lambda", cfg.FunctionName, k)
		}
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("lambdaruntime: function %s: invalid environment variable name %q", cfg.FunctionName, k)
		}
	}
	if cfg.Handler == "" {
		cfg.Handler = "bootstrap"
	}
	if cfg.AccessKeyID == "" && cfg.SecretAccessKey == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = "test", "test"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	if cfg.MemorySize <= 0 {
		cfg.MemorySize = DefaultMemorySize
	}
	if cfg.MaxEnvironments <= 0 {
		cfg.MaxEnvironments = DefaultMaxEnvironments
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.Output == nil {
		cfg.Output = os.Stderr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Function{
		cfg:    cfg,
		arn:    fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", cfg.Region, cfg.AccountID, cfg.FunctionName),
		out:    &lineOutput{w: cfg.Output, prefix: "[" + cfg.FunctionName + "] "},
		logger: cfg.Logger.With(slog.String("function", cfg.FunctionName)),
		slots:  make(chan struct{}, cfg.MaxEnvironments),
		all:    make(map[*environment]struct{}),
	}, nil
}

// Name returns the function name.
func (f *Function) Name() string { return f.cfg.FunctionName }

// ARN returns the function ARN the runtime sees as the invoked function ARN.
func (f *Function) ARN() string { return f.arn }

// Timeout returns the function timeout.
func (f *Function) Timeout() time.Duration { return f.cfg.Timeout }

// Stats returns a snapshot of the function's counters.
func (f *Function) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.InitDurations = append([]time.Duration(nil), f.stats.InitDurations...)
	s.PeakRSS = append([]int64(nil), f.stats.PeakRSS...)
	return s
}

// ErrClosed is returned by Invoke after Close.
var ErrClosed = errors.New("lambdaruntime: function closed")

// Invoke runs one invocation with payload as the event, like a synchronous
// (RequestResponse) Lambda invoke. Function errors, timeouts and crashes are
// reported in Result.Error; the returned error is only for invocations
// that could not be run or whose result the caller stopped waiting for
// (ctx done). An invocation abandoned because ctx ended keeps running until
// it finishes or times out, as it would in Lambda.
func (f *Function) Invoke(ctx context.Context, payload []byte) (Result, error) {
	if len(payload) > MaxPayloadSize {
		return Result{}, fmt.Errorf("invoke %s: request payload of %d bytes exceeds the %d-byte limit", f.cfg.FunctionName, len(payload), MaxPayloadSize)
	}
	inv := &invocation{
		id:      newRequestID(),
		payload: payload,
		traceID: newTraceID(),
		done:    make(chan Result, 1),
	}
	f.mu.Lock()
	f.stats.Invocations++
	f.mu.Unlock()
	for {
		env, cold, err := f.acquire(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("invoke %s: %w", f.cfg.FunctionName, err)
		}
		res, retry, err := env.run(ctx, inv, cold)
		if retry {
			continue // a warm environment died before taking the event: use another
		}
		return res, err
	}
}

// acquire returns an idle environment or starts a new one, waiting while
// MaxEnvironments are busy.
func (f *Function) acquire(ctx context.Context) (*environment, bool, error) {
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		<-f.slots
		return nil, false, ErrClosed
	}
	for len(f.idle) > 0 {
		env := f.idle[len(f.idle)-1]
		f.idle = f.idle[:len(f.idle)-1]
		if env.alive() {
			f.wg.Add(1)
			f.mu.Unlock()
			return env, false, nil
		}
		delete(f.all, env)
	}
	f.seq++
	seq := f.seq
	f.mu.Unlock()
	env, err := f.startEnvironment(seq)
	if err != nil {
		<-f.slots
		return nil, false, err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		env.kill()
		<-f.slots
		return nil, false, ErrClosed
	}
	f.all[env] = struct{}{}
	f.stats.ColdStarts++
	f.wg.Add(1)
	f.mu.Unlock()
	return env, true, nil
}

// release returns a healthy environment to the pool, or discards a dead one,
// and frees its slot.
func (f *Function) release(env *environment) {
	f.mu.Lock()
	if env.alive() && !f.closed {
		f.idle = append(f.idle, env)
	} else {
		delete(f.all, env)
		env.kill()
	}
	f.mu.Unlock()
	<-f.slots
	f.wg.Done()
}

func (f *Function) record(fn func(*Stats)) {
	f.mu.Lock()
	fn(&f.stats)
	f.mu.Unlock()
}

// Close kills every environment and waits for the processes to be gone.
// Invocations in flight end with an error result.
func (f *Function) Close() error {
	f.mu.Lock()
	f.closed = true
	envs := make([]*environment, 0, len(f.all))
	for env := range f.all {
		envs = append(envs, env)
	}
	f.idle = nil
	f.mu.Unlock()
	for _, env := range envs {
		env.kill()
	}
	// Invocations in flight see their environment die and release it.
	f.wg.Wait()
	for _, env := range envs {
		env.wait()
	}
	return nil
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID returns an X-Ray trace header: Root=1-<epoch hex>-<96 bits>.
func newTraceID() string {
	var root [12]byte
	var parent [8]byte
	_, _ = rand.Read(root[:])
	_, _ = rand.Read(parent[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), hex.EncodeToString(root[:]), hex.EncodeToString(parent[:]))
}
