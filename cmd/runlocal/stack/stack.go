// Package stack starts the whole application locally, without Docker, from
// template.yaml: moto_server for SQS and Secrets Manager, the template's
// queues (with their redrive policies) and the secrets the functions
// expect, a fake Okta org (or a real one), every function's bootstrap built
// for the host and run under a Lambda Runtime API (internal/lambdaruntime),
// the HttpApi routes on a local HTTP server (internal/localapi), the SQS
// event source mappings (internal/localesm) and the Schedule events (a timer
// per EventBridge scheduled rule). The local runner and the end to end
// tests use it.
package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
	"github.com/okta-token-revoker/okta-token-revoker/internal/localapi"
	"github.com/okta-token-revoker/okta-token-revoker/internal/localesm"
	"github.com/okta-token-revoker/okta-token-revoker/internal/motoserver"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/samtemplate"
)

// Environment variables the functions read whose local values the stack
// supplies, whatever the template sets them to.
const (
	EnvOktaOrgURL         = "OKTA_ORG_URL"
	EnvOktaAPISecretARN   = "OKTA_API_SECRET_ARN"
	EnvHookSecretARN      = "HOOK_SECRET_ARN"
	EnvRevocationQueueURL = "REVOCATION_QUEUE_URL"
	EnvHookAuthHeader     = "HOOK_AUTH_HEADER"
)

// DefaultAddr is where the API listens unless Options.Addr says otherwise
// (sam local start-api's port).
const DefaultAddr = "127.0.0.1:3000"

// Options configures Start. The zero value runs ./template.yaml with the
// fake Okta org on DefaultAddr.
type Options struct {
	// TemplatePath is the SAM template; default "template.yaml".
	TemplatePath string
	// RepoDir is where `make build-<LogicalId>` runs; default the
	// template's directory.
	RepoDir string
	// BuildDir receives <LogicalId>/bootstrap; default <RepoDir>/.build/local.
	BuildDir string
	// SkipBuild uses the bootstraps already in BuildDir.
	SkipBuild bool
	// Addr is the API's listen address; an empty host means 127.0.0.1.
	Addr string
	// Parameters overrides template parameters (like sam's
	// --parameter-overrides); parameters referenced by the functions'
	// environment otherwise take their Default.
	Parameters map[string]string
	// OktaOrgURL and OktaAPISecret select a real Okta org: the secret is the
	// Okta API secret's SecretString ({"apiToken":"..."}, the OAuth JSON, or a
	// plain API token). Both empty: a seeded fake org.
	OktaOrgURL, OktaAPISecret string
	// HookSecret is the event hook's shared secret; default random.
	HookSecret string
	// VisibilityTimeout and MaxReceiveCount override every queue's
	// (tests use short ones to reach the dead-letter queue quickly).
	VisibilityTimeout time.Duration
	MaxReceiveCount   int
	// BatchingWindow, if non-nil, overrides every SQS event's window.
	BatchingWindow *time.Duration
	// PollWaitTime is the event source mappings' long-poll wait; default 20 s.
	PollWaitTime time.Duration
	// ScheduleEvery, if positive, replaces the period of every emulated
	// Schedule event (tests and demos use seconds instead of the template's
	// minutes); 0 keeps the template's rate; negative starts no timer, so
	// only RunSchedule invokes scheduled functions.
	ScheduleEvery time.Duration
	// MaxEnvironments bounds each function's execution environments; default 4.
	MaxEnvironments int
	// FunctionOutput receives the functions' stdout/stderr, prefixed with
	// their names; default os.Stderr.
	FunctionOutput io.Writer
	// Logger receives the stack's own log; default slog.Default().
	Logger *slog.Logger
	// OnBatch is called after each SQS batch is handled.
	OnBatch func(function string, r localesm.BatchReport)
	// FunctionEnv adds environment variables to every function, set last so
	// they override the template's values and the local endpoints (tests
	// point AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL_SECRETS_MANAGER at a
	// proxy they can take down, or shorten SECRET_CACHE_TTL).
	FunctionEnv map[string]string
	// OktaServiceApp makes the functions authenticate to the fake org as an
	// OAuth 2.0 service app (private_key_jwt with a fresh RSA key) instead
	// of with an SSWS token: the Okta API secret holds
	// {"clientId","privateKey","keyId"}. Ignored with a real org.
	OktaServiceApp bool
	// OktaMiddleware, if set, wraps the fake org's HTTP handler (tests use
	// it to see what the functions send). Ignored with a real org.
	OktaMiddleware func(http.Handler) http.Handler
}

