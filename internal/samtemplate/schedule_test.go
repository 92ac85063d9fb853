package samtemplate

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseScheduleEvents(t *testing.T) {
	fn := func(events string) string {
		return "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n" + events
	}
	tests := []struct {
		name, events                  string
		wantSchedule, wantEnabled, in Value
		wantErr                       string
	}{
		{name: "rate, enabled by default", events: "        P: {Type: Schedule, Properties: {Schedule: rate(5 minutes)}}\n",
			wantSchedule: Value{Literal: "rate(5 minutes)"}},
		{name: "sub with Enabled false", events: "        P: {Type: Schedule, Properties: {Schedule: !Sub 'rate(${N} minutes)', Enabled: false}}\n",
			wantSchedule: Value{Intrinsic: "Fn::Sub", Args: "rate(${N} minutes)"}, wantEnabled: Value{Literal: "false"}},
		{name: "State and Input", events: "        P: {Type: Schedule, Properties: {Schedule: 'cron(0 12 * * ? *)', State: DISABLED, Input: '{\"a\":1}'}}\n",
			wantSchedule: Value{Literal: "cron(0 12 * * ? *)"}, wantEnabled: Value{Literal: "DISABLED"}, in: Value{Literal: `{"a":1}`}},
		{name: "Enabled from a parameter", events: "        P: {Type: Schedule, Properties: {Schedule: rate(1 hour), Enabled: !Ref On}}\n",
			wantSchedule: Value{Literal: "rate(1 hour)"}, wantEnabled: Value{Intrinsic: "Ref", Args: "On"}},
		{name: "ScheduleV2", events: "        P: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 day), State: ENABLED}}\n",
			wantSchedule: Value{Literal: "rate(1 day)"}, wantEnabled: Value{Literal: "ENABLED"}},
		{name: "no expression", events: "        P: {Type: Schedule, Properties: {Enabled: true}}\n", wantErr: "a Schedule event needs Schedule"},
		{name: "ScheduleV2 with Schedule", events: "        P: {Type: ScheduleV2, Properties: {Schedule: rate(1 day)}}\n", wantErr: "needs ScheduleExpression"},
		{name: "Enabled and State", events: "        P: {Type: Schedule, Properties: {Schedule: rate(1 day), Enabled: true, State: ENABLED}}\n", wantErr: "not both"},
		{name: "ScheduleV2 with Enabled", events: "        P: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 day), Enabled: true}}\n", wantErr: "State, not Enabled"},
		{name: "expression a list", events: "        P: {Type: Schedule, Properties: {Schedule: [rate(1 day)]}}\n", wantErr: "Events.P: Schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Parse([]byte(fn(tt.events)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ev := tpl.Functions["F"].Events[0]
			if !reflect.DeepEqual(ev.Schedule, tt.wantSchedule) || !reflect.DeepEqual(ev.Enabled, tt.wantEnabled) || !reflect.DeepEqual(ev.Input, tt.in) {
				t.Errorf("Schedule %#v, Enabled %#v, Input %#v\nwant     %#v, %#v, %#v", ev.Schedule, ev.Enabled, ev.Input, tt.wantSchedule, tt.wantEnabled, tt.in)
			}
		})
	}
}

// TestProjectSchedule reads the reconciler's schedule from the real
// template, as the local runner does.
func TestProjectSchedule(t *testing.T) {
	tpl, err := Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var schedules []string
	for _, id := range tpl.FunctionNames() {
		for _, ev := range tpl.Functions[id].Events {
			if ev.Type == "Schedule" {
				schedules = append(schedules, id+"."+ev.Name+" "+ev.Schedule.String()+" enabled="+ev.Enabled.String())
			}
		}
	}
	want := []string{"ReconcileFunction.Poll {Fn::Sub: rate(${ReconcileIntervalMinutes} minutes)} enabled=true"}
	if !reflect.DeepEqual(schedules, want) {
		t.Errorf("schedules = %q\nwant %q", schedules, want)
	}
}

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"N": "5", "AWS::Region": "us-east-1", "Q.Arn": "arn:aws:sqs:us-east-1:1:q"}
	lookup := func(name string) (string, error) {
		if v, ok := vars[name]; ok {
			return v, nil
		}
		return "", errors.New("unknown")
	}
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "rate(${N} minutes)", want: "rate(5 minutes)"},
		{in: "no variables", want: "no variables"},
		{in: "", want: ""},
		{in: "${AWS::Region}-${N}${N}", want: "us-east-1-55"},
		{in: "${Q.Arn}", want: "arn:aws:sqs:us-east-1:1:q"},
		{in: "${ N }", want: "5"},
		{in: "${!Literal} and ${N}", want: "${Literal} and 5"},
		{in: "$N {N} $", want: "$N {N} $"},
		{in: "${Missing}", wantErr: "${Missing}: unknown"},
		{in: "rate(${N minutes)", wantErr: "without a closing }"},
		{in: "${}", wantErr: "empty ${}"},
		{in: "${ !N}", wantErr: "not a name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Substitute(tt.in, lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Substitute(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Substitute(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{"rate(${N} minutes)", "${!x}${y}", "${", "}${}", "$${a}}", "${a${b}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var names []string
		got, err := Substitute(in, func(name string) (string, error) {
			names = append(names, name)
			return "", nil
		})
		if err != nil {
			return
		}
		// Every variable is replaced by "" and nothing else is lost: the
		// output is never longer than the input, and an input without "${"
		// comes back unchanged.
		if len(got) > len(in) {
			t.Fatalf("Substitute(%q) = %q grew", in, got)
		}
		if !strings.Contains(in, "${") && (got != in || len(names) > 0) {
			t.Fatalf("Substitute(%q) = %q, looked up %q", in, got, names)
		}
		for _, n := range names {
			if n == "" || strings.HasPrefix(n, "!") || strings.Contains(n, "}") {
				t.Fatalf("Substitute(%q) looked up %q", in, n)
			}
		}
	})
}
