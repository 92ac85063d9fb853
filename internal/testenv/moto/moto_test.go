package moto

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestServerLifecycle(t *testing.T) {
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moto_server ready after %s", s.StartupTime())
	resp, err := http.Get(s.URL() + "/moto-api/")
	if err != nil {
		t.Fatalf("server not answering: %v", err)
	}
	resp.Body.Close()

	s.Stop()
	s.Stop() // idempotent
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(s.URL() + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answering after Stop")
	}
}

func TestStartFailsWithoutMoto(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := start()
	if err == nil {
		t.Fatal("start succeeded without moto_server on PATH")
	}
	if !strings.Contains(err.Error(), "moto_server not found on PATH") {
		t.Fatalf("unclear error: %v", err)
	}
}

func TestEnv(t *testing.T) {
	env := env("http://127.0.0.1:1")
	for _, want := range []string{
		"AWS_ENDPOINT_URL=http://127.0.0.1:1",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("Env() lacks %q: %v", want, env)
		}
	}
}

func TestHelpers(t *testing.T) {
	s := Start(t)
	ctx := context.Background()

	t.Run("queue with DLQ redrives after maxReceive", func(t *testing.T) {
		queueURL, dlqURL := s.CreateQueueWithDLQ(t, "helpers", 30*time.Second, 1)
		client := s.SQS()
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &queueURL, MessageBody: aws.String("hello")}); err != nil {
			t.Fatal(err)
		}
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, WaitTimeSeconds: 1})
		if err != nil || len(got.Messages) != 1 {
			t.Fatalf("receive 1: %v, %v", got, err)
		}
		// Make it visible again at once.
		if _, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: &queueURL, ReceiptHandle: got.Messages[0].ReceiptHandle, VisibilityTimeout: 0,
		}); err != nil {
			t.Fatal(err)
		}
		// Second receive exceeds maxReceiveCount 1: moto moves it to the DLQ.
		if _, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, WaitTimeSeconds: 1}); err != nil {
			t.Fatal(err)
		}
		dead, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &dlqURL, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(dead.Messages) != 1 || aws.ToString(dead.Messages[0].Body) != "hello" {
			t.Fatalf("DLQ holds %v, want the message", dead.Messages)
		}
		attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       &queueURL,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout},
		})
		if err != nil {
			t.Fatal(err)
		}
		if v := attrs.Attributes["VisibilityTimeout"]; v != "30" {
			t.Fatalf("VisibilityTimeout = %q, want 30", v)
		}
	})

	t.Run("secret rotation sets stages", func(t *testing.T) {
		arn := s.CreateSecret(t, "helpers/secret", "one")
		if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:") {
			t.Fatalf("unexpected ARN %q", arn)
		}
		s.PutSecretValue(t, arn, "two")
		sm := s.SecretsManager()
		for stage, want := range map[string]string{"AWSCURRENT": "two", "AWSPREVIOUS": "one"} {
			out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn, VersionStage: aws.String(stage)})
			if err != nil {
				t.Fatalf("%s: %v", stage, err)
			}
			if got := aws.ToString(out.SecretString); got != want {
				t.Errorf("%s = %q, want %q", stage, got, want)
			}
		}
	})

	t.Run("reset drops state", func(t *testing.T) {
		s.CreateSecret(t, "helpers/reset", "x")
		s.Reset(t)
		_, err := s.SecretsManager().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("helpers/reset")})
		if err == nil {
			t.Fatal("secret survived Reset")
		}
	})
}

func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		s, err := start()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(s.StartupTime().Milliseconds()), "ms-to-ready")
		s.Stop()
	}
}
