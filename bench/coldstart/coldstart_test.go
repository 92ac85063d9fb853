package coldstart

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/okta-token-revoker/okta-token-revoker/bench/internal/benchkit"
	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/setup"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/samples"
)

// apiToken is the fake org's API token.
const apiToken = "00Bench-Cold-Start-API-Token"

// fixture is what the functions talk to: moto_server (queue, secrets) and
// the fake Okta org, each behind a timing proxy so that a cold start's wait
// on them can be told apart from the function's own time.
type fixture struct {
	moto                      *moto.Server
	org                       *oktafake.Server
	awsProxy, oktaProxy       *benchkit.TimingProxy
	queueURL                  string
	hookSecretARN, oktaAPIARN string
}

// resetDownstream zeroes the proxies' totals.
func (f *fixture) resetDownstream() {
	f.awsProxy.Reset()
	f.oktaProxy.Reset()
}

// downstream is the time spent in calls to moto_server and the fake Okta
// since resetDownstream, and how many calls there were.
func (f *fixture) downstream() (time.Duration, int) {
	aws, n := f.awsProxy.Total()
	okta, m := f.oktaProxy.Total()
	return aws + okta, n + m
}

// function is one bootstrap under test and the event that stands for its
// typical first invocation.
type function struct {
	name    string
	build   func(ctx context.Context, repo, dir string) (string, error)
	event   string // file in events/; "" sends {}
	env     func(*fixture) map[string]string
	seed    func(*fixture)
	checkOK func(payload []byte) error
}

var functions = []function{
	{
		name: "minimal",
		build: func(ctx context.Context, repo, dir string) (string, error) {
			return benchkit.BuildPackage(ctx, repo, dir, "Minimal", "./bench/minimal")
		},
		env:     func(*fixture) map[string]string { return map[string]string{} },
		checkOK: func(p []byte) error { return expect(string(p) == "{}", "response %s", p) },
	},
	{
		// Okta's one-time verification GET: reads the hook secret from
		// Secrets Manager.
		name:  "okta-hook-verify",
		build: buildFunction("OktaHookFunction"),
		event: "okta-hook-verification.json",
		env: func(f *fixture) map[string]string {
			return map[string]string{"HOOK_SECRET_ARN": f.hookSecretARN, "REVOCATION_QUEUE_URL": f.queueURL}
		},
		checkOK: httpStatus(200),
	},
	{
		// A suspend delivery: reads the hook secret from Secrets Manager,
		// queues one revocation on SQS.
		name:  "okta-hook",
		build: buildFunction("OktaHookFunction"),
		event: "okta-hook-suspend.json",
		env: func(f *fixture) map[string]string {
			return map[string]string{"HOOK_SECRET_ARN": f.hookSecretARN, "REVOCATION_QUEUE_URL": f.queueURL}
		},
		checkOK: httpStatus(200),
	},
	{
		// One page of a user's tokens for a client: reads the Okta secret,
		// one Okta GET.
		name:  "list-tokens",
		build: buildFunction("ListTokensFunction"),
		event: "list-user-client-tokens.json",
		env: func(f *fixture) map[string]string {
			return map[string]string{"OKTA_ORG_URL": f.oktaProxy.URL, "OKTA_API_SECRET_ARN": f.oktaAPIARN}
		},
		seed:    seedTokens,
		checkOK: httpStatus(200),
	},
	{
		// An SQS batch of three revocations (user-wide, user+client,
		// app token): reads the Okta secret, several Okta calls.
		name:  "revoke-tokens",
		build: buildFunction("RevokeTokensFunction"),
		event: "sqs-revocations.json",
		env: func(f *fixture) map[string]string {
			return map[string]string{"OKTA_ORG_URL": f.oktaProxy.URL, "OKTA_API_SECRET_ARN": f.oktaAPIARN, "REVOCATION_QUEUE_URL": f.queueURL}
		},
		seed: seedTokens,
		checkOK: func(p []byte) error {
			var resp events.SQSEventResponse
			if err := json.Unmarshal(p, &resp); err != nil {
				return fmt.Errorf("response %s: %w", p, err)
			}
			return expect(len(resp.BatchItemFailures) == 0, "batch item failures %+v", resp.BatchItemFailures)
		},
	},
}

func buildFunction(logicalID string) func(ctx context.Context, repo, dir string) (string, error) {
	return func(ctx context.Context, repo, dir string) (string, error) {
		return benchkit.BuildFunction(ctx, repo, dir, logicalID)
	}
}

