package lambdaruntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
)

// testBootstrap is the path of testdata/bootstrap built for the host.
var testBootstrap string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdaruntime-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBootstrap = filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", testBootstrap, "./testdata/bootstrap")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test bootstrap: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func newTestFunction(t *testing.T, mutate func(*Config)) (*Function, *logtest.Buffer) {
	t.Helper()
	out := &logtest.Buffer{}
	cfg := Config{
		FunctionName: "TestFunction",
		Bootstrap:    testBootstrap,
		Timeout:      5 * time.Second,
		Output:       out,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Env:          map[string]string{"GREETING": "hello"},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, out
}

type answer struct {
	Text              string            `json:"text"`
	RequestID         string            `json:"requestId"`
	FunctionARN       string            `json:"functionArn"`
	DeadlineInMs      int64             `json:"deadlineInMs"`
	Env               map[string]string `json:"env"`
	TraceID           string            `json:"traceId"`
	PID               int               `json:"pid"`
	HasConcurrencyVar bool              `json:"hasConcurrencyVar"`
}

func invoke(t *testing.T, f *Function, event string) (Result, answer) {
	t.Helper()
	res, err := f.Invoke(context.Background(), []byte(event))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", event, err)
	}
	var a answer
	if res.Error == nil {
		if err := json.Unmarshal(res.Payload, &a); err != nil {
			t.Fatalf("response %q: %v", res.Payload, err)
		}
	}
	return res, a
}

