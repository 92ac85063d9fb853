package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe/dedupetest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/lambdatest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

// TestBootstrap builds the function as Lambda runs it and invokes it with
// the sample events under a local Runtime API, against moto_server (SQS,
// Secrets Manager, DynamoDB) and the fake Okta org's System Log.
func TestBootstrap(t *testing.T) {
	bin := lambdatest.Build(t, "ReconcileFunction")

	srv := moto.Start(t)
	const apiToken = "reconcile-test-api-token-do-not-log"
	org := oktafake.NewTest(t, oktafake.WithAPIToken(apiToken))
	queueURL, _ := srv.CreateQueueWithDLQ(t, "revocations", 30*time.Second, 3)
	secretARN := srv.CreateSecret(t, "okta-token-revoker/okta-api", `{"apiToken":"`+apiToken+`"}`)
	dedupetest.CreateTable(t, srv.AWSConfig(), "dedupe")
	env := lambdatest.Env(srv, map[string]string{
		"OKTA_ORG_URL":         org.URL,
		"OKTA_API_SECRET_ARN":  secretARN,
		"REVOCATION_QUEUE_URL": queueURL,
		"DEDUPE_TABLE_NAME":    "dedupe",
		"LOG_LEVEL":            "debug",
	})
	queued := func(t *testing.T) []revocation.Request {
		t.Helper()
		resp, err := srv.SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		var out []revocation.Request
		for _, m := range resp.Messages {
			r, err := revocation.Parse([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
			srv.SQS().DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle})
		}
		return out
	}
	reasonSource := func(t *testing.T, r revocation.Request) string {
		reason, err := r.DecodeReason()
		if err != nil {
			t.Fatal(err)
		}
		return reason.Source
	}

	fn, out := bin.Start(t, env, 30*time.Second)
	t.Run("a scheduled poll queues what the hook missed", func(t *testing.T) {
		org.AddLogEvent(oktafake.NewLogEvent("user.lifecycle.deactivate", oktafake.LogTarget{ID: "00uadm1nXyZ12345h1d7", Type: "User"},
			oktafake.LogTarget{ID: "00ub0oNGTSWTBKOLJOHN", Type: "User"}))
		lambdatest.Invoke(t, fn, out, "eventbridge-schedule.json")
		got := queued(t)
		if len(got) != 1 || got[0].UserID != "00ub0oNGTSWTBKOLJOHN" || reasonSource(t, got[0]) != "okta-system-log" {
			t.Fatalf("queued %+v\n%s", got, out)
		}
		logs := out.String()
		if !strings.Contains(logs, `"ReconcileEventsQueued":1`) || !strings.Contains(logs, `"msg":"poll finished"`) {
			t.Errorf("no metrics or summary line:\n%s", logs)
		}
	})
	t.Run("a log stream event is queued once", func(t *testing.T) {
		lambdatest.Invoke(t, fn, out, "eventbridge-okta-log-stream.json")
		lambdatest.Invoke(t, fn, out, "eventbridge-okta-log-stream.json") // EventBridge delivers at least once
		got := queued(t)
		if len(got) != 1 || got[0].UserID != "00ub0oNGTSWTBKOLGLNR" || reasonSource(t, got[0]) != "okta-log-stream" {
			t.Fatalf("queued %+v\n%s", got, out)
		}
	})
	if strings.Contains(out.String(), apiToken) {
		t.Errorf("the Okta API token is in the function's output")
	}

	t.Run("missing configuration is an init error", func(t *testing.T) {
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		delete(bad, "DEDUPE_TABLE_NAME")
		bad["RECONCILE_MAX_PAGES"] = "0"
		fn, out := bin.Start(t, bad, 30*time.Second)
		res, err := fn.Invoke(context.Background(), []byte(`{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
		if err == nil && res.Error == nil {
			t.Fatalf("invocation succeeded without configuration\n%s", out)
		}
		logs := out.String()
		if !strings.Contains(logs, "reconcile cannot start") || !strings.Contains(logs, "DEDUPE_TABLE_NAME") || !strings.Contains(logs, "RECONCILE_MAX_PAGES") {
			t.Errorf("init error does not name the problems:\n%s", logs)
		}
	})
}
