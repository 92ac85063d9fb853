package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
	"github.com/okta-token-revoker/okta-token-revoker/internal/localesm"
	"github.com/okta-token-revoker/okta-token-revoker/internal/motoserver"
	"github.com/okta-token-revoker/okta-token-revoker/internal/samtemplate"
)

// What EventBridge puts in the event of a scheduled rule.
const (
	ScheduledEventSource     = "aws.events"
	ScheduledEventDetailType = "Scheduled Event"
)

// ErrCronNotEmulated is returned by ParseRate for a cron(...) expression:
// the stack runs rate(...) schedules only.
var ErrCronNotEmulated = errors.New("cron expressions are not emulated locally")

// Schedule is a Schedule event of the template (an EventBridge scheduled
// rule) that the stack emulates.
type Schedule struct {
	// Function and Event are the logical id of the function and the name of
	// its event.
	Function, Event string
	// Expression is the schedule expression with parameters substituted,
	// e.g. "rate(5 minutes)".
	Expression string
	// Rate is the expression's period; Period is how often the stack
	// invokes the function: Rate, or Options.ScheduleEvery. A Period of 0
	// means no timer (Options.ScheduleEvery < 0): only RunSchedule invokes.
	Rate, Period time.Duration
	// RuleARN is the rule's ARN in the scheduled event's resources.
	RuleARN string
}

// Name is "Function.Event", one of the names RunSchedule takes.
func (s Schedule) Name() string { return s.Function + "." + s.Event }

// ParseRate parses an EventBridge rate expression, "rate(5 minutes)": a
// positive integer and minute(s), hour(s) or day(s), singular exactly when
// the value is 1, as EventBridge requires. A cron(...) expression gives
// ErrCronNotEmulated.
func ParseRate(expr string) (time.Duration, error) {
	if strings.HasPrefix(expr, "cron(") {
		return 0, fmt.Errorf("schedule %q: %w", expr, ErrCronNotEmulated)
	}
	inner, ok := strings.CutPrefix(expr, "rate(")
	if ok {
		inner, ok = strings.CutSuffix(inner, ")")
	}
	if !ok {
		return 0, fmt.Errorf("schedule %q: want rate(N minutes|hours|days) or cron(...)", expr)
	}
	fields := strings.Fields(inner)
	if len(fields) != 2 {
		return 0, fmt.Errorf("schedule %q: want rate(N unit)", expr)
	}
	value, unit := fields[0], fields[1]
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n < 1 || value[0] == '+' {
		return 0, fmt.Errorf("schedule %q: the value must be a positive integer", expr)
	}
	var per time.Duration
	switch strings.TrimSuffix(unit, "s") {
	case "minute":
		per = time.Minute
	case "hour":
		per = time.Hour
	case "day":
		per = 24 * time.Hour
	default:
		return 0, fmt.Errorf("schedule %q: unit %q is not minute(s), hour(s) or day(s)", expr, unit)
	}
	if plural := strings.HasSuffix(unit, "s"); plural != (n > 1) {
		return 0, fmt.Errorf("schedule %q: the unit must be singular for 1 and plural otherwise", expr)
	}
	if n > math.MaxInt64/int64(per) {
		return 0, fmt.Errorf("schedule %q: too long", expr)
	}
	return time.Duration(n) * per, nil
}

// AsyncRetryDelays are the waits before the retries of a scheduled
// invocation that failed. EventBridge invokes asynchronously, and Lambda
// retries a failed asynchronous invocation twice with the same event, about
// one and two minutes later; locally the waits are short, so that a demo or
// a test sees the retries.
var AsyncRetryDelays = []time.Duration{time.Second, 2 * time.Second}

// scheduler invokes one schedule's function.
type scheduler struct {
	Schedule
	function    localesm.Invoker
	input       []byte // sent instead of the scheduled event when set (Input)
	logger      *slog.Logger
	now         func() time.Time
	retryDelays []time.Duration // timer invocations: AsyncRetryDelays
}