func TestInvokeSuccessReusesEnvironment(t *testing.T) {
	f, _ := newTestFunction(t, nil)
	first, a1 := invoke(t, f, `{"action":"echo","text":"one"}`)
	second, a2 := invoke(t, f, `{"action":"echo","text":"two"}`)

	if first.Error != nil || second.Error != nil {
		t.Fatalf("errors: %v, %v", first.Error, second.Error)
	}
	if a1.Text != "one" || a2.Text != "two" {
		t.Errorf("texts = %q, %q; want one, two", a1.Text, a2.Text)
	}
	if !first.ColdStart || second.ColdStart {
		t.Errorf("cold starts = %v, %v; want true, false", first.ColdStart, second.ColdStart)
	}
	if first.InitDuration <= 0 || second.InitDuration != 0 {
		t.Errorf("init durations = %v, %v; want >0, 0", first.InitDuration, second.InitDuration)
	}
	if a1.PID != a2.PID {
		t.Errorf("warm invoke ran in pid %d, want the first environment's %d", a2.PID, a1.PID)
	}
	if a1.RequestID != first.RequestID || a2.RequestID != second.RequestID || first.RequestID == second.RequestID {
		t.Errorf("request ids: function saw %q, %q; runner reported %q, %q", a1.RequestID, a2.RequestID, first.RequestID, second.RequestID)
	}
	if want := "arn:aws:lambda:us-east-1:123456789012:function:TestFunction"; a1.FunctionARN != want {
		t.Errorf("invoked function ARN = %q, want %q", a1.FunctionARN, want)
	}
	st := f.Stats()
	if st.Invocations != 2 || st.ColdStarts != 1 || len(st.InitDurations) != 1 || st.Crashes != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEnvironmentVariables(t *testing.T) {
	t.Setenv("LAMBDARUNTIME_TEST_HOST_ONLY", "must-not-leak")
	f, _ := newTestFunction(t, func(c *Config) {
		c.MemorySize = 256
		c.Region = "eu-west-1"
		c.Env["TZ"] = ":UTC"
	})
	res, a := invoke(t, f, `{"action":"env"}`)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	want := map[string]string{
		"GREETING":                        "hello",
		"AWS_LAMBDA_FUNCTION_NAME":        "TestFunction",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/TestFunction",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      "eu-west-1",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"_HANDLER":                        "bootstrap",
		"LAMBDA_TASK_ROOT":                filepath.Dir(testBootstrap),
		"TZ":                              ":UTC",
		"AWS_ACCESS_KEY_ID":               "test",
		"AWS_SECRET_ACCESS_KEY":           "test",
	}
	for k, v := range want {
		if got, ok := a.Env[k]; !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	for _, k := range []string{"AWS_LAMBDA_MAX_CONCURRENCY", "LAMBDARUNTIME_TEST_HOST_ONLY", "AWS_SESSION_TOKEN"} {
		if v, ok := a.Env[k]; ok {
			t.Errorf("%s is set (%q), want unset", k, v)
		}
	}
	if !strings.HasPrefix(a.Env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API = %q, want a loopback address", a.Env["AWS_LAMBDA_RUNTIME_API"])
	}
	if !strings.Contains(a.Env["AWS_LAMBDA_LOG_STREAM_NAME"], "[$LATEST]") {
		t.Errorf("AWS_LAMBDA_LOG_STREAM_NAME = %q", a.Env["AWS_LAMBDA_LOG_STREAM_NAME"])
	}
	if !strings.HasPrefix(a.TraceID, "Root=1-") {
		t.Errorf("_X_AMZN_TRACE_ID = %q, want a Root=1-... trace header", a.TraceID)
	}
}

func TestDeadlineHeader(t *testing.T) {
	const timeout = 2 * time.Second
	f, _ := newTestFunction(t, func(c *Config) { c.Timeout = timeout })
	invoke(t, f, `{"action":"echo"}`) // cold start outside the measured invoke
	before := time.Now()
	res, a := invoke(t, f, `{"action":"deadline"}`)
	after := time.Now()
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	dl := time.UnixMilli(a.DeadlineInMs)
	// The deadline is "timeout after delivery", so it lies between the two
	// instants plus the timeout (ms precision).
	if dl.Before(before.Add(timeout).Truncate(time.Millisecond)) || dl.After(after.Add(timeout)) {
		t.Errorf("deadline %v not within [%v, %v]", dl, before.Add(timeout), after.Add(timeout))
	}
}

func TestFunctionFailures(t *testing.T) {
	tests := []struct {
		name        string
		event       string
		timeout     time.Duration
		wantType    string
		wantMessage string
		wantNewEnv  bool // the next invocation needs a cold start
		wantStat    func(Stats) bool
	}{
		{
			name: "returned error", event: `{"action":"error","text":"boom"}`,
			wantType: "errorString", wantMessage: "boom", wantNewEnv: false,
			wantStat: func(s Stats) bool { return s.Crashes == 0 && s.Timeouts == 0 },
		},
		{
			name: "panic", event: `{"action":"panic","text":"kaboom"}`,
			wantMessage: "kaboom", wantNewEnv: true,
			wantStat: func(s Stats) bool { return s.Crashes == 1 },
		},
		{
			name: "exit", event: `{"action":"exit"}`,
			wantType: ErrorTypeExit, wantMessage: "exit status 7", wantNewEnv: true,
			wantStat: func(s Stats) bool { return s.Crashes == 1 },
		},
		{
			name: "timeout", event: `{"action":"sleep","sleep":"1m"}`, timeout: time.Second,
			wantType: ErrorTypeTimeout, wantMessage: "Task timed out after 1.00 seconds", wantNewEnv: true,
			wantStat: func(s Stats) bool { return s.Timeouts == 1 && s.Crashes == 0 },
		},
		{
			name: "response too large", event: `{"action":"big"}`,
			wantType: ErrorTypeResponseTooLarge, wantMessage: "exceeded maximum allowed payload size", wantNewEnv: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out := newTestFunction(t, func(c *Config) {
				if tt.timeout > 0 {
					c.Timeout = tt.timeout
				}
			})
			_, warm := invoke(t, f, `{"action":"echo"}`)
			res, _ := invoke(t, f, tt.event)
			if res.Error == nil {
				t.Fatalf("no error; payload %s", res.Payload)
			}
			if tt.wantType != "" && res.Error.Type != tt.wantType {
				t.Errorf("error type = %q, want %q", res.Error.Type, tt.wantType)
			}
			if !strings.Contains(res.Error.Message, tt.wantMessage) {
				t.Errorf("error message = %q, want it to contain %q", res.Error.Message, tt.wantMessage)
			}
			if res.RequestID == "" {
				t.Error("no request id")
			}
			next, a := invoke(t, f, `{"action":"echo","text":"after"}`)
			if next.Error != nil || a.Text != "after" {
				t.Fatalf("invoke after failure: %v %q", next.Error, a.Text)
			}
			if next.ColdStart != tt.wantNewEnv || (a.PID != warm.PID) != tt.wantNewEnv {
				t.Errorf("after failure: cold start %v, pid %d (was %d); want new environment %v", next.ColdStart, a.PID, warm.PID, tt.wantNewEnv)
			}
			if tt.wantNewEnv && !processGone(warm.PID) {
				t.Errorf("failed environment's process %d still exists", warm.PID)
			}
			if tt.wantStat != nil && !tt.wantStat(f.Stats()) {
				t.Errorf("stats = %+v", f.Stats())
			}
			if tt.wantType == ErrorTypeTimeout && !strings.Contains(out.String(), res.RequestID+" Task timed out") {
				t.Errorf("no timeout line in output:\n%s", out.String())
			}
		})
	}
}

func TestInitFailures(t *testing.T) {
	tests := []struct {
		name        string
		init        string
		wantType    string
		wantMessage string
		initTimeout time.Duration
	}{
		{"crash before first next", "crash", ErrorTypeExit, "exit status 3", 30 * time.Second},
		{"init error reported", "initerror", "InitConfigError", "missing config", 30 * time.Second},
		{"init hangs", "hang", ErrorTypeTimeout, "Init timed out after 0.50 seconds", 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := newTestFunction(t, func(c *Config) {
				c.Env["TEST_INIT"] = tt.init
				c.InitTimeout = tt.initTimeout
			})
			res, _ := invoke(t, f, `{"action":"echo"}`)
			if res.Error == nil {
				t.Fatalf("no error; payload %s", res.Payload)
			}
			if res.Error.Type != tt.wantType || !strings.Contains(res.Error.Message, tt.wantMessage) {
				t.Errorf("error = %q %q, want %q containing %q", res.Error.Type, res.Error.Message, tt.wantType, tt.wantMessage)
			}
			if !res.ColdStart {
				t.Error("ColdStart = false")
			}
			if s := f.Stats(); s.Crashes < 1 {
				t.Errorf("stats = %+v, want a crash counted", s)
			}
		})
	}
}

