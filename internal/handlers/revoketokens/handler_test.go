package revoketokens

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// The production types satisfy the handler's interfaces, and the handler is
// what lambda.Start takes.
var (
	_ lambda.Handler = (*Handler)(nil)
	_ Executor       = (*revocation.Executor)(nil)
	_ Publisher      = (*queue.Publisher)(nil)
)

func TestInvokeDispatchesByEventShape(t *testing.T) {
	sqsEvent, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{
		sqsMessage("ok", `{"appId":"0oaA"}`), sqsMessage("poison", `[]`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	httpEvent, err := json.Marshal(apiRequest(RouteAppTokens, map[string]string{"appId": "0oaA"}, ""))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		payload string
		want    string // substring of the response
		wantErr string
		trigger string
	}{
		{name: "sqs", payload: string(sqsEvent), want: `{"batchItemFailures":[{"itemIdentifier":"poison"}]}`, trigger: "sqs"},
		{name: "http", payload: string(httpEvent), want: `"statusCode":204`, trigger: "http"},
		{name: "not JSON", payload: `nope`, wantErr: "not a JSON object"},
		{name: "other event", payload: `{"detail-type":"Scheduled Event","source":"aws.events"}`, wantErr: "unsupported event"},
		{name: "records of another source", payload: `{"Records":[{"eventSource":"aws:sns"}]}`, wantErr: "unsupported event"},
		{name: "routeKey without http context", payload: `{"routeKey":"DELETE /apps/{appId}/tokens"}`, wantErr: "unsupported event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, nil, nil)
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
			out, err := env.h.Invoke(ctx, []byte(tt.payload))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if len(env.exec.called()) != 0 {
					t.Fatal("executed something for an unsupported event")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("response %s, want it to contain %s", out, tt.want)
			}
			doc := metricsDoc(t, env.metrics)
			if doc["Trigger"] != tt.trigger || doc["lambdaRequestId"] != "lambda-req-1" {
				t.Fatalf("metrics Trigger = %v, lambdaRequestId = %v", doc["Trigger"], doc["lambdaRequestId"])
			}
		})
	}
}

func TestNewNeedsAnExecutor(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("want an error")
	}
}