// payload is what EventBridge sends at t: the rule's Input, or the
// scheduled event.
func (sc *scheduler) payload(t time.Time) []byte {
	if sc.input != nil {
		return sc.input
	}
	b, _ := json.Marshal(events.EventBridgeEvent{
		Version:    "0",
		ID:         uuid.NewString(),
		DetailType: ScheduledEventDetailType,
		Source:     ScheduledEventSource,
		AccountID:  lambdaruntime.DefaultAccountID,
		Time:       t.UTC().Truncate(time.Second), // EventBridge's times are whole seconds
		Region:     motoserver.Region,
		Resources:  []string{sc.RuleARN},
		Detail:     json.RawMessage("{}"),
	})
	return b
}

// invoke runs one scheduled invocation with a new event and logs its
// outcome.
func (sc *scheduler) invoke(ctx context.Context, trigger string) (lambdaruntime.Result, error) {
	return sc.invokeWith(ctx, sc.payload(sc.now()), trigger, 0)
}

// invokeWith invokes the function with payload and logs the outcome;
// attempt counts the retries of the same event.
func (sc *scheduler) invokeWith(ctx context.Context, payload []byte, trigger string, attempt int) (lambdaruntime.Result, error) {
	log := sc.logger.With(slog.String("function", sc.Function), slog.String("schedule", sc.Name()), slog.String("trigger", trigger))
	if attempt > 0 {
		log = log.With(slog.Int("retry", attempt))
	}
	res, err := sc.function.Invoke(ctx, payload)
	switch {
	case err != nil:
		log.Error("scheduled invocation failed", slog.Any("error", err))
	case res.Error != nil:
		log.Error("scheduled invocation returned an error", slog.String("requestId", res.RequestID),
			slog.String("errorType", res.Error.Type), slog.Duration("duration", res.Duration))
	default:
		log.Info("scheduled invocation", slog.String("requestId", res.RequestID), slog.Duration("duration", res.Duration))
	}
	return res, err
}

// invokeAsync invokes as EventBridge does, asynchronously: an invocation
// that fails (a function error, or one that could not run) is retried with
// the same event after each of sc.retryDelays, then dropped, as Lambda does
// without an on-failure destination.
func (sc *scheduler) invokeAsync(ctx context.Context) {
	payload := sc.payload(sc.now())
	for attempt := 0; ; attempt++ {
		res, err := sc.invokeWith(ctx, payload, "timer", attempt)
		if err == nil && res.Error == nil {
			return
		}
		if attempt == len(sc.retryDelays) {
			sc.logger.Error("scheduled invocation dropped after its retries", slog.String("function", sc.Function),
				slog.String("schedule", sc.Name()), slog.Int("retries", attempt))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(sc.retryDelays[attempt]):
		}
	}
}

// run invokes the function on every tick until ctx ends. Ticks that come
// while an invocation (or its retries) runs are dropped (EventBridge would
// invoke concurrently; one at a time keeps a short ScheduleEvery from
// piling up).
func (sc *scheduler) run(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			sc.invokeAsync(ctx)
		}
	}
}

// startSchedules emulates every enabled Schedule event: a timer per event
// invokes its function every period with the scheduled event. cron(...)
// schedules and ScheduleV2 events are logged and skipped.
func (s *Stack) startSchedules(opts Options) error {
	if err := s.loadSchedules(opts); err != nil {
		return err
	}
	s.startTimers()
	return nil
}