// Queue is a queue created from the template.
type Queue struct {
	LogicalID, URL, ARN string
}

// Stack is the running local application. Close stops everything.
type Stack struct {
	// URL is the API's base URL, e.g. http://127.0.0.1:3000.
	URL string
	// HookPath is the path of the Okta event hook route ("" if none).
	HookPath string
	// HookSecret and HookAuthHeader are what Okta must send to the hook.
	HookSecret, HookAuthHeader string
	// OktaOrgURL is the Okta org the functions call.
	OktaOrgURL string
	// Okta is the fake org (nil with a real one); Demo is what it was seeded
	// with.
	Okta *oktafake.Server
	Demo oktafake.Demo
	// OktaAPIToken is the fake org's API token ("" with a real org).
	OktaAPIToken string
	// OktaAPISecret is the Okta API secret's SecretString the stack created
	// for the fake org ("" with a real org): {"apiToken":...}, or the
	// service app's credentials with Options.OktaServiceApp.
	OktaAPISecret string
	// Moto is the local AWS endpoint.
	Moto *motoserver.Server
	// Queues by logical id; RevocationQueue is the one REVOCATION_QUEUE_URL
	// names and DeadLetterQueue its redrive target.
	Queues                           map[string]Queue
	RevocationQueue, DeadLetterQueue Queue
	// Tables are the template's DynamoDB tables: logical id -> table name.
	Tables map[string]string
	// SecretARNs by environment variable name.
	SecretARNs map[string]string
	// Functions by logical id.
	Functions map[string]*lambdaruntime.Function
	// Routes are the served route keys.
	Routes []string
	// Schedules are the emulated Schedule events (enabled, rate(...)),
	// sorted by function and event.
	Schedules []Schedule
	Template  *samtemplate.Template

	logger      *slog.Logger
	apiListener net.Listener
	server      *http.Server
	cancel      context.CancelFunc
	pollers     sync.WaitGroup
	closers     []func() error
	closeErr    error
	once        sync.Once
	// schedules by Schedule.Name().
	schedules map[string]*scheduler
}

