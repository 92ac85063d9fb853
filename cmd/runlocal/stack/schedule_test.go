package stack

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
	"github.com/okta-token-revoker/okta-token-revoker/internal/samtemplate"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		expr    string
		want    time.Duration
		wantErr string
	}{
		{expr: "rate(1 minute)", want: time.Minute},
		{expr: "rate(5 minutes)", want: 5 * time.Minute},
		{expr: "rate(1 hour)", want: time.Hour},
		{expr: "rate(2 hours)", want: 2 * time.Hour},
		{expr: "rate(1 day)", want: 24 * time.Hour},
		{expr: "rate(7 days)", want: 7 * 24 * time.Hour},
		{expr: "rate( 10  minutes )", want: 10 * time.Minute},
		{expr: "rate(1 minutes)", wantErr: "singular for 1"},
		{expr: "rate(5 minute)", wantErr: "singular for 1"},
		{expr: "rate(0 minutes)", wantErr: "positive integer"},
		{expr: "rate(-5 minutes)", wantErr: "positive integer"},
		{expr: "rate(+5 minutes)", wantErr: "positive integer"},
		{expr: "rate(1.5 hours)", wantErr: "positive integer"},
		{expr: "rate(five minutes)", wantErr: "positive integer"},
		{expr: "rate(5 seconds)", wantErr: `unit "seconds"`},
		{expr: "rate(2 weeks)", wantErr: `unit "weeks"`},
		{expr: "rate(5)", wantErr: "want rate(N unit)"},
		{expr: "rate(5 minutes now)", wantErr: "want rate(N unit)"},
		{expr: "rate(5 minutes", wantErr: "want rate(N minutes|hours|days) or cron"},
		{expr: "every 5 minutes", wantErr: "want rate(N minutes|hours|days) or cron"},
		{expr: "", wantErr: "want rate("},
		{expr: "rate(99999999999 days)", wantErr: "too long"},
		{expr: "cron(0 12 * * ? *)", wantErr: ErrCronNotEmulated.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := ParseRate(tt.expr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRate(%q) = %v, %v; want error %q", tt.expr, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRate(%q) = %v, %v; want %v", tt.expr, got, err, tt.want)
			}
		})
	}
	if _, err := ParseRate("cron(0 12 * * ? *)"); !errors.Is(err, ErrCronNotEmulated) {
		t.Errorf("a cron expression gives %v, want ErrCronNotEmulated", err)
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"rate(5 minutes)", "rate(1 day)", "cron(0 * * * ? *)", "rate(0 hours)", "rate(9223372036854775807 days)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		d, err := ParseRate(expr)
		if err == nil && (d < time.Minute || d%time.Minute != 0) {
			t.Fatalf("ParseRate(%q) = %v: not a whole number of minutes", expr, d)
		}
	})
}

// scheduleTemplate has one schedule of each kind the stack meets.
const scheduleTemplate = `
Parameters:
  Every: {Type: Number, Default: 5}
  Off: {Type: String, Default: "false"}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Poll: {Type: Schedule, Properties: {Schedule: !Sub "rate(${Every} minutes)", Enabled: true}}
        Hourly: {Type: Schedule, Properties: {Schedule: rate(1 hour), Name: hourly-rule, Input: '{"custom":true}'}}
        Cron: {Type: Schedule, Properties: {Schedule: "cron(0 12 * * ? *)"}}
        Disabled: {Type: Schedule, Properties: {Schedule: rate(1 day), State: DISABLED}}
        ByParameter: {Type: Schedule, Properties: {Schedule: rate(2 days), Enabled: !Ref Off}}
        V2: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 minute)}}
`

func scheduleStack(t *testing.T, tpl string) (*Stack, *logtest.Buffer) {
	t.Helper()
	parsed, err := samtemplate.Parse([]byte(tpl))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var log logtest.Buffer
	return &Stack{Template: parsed, logger: slog.New(slog.NewJSONHandler(&log, nil)), Functions: map[string]*lambdaruntime.Function{}}, &log
}

