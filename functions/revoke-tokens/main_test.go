package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/lambdatest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/samples"
)

// apiToken is the fake org's API token; it must never be logged.
const apiToken = "00Bootstrap-Test-API-Token-Never-Logged"

// TestBootstrap builds the function as Lambda runs it and invokes it with
// the sample events under a local Runtime API, against moto_server (the
// secret, the queue) and the fake Okta: the wiring in main really reads the
// secret, really calls Okta and really queues.
func TestBootstrap(t *testing.T) {
	bin := lambdatest.Build(t, "RevokeTokensFunction")

	srv := moto.Start(t)
	queueURL, _ := srv.CreateQueueWithDLQ(t, "revocations", 360*time.Second, 5)
	secretARN := srv.CreateSecret(t, "okta-token-revoker/okta-api", `{"apiToken":"`+apiToken+`"}`)
	org := oktafake.NewTest(t, oktafake.WithAPIToken(apiToken))

	env := lambdatest.Env(srv, map[string]string{
		"OKTA_ORG_URL":         org.URL,
		"OKTA_API_SECRET_ARN":  secretARN,
		"REVOCATION_QUEUE_URL": queueURL,
		"LOG_LEVEL":            "debug",
	})
	with := func(kv ...string) map[string]string {
		out := make(map[string]string, len(env)+len(kv)/2)
		for k, v := range env {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	start := func(t *testing.T, env map[string]string) (*lambdaruntime.Function, *lambdatest.Output) {
		t.Helper()
		var out *lambdatest.Output
		// Registered before Start's, so it runs after the function is closed.
		t.Cleanup(func() {
			if out != nil && strings.Contains(out.String(), apiToken) {
				t.Errorf("the Okta API token is in the function's output")
			}
		})
		var fn *lambdaruntime.Function
		fn, out = bin.Start(t, env, 60*time.Second)
		return fn, out
	}
	invoke := func(t *testing.T, fn *lambdaruntime.Function, out *lambdatest.Output, event string) []byte {
		t.Helper()
		return lambdatest.Invoke(t, fn, out, event).Payload
	}
	httpStatus := func(t *testing.T, payload []byte) int {
		t.Helper()
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(payload, &resp); err != nil {
			t.Fatalf("response %s: %v", payload, err)
		}
		return resp.StatusCode
	}
	seed := func() {
		org.Reset()
		org.AddApp(samples.Client, "", "Sample app")
		org.AddToken(samples.User, samples.Client)
		org.AddToken(samples.User, "0oaOtherClient000000")
		org.AddToken(samples.User2, samples.Client)
	}

	t.Run("DELETE routes revoke in Okta", func(t *testing.T) {
		fn, out := start(t, env)
		seed()
		// In order, on one org: each event revokes what it names.
		for _, tt := range []struct {
			event      string
			wantStatus int
			wantLeft   int
		}{
			{"revoke-user-client-token.json", 204, 3}, // no such token: already gone, still 204
			{"revoke-user-client-tokens.json", 204, 2},
			{"revoke-user-tokens.json", 204, 1},
			{"revoke-app-token.json", 204, 1}, // no such token
			{"revoke-app-tokens.json", 204, 0},
		} {
			if got := httpStatus(t, invoke(t, fn, out, tt.event)); got != tt.wantStatus {
				t.Fatalf("%s: status %d, want %d\n%s", tt.event, got, tt.wantStatus, out)
			}
			if left := len(org.ActiveTokens("", "")); left != tt.wantLeft {
				t.Fatalf("%s: %d tokens left, want %d", tt.event, left, tt.wantLeft)
			}
		}
		logs := out.String()
		if !strings.Contains(logs, `"caller":"arn:aws:sts::123456789012:assumed-role/TokenOperator/operator@example.com"`) {
			t.Errorf("audit records do not name the caller:\n%s", logs)
		}
		if !strings.Contains(logs, `"_aws":{`) || !strings.Contains(logs, `"Namespace":"OktaTokenRevoker"`) {
			t.Errorf("no EMF metrics line:\n%s", logs)
		}
	})

	t.Run("POST /revocations queues", func(t *testing.T) {
		fn, out := start(t, env)
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(invoke(t, fn, out, "revoke-post-revocations.json"), &resp); err != nil || resp.StatusCode != 202 {
			t.Fatalf("response %+v (%v)\n%s", resp, err, out)
		}
		var body struct {
			RequestIDs []string `json:"requestIds"`
		}
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || len(body.RequestIDs) != 3 || body.RequestIDs[1] != "sec-1234-2" {
			t.Fatalf("body %s (%v)", resp.Body, err)
		}
		var queued []string
		for len(queued) < 3 {
			msgs, err := srv.SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs.Messages) == 0 {
				t.Fatalf("queued %d of 3", len(queued))
			}
			for _, m := range msgs.Messages {
				req, err := revocation.Parse([]byte(aws.ToString(m.Body)))
				if err != nil {
					t.Fatalf("queued %s: %v", aws.ToString(m.Body), err)
				}
				queued = append(queued, req.RequestID)
			}
		}
		slices.Sort(queued)
		want := slices.Clone(body.RequestIDs)
		slices.Sort(want)
		if !slices.Equal(queued, want) {
			t.Fatalf("queued %v, answered %v", queued, want)
		}
	})

	t.Run("SQS batches", func(t *testing.T) {
		fn, out := start(t, env)
		seed()
		var resp events.SQSEventResponse
		if err := json.Unmarshal(invoke(t, fn, out, "sqs-revocations.json"), &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("response %+v (%v)\n%s", resp, err, out)
		}
		if left := org.ActiveTokens("", ""); len(left) != 0 {
			t.Fatalf("tokens left: %v", left)
		}
		if err := json.Unmarshal(invoke(t, fn, out, "sqs-poison.json"), &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "059f36b4-87a3-44ab-83d2-661975350004" {
			t.Fatalf("failures %+v, want the poison message only", resp.BatchItemFailures)
		}
		if !strings.Contains(out.String(), `"poison":true`) {
			t.Errorf("no poison record:\n%s", out)
		}
	})

	t.Run("DRY_RUN revokes nothing", func(t *testing.T) {
		fn, out := start(t, with("DRY_RUN", "true"))
		seed()
		var resp events.SQSEventResponse
		if err := json.Unmarshal(invoke(t, fn, out, "sqs-revocations.json"), &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("response %+v (%v)\n%s", resp, err, out)
		}
		if got := httpStatus(t, invoke(t, fn, out, "revoke-user-tokens.json")); got != 200 {
			t.Fatalf("dry-run DELETE: status %d, want 200", got)
		}
		if left := len(org.ActiveTokens("", "")); left != 3 {
			t.Fatalf("%d tokens left after a dry run, want 3", left)
		}
	})

	t.Run("bad configuration fails init", func(t *testing.T) {
		for _, kv := range [][]string{
			{"REVOKE_CONCURRENCY", "many"},
			{"DRY_RUN", "perhaps"},
			{"REVOCATION_QUEUE_URL", ""},
		} {
			fn, out := start(t, with(kv...))
			res, err := fn.Invoke(context.Background(), lambdatest.Event(t, "revoke-user-tokens.json"))
			if err == nil && res.Error == nil {
				t.Fatalf("%s=%q: invocation succeeded: %s", kv[0], kv[1], res.Payload)
			}
			if !strings.Contains(out.String(), "revoke-tokens cannot start") || !strings.Contains(out.String(), kv[0]) {
				t.Errorf("%s=%q: init error not logged:\n%s", kv[0], kv[1], out)
			}
		}
	})
}