// Start starts the local stack. On error everything already started is
// stopped again. ctx bounds the start only; Close stops the stack.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Stack{
		Queues:     map[string]Queue{},
		Tables:     map[string]string{},
		SecretARNs: map[string]string{},
		Functions:  map[string]*lambdaruntime.Function{},
		logger:     opts.Logger,
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	if s.Template, err = samtemplate.Load(opts.TemplatePath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (run from the repository root, or pass -template)", err)
		}
		return nil, err
	}
	if err := s.Template.CheckParameters(opts.Parameters); err != nil {
		return nil, err
	}
	// The API's address first: a busy port fails before minutes of work.
	if s.apiListener, err = net.Listen("tcp", opts.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another local stack running? choose another address with -addr 127.0.0.1:3001)", opts.Addr, err)
	}
	s.closers = append(s.closers, func() error {
		if s.server == nil {
			return s.apiListener.Close()
		}
		return nil
	})
	bootstraps, err := build(ctx, s.Template, opts)
	if err != nil {
		return nil, err
	}

	s.Moto, err = motoserver.Start(ctx)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.Moto.Close)
	s.logger.Info("moto_server ready", slog.String("url", s.Moto.URL()), slog.Duration("startup", s.Moto.StartupTime()))
	awsCfg := s.Moto.AWSConfig()
	sqsClient := sqs.NewFromConfig(awsCfg)
	if err := s.createQueues(ctx, sqsClient, opts); err != nil {
		return nil, err
	}
	if err := s.createTables(ctx, dynamodb.NewFromConfig(awsCfg)); err != nil {
		return nil, err
	}
	if err := s.startOkta(opts); err != nil {
		return nil, err
	}
	if err := s.createSecrets(ctx, secretsmanager.NewFromConfig(awsCfg), opts); err != nil {
		return nil, err
	}
	if err := s.startFunctions(bootstraps, opts); err != nil {
		return nil, err
	}
	if err := s.serveAPI(opts); err != nil {
		return nil, err
	}
	if err := s.startPollers(sqsClient, opts); err != nil {
		return nil, err
	}
	if err := s.startSchedules(opts); err != nil {
		return nil, err
	}
	return s, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.TemplatePath == "" {
		o.TemplatePath = "template.yaml"
	}
	if o.RepoDir == "" {
		o.RepoDir = filepath.Dir(o.TemplatePath)
	}
	repo, err := filepath.Abs(o.RepoDir)
	if err != nil {
		return o, fmt.Errorf("repository directory: %w", err)
	}
	o.RepoDir = repo
	if o.BuildDir == "" {
		o.BuildDir = filepath.Join(o.RepoDir, ".build", "local")
	}
	if o.BuildDir, err = filepath.Abs(o.BuildDir); err != nil {
		return o, fmt.Errorf("build directory: %w", err)
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if host, port, err := net.SplitHostPort(o.Addr); err != nil {
		return o, fmt.Errorf("listen address %q: %w", o.Addr, err)
	} else if host == "" {
		// No authentication is enforced locally: never listen beyond
		// loopback unless asked to explicitly.
		o.Addr = net.JoinHostPort("127.0.0.1", port)
	}
	if (o.OktaOrgURL == "") != (o.OktaAPISecret == "") {
		return o, errors.New("a real Okta org needs both its URL and API credentials")
	}
	if o.HookSecret == "" {
		o.HookSecret = randomString()
	}
	if o.FunctionOutput == nil {
		o.FunctionOutput = os.Stderr
	}
	o.FunctionOutput = &lockedWriter{w: o.FunctionOutput}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// build runs `make build-<LogicalId>` for the host architecture for every
// function with the makefile build method and returns the bootstrap paths.
func build(ctx context.Context, tpl *samtemplate.Template, opts Options) (map[string]string, error) {
	paths := map[string]string{}
	for _, id := range tpl.FunctionNames() {
		fn := tpl.Functions[id]
		if fn.BuildMethod != "makefile" {
			return nil, fmt.Errorf("function %s: BuildMethod %q is not supported locally (only makefile)", id, fn.BuildMethod)
		}
		dir := filepath.Join(opts.BuildDir, id)
		paths[id] = filepath.Join(dir, "bootstrap")
		if opts.SkipBuild {
			continue
		}
		begin := time.Now()
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "build-"+id,
			"GOARCH="+runtime.GOARCH, "ARTIFACTS_DIR="+dir)
		cmd.Dir = opts.RepoDir
		cmd.WaitDelay = 5 * time.Second
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("make build-%s: %w\n%s", id, err, strings.TrimSpace(out.String()))
		}
		opts.Logger.Info("built function", slog.String("function", id), slog.String("arch", runtime.GOARCH),
			slog.Any("templateArchitectures", fn.Architectures), slog.Duration("took", time.Since(begin)))
	}
	return paths, nil
}

// createQueues creates every queue of the template, redrive targets first.
func (s *Stack) createQueues(ctx context.Context, client *sqs.Client, opts Options) error {
	pending := slices.Sorted(func(yield func(string) bool) {
		for id := range s.Template.Queues {
			if !yield(id) {
				return
			}
		}
	})
	for len(pending) > 0 {
		var next []string
		for _, id := range pending {
			q := s.Template.Queues[id]
			if q.DeadLetterQueue != "" {
				if _, ok := s.Queues[q.DeadLetterQueue]; !ok {
					if _, known := s.Template.Queues[q.DeadLetterQueue]; !known {
						return fmt.Errorf("queue %s: dead-letter queue %q is not a queue of the template", id, q.DeadLetterQueue)
					}
					next = append(next, id)
					continue
				}
			}
			created, err := createQueue(ctx, client, q, s.Queues[q.DeadLetterQueue], opts)
			if err != nil {
				return err
			}
			s.Queues[id] = created
		}
		if len(next) == len(pending) {
			return fmt.Errorf("queues %v: their redrive policies form a cycle", next)
		}
		pending = next
	}
	return nil
}