// loadSchedules resolves the template's Schedule events into s.schedules
// and s.Schedules.
func (s *Stack) loadSchedules(opts Options) error {
	s.schedules = map[string]*scheduler{}
	for _, id := range s.Template.FunctionNames() {
		for _, ev := range s.Template.Functions[id].Events {
			switch ev.Type {
			case "Schedule":
			case "ScheduleV2":
				s.logger.Warn("ScheduleV2 (EventBridge Scheduler) events are not emulated locally; invoke the function yourself",
					slog.String("function", id), slog.String("event", ev.Name))
				continue
			default:
				continue
			}
			sc, err := s.newScheduler(id, ev, opts)
			if err != nil {
				return fmt.Errorf("function %s: Schedule event %s: %w", id, ev.Name, err)
			}
			if sc == nil {
				continue
			}
			s.schedules[sc.Name()] = sc
			s.Schedules = append(s.Schedules, sc.Schedule)
		}
	}
	return nil
}

// startTimers starts a timer per schedule with a period; Close stops them
// and waits for a running invocation's result (or its abandonment).
func (s *Stack) startTimers() {
	ctx, cancel := context.WithCancel(context.Background())
	var timers sync.WaitGroup
	s.closers = append(s.closers, func() error { cancel(); timers.Wait(); return nil })
	for _, sc := range s.schedules {
		if sc.Period <= 0 {
			continue
		}
		ticker := time.NewTicker(sc.Period) // first tick one period from now, as EventBridge
		timers.Go(func() {
			defer ticker.Stop()
			sc.run(ctx, ticker.C)
		})
	}
}