func TestOutputIsCapturedLineByLine(t *testing.T) {
	f, out := newTestFunction(t, nil)
	res, _ := invoke(t, f, `{"action":"log","text":"hi"}`)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"[TestFunction] stdout line: hi\n",
		"[TestFunction] stderr partial line without newline\n", // flushed at exit
		"[TestFunction] START RequestId: " + res.RequestID + " Version: $LATEST\n",
		"[TestFunction] END RequestId: " + res.RequestID + "\n",
		"[TestFunction] REPORT RequestId: " + res.RequestID,
		"Init Duration: ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	f, _ := newTestFunction(t, func(c *Config) { c.MaxEnvironments = 2 })
	var wg sync.WaitGroup
	results := make([]Result, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.Invoke(context.Background(), []byte(`{"action":"sleep","sleep":"50ms"}`))
			if err != nil {
				t.Errorf("invoke %d: %v", i, err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Error != nil {
			t.Errorf("invoke %d: %v", i, r.Error)
		}
	}
	if s := f.Stats(); s.ColdStarts > 2 || s.Invocations != 6 {
		t.Errorf("stats = %+v, want at most 2 environments for 6 invocations", s)
	}
}

func TestInvokeWaitingForEnvironmentHonoursContext(t *testing.T) {
	f, _ := newTestFunction(t, func(c *Config) { c.MaxEnvironments = 1 })
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		_, _ = f.Invoke(context.Background(), []byte(`{"action":"sleep","sleep":"500ms"}`))
	}()
	// Wait until the sleeper holds the only environment.
	for f.Stats().ColdStarts == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.Invoke(ctx, []byte(`{"action":"echo"}`))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Invoke with busy pool: err = %v, want context.DeadlineExceeded", err)
	}
	<-busy
}

func TestCloseKillsEnvironments(t *testing.T) {
	f, _ := newTestFunction(t, nil)
	_, a := invoke(t, f, `{"action":"echo"}`)
	if !processExists(a.PID) {
		t.Fatalf("process %d not running after invoke", a.PID)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if processExists(a.PID) {
		t.Errorf("process %d survived Close", a.PID)
	}
	if _, err := f.Invoke(context.Background(), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: err = %v, want ErrClosed", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{Bootstrap: testBootstrap}, "FunctionName is required"},
		{"no bootstrap", Config{FunctionName: "F"}, "Bootstrap is required"},
		{"missing bootstrap", Config{FunctionName: "F", Bootstrap: filepath.Join(t.TempDir(), "bootstrap")}, "no such file"},
		{"directory", Config{FunctionName: "F", Bootstrap: t.TempDir()}, "not an executable"},
		{"reserved variable", Config{FunctionName: "F", Bootstrap: testBootstrap, Env: map[string]string{"AWS_REGION": "x"}}, "AWS_REGION is reserved"},
		{"max concurrency", Config{FunctionName: "F", Bootstrap: testBootstrap, Env: map[string]string{"AWS_LAMBDA_MAX_CONCURRENCY": "4"}}, "reserved"},
		{"bad name", Config{FunctionName: "F", Bootstrap: testBootstrap, Env: map[string]string{"A=B": "x"}}, "invalid environment variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestInvokeRejectsOversizedPayload(t *testing.T) {
	f, _ := newTestFunction(t, nil)
	_, err := f.Invoke(context.Background(), make([]byte, MaxPayloadSize+1))
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("err = %v, want a size error", err)
	}
	if s := f.Stats(); s.ColdStarts != 0 {
		t.Errorf("an oversized payload started an environment: %+v", s)
	}
}

// processGone waits a little for a killed process to be reaped.
func processGone(pid int) bool {
	for range 100 {
		if !processExists(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
