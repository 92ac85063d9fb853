package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/cmd/runlocal/stack"
	"github.com/okta-token-revoker/okta-token-revoker/internal/localesm"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
)

// TestDemo runs the demo end to end against the real stack (the functions
// built from template.yaml, moto_server, the fake org), then checks that
// the reconciler's timer, not only RunSchedule, queues a suspension whose
// hook was never delivered.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var logs logtest.Buffer
	batches := make(chan batch, 64)
	buildDir := t.TempDir()
	// options are the stack's, reporting batches to the demo.
	options := func(mod func(*stack.Options)) stack.Options {
		o := stack.Options{
			TemplatePath:   filepath.Join("..", "..", "template.yaml"),
			BuildDir:       buildDir,
			Addr:           "127.0.0.1:0",
			PollWaitTime:   time.Second,
			FunctionOutput: &logs,
			Logger:         slog.New(slog.NewTextHandler(&logs, nil)),
			OnBatch: func(fn string, r localesm.BatchReport) {
				select {
				case batches <- batch{function: fn, report: r}:
				default:
				}
			},
		}
		mod(&o)
		return o
	}
	s, err := stack.Start(ctx, options(func(o *stack.Options) { o.ScheduleEvery = time.Second }))
	if err != nil {
		t.Fatalf("start the stack: %v\n%s", err, logs.String())
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("stack and function output:\n%s", logs.String())
		}
	}()

	var out strings.Builder
	printEndpoints(printer{w: &out}, s, false)
	if !strings.Contains(out.String(), "ReconcileFunction.Poll     rate(5 minutes), every 1s (-schedule-every)") {
		t.Errorf("the endpoints do not show the reconciler's schedule:\n%s", out.String())
	}

	out.Reset()
	if err := runDemo(ctx, s, oktafake.DemoUserAlice, false, batches, printer{w: &out}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"==> 1/5  Refresh tokens of user " + oktafake.DemoUserAlice,
		"==> 4/5  Refresh tokens of user " + oktafake.DemoUserAlice + " again",
		"==> 5/5  Never miss an event: Okta suspends user " + oktafake.DemoUserBob,
		"(user.lifecycle.suspend) written; no hook delivered",
		"ReconcileFunction.Poll rate(5 minutes), every 1s",
		`"userId":"` + oktafake.DemoUserBob + `"`,
		"okta-system-log",
		"all 3 refresh tokens of " + oktafake.DemoUserBob + " revoked",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo output lacks %q:\n%s", want, text)
		}
	}
	if active := s.Okta.ActiveTokens(oktafake.DemoUserBob, ""); len(active) > 0 {
		t.Errorf("bob still has %d active tokens", len(active))
	}

	// Nobody calls RunSchedule now: the timer must find Carol's suspension.
	s.Okta.AddLogEvent(oktafake.NewLogEvent("user.lifecycle.suspend",
		oktafake.LogTarget{ID: "00uadmin000000000001", Type: "User"},
		oktafake.LogTarget{ID: oktafake.DemoUserCarol, Type: "User"}))
	deadline := time.Now().Add(60 * time.Second)
	for len(s.Okta.ActiveTokens(oktafake.DemoUserCarol, "")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled poll did not revoke carol's tokens in 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), `trigger=timer`); n == 0 {
		t.Errorf("no timer-triggered invocation was logged")
	}

	// The same demo with DryRun=true: the events go the whole way, and
	// every token stays.
	dry, err := stack.Start(ctx, options(func(o *stack.Options) {
		o.SkipBuild = true
		o.Parameters = map[string]string{"DryRun": "true"}
	}))
	if err != nil {
		t.Fatalf("start the dry-run stack: %v", err)
	}
	defer dry.Close()
	out.Reset()
	if err := runDemo(ctx, dry, oktafake.DemoUserAlice, true, batches, printer{w: &out}); err != nil {
		t.Fatalf("dry-run demo: %v\n%s", err, out.String())
	}
	if want := "dry run (DryRun=true): all 6 refresh tokens are still active"; !strings.Contains(out.String(), want) {
		t.Errorf("the dry-run demo output lacks %q:\n%s", want, out.String())
	}
}
