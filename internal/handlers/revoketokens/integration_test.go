package revoketokens

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

// sqsDriver plays Lambda's SQS event source mapping against a real queue:
// receive a batch, invoke the handler, delete what it did not report as
// failed.
type sqsDriver struct {
	t        *testing.T
	client   *sqs.Client
	queueURL string
	h        *Handler
	timeout  time.Duration // the function timeout; default 60 s
}

// receive returns up to 10 visible messages as the event source would pass
// them, waiting at most wait for the first.
func (d *sqsDriver) receive(url string, wait time.Duration) []events.SQSMessage {
	d.t.Helper()
	out, err := d.client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MaxNumberOfMessages:         10,
		WaitTimeSeconds:             int32(wait / time.Second),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		d.t.Fatalf("receive: %v", err)
	}
	var msgs []events.SQSMessage
	for _, m := range out.Messages {
		msg := events.SQSMessage{
			MessageId:         aws.ToString(m.MessageId),
			ReceiptHandle:     aws.ToString(m.ReceiptHandle),
			Body:              aws.ToString(m.Body),
			Attributes:        m.Attributes,
			MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSource:       "aws:sqs",
		}
		for k, v := range m.MessageAttributes {
			msg.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

// invoke runs one batch through the Lambda entry point, as JSON, with a
// deadline like Lambda's, and deletes the messages that succeeded.
func (d *sqsDriver) invoke(msgs []events.SQSMessage) (failed []string) {
	d.t.Helper()
	payload, err := json.Marshal(events.SQSEvent{Records: msgs})
	if err != nil {
		d.t.Fatal(err)
	}
	timeout := d.timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := d.h.Invoke(ctx, payload)
	if err != nil {
		d.t.Fatalf("invoke: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		d.t.Fatal(err)
	}
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	for _, m := range msgs {
		if slices.Contains(failed, m.MessageId) {
			continue
		}
		if _, err := d.client.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{
			QueueUrl: aws.String(d.queueURL), ReceiptHandle: aws.String(m.ReceiptHandle),
		}); err != nil {
			d.t.Fatalf("delete: %v", err)
		}
	}
	return failed
}

func TestIntegrationWithSQS(t *testing.T) {
	srv := moto.Start(t)
	client := srv.SQS()

	newDriver := func(t *testing.T, name string, mod func(*Config)) (*sqsDriver, *fakeStack, string) {
		// Visibility 1 s and maxReceiveCount 2 keep redeliveries quick.
		queueURL, dlqURL := srv.CreateQueueWithDLQ(t, name, time.Second, 2)
		s := newFakeStack(t, false, func(c *Config) {
			c.SQS = client
			c.QueueURL = queueURL
			c.Publisher = queue.NewPublisher(client, queueURL)
			c.Jitter = func(time.Duration) time.Duration { return 0 }
			if mod != nil {
				mod(c)
			}
		})
		return &sqsDriver{t: t, client: client, queueURL: queueURL, h: s.h}, s, dlqURL
	}

	t.Run("POST /revocations is consumed and revokes", func(t *testing.T) {
		d, s, _ := newDriver(t, "post-then-consume", nil)
		s.org.AddToken("00uAlice", "0oaMail")
		s.org.AddToken("00uBob", "0oaMail")
		resp, err := s.h.HandleHTTP(context.Background(),
			apiRequest(RouteRevocations, nil, `[{"userId":"00uAlice","reason":{"ticket":"SEC-7"}},{"userId":"00uBob","clientId":"0oaMail"}]`))
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("POST: %d %s %v", resp.StatusCode, resp.Body, err)
		}
		msgs := d.receive(d.queueURL, time.Second)
		if len(msgs) != 2 {
			t.Fatalf("received %d messages, want 2", len(msgs))
		}
		for _, m := range msgs {
			if a := m.MessageAttributes[AttrCaller]; a.StringValue == nil || *a.StringValue != callerARN {
				t.Errorf("message attributes = %v, want the caller", m.MessageAttributes)
			}
		}
		if failed := d.invoke(msgs); len(failed) != 0 {
			t.Fatalf("failed: %v", failed)
		}
		if left := s.org.ActiveTokens("", ""); len(left) != 0 {
			t.Fatalf("tokens left: %v", left)
		}
		var enqueuedBy bool
		for _, r := range s.logs.Records(t) {
			if r["action"] != nil && r["enqueuedBy"] == callerARN {
				enqueuedBy = true
			}
		}
		if !enqueuedBy {
			t.Error("audit records do not name who queued the request")
		}
	})

	t.Run("a poison message reaches the DLQ after redeliveries", func(t *testing.T) {
		d, _, dlqURL := newDriver(t, "poison", nil)
		if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{
			QueueUrl: aws.String(d.queueURL), MessageBody: aws.String(`{"userId":"00uAlice","clientID":"0oaMail"}`),
		}); err != nil {
			t.Fatal(err)
		}
		receives := 0
		for range 10 {
			msgs := d.receive(d.queueURL, 2*time.Second)
			if len(msgs) == 0 {
				if receives >= 2 {
					break // redriven
				}
				continue
			}
			receives++
			if failed := d.invoke(msgs); !slices.Equal(failed, []string{msgs[0].MessageId}) {
				t.Fatalf("receive %d: failed = %v, want the poison message", receives, failed)
			}
		}
		if receives != 2 {
			t.Fatalf("the poison message was received %d times, want maxReceiveCount = 2", receives)
		}
		dead := d.receive(dlqURL, 2*time.Second)
		if len(dead) != 1 || dead[0].Body != `{"userId":"00uAlice","clientID":"0oaMail"}` {
			t.Fatalf("DLQ holds %v, want the poison message unchanged", dead)
		}
	})

	t.Run("a 429 defers the request until Okta's reset", func(t *testing.T) {
		d, s, _ := newDriver(t, "rate-limited", func(c *Config) { c.DeadlineReserve = 100 * time.Millisecond })
		s.org.AddToken("00uAlice", "0oaMail")
		s.org.AddToken("00uBob", "0oaChat")
		// One call per 5 s window on the apps bucket, and a function
		// timeout too short to wait for the next window: the second app
		// revocation of the batch gets a 429 from the client.
		s.org.SetBucketRateLimit(oktafake.BucketApps, 1, 5*time.Second)
		d.timeout = 4 * time.Second
		for _, body := range []string{`{"appId":"0oaMail"}`, `{"appId":"0oaChat"}`} {
			if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{
				QueueUrl: aws.String(d.queueURL), MessageBody: aws.String(body),
			}); err != nil {
				t.Fatal(err)
			}
		}
		var msgs []events.SQSMessage
		for len(msgs) < 2 {
			got := d.receive(d.queueURL, time.Second)
			if len(got) == 0 {
				t.Fatalf("received %d of 2 messages", len(msgs))
			}
			msgs = append(msgs, got...)
		}
		failed := d.invoke(msgs)
		if len(failed) != 0 {
			t.Fatalf("failed = %v, want none: the rate-limited message is deferred, not failed", failed)
		}
		// The original is deleted; a copy waits for Okta's reset, so it
		// is not there yet, and its receive count starts again.
		if early := d.receive(d.queueURL, 0); len(early) != 0 {
			t.Fatalf("the rate-limited request came back before Okta's reset: %v", early[0].Body)
		}
		var again []events.SQSMessage
		for range 10 {
			if again = d.receive(d.queueURL, 2*time.Second); len(again) > 0 {
				break
			}
		}
		if len(again) != 1 || again[0].Attributes["ApproximateReceiveCount"] != "1" ||
			again[0].MessageAttributes[AttrDeferrals].StringValue == nil || *again[0].MessageAttributes[AttrDeferrals].StringValue != "1" {
			t.Fatalf("redelivery = %+v, want the deferred copy, received once, with deferrals 1", again)
		}
		if f := d.invoke(again); len(f) != 0 {
			t.Fatalf("after the reset: failed %v", f)
		}
		if left := s.org.ActiveTokens("", ""); len(left) != 0 {
			t.Fatalf("tokens left: %v", left)
		}
	})
}