func createQueue(ctx context.Context, client *sqs.Client, q samtemplate.Queue, dlq Queue, opts Options) (Queue, error) {
	attrs := map[string]string{
		string(sqstypes.QueueAttributeNameVisibilityTimeout):      strconv.Itoa(q.VisibilityTimeout),
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(q.MessageRetentionPeriod),
	}
	if opts.VisibilityTimeout > 0 {
		attrs[string(sqstypes.QueueAttributeNameVisibilityTimeout)] = strconv.Itoa(int(opts.VisibilityTimeout.Seconds()))
	}
	name := q.LogicalID
	if q.FIFO {
		name += ".fifo"
		attrs[string(sqstypes.QueueAttributeNameFifoQueue)] = "true"
	}
	if q.DeadLetterQueue != "" {
		maxReceive := q.MaxReceiveCount
		if opts.MaxReceiveCount > 0 {
			maxReceive = opts.MaxReceiveCount
		}
		policy, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlq.ARN, "maxReceiveCount": maxReceive})
		attrs[string(sqstypes.QueueAttributeNameRedrivePolicy)] = string(policy)
	}
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return Queue{}, fmt.Errorf("create queue %s: %w", q.LogicalID, err)
	}
	got, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return Queue{}, fmt.Errorf("read the ARN of queue %s: %w", q.LogicalID, err)
	}
	return Queue{LogicalID: q.LogicalID, URL: aws.ToString(out.QueueUrl), ARN: got.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]}, nil
}

// startOkta starts and seeds the fake org unless a real one is configured.
func (s *Stack) startOkta(opts Options) error {
	if opts.OktaOrgURL != "" {
		s.OktaOrgURL = opts.OktaOrgURL
		s.logger.Info("using a real Okta org", slog.String("url", opts.OktaOrgURL))
		return nil
	}
	s.OktaAPIToken = "local-" + randomString()
	if opts.OktaMiddleware == nil {
		s.Okta = oktafake.New(oktafake.WithAPIToken(s.OktaAPIToken))
		s.closers = append(s.closers, func() error { s.Okta.Close(); return nil })
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("fake Okta org: listen on loopback: %w", err)
		}
		s.Okta = oktafake.NewHandler(oktafake.WithAPIToken(s.OktaAPIToken))
		s.Okta.URL = "http://" + ln.Addr().String()
		srv := &http.Server{Handler: opts.OktaMiddleware(s.Okta.Handler()), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		s.closers = append(s.closers, func() error {
			s.Okta.Close() // ends hung and delayed calls first
			return srv.Close()
		})
	}
	b, _ := json.Marshal(map[string]string{"apiToken": s.OktaAPIToken})
	s.OktaAPISecret = string(b)
	if opts.OktaServiceApp {
		secret, err := registerServiceApp(s.Okta)
		if err != nil {
			return err
		}
		s.OktaAPISecret = secret
	}
	s.Demo = oktafake.SeedDemo(s.Okta)
	s.OktaOrgURL = s.Okta.URL
	s.logger.Info("fake Okta org ready", slog.String("url", s.Okta.URL), slog.Int("users", len(s.Demo.Users)), slog.Int("tokens", len(s.Demo.Tokens)))
	return nil
}

// createSecrets creates the Okta API secret and the hook secret.
func (s *Stack) createSecrets(ctx context.Context, client *secretsmanager.Client, opts Options) error {
	apiSecret := opts.OktaAPISecret
	if s.Okta != nil {
		apiSecret = s.OktaAPISecret
	}
	for env, value := range map[string]string{EnvOktaAPISecretARN: apiSecret, EnvHookSecretARN: opts.HookSecret} {
		name := "okta-token-revoker/local/" + strings.ToLower(strings.TrimSuffix(env, "_ARN"))
		out, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			// Never wrap anything that could echo the value.
			return fmt.Errorf("create secret %s: %w", name, err)
		}
		s.SecretARNs[env] = aws.ToString(out.ARN)
	}
	s.HookSecret = opts.HookSecret
	return nil
}