func seedTokens(f *fixture) {
	f.org.Reset()
	f.org.AddApp(samples.Client, "", "Sample app")
	f.org.AddToken(samples.User, samples.Client)
	f.org.AddToken(samples.User, "0oaOtherClient000000")
	f.org.AddToken(samples.User2, samples.Client)
}

func httpStatus(want int) func([]byte) error {
	return func(p []byte) error {
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(p, &resp); err != nil {
			return fmt.Errorf("response %s: %w", p, err)
		}
		return expect(resp.StatusCode == want, "status %d, want %d: %s", resp.StatusCode, want, resp.Body)
	}
}

func expect(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func BenchmarkColdStart(b *testing.B) {
	repo, err := benchkit.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bootstraps := make([]string, len(functions))
	for i, fn := range functions {
		if bootstraps[i], err = fn.build(b.Context(), repo, dir); err != nil {
			b.Fatal(err)
		}
	}

	srv := moto.Start(b)
	org := oktafake.New(oktafake.WithAPIToken(apiToken))
	b.Cleanup(org.Close)
	queueURL, _ := srv.CreateQueueWithDLQ(b, "revocations", 370*time.Second, 5)
	awsProxy, err := benchkit.NewTimingProxy(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(awsProxy.Close)
	oktaProxy, err := benchkit.NewTimingProxy(org.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(oktaProxy.Close)
	fx := &fixture{
		moto:          srv,
		org:           org,
		awsProxy:      awsProxy,
		oktaProxy:     oktaProxy,
		queueURL:      queueURL,
		hookSecretARN: srv.CreateSecret(b, "okta-token-revoker/hook", samples.HookSecret),
		oktaAPIARN:    srv.CreateSecret(b, "okta-token-revoker/okta-api", `{"apiToken":"`+apiToken+`"}`),
	}

	// The floor is measured beside each function, not once before them all:
	// every iteration cold-starts the minimal function and the function
	// under test back to back (in alternating order), so that both see the
	// same machine. A floor taken minutes earlier moved with the machine's
	// state by as much as 70% between runs, and x-floor with it.
	var minimal function
	var minimalBootstrap string
	for i, fn := range functions {
		if fn.name == "minimal" {
			minimal, minimalBootstrap = fn, bootstraps[i]
		}
	}
	for i, fn := range functions {
		payload, err := readEvent(repo, fn.event)
		if err != nil {
			b.Fatal(err)
		}
		info, err := os.Stat(bootstraps[i])
		if err != nil {
			b.Fatal(err)
		}
		paired := fn.name != minimal.name
		b.Run("function="+fn.name, func(b *testing.B) {
			var initMs, firstMs, invokeMs, warmMs, rssMB, downMs, ownMs, calls, floorMs []float64
			measureFloor := func() {
				b.StopTimer()
				floorMs = append(floorMs, ms(coldStart(b, fx, minimal, minimalBootstrap, []byte("{}")).firstResponse))
				b.StartTimer()
			}
			for n := range b.N {
				if paired && n%2 == 0 {
					measureFloor()
				}
				if fn.seed != nil {
					b.StopTimer()
					fn.seed(fx)
					b.StartTimer()
				}
				r := coldStart(b, fx, fn, bootstraps[i], payload)
				if paired && n%2 == 1 {
					measureFloor()
				}
				initMs = append(initMs, ms(r.init))
				firstMs = append(firstMs, ms(r.firstResponse))
				invokeMs = append(invokeMs, ms(r.firstInvoke))
				warmMs = append(warmMs, ms(r.warm))
				rssMB = append(rssMB, float64(r.peakRSS)/(1<<20))
				downMs = append(downMs, ms(r.downstream))
				ownMs = append(ownMs, ms(r.firstResponse-r.downstream))
				calls = append(calls, float64(r.downstreamCalls))
			}
			first, own := benchkit.Median(firstMs), benchkit.Median(ownMs)
			b.ReportMetric(benchkit.Median(initMs), "init-ms")
			b.ReportMetric(benchkit.Median(invokeMs), "first-invoke-ms")
			b.ReportMetric(first, "first-response-ms")
			b.ReportMetric(benchkit.Median(downMs), "downstream-ms")
			b.ReportMetric(benchkit.Median(calls), "calls")
			b.ReportMetric(own, "own-ms")
			if floor := benchkit.Median(floorMs); paired && floor > 0 {
				b.ReportMetric(floor, "floor-ms")
				b.ReportMetric(first/floor, "x-floor")
				b.ReportMetric(own/floor, "own-x-floor")
			}
			b.ReportMetric(benchkit.Median(warmMs), "warm-response-ms")
			b.ReportMetric(benchkit.Median(rssMB), "peak-rss-MB")
			b.ReportMetric(float64(info.Size())/(1<<20), "binary-MB")
		})
	}
	benchmarkFirstCalls(b, fx)
}

// benchmarkFirstCalls measures, for reference, what the functions' first
// downstream calls cost here: a fresh AWS SDK client (configured as the
// functions configure it) making its first call to moto_server, connection
// setup included.
func benchmarkFirstCalls(b *testing.B, fx *fixture) {
	for _, kv := range fx.moto.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	for _, call := range []struct {
		name string
		do   func(ctx context.Context, cfg aws.Config) error
	}{
		{"secretsmanager-GetSecretValue", func(ctx context.Context, cfg aws.Config) error {
			_, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(fx.hookSecretARN)})
			return err
		}},
		{"sqs-SendMessageBatch", func(ctx context.Context, cfg aws.Config) error {
			_, err := sqs.NewFromConfig(cfg).SendMessageBatch(ctx, &sqs.SendMessageBatchInput{
				QueueUrl: aws.String(fx.queueURL),
				Entries:  []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String(`{"userId":"00ubench0000000000001"}`)}},
			})
			return err
		}},
	} {
		b.Run("first-call="+call.name, func(b *testing.B) {
			var callMs []float64
			for range b.N {
				cfg, err := setup.AWSConfig(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := call.do(b.Context(), cfg); err != nil {
					b.Fatal(err)
				}
				callMs = append(callMs, ms(time.Since(start)))
			}
			b.ReportMetric(benchkit.Median(callMs), "call-ms")
		})
	}
}

