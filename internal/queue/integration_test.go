package queue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

// motoServer is shared by the tests of this package; each test uses its own
// queue.
var motoServer *moto.Server

func TestMain(m *testing.M) { moto.Main(m, &motoServer) }

// receiveAll receives until want messages arrived (then checks once more
// for extras) or the queue stays empty, and deletes what it received.
func receiveAll(t *testing.T, client *sqs.Client, queueURL string, want int) []types.Message {
	t.Helper()
	ctx := context.Background()
	var got []types.Message
	for empty := 0; empty < 3; {
		wait := int32(1)
		if len(got) >= want {
			// Everything expected is here; one quick look for extras.
			wait, empty = 0, 2
		}
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              &queueURL,
			MaxNumberOfMessages:   10,
			WaitTimeSeconds:       wait,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(out.Messages) == 0 {
			empty++
		}
		for _, m := range out.Messages {
			got = append(got, m)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &queueURL, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
	return got
}

func TestPublishToMoto(t *testing.T) {
	client := motoServer.SQS()
	for _, n := range []int{1, 10, 11, 25} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			queueURL, _ := motoServer.CreateQueueWithDLQ(t, fmt.Sprintf("publish-%d", n), 30*time.Second, 5)
			msgs := make([]Message, n)
			want := map[string]map[string]string{} // body -> attributes
			for i := range msgs {
				// IDs SQS would reject as entry ids: Publish must map them.
				msgs[i] = Message{
					ID:         fmt.Sprintf("urn:req/%d with spaces", i),
					Body:       fmt.Sprintf(`{"userId":"00u%d","scope":"user"}`, i),
					Attributes: map[string]string{"scope": "user", "requestId": fmt.Sprintf("r-%d", i)},
				}
				want[msgs[i].Body] = msgs[i].Attributes
			}
			if err := NewPublisher(client, queueURL).Publish(context.Background(), msgs); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			got := receiveAll(t, client, queueURL, n)
			if len(got) != n {
				t.Fatalf("received %d messages, want %d", len(got), n)
			}
			for _, m := range got {
				body := aws.ToString(m.Body)
				wantAttrs, ok := want[body]
				if !ok {
					t.Fatalf("unexpected or duplicate body %q", body)
				}
				delete(want, body)
				gotAttrs := map[string]string{}
				for k, v := range m.MessageAttributes {
					if aws.ToString(v.DataType) != "String" {
						t.Errorf("attribute %s has type %s", k, aws.ToString(v.DataType))
					}
					gotAttrs[k] = aws.ToString(v.StringValue)
				}
				if !maps.Equal(gotAttrs, wantAttrs) {
					t.Errorf("attributes of %s = %v, want %v", body, gotAttrs, wantAttrs)
				}
			}
		})
	}
}

func TestPublishToMissingQueue(t *testing.T) {
	client := motoServer.SQS()
	queueURL := motoServer.URL() + "/123456789012/does-not-exist"
	msgs := []Message{{ID: "a", Body: "x"}, {ID: "b", Body: "y"}}
	err := NewPublisher(client, queueURL).Publish(context.Background(), msgs)
	var pe *PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("Publish = %v, want *PublishError", err)
	}
	if !slices.Equal(pe.Failed, []string{"a", "b"}) || !slices.Equal(pe.Permanent, []string{"a", "b"}) {
		t.Fatalf("Failed %v, Permanent %v; want both a, b", pe.Failed, pe.Permanent)
	}
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("error %v does not carry QueueDoesNotExist", err)
	}
}

func TestPublishUnreachableEndpoint(t *testing.T) {
	// A loopback port nobody listens on: connections are refused at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name        string
		sdkAttempts int // 0: the SDK's default retryer
		wantCause   string
	}{
		// The SDK's own backoff outlasts the deadline and hides the cause.
		{"default SDK retryer", 0, "context deadline exceeded"},
		// Publish's retry loop sees each refusal and reports the last one.
		{"Publish retries", 1, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := motoServer.AWSConfig()
			cfg.BaseEndpoint = aws.String(endpoint)
			cfg.RetryMaxAttempts = tt.sdkAttempts
			client := sqs.NewFromConfig(cfg)

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			msgs := messages(11)
			err := NewPublisher(client, endpoint+"/123456789012/q").Publish(ctx, msgs)
			var pe *PublishError
			if !errors.As(err, &pe) {
				t.Fatalf("Publish = %v, want *PublishError", err)
			}
			if !slices.Equal(pe.Failed, ids(msgs)) {
				t.Fatalf("Failed = %v, want all ids", pe.Failed)
			}
			if len(pe.Permanent) != 0 {
				t.Fatalf("a refused connection is not permanent: %v", pe.Permanent)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v does not say the deadline ended the attempts", err)
			}
			if !strings.Contains(err.Error(), tt.wantCause) {
				t.Errorf("error %v lacks %q", err, tt.wantCause)
			}
		})
	}
}

func TestDelayRedeliveryOnMoto(t *testing.T) {
	ctx := context.Background()
	client := motoServer.SQS()
	// Visibility 0: a received message is visible again at once, unless
	// DelayRedelivery hides it.
	queueURL, _ := motoServer.CreateQueueWithDLQ(t, "delay", 0, 100)
	if err := NewPublisher(client, queueURL).Publish(ctx, []Message{{ID: "m", Body: "delay me"}}); err != nil {
		t.Fatal(err)
	}
	receive := func() []types.Message {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	first := receive()
	if len(first) != 1 {
		t.Fatalf("received %d messages, want 1", len(first))
	}
	if err := DelayRedelivery(ctx, client, queueURL, aws.ToString(first[0].ReceiptHandle), time.Hour); err != nil {
		t.Fatalf("DelayRedelivery: %v", err)
	}
	if got := receive(); len(got) != 0 {
		t.Fatalf("message visible after DelayRedelivery(1h): %v", got)
	}
	if err := DelayRedelivery(ctx, client, queueURL, aws.ToString(first[0].ReceiptHandle), 0); err != nil {
		t.Fatalf("DelayRedelivery(0): %v", err)
	}
	if got := receive(); len(got) != 1 || aws.ToString(got[0].Body) != "delay me" {
		t.Fatalf("message not visible again after DelayRedelivery(0): %v", got)
	}
}

func TestPublishDelayOnMoto(t *testing.T) {
	ctx := context.Background()
	client := motoServer.SQS()
	queueURL, _ := motoServer.CreateQueueWithDLQ(t, "delayed-send", 30, 5)
	if err := NewPublisher(client, queueURL).Publish(ctx, []Message{{ID: "m", Body: "later", Delay: MaxDelay}, {ID: "n", Body: "now"}}); err != nil {
		t.Fatal(err)
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "now" {
		t.Fatalf("received %d messages (%v), want only the undelayed one", len(out.Messages), out.Messages)
	}
}