// startFunctions prepares an execution environment pool per function.
func (s *Stack) startFunctions(bootstraps map[string]string, opts Options) error {
	s.HookAuthHeader = "Authorization"
	for _, id := range s.Template.FunctionNames() {
		fn := s.Template.Functions[id]
		env, err := s.environment(fn, opts)
		if err != nil {
			return err
		}
		if _, ok := env[EnvHookSecretARN]; ok && env[EnvHookAuthHeader] != "" {
			s.HookAuthHeader = env[EnvHookAuthHeader]
		}
		for k, v := range s.Moto.Env() {
			env[k] = v
		}
		for k, v := range opts.FunctionEnv {
			env[k] = v
		}
		f, err := lambdaruntime.New(lambdaruntime.Config{
			FunctionName:    id,
			Bootstrap:       bootstraps[id],
			Handler:         fn.Handler,
			Env:             env,
			AccessKeyID:     motoserver.AccessKeyID,
			SecretAccessKey: motoserver.SecretAccessKey,
			Timeout:         time.Duration(fn.Timeout) * time.Second,
			MemorySize:      fn.MemorySize,
			MaxEnvironments: opts.MaxEnvironments,
			Region:          motoserver.Region,
			Output:          opts.FunctionOutput,
			Logger:          s.logger,
		})
		if err != nil {
			return err
		}
		s.Functions[id] = f
		s.closers = append(s.closers, f.Close)
	}
	return nil
}

// environment resolves a function's environment variables for the local
// stack. Literals pass through; the variables naming Okta, the secrets and
// the queue get the local resources; !Ref to a parameter takes the override
// or the Default, !Ref to a queue its URL, !Ref to a DynamoDB table its
// name. Anything else is an error naming the variable, rather than a
// function started with a wrong value.
func (s *Stack) environment(fn samtemplate.Function, opts Options) (map[string]string, error) {
	env := map[string]string{}
	for name, v := range fn.Environment {
		switch name {
		case EnvOktaOrgURL:
			env[name] = s.OktaOrgURL
			continue
		case EnvOktaAPISecretARN, EnvHookSecretARN:
			env[name] = s.SecretARNs[name]
			continue
		}
		if !v.IsIntrinsic() {
			env[name] = v.Literal
			continue
		}
		ref, isRef := v.Args.(string)
		if v.Intrinsic != "Ref" || !isRef {
			return nil, fmt.Errorf("function %s: environment variable %s: %s is not supported by the local runner", fn.LogicalID, name, v)
		}
		if q, ok := s.Queues[ref]; ok {
			env[name] = q.URL
			if name == EnvRevocationQueueURL {
				s.RevocationQueue = q
				s.DeadLetterQueue = s.Queues[s.Template.Queues[ref].DeadLetterQueue]
			}
			continue
		}
		if name == EnvRevocationQueueURL {
			return nil, fmt.Errorf("function %s: %s must be !Ref to a queue of the template, not %s", fn.LogicalID, name, v)
		}
		if table, ok := s.Tables[ref]; ok {
			env[name] = table
			continue
		}
		if _, ok := s.Template.Parameters[ref]; !ok {
			return nil, fmt.Errorf("function %s: environment variable %s: !Ref %s names no parameter or queue", fn.LogicalID, name, ref)
		}
		val, err := ParameterValue(s.Template, opts.Parameters, ref)
		if err != nil {
			return nil, fmt.Errorf("function %s: environment variable %s: %w", fn.LogicalID, name, err)
		}
		env[name] = val
	}
	return env, nil
}