// newScheduler resolves one Schedule event; nil when it is disabled or a
// cron schedule.
func (s *Stack) newScheduler(function string, ev samtemplate.Event, opts Options) (*scheduler, error) {
	log := s.logger.With(slog.String("function", function), slog.String("event", ev.Name))
	if ev.Enabled != (samtemplate.Value{}) {
		state, err := s.resolve(ev.Enabled, opts.Parameters)
		if err != nil {
			return nil, fmt.Errorf("property Enabled/State: %w", err)
		}
		switch state {
		case "true", "ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS":
		case "false", "DISABLED":
			log.Info("schedule disabled in the template; not run")
			return nil, nil
		default:
			return nil, fmt.Errorf("property Enabled/State %q: want true, false, ENABLED or DISABLED", state)
		}
	}
	expr, err := s.resolve(ev.Schedule, opts.Parameters)
	if err != nil {
		return nil, fmt.Errorf("property Schedule: %w", err)
	}
	rate, err := ParseRate(expr)
	if errors.Is(err, ErrCronNotEmulated) {
		log.Warn("cron schedules are not emulated locally; the function is not run on this schedule", slog.String("schedule", expr))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sc := &scheduler{
		Schedule:    Schedule{Function: function, Event: ev.Name, Expression: expr, Rate: rate, Period: rate},
		function:    s.Functions[function],
		logger:      s.logger,
		now:         time.Now,
		retryDelays: AsyncRetryDelays,
	}
	switch {
	case opts.ScheduleEvery > 0:
		sc.Period = opts.ScheduleEvery
	case opts.ScheduleEvery < 0:
		sc.Period = 0
	}
	rule := function + ev.Name // SAM's logical id of the rule
	if name, ok := ev.Properties["Name"].(string); ok && name != "" {
		rule = name
	}
	sc.RuleARN = "arn:aws:events:" + motoserver.Region + ":" + lambdaruntime.DefaultAccountID + ":rule/" + rule
	if ev.Input != (samtemplate.Value{}) {
		in, err := s.resolve(ev.Input, opts.Parameters)
		if err != nil {
			return nil, fmt.Errorf("property Input: %w", err)
		}
		if !json.Valid([]byte(in)) {
			return nil, errors.New("property Input is not JSON")
		}
		sc.input = []byte(in)
	}
	return sc, nil
}

// RunSchedule invokes a scheduled function now, as its schedule would,
// and waits for the result. name is "Function.Event", or the function's
// logical id when it has one emulated schedule. Like Invoke, the returned
// error is for an invocation that could not run; the function's own error
// is in Result.Error.
func (s *Stack) RunSchedule(ctx context.Context, name string) (lambdaruntime.Result, error) {
	sc, ok := s.schedules[name]
	if !ok {
		var matches []string
		for key := range s.schedules {
			if strings.HasPrefix(key, name+".") {
				matches = append(matches, key)
			}
		}
		slices.Sort(matches)
		switch len(matches) {
		case 0:
			return lambdaruntime.Result{}, fmt.Errorf("run schedule %s: no emulated schedule has that name", name)
		case 1:
			sc = s.schedules[matches[0]]
		default:
			return lambdaruntime.Result{}, fmt.Errorf("run schedule %s: the function has several schedules; name one of %v", name, matches)
		}
	}
	return sc.invoke(ctx, "RunSchedule")
}

// resolve evaluates a property value the local runner understands: a
// literal; !Ref to a parameter (the override, else its Default) or to a
// pseudo parameter; !Sub over those. Anything else is an error.
func (s *Stack) resolve(v samtemplate.Value, params map[string]string) (string, error) {
	if !v.IsIntrinsic() {
		return v.Literal, nil
	}
	return s.resolveRaw(map[string]any{v.Intrinsic: v.Args}, params)
}

func (s *Stack) resolveRaw(v any, params map[string]string) (string, error) {
	switch x := v.(type) {
	case nil:
		// An empty property is not a value the runner can use.
	case map[string]any:
		if len(x) != 1 {
			break
		}
		if ref, ok := x["Ref"]; ok {
			name, ok := ref.(string)
			if !ok {
				return "", fmt.Errorf("!Ref %v: want a name", ref)
			}
			return s.ref(name, params)
		}
		if args, ok := x["Fn::Sub"]; ok {
			return s.sub(args, params)
		}
		for k := range x {
			return "", fmt.Errorf("%s is not supported by the local runner", k)
		}
	default:
		if str, err := samtemplate.ScalarString(v); err == nil {
			return str, nil
		}
	}
	return "", fmt.Errorf("%v is not supported by the local runner", v)
}

// sub evaluates Fn::Sub: a string, or [string, {Name: value}].
func (s *Stack) sub(args any, params map[string]string) (string, error) {
	tmpl, vars := args, map[string]any{}
	if list, ok := args.([]any); ok {
		if len(list) != 2 {
			return "", fmt.Errorf("Fn::Sub %v: want a string or [string, map]", args)
		}
		m, ok := list[1].(map[string]any)
		if !ok {
			return "", fmt.Errorf("Fn::Sub %v: want a string or [string, map]", args)
		}
		tmpl, vars = list[0], m
	}
	text, ok := tmpl.(string)
	if !ok {
		return "", fmt.Errorf("Fn::Sub %v: want a string or [string, map]", args)
	}
	return samtemplate.Substitute(text, func(name string) (string, error) {
		if v, ok := vars[name]; ok {
			return s.resolveRaw(v, params)
		}
		if strings.Contains(name, ".") {
			return "", errors.New("attributes of resources are not supported by the local runner")
		}
		return s.ref(name, params)
	})
}

// ref resolves !Ref to a parameter or a pseudo parameter.
func (s *Stack) ref(name string, params map[string]string) (string, error) {
	switch name {
	case "AWS::Region":
		return motoserver.Region, nil
	case "AWS::AccountId":
		return lambdaruntime.DefaultAccountID, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	return ParameterValue(s.Template, params, name)
}

// ParameterValue is a template parameter's local value: the override, else
// its Default.
func ParameterValue(tpl *samtemplate.Template, params map[string]string, name string) (string, error) {
	p, ok := tpl.Parameters[name]
	if !ok {
		return "", fmt.Errorf("!Ref %s names no parameter", name)
	}
	if over, ok := params[name]; ok {
		return over, nil
	}
	if !p.HasDefault {
		return "", fmt.Errorf("parameter %s has no Default; pass a value for it", name)
	}
	return p.Default, nil
}