type coldStartResult struct {
	init, firstResponse, firstInvoke, warm time.Duration
	peakRSS                                int64
	// downstream is the part of firstResponse spent waiting on moto_server
	// and the fake Okta, over downstreamCalls calls.
	downstream      time.Duration
	downstreamCalls int
}

// readEvent reads a sample event from events/; "" stands for {}.
func readEvent(repo, name string) ([]byte, error) {
	if name == "" {
		return []byte("{}"), nil
	}
	return os.ReadFile(filepath.Join(repo, "events", name))
}

// coldStart starts a fresh execution environment, sends it one event and
// shuts it down.
func coldStart(b *testing.B, fx *fixture, fn function, bootstrap string, payload []byte) coldStartResult {
	env := fn.env(fx)
	for _, kv := range fx.moto.Env() {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY":
			continue // the runtime sets them
		case "AWS_ENDPOINT_URL":
			v = fx.awsProxy.URL
		}
		env[k] = v
	}
	out := &logtest.Buffer{}
	f, err := lambdaruntime.New(lambdaruntime.Config{
		FunctionName: "Bench-" + fn.name, Bootstrap: bootstrap, Env: env,
		Region: moto.Region, AccessKeyID: moto.AccessKeyID, SecretAccessKey: moto.SecretAccessKey,
		Timeout: 30 * time.Second, MaxEnvironments: 1, Output: out,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	invoke := func(cold bool) (lambdaruntime.Result, time.Duration) {
		start := time.Now()
		res, err := f.Invoke(context.Background(), payload)
		took := time.Since(start)
		if err == nil && res.Error != nil {
			err = res.Error
		}
		if err == nil {
			err = fn.checkOK(res.Payload)
		}
		if err == nil && res.ColdStart != cold {
			err = fmt.Errorf("cold start %v, want %v", res.ColdStart, cold)
		}
		if err != nil {
			b.Fatalf("%s: %v\n%s", fn.name, err, out)
		}
		return res, took
	}
	fx.resetDownstream()
	res, first := invoke(true)
	down, calls := fx.downstream()
	// The same event again in the now warm environment: what the first
	// response costs beyond the steady state.
	b.StopTimer()
	defer b.StartTimer()
	if fn.seed != nil {
		fn.seed(fx)
	}
	_, warm := invoke(false)
	_ = f.Close()
	st := f.Stats()
	if len(st.PeakRSS) != 1 {
		b.Fatalf("%s: %d peak RSS values, want one (stats %+v)\n%s", fn.name, len(st.PeakRSS), st, out)
	}
	return coldStartResult{init: res.InitDuration, firstResponse: first, firstInvoke: res.Duration, warm: warm, peakRSS: st.PeakRSS[0],
		downstream: down, downstreamCalls: calls}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