func TestLoadSchedules(t *testing.T) {
	s, log := scheduleStack(t, scheduleTemplate)
	err := s.loadSchedules(Options{Parameters: map[string]string{"Every": "3"}, ScheduleEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := []Schedule{
		{Function: "Fn", Event: "Hourly", Expression: "rate(1 hour)", Rate: time.Hour, RuleARN: "arn:aws:events:us-east-1:123456789012:rule/hourly-rule"},
		{Function: "Fn", Event: "Poll", Expression: "rate(3 minutes)", Rate: 3 * time.Minute, RuleARN: "arn:aws:events:us-east-1:123456789012:rule/FnPoll"},
	}
	if !reflect.DeepEqual(s.Schedules, want) {
		t.Errorf("Schedules = %+v\nwant        %+v", s.Schedules, want)
	}
	if got := string(s.schedules["Fn.Hourly"].input); got != `{"custom":true}` {
		t.Errorf("Input = %q", got)
	}
	out := log.String()
	for _, msg := range []string{"cron schedules are not emulated locally", "ScheduleV2 (EventBridge Scheduler) events are not emulated", "schedule disabled in the template"} {
		if !strings.Contains(out, msg) {
			t.Errorf("the log lacks %q:\n%s", msg, out)
		}
	}
}

func TestLoadSchedulesPeriod(t *testing.T) {
	const tpl = "Parameters: {Y: {Type: String, Default: ys}}\n" +
		"Resources: {Fn: {Type: AWS::Serverless::Function, Properties: {Events: {Tick: {Type: Schedule, Properties: {Schedule: !Sub [\"rate(${N} ${U})\", {N: 2, U: !Sub \"da${Y}\"}]}}}}}}\n"
	tests := []struct {
		every, want time.Duration
	}{
		{0, 48 * time.Hour},
		{200 * time.Millisecond, 200 * time.Millisecond},
		{-1, 0},
	}
	for _, tt := range tests {
		s, _ := scheduleStack(t, tpl)
		if err := s.loadSchedules(Options{ScheduleEvery: tt.every}); err != nil {
			t.Fatal(err)
		}
		if len(s.Schedules) != 1 || s.Schedules[0].Rate != 48*time.Hour || s.Schedules[0].Period != tt.want || s.Schedules[0].Expression != "rate(2 days)" {
			t.Errorf("ScheduleEvery %v: Schedules = %+v, want rate(2 days) every %v", tt.every, s.Schedules, tt.want)
		}
	}
}

func TestLoadSchedulesErrors(t *testing.T) {
	fn := func(props string) string {
		return "Parameters: {NoDefault: {Type: String}}\nResources: {Fn: {Type: AWS::Serverless::Function, Properties: {Events: {E: {Type: Schedule, Properties: " + props + "}}}}}\n"
	}
	tests := []struct {
		name, tpl, want string
	}{
		{"bad rate", fn("{Schedule: rate(5 minute)}"), "function Fn: Schedule event E: schedule \"rate(5 minute)\""},
		{"not a schedule", fn("{Schedule: every day}"), "want rate("},
		{"unknown parameter", fn(`{Schedule: !Sub "rate(${Nope} minutes)"}`), "${Nope}: !Ref Nope names no parameter"},
		{"parameter without default", fn(`{Schedule: !Sub "rate(${NoDefault} minutes)"}`), "parameter NoDefault has no Default"},
		{"resource attribute", fn(`{Schedule: !Sub "rate(${Q.Arn} minutes)"}`), "attributes of resources are not supported"},
		{"unsupported intrinsic", fn(`{Schedule: !Join ["", [rate(1 day)]]}`), "Fn::Join is not supported"},
		{"bad state", fn("{Schedule: rate(1 day), State: PAUSED}"), `Enabled/State "PAUSED"`},
		{"input not JSON", fn("{Schedule: rate(1 day), Input: '{not json'}"), "Input is not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := scheduleStack(t, tt.tpl)
			err := s.loadSchedules(Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// recordingInvoker records the payloads it is invoked with.
type recordingInvoker struct {
	mu       sync.Mutex
	payloads [][]byte
	calls    chan []byte // if set, each payload is sent here too
	err      *lambdaruntime.FunctionError
}

func (r *recordingInvoker) Invoke(ctx context.Context, payload []byte) (lambdaruntime.Result, error) {
	r.mu.Lock()
	r.payloads = append(r.payloads, payload)
	r.mu.Unlock()
	if r.calls != nil {
		select {
		case r.calls <- payload:
		case <-ctx.Done():
			return lambdaruntime.Result{}, ctx.Err()
		}
	}
	return lambdaruntime.Result{RequestID: "req-1", Error: r.err}, nil
}

func (r *recordingInvoker) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.payloads)
}

// checkScheduledEvent checks that payload is the event EventBridge sends for
// the rule at t.
func checkScheduledEvent(t *testing.T, payload []byte, rule string, at time.Time) {
	t.Helper()
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	if ev.Version != "0" || ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" ||
		ev.AccountID != "123456789012" || ev.Region != "us-east-1" || string(ev.Detail) != "{}" ||
		!reflect.DeepEqual(ev.Resources, []string{rule}) || len(ev.ID) != 36 {
		t.Errorf("scheduled event = %s", payload)
	}
	if !at.IsZero() && !ev.Time.Equal(at.Truncate(time.Second)) {
		t.Errorf("time = %v, want %v", ev.Time, at.Truncate(time.Second))
	}
	var raw map[string]any
	_ = json.Unmarshal(payload, &raw)
	if ts, _ := raw["time"].(string); !strings.HasSuffix(ts, "Z") || strings.Contains(ts, ".") {
		t.Errorf("time %q is not RFC 3339 UTC in seconds", ts)
	}
	if len(raw) != 9 {
		t.Errorf("scheduled event has %d keys, want 9: %s", len(raw), payload)
	}
}

func TestSchedulerPayload(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.FixedZone("CET", 3600))
	sc := &scheduler{Schedule: Schedule{RuleARN: "arn:aws:events:us-east-1:123456789012:rule/FnPoll"}}
	first, second := sc.payload(at), sc.payload(at)
	checkScheduledEvent(t, first, sc.RuleARN, at)
	if string(first) == string(second) {
		t.Error("two scheduled events share an id")
	}
	sc.input = []byte(`{"custom":true}`)
	if got := string(sc.payload(at)); got != `{"custom":true}` {
		t.Errorf("with Input the payload is %s", got)
	}
}

// TestSchedulerRunsOnTicksOnly drives the scheduler with a tick channel:
// nothing runs at start (EventBridge's first run is one period later),
// every tick invokes once, and run returns when its context ends.
func TestSchedulerRunsOnTicksOnly(t *testing.T) {
	inv := &recordingInvoker{calls: make(chan []byte)}
	var log logtest.Buffer
	sc := &scheduler{
		Schedule: Schedule{Function: "Fn", Event: "Poll", RuleARN: "arn:aws:events:us-east-1:123456789012:rule/FnPoll"},
		function: inv, logger: slog.New(slog.NewJSONHandler(&log, nil)), now: time.Now,
	}
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sc.run(ctx, ticks) }()
	for i := range 3 {
		select {
		case ticks <- time.Now(): // taken only once the previous invocation returned
		case <-time.After(10 * time.Second):
			t.Fatalf("tick %d was not taken: an invocation is still running", i)
		}
		select {
		case p := <-inv.calls:
			checkScheduledEvent(t, p, sc.RuleARN, time.Time{})
		case <-time.After(10 * time.Second):
			t.Fatalf("tick %d invoked nothing", i)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	// An invocation at start would have been the first call.
	if n := inv.count(); n != 3 {
		t.Errorf("%d invocations for 3 ticks", n)
	}
	if n := strings.Count(log.String(), `"msg":"scheduled invocation"`); n != 3 {
		t.Errorf("%d invocations logged, want 3:\n%s", n, log.String())
	}
}

// TestScheduleTimersStopOnClose runs the real timers with a short period.
func TestScheduleTimersStopOnClose(t *testing.T) {
	s, _ := scheduleStack(t, "Resources: {Fn: {Type: AWS::Serverless::Function, Properties: {Events: {Poll: {Type: Schedule, Properties: {Schedule: rate(5 minutes)}}}}}}\n")
	if err := s.loadSchedules(Options{ScheduleEvery: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	inv := &recordingInvoker{}
	s.schedules["Fn.Poll"].function = inv
	s.startTimers()
	deadline := time.Now().Add(10 * time.Second)
	for inv.count() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n := inv.count()
	if n < 3 {
		t.Fatalf("%d invocations in 10 s at a 20 ms period", n)
	}
	for i, p := range inv.payloads {
		if i < 3 {
			checkScheduledEvent(t, p, "arn:aws:events:us-east-1:123456789012:rule/FnPoll", time.Time{})
		}
	}
	// Close waited for the timer goroutine: nothing runs after it.
	time.Sleep(100 * time.Millisecond)
	if after := inv.count(); after != n {
		t.Errorf("%d invocations after Close", after-n)
	}
}

func TestRunSchedule(t *testing.T) {
	s, log := scheduleStack(t, scheduleTemplate)
	if err := s.loadSchedules(Options{ScheduleEvery: -1}); err != nil {
		t.Fatal(err)
	}
	inv := &recordingInvoker{err: &lambdaruntime.FunctionError{Type: "Boom", Message: "failed"}}
	for _, sc := range s.schedules {
		sc.function = inv
	}
	tests := []struct {
		name, wantErr string
		wantInput     bool
	}{
		{name: "Fn.Poll"},
		{name: "Fn.Hourly", wantInput: true},
		{name: "Fn", wantErr: "several schedules; name one of [Fn.Hourly Fn.Poll]"},
		{name: "Fn.Cron", wantErr: "no emulated schedule"},
		{name: "Fn.Disabled", wantErr: "no emulated schedule"},
		{name: "Nope", wantErr: "no emulated schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := inv.count()
			res, err := s.RunSchedule(context.Background(), tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || inv.count() != before {
					t.Fatalf("err = %v, want %q and no invocation", err, tt.wantErr)
				}
				return
			}
			if err != nil || res.Error == nil || res.Error.Type != "Boom" {
				t.Fatalf("RunSchedule = %+v, %v; want the function's error in the result", res, err)
			}
			p := inv.payloads[len(inv.payloads)-1]
			if tt.wantInput != (string(p) == `{"custom":true}`) {
				t.Errorf("payload %s", p)
			}
		})
	}
	if !strings.Contains(log.String(), `"msg":"scheduled invocation returned an error"`) {
		t.Errorf("function errors are not logged:\n%s", log.String())
	}

	// With one schedule the function's name is enough.
	one, _ := scheduleStack(t, "Resources: {Fn: {Type: AWS::Serverless::Function, Properties: {Events: {Poll: {Type: Schedule, Properties: {Schedule: rate(5 minutes)}}}}}}\n")
	if err := one.loadSchedules(Options{}); err != nil {
		t.Fatal(err)
	}
	one.schedules["Fn.Poll"].function = &recordingInvoker{}
	if _, err := one.RunSchedule(context.Background(), "Fn"); err != nil {
		t.Errorf("RunSchedule(Fn) with one schedule: %v", err)
	}
}

// flakyInvoker fails its first calls, then succeeds.
type flakyInvoker struct {
	recordingInvoker
	functionErrors int // calls answered with a function error
	runErrors      int // then calls that could not run
}

func (f *flakyInvoker) Invoke(ctx context.Context, payload []byte) (lambdaruntime.Result, error) {
	f.recordingInvoker.Invoke(ctx, payload)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.functionErrors > 0:
		f.functionErrors--
		return lambdaruntime.Result{RequestID: "req-err", Error: &lambdaruntime.FunctionError{Type: "Boom"}}, nil
	case f.runErrors > 0:
		f.runErrors--
		return lambdaruntime.Result{}, errors.New("bootstrap exited")
	}
	return lambdaruntime.Result{RequestID: "req-ok"}, nil
}

func TestSchedulerRetriesLikeAsyncInvocation(t *testing.T) {
	tests := []struct {
		name                      string
		functionErrors, runErrors int
		wantCalls                 int
		wantDropped               bool
	}{
		{name: "success", wantCalls: 1},
		{name: "function error once", functionErrors: 1, wantCalls: 2},
		{name: "could not run once", runErrors: 1, wantCalls: 2},
		{name: "error then crash", functionErrors: 1, runErrors: 1, wantCalls: 3},
		{name: "fails every time", functionErrors: 5, wantCalls: 3, wantDropped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &flakyInvoker{functionErrors: tt.functionErrors, runErrors: tt.runErrors}
			var log logtest.Buffer
			sc := &scheduler{
				Schedule: Schedule{Function: "Fn", Event: "Poll", RuleARN: "arn:aws:events:us-east-1:123456789012:rule/FnPoll"},
				function: inv, logger: slog.New(slog.NewJSONHandler(&log, nil)), now: time.Now,
				retryDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond},
			}
			sc.invokeAsync(context.Background())
			if n := inv.count(); n != tt.wantCalls {
				t.Fatalf("%d invocations, want %d", n, tt.wantCalls)
			}
			for i, p := range inv.payloads {
				if string(p) != string(inv.payloads[0]) {
					t.Errorf("retry %d sent another event: %s, want the first one again", i, p)
				}
			}
			if dropped := strings.Contains(log.String(), "dropped after its retries"); dropped != tt.wantDropped {
				t.Errorf("dropped logged = %v, want %v:\n%s", dropped, tt.wantDropped, log.String())
			}
			if tt.wantCalls > 1 && !strings.Contains(log.String(), `"retry":1`) {
				t.Errorf("retries are not marked in the log:\n%s", log.String())
			}
		})
	}

	// A context that ends during the wait stops the retries.
	inv := &flakyInvoker{functionErrors: 5}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &scheduler{Schedule: Schedule{Function: "Fn", Event: "Poll"}, function: inv, logger: slog.New(slog.DiscardHandler), now: time.Now,
		retryDelays: []time.Duration{time.Hour}}
	go func() {
		for inv.count() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	sc.invokeAsync(ctx)
	if n := inv.count(); n != 1 {
		t.Errorf("%d invocations after the context ended during the wait, want 1", n)
	}
}
