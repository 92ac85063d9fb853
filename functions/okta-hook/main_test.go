package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/lambdatest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/samples"
)

// TestBootstrap builds the function as Lambda runs it and invokes it under
// a local Runtime API against moto_server: the wiring in main really reads
// the secret and really queues.
func TestBootstrap(t *testing.T) {
	bin := lambdatest.Build(t, "OktaHookFunction")

	srv := moto.Start(t)
	queueURL, _ := srv.CreateQueueWithDLQ(t, "revocations", 30*time.Second, 3)
	secretARN := srv.CreateSecret(t, "okta-token-revoker/hook", samples.HookSecret)
	env := lambdatest.Env(srv, map[string]string{
		"HOOK_SECRET_ARN":      secretARN,
		"REVOCATION_QUEUE_URL": queueURL,
		"LOG_LEVEL":            "debug",
	})

	t.Run("delivery is queued", func(t *testing.T) {
		fn, out := bin.Start(t, env, 10*time.Second)
		res := lambdatest.Invoke(t, fn, out, "okta-hook-suspend.json")
		t.Logf("cold start: init %v, invocation %v", res.InitDuration, res.Duration)
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(res.Payload, &resp); err != nil || resp.StatusCode != 200 {
			t.Fatalf("response %s (%v)\n%s", res.Payload, err, out)
		}
		msgs, err := srv.SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs.Messages) != 1 {
			t.Fatalf("%d messages, want 1", len(msgs.Messages))
		}
		req, err := revocation.Parse([]byte(aws.ToString(msgs.Messages[0].Body)))
		if err != nil || req.UserID != samples.HookUser || req.Scope() != revocation.ScopeUser {
			t.Fatalf("queued %s (%v)", aws.ToString(msgs.Messages[0].Body), err)
		}
		logs := out.String()
		if !strings.Contains(logs, `"msg":"delivery queued"`) || !strings.Contains(logs, `"requestId":"`+res.RequestID+`"`) {
			t.Errorf("no summary line with the Lambda request id:\n%s", logs)
		}
		if !strings.Contains(logs, `"HookRevocationsQueued":1`) {
			t.Errorf("no EMF metrics line:\n%s", logs)
		}
		if strings.Contains(logs, samples.HookSecret) {
			t.Errorf("the hook secret is in the function's output:\n%s", logs)
		}
	})

	t.Run("bad configuration fails init", func(t *testing.T) {
		bad := make(map[string]string, len(env))
		for k, v := range env {
			bad[k] = v
		}
		bad["REVOKE_ON_EVENTS"] = "user.lifecycle.suspend,user.session.end"
		fn, out := bin.Start(t, bad, 10*time.Second)
		res, err := fn.Invoke(context.Background(), lambdatest.Event(t, "okta-hook-suspend.json"))
		if err == nil && res.Error == nil {
			t.Fatalf("invocation succeeded with an unknown event type: %s", res.Payload)
		}
		if !strings.Contains(out.String(), `unknown event type \"user.session.end\"`) {
			t.Errorf("init error not logged:\n%s", out)
		}
	})
}
