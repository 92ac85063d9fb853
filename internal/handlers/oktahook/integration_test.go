package oktahook

import (
	"context"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/secrets"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

// TestOnMoto runs the handler with the real Secrets Manager cache and SQS
// publisher against moto_server: deliveries really land on the queue with
// the right bodies, and a rotated hook secret is honoured.
func TestOnMoto(t *testing.T) {
	srv := moto.Start(t)
	ctx := context.Background()
	queueURL, _ := srv.CreateQueueWithDLQ(t, "revocations", 30*time.Second, 3)
	secretARN := srv.CreateSecret(t, "okta-token-revoker/hook", sampleSecret)
	env := map[string]string{"HOOK_SECRET_ARN": secretARN, "REVOCATION_QUEUE_URL": queueURL, "SECRET_CACHE_TTL": "1h"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	sqsClient := srv.SQS()
	h, err := New(cfg,
		secrets.NewCache(srv.SecretsManager(), cfg.SecretARN, cfg.SecretCacheTTL),
		queue.NewPublisher(sqsClient, cfg.QueueURL), logger)
	if err != nil {
		t.Fatal(err)
	}
	call := func(req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
		t.Helper()
		resp, err := h.Handle(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	withSecret := func(req events.APIGatewayV2HTTPRequest, secret string) events.APIGatewayV2HTTPRequest {
		return with(req, func(r *events.APIGatewayV2HTTPRequest) { r.Headers["authorization"] = secret })
	}

	t.Run("verification", func(t *testing.T) {
		resp := call(sample(t, "okta-hook-verification.json"))
		if resp.StatusCode != 200 || resp.Body != `{"verification":"W7wUqSr8rFz5bM9rHgDI8UKSNQMunnpEIP6AFQ3zv9h"}` {
			t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
		}
	})

	t.Run("batch lands on the queue", func(t *testing.T) {
		req := sample(t, "okta-hook-batch.json")
		if resp := call(req); resp.StatusCode != 200 || resp.Body != "" {
			t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
		}
		got := receiveAll(t, sqsClient, queueURL)
		eventID := "e5a8b9c0-6d7e-4f80-b1c2-3d4e5f6a7b88"
		want := []revocation.Request{
			{UserID: john, Reason: revocation.Reason{Source: "okta-event-hook", EventID: eventID, EventUUID: "b1e2d3c4-1111-4a5b-8c9d-0e1f2a3b4c5d", EventType: "user.account.lock", Published: "2026-03-02T13:00:01.000Z"}.JSON()},
			{UserID: jane, Reason: revocation.Reason{Source: "okta-event-hook", EventID: eventID, EventUUID: "b1e2d3c4-5555-4a5b-8c9d-0e1f2a3b4c5d", EventType: "security.breached_credential.detected", Published: "2026-03-02T13:00:04.000Z", MergedEventUUIDs: []string{"b1e2d3c4-4444-4a5b-8c9d-0e1f2a3b4c5d"}}.JSON()},
			{UserID: john, AppID: portal, Reason: revocation.Reason{Source: "okta-event-hook", EventID: eventID, EventUUID: "b1e2d3c4-6666-4a5b-8c9d-0e1f2a3b4c5d", EventType: "application.user_membership.remove", Published: "2026-03-02T13:00:05.000Z"}.JSON()},
		}
		if len(got) != len(want) {
			t.Fatalf("%d messages on the queue, want %d: %+v", len(got), len(want), got)
		}
		for i := range want {
			if got[i].RequestID == "" {
				t.Errorf("message %d has no requestId", i)
			}
			got[i].RequestID = ""
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("message %d:\n got %+v reason %s\nwant %+v reason %s", i, got[i], got[i].Reason, want[i], want[i].Reason)
			}
		}
	})

	t.Run("Okta's retry queues the same request ids again", func(t *testing.T) {
		req := sample(t, "okta-hook-suspend.json")
		call(req)
		call(req)
		got := receiveAll(t, sqsClient, queueURL)
		if len(got) != 2 || got[0].RequestID != got[1].RequestID || got[0].UserID != jane {
			t.Fatalf("got %+v, want the same request twice", got)
		}
	})

	t.Run("rotation", func(t *testing.T) {
		const next = "rotated-hook-secret-2"
		srv.PutSecretValue(t, secretARN, next)
		// Okta already sends the new value while the cache (TTL 1h) still
		// holds the old one: the mismatch triggers one re-read.
		if resp := call(withSecret(sample(t, "okta-hook-suspend.json"), next)); resp.StatusCode != 200 {
			t.Fatalf("new secret: %d %s", resp.StatusCode, resp.Body)
		}
		// The old value is AWSPREVIOUS now and still accepted.
		if resp := call(withSecret(sample(t, "okta-hook-app-deactivation.json"), sampleSecret)); resp.StatusCode != 200 {
			t.Fatalf("previous secret: %d %s", resp.StatusCode, resp.Body)
		}
		if resp := call(withSecret(sample(t, "okta-hook-suspend.json"), "wrong-secret-guess")); resp.StatusCode != 401 {
			t.Fatalf("wrong secret: %d %s", resp.StatusCode, resp.Body)
		}
		got := receiveAll(t, sqsClient, queueURL)
		if len(got) != 2 {
			t.Fatalf("%d messages after rotation, want 2: %+v", len(got), got)
		}
	})

	t.Run("queue missing", func(t *testing.T) {
		h2, err := New(cfg, secrets.NewCache(srv.SecretsManager(), cfg.SecretARN, time.Hour),
			queue.NewPublisher(sqsClient, queueURL+"-does-not-exist"), logger)
		if err != nil {
			t.Fatal(err)
		}
		req := sample(t, "okta-hook-suspend.json")
		resp, err := h2.Handle(ctx, req)
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("got %d %v, want 503", resp.StatusCode, err)
		}
	})

	t.Run("SQS unreachable", func(t *testing.T) {
		awsCfg := srv.AWSConfig()
		awsCfg.BaseEndpoint = aws.String("http://127.0.0.1:1") // nothing listens there
		short := cfg
		short.EnqueueTimeout = 300 * time.Millisecond
		h3, err := New(short, secrets.NewCache(srv.SecretsManager(), cfg.SecretARN, time.Hour),
			queue.NewPublisher(sqs.NewFromConfig(awsCfg), queueURL), logger)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h3.Handle(ctx, sample(t, "okta-hook-suspend.json"))
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("got %d %v, want 503", resp.StatusCode, err)
		}
	})

	for _, s := range []string{sampleSecret, "rotated-hook-secret-2", "wrong-secret-guess"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs contain the secret %q", s)
		}
	}
}

// receiveAll drains the queue and returns the requests sorted by event.
func receiveAll(t *testing.T, client *sqs.Client, queueURL string) []revocation.Request {
	t.Helper()
	ctx := context.Background()
	var out []revocation.Request
	var orderKey []string
	for {
		resp, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(resp.Messages) == 0 {
			break
		}
		for _, m := range resp.Messages {
			r, err := revocation.Parse([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatalf("message %s is not a valid revocation request: %v", aws.ToString(m.Body), err)
			}
			reason, err := r.DecodeReason()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
			orderKey = append(orderKey, reason.EventUUID)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return orderKey[idx[a]] < orderKey[idx[b]] })
	sorted := make([]revocation.Request, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted
}
