package hook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/okta-token-revoker/okta-token-revoker/bench/internal/benchkit"
	"github.com/okta-token-revoker/okta-token-revoker/internal/handlers/oktahook"
	"github.com/okta-token-revoker/okta-token-revoker/internal/logging"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/secrets"
	"github.com/okta-token-revoker/okta-token-revoker/internal/setup"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/samples"
)

func BenchmarkHook(b *testing.B) {
	repo, err := benchkit.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	sample := readSample(b, filepath.Join(repo, "events", "okta-hook-suspend.json"))
	srv := moto.Start(b)
	// The AWS configuration exactly as the function loads it (retries,
	// timeouts), pointed at moto through the environment.
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	awsCfg, err := setup.AWSConfig(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	secretARN := srv.CreateSecret(b, "okta-token-revoker/hook", samples.HookSecret)
	sqsClient := sqs.NewFromConfig(awsCfg)
	runs := 0

	for _, size := range []int{1, 10, 50} {
		b.Run("events="+strconv.Itoa(size), func(b *testing.B) {
			runs++
			queueURL, _ := srv.CreateQueueWithDLQ(b, fmt.Sprintf("bench-hook-%d", runs), 370*time.Second, 5)
			env := map[string]string{"HOOK_SECRET_ARN": secretARN, "REVOCATION_QUEUE_URL": queueURL}
			cfg, err := oktahook.LoadConfig(func(k string) string { return env[k] })
			if err != nil {
				b.Fatal(err)
			}
			// Info lines are formatted as in production; warnings and errors
			// are kept to explain a failed delivery.
			problems := &logtest.Buffer{}
			logger := slog.New(slog.NewMultiHandler(
				logging.NewHandler(io.Discard, slog.LevelInfo),
				logging.NewHandler(problems, slog.LevelWarn)))
			h, err := oktahook.New(cfg,
				secrets.NewCache(secretsmanager.NewFromConfig(awsCfg), cfg.SecretARN, cfg.SecretCacheTTL, secrets.WithLogger(logger)),
				queue.NewPublisher(sqsClient, cfg.QueueURL), logger, oktahook.WithMetrics(io.Discard))
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]events.APIGatewayV2HTTPRequest, b.N)
			for i := range reqs {
				reqs[i] = delivery(b, sample, size)
			}
			latencies := make([]time.Duration, 0, b.N)
			failed := 0
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				resp, err := h.Handle(context.Background(), reqs[i])
				latencies = append(latencies, time.Since(start))
				b.StopTimer()
				switch {
				case err != nil || resp.StatusCode < 500 && resp.StatusCode != 200:
					b.Fatalf("delivery %d: %v, status %d %s\n%s", i, err, resp.StatusCode, resp.Body, clip(problems.String(), 600))
				case resp.StatusCode != 200:
					// A 5xx is the handler's answer when SQS or Secrets
					// Manager did not answer within its budget (moto
					// stalls on a busy machine): Okta would retry it. It
					// is counted, not fatal.
					failed++
					b.Logf("delivery %d: status %d %s\n%s", i, resp.StatusCode, resp.Body, clip(problems.String(), 600))
					problems.Reset() // the next failure's log starts afresh
				default:
					if got := queued(b, sqsClient, queueURL); got != size {
						b.Fatalf("delivery %d: %d messages queued, want %d", i, got, size)
					}
				}
				// moto's SendMessageBatch slows down with every message
				// the queue holds (~0.15 ms each): empty the queue after
				// each delivery, untimed, so every delivery meets the
				// same queue, as with SQS.
				if _, err := sqsClient.PurgeQueue(context.Background(), &sqs.PurgeQueueInput{QueueUrl: aws.String(queueURL)}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			var busy time.Duration
			for _, l := range latencies {
				busy += l
			}
			ms := benchkit.Millis(latencies)
			b.ReportMetric(float64(b.N)/busy.Seconds(), "deliveries/s")
			b.ReportMetric(float64(b.N*size)/busy.Seconds(), "events/s")
			b.ReportMetric(benchkit.Quantile(ms, 0.50), "p50-ms")
			b.ReportMetric(benchkit.Quantile(ms, 0.99), "p99-ms")
			b.ReportMetric(float64(failed), "5xx")
		})
	}
}

// sampleDelivery is the sample suspend delivery, split into the API Gateway
// request and the parts of its body a new delivery varies.
type sampleDelivery struct {
	req   events.APIGatewayV2HTTPRequest
	body  map[string]json.RawMessage
	event map[string]json.RawMessage
}

func readSample(b *testing.B, path string) sampleDelivery {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var s sampleDelivery
	if err := json.Unmarshal(raw, &s.req); err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal([]byte(s.req.Body), &s.body); err != nil {
		b.Fatal(err)
	}
	var data struct {
		Events []map[string]json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(s.body["data"], &data); err != nil || len(data.Events) != 1 {
		b.Fatalf("sample delivery: want one event (%v)", err)
	}
	s.event = data.Events[0]
	return s
}

// delivery is a new delivery of n suspend events, each for another user.
func delivery(b *testing.B, s sampleDelivery, n int) events.APIGatewayV2HTTPRequest {
	evs := make([]map[string]json.RawMessage, n)
	for i := range evs {
		ev := make(map[string]json.RawMessage, len(s.event))
		for k, v := range s.event {
			ev[k] = v
		}
		user := "00u" + strings.ReplaceAll(uuid.NewString(), "-", "")[:17]
		ev["uuid"] = jsonString(uuid.NewString())
		ev["target"] = json.RawMessage(`[{"id":"` + user + `","type":"User","alternateId":"bench@example.com","displayName":"Bench User"}]`)
		evs[i] = ev
	}
	body := make(map[string]json.RawMessage, len(s.body))
	for k, v := range s.body {
		body[k] = v
	}
	body["eventId"] = jsonString(uuid.NewString())
	data, err := json.Marshal(map[string]any{"events": evs})
	if err != nil {
		b.Fatal(err)
	}
	body["data"] = data
	raw, err := json.Marshal(body)
	if err != nil {
		b.Fatal(err)
	}
	req := s.req
	req.Headers = make(map[string]string, len(s.req.Headers))
	for k, v := range s.req.Headers {
		req.Headers[k] = v
	}
	req.Headers["content-length"] = strconv.Itoa(len(raw))
	req.Body = string(raw)
	return req
}

func jsonString(s string) json.RawMessage {
	raw, _ := json.Marshal(s)
	return raw
}

// queued is the number of messages on the queue.
func queued(b *testing.B, client *sqs.Client, queueURL string) int {
	out, err := client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// clip shortens s to n bytes: the handler logs a whole delivery that was
// not queued, for replay; the start says why.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
