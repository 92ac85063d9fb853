// Command runlocal runs okta-token-revoker locally without Docker or the SAM
// CLI: it reads template.yaml, builds every function for the host, starts
// moto_server (SQS, Secrets Manager) and a seeded fake Okta org, runs each
// function's bootstrap under a local Lambda Runtime API, serves the HttpApi
// routes on http://127.0.0.1:3000 and feeds the revocation queue to its
// function like Lambda's SQS event source mapping, and invokes scheduled
// functions (ReconcileFunction's System Log poll) on their template rate
// like EventBridge. It then walks through the main job (an Okta suspend
// event revoking a user's refresh tokens; with the fake org, also a
// suspension whose hook delivery was lost, caught by the reconciler) and
// keeps serving until interrupted.
//
// Usage:
//
//	go run ./cmd/runlocal [flags]
//
// -schedule-every 30s invokes every scheduled function every 30 seconds
// instead of at the template's rate (rate(N minutes|hours|days); cron
// schedules are not run locally).
//
// A real Okta org is used instead of the fake when OKTA_ORG_URL and
// OKTA_API_TOKEN (or OKTA_API_SECRET_JSON, the Okta API secret's JSON) are
// set; the demo then runs only with -demo-user.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/cmd/runlocal/stack"
	"github.com/okta-token-revoker/okta-token-revoker/internal/localesm"
	"github.com/okta-token-revoker/okta-token-revoker/internal/motoserver"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "runlocal:", err)
		os.Exit(1)
	}
}

// parameters collects repeated -param Name=Value flags.
type parameters map[string]string

func (p parameters) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k+"="+p[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (p parameters) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want Name=Value, got %q", v)
	}
	p[name] = value
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("runlocal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		templatePath = fs.String("template", "template.yaml", "SAM template to run")
		addr         = fs.String("addr", stack.DefaultAddr, "listen address of the local API (an empty host means 127.0.0.1)")
		demoOnly     = fs.Bool("demo-only", false, "exit after the demo (non-zero exit status if it fails)")
		noDemo       = fs.Bool("no-demo", false, "skip the demo and just serve")
		demoUser     = fs.String("demo-user", "", "user whose tokens the demo revokes (default: the fake org's demo user)")
		skipBuild    = fs.Bool("skip-build", false, "use the bootstraps already in .build/local")
		hookSecret   = fs.String("hook-secret", os.Getenv("LOCAL_HOOK_SECRET"), "event hook secret (default $LOCAL_HOOK_SECRET, else random)")
		logLevel     = fs.String("log-level", "info", "runner log level: debug, info, warn, error")
		every        = fs.Duration("schedule-every", 0, "invoke scheduled functions (the reconciler) this often instead of at the template's rate; 0 = the template's rate")
		params       = parameters{}
	)
	fs.Var(params, "param", "template parameter override Name=Value (repeatable), e.g. -param DryRun=true")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h printed the usage
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *demoOnly && *noDemo {
		return errors.New("-demo-only and -no-demo exclude each other")
	}
	if *every < 0 {
		return errors.New("-schedule-every must not be negative")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	oktaURL, oktaSecret, err := realOkta()
	if err != nil {
		return err
	}
	if oktaURL != "" && !loopback(*addr) {
		// Locally nothing checks SigV4: anyone who can reach the address
		// could list and revoke tokens in the real org.
		return fmt.Errorf("-addr %s: with a real Okta org the local API must listen on loopback (127.0.0.1, ::1, localhost), since it checks no signatures", *addr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	batches := make(chan batch, 64)
	p := printer{w: stdout}
	p.step("Starting the local stack from %s (build, moto_server, %s)", *templatePath, map[bool]string{true: "real Okta org", false: "fake Okta org"}[oktaURL != ""])
	s, err := stack.Start(ctx, stack.Options{
		TemplatePath:   *templatePath,
		Addr:           *addr,
		SkipBuild:      *skipBuild,
		Parameters:     params,
		OktaOrgURL:     oktaURL,
		OktaAPISecret:  oktaSecret,
		HookSecret:     *hookSecret,
		ScheduleEvery:  *every,
		FunctionOutput: stderr,
		Logger:         logger,
		OnBatch: func(fn string, r localesm.BatchReport) {
			select {
			case batches <- batch{function: fn, report: r}:
			default: // nobody is watching; the log has it
			}
		},
	})
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			logger.Error("shutdown", slog.Any("error", err))
		}
	}()
	printEndpoints(p, s, *hookSecret != "")

	if !*noDemo {
		user := *demoUser
		if user == "" && s.Okta != nil {
			user = oktafake.DemoUserAlice
		}
		switch {
		case user == "":
			p.line("No demo: with a real Okta org, pass -demo-user <userId> to revoke that user's tokens.")
		default:
			dryRunParam, _ := stack.ParameterValue(s.Template, params, "DryRun") // an error leaves it "": not a dry run
			dryRun := dryRunParam == "true"
			err := runDemo(ctx, s, user, dryRun, batches, p)
			switch {
			case err != nil:
				p.line("DEMO FAILED: %v", err)
				if *demoOnly {
					return fmt.Errorf("demo: %w", err)
				}
			case dryRun:
				p.line("DEMO OK (dry run): the events reached revoke-tokens, which revoked nothing, as DryRun=true asks.")
			case s.Okta == nil:
				p.line("DEMO OK: the suspended user's refresh tokens were revoked through the event hook.")
			default:
				p.line("DEMO OK: the suspended users' refresh tokens were revoked, through the event hook and through the System Log poll.")
			}
		}
	}
	if *demoOnly {
		p.line("Demo done; stopping (-demo-only).")
		return nil
	}
	p.line("")
	p.line("Serving on %s until Ctrl-C.", s.URL)
	<-ctx.Done()
	p.line("Stopping...")
	return nil
}