// serveAPI starts the HTTP server with the template's HttpApi routes.
func (s *Stack) serveAPI(opts Options) error {
	var routes []localapi.Route
	for _, id := range s.Template.FunctionNames() {
		fn := s.Template.Functions[id]
		for _, ev := range fn.Events {
			if ev.Type != "HttpApi" {
				continue
			}
			routes = append(routes, localapi.Route{
				Method:       ev.Method,
				Path:         ev.Path,
				Authorizer:   ev.Authorizer,
				Function:     s.Functions[id],
				FunctionName: id,
				Timeout:      time.Duration(ev.TimeoutInMillis) * time.Millisecond,
			})
			if ev.Method == http.MethodPost && ev.Authorizer == localapi.AuthorizerNone && s.functionReadsHookSecret(id) {
				s.HookPath = ev.Path
			}
		}
	}
	handler, err := localapi.New(localapi.Config{Routes: routes, Region: motoserver.Region, Logger: s.logger})
	if err != nil {
		return err
	}
	s.Routes = handler.RouteKeys()
	ln := s.apiListener
	s.URL = "http://" + ln.Addr().String()
	s.server = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("API server stopped", slog.Any("error", err))
		}
	}()
	s.closers = append(s.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.server.Shutdown(ctx); err != nil {
			return s.server.Close()
		}
		return nil
	})
	return nil
}

func (s *Stack) functionReadsHookSecret(id string) bool {
	_, ok := s.Template.Functions[id].Environment[EnvHookSecretARN]
	return ok
}

// startPollers starts an event source mapping per SQS event.
func (s *Stack) startPollers(client *sqs.Client, opts Options) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	// Stop the pollers before the functions and moto (closers run in reverse).
	s.closers = append(s.closers, func() error { cancel(); s.pollers.Wait(); return nil })
	for _, id := range s.Template.FunctionNames() {
		fn := s.Template.Functions[id]
		for _, ev := range fn.Events {
			if ev.Type != "SQS" {
				continue
			}
			q, ok := s.Queues[ev.Queue]
			if !ok {
				return fmt.Errorf("function %s: SQS event %s: queue %q is not a queue of the template", id, ev.Name, ev.Queue)
			}
			window := time.Duration(ev.MaximumBatchingWindowInSeconds) * time.Second
			if opts.BatchingWindow != nil {
				window = *opts.BatchingWindow
			}
			var onBatch func(localesm.BatchReport)
			if opts.OnBatch != nil {
				onBatch = func(r localesm.BatchReport) { opts.OnBatch(id, r) }
			}
			p, err := localesm.New(localesm.Config{
				SQS:                     client,
				QueueURL:                q.URL,
				QueueARN:                q.ARN,
				Region:                  motoserver.Region,
				Function:                s.Functions[id],
				FunctionName:            id,
				BatchSize:               ev.BatchSize,
				BatchingWindow:          window,
				MaximumConcurrency:      ev.MaximumConcurrency,
				ReportBatchItemFailures: slices.Contains(ev.FunctionResponseTypes, localesm.FunctionResponseReportBatchItemFailures),
				WaitTime:                opts.PollWaitTime,
				OnBatch:                 onBatch,
				Logger:                  s.logger,
			})
			if err != nil {
				return fmt.Errorf("function %s: SQS event %s: %w", id, ev.Name, err)
			}
			s.pollers.Add(1)
			go func() {
				defer s.pollers.Done()
				_ = p.Run(ctx)
			}()
		}
	}
	return nil
}

// Close stops everything the stack started, in reverse order, and waits for
// the processes to be gone. It is safe to call more than once.
func (s *Stack) Close() error {
	s.once.Do(func() {
		var errs []error
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// serviceAppClientID and serviceAppKeyID name the OAuth 2.0 service app
// registered with Options.OktaServiceApp.
const (
	serviceAppClientID = "0oalocalserviceapp01"
	serviceAppKeyID    = "local-key-1"
)

// ServiceAppScopes are the Okta scopes the README's Okta setup grants the
// service app, and so all the local one is granted: a function that asked
// for more would fail here as it would in a real org.
var ServiceAppScopes = []string{"okta.users.read", "okta.users.manage", "okta.apps.read", "okta.apps.manage", "okta.logs.read"}

// registerServiceApp registers an OAuth 2.0 service app in the fake org and
// returns the Okta API secret that authenticates as it.
func registerServiceApp(org *oktafake.Server) (string, error) {
	return org.NewServiceApp(serviceAppClientID, serviceAppKeyID, ServiceAppScopes...)
}

// randomString returns 128 random bits as text.
func randomString() string { return rand.Text() }

// lockedWriter serialises writes from several functions to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