// loopback reports whether the listen address addr stays on this machine
// (an empty host means 127.0.0.1).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// realOkta reads the real Okta org's settings from the environment, if any.
func realOkta() (url, secret string, err error) {
	url = os.Getenv("OKTA_ORG_URL")
	token, secretJSON := os.Getenv("OKTA_API_TOKEN"), os.Getenv("OKTA_API_SECRET_JSON")
	switch {
	case url == "" && token == "" && secretJSON == "":
		return "", "", nil
	case url == "":
		return "", "", errors.New("OKTA_API_TOKEN/OKTA_API_SECRET_JSON is set but OKTA_ORG_URL is not")
	case token != "" && secretJSON != "":
		return "", "", errors.New("set OKTA_API_TOKEN or OKTA_API_SECRET_JSON, not both")
	case token != "":
		return url, token, nil // a plain string secret is an API token
	case secretJSON != "":
		return url, secretJSON, nil
	}
	return "", "", errors.New("OKTA_ORG_URL is set but neither OKTA_API_TOKEN nor OKTA_API_SECRET_JSON")
}

func printEndpoints(p printer, s *stack.Stack, chosenSecret bool) {
	p.line("")
	p.line("Local stack is up:")
	p.line("  API               %s", s.URL)
	if s.HookPath != "" {
		p.line("  Okta event hook   %s%s", s.URL, s.HookPath)
		how := "random for this run"
		if chosenSecret {
			how = "from -hook-secret/LOCAL_HOOK_SECRET"
		}
		p.line("  hook secret       %s header, %s (%d characters, not shown)", s.HookAuthHeader, how, len(s.HookSecret))
	}
	p.line("  Okta org          %s", s.OktaOrgURL)
	p.line("  moto (AWS)        %s", s.Moto.URL())
	p.line("  revocation queue  %s", s.RevocationQueue.URL)
	p.line("  dead-letter queue %s", s.DeadLetterQueue.URL)
	p.line("  enqueue a request AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s aws --region %s --endpoint-url %s sqs send-message --queue-url %s --message-body '{\"userId\":\"%s\"}'",
		motoserver.AccessKeyID, motoserver.SecretAccessKey, motoserver.Region, s.Moto.URL(), s.RevocationQueue.URL, oktafake.DemoUserCarol)
	p.line("  routes:")
	for _, r := range s.Routes {
		p.line("    %s", r)
	}
	if len(s.Schedules) > 0 {
		p.line("  schedules:")
		for _, sc := range s.Schedules {
			every := "every " + sc.Period.String()
			if sc.Period != sc.Rate {
				every += " (-schedule-every)"
			}
			p.line("    %-26s %s, %s", sc.Name(), sc.Expression, every)
		}
	}
	p.line("  AWS_IAM routes accept unsigned requests locally (SigV4 is not verified).")
	if s.Okta != nil {
		p.line("  demo users: %s (alice), %s (bob), %s (carol)", oktafake.DemoUserAlice, oktafake.DemoUserBob, oktafake.DemoUserCarol)
		p.line("  try: curl %s/users/%s/clients", s.URL, oktafake.DemoUserCarol) // the demo revokes alice's and bob's
	}
	p.line("")
}

// printer writes the demo's progress for a human.
type printer struct{ w io.Writer }

func (p printer) step(format string, args ...any) {
	fmt.Fprintf(p.w, "==> "+format+"\n", args...)
}

func (p printer) line(format string, args ...any) {
	fmt.Fprintf(p.w, format+"\n", args...)
}

// batch is one SQS batch the stack reported.
type batch struct {
	function string
	report   localesm.BatchReport
}

var errDemoTimeout = errors.New("timed out")

// waitFor waits up to d for a batch that satisfies match.
func waitFor(ctx context.Context, batches <-chan batch, d time.Duration, match func(batch) bool) (batch, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case b := <-batches:
			if match(b) {
				return b, nil
			}
		case <-timer.C:
			return batch{}, errDemoTimeout
		case <-ctx.Done():
			return batch{}, ctx.Err()
		}
	}
}
