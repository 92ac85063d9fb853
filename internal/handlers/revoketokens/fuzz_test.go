package revoketokens

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

var requestSeeds = []string{
	`{"userId":"00uA"}`,
	`{"userId":"00uA","clientId":"0oaC","tokenId":"oarT"}`,
	`{"userId":"00uA","appId":"0oaA","reason":{"eventType":"user.lifecycle.suspend"}}`,
	`{"appId":"0oaA","tokenId":"oarT","requestId":"r-1","version":1}`,
	`[{"userId":"00uA"},{"appId":"0oaA"}]`,
	`{"userId":"00uA","clientID":"0oaC"}`,
	`{"userId":"00u/../x"}`,
	`{"userId":"00uA"} {"userId":"00uB"}`,
	`{"version":2,"userId":"00uA"}`,
	`[]`, `{}`, `null`, ``, `"x"`, `[{"userId":"00uA","requestId":"d"},{"appId":"0oaA","requestId":"d"}]`,
}

// FuzzInvoke feeds arbitrary events to the Lambda entry point: it must
// never panic, and whatever it answers must be JSON.
func FuzzInvoke(f *testing.F) {
	files, _ := filepath.Glob("../../../events/*.json")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"Records":[{"eventSource":"aws:sqs","messageId":"m","body":"{}"}]}`))
	f.Add([]byte(`{"routeKey":"POST /revocations","requestContext":{"http":{"method":"POST"}},"body":"[]"}`))
	f.Add([]byte(`{"Records":[]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		env := newTestEnv(t, nil, nil)
		out, err := env.h.Invoke(context.Background(), payload)
		if err == nil && !json.Valid(out) {
			t.Fatalf("answer is not JSON: %q", out)
		}
	})
}

// FuzzSQSBody: a message fails exactly when its body is not a valid
// revocation request (the stub executor always succeeds).
func FuzzSQSBody(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		env := newTestEnv(t, nil, nil)
		resp, err := env.h.HandleSQS(context.Background(), events.SQSEvent{Records: []events.SQSMessage{sqsMessage("m", body)}})
		if err != nil {
			t.Fatal(err)
		}
		_, parseErr := revocation.Parse([]byte(body))
		if failed := len(resp.BatchItemFailures) == 1; failed != (parseErr != nil) {
			t.Fatalf("body %q: failed=%v, parse error %v", body, failed, parseErr)
		}
		if parseErr == nil && len(env.exec.called()) != 1 {
			t.Fatalf("body %q: executed %d times", body, len(env.exec.called()))
		}
	})
}

// FuzzPostRevocations: the route answers 202 exactly when the body is a
// valid batch, 400 or 413 otherwise, and queues nothing on a rejection.
func FuzzPostRevocations(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add(s, false)
	}
	f.Add("W3sidXNlcklkIjoiMDB1QSJ9XQ==", true)
	f.Fuzz(func(t *testing.T, body string, base64 bool) {
		env := newTestEnv(t, nil, nil)
		req := apiRequest(RouteRevocations, nil, body)
		req.IsBase64Encoded = base64
		resp, err := env.h.HandleHTTP(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		switch resp.StatusCode {
		case 202:
			var out EnqueueResponse
			if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || len(out.RequestIDs) != len(env.pub.msgs) {
				t.Fatalf("202 body %s, %d queued", resp.Body, len(env.pub.msgs))
			}
			for _, m := range env.pub.msgs {
				if _, err := revocation.Parse([]byte(m.Body)); err != nil {
					t.Fatalf("queued an invalid request %s: %v", m.Body, err)
				}
			}
		case 400, 413:
			if len(env.pub.msgs) != 0 {
				t.Fatalf("status %d but queued %d", resp.StatusCode, len(env.pub.msgs))
			}
			if !json.Valid([]byte(resp.Body)) {
				t.Fatalf("error body is not JSON: %q", resp.Body)
			}
		default:
			t.Fatalf("status %d for body %q", resp.StatusCode, body)
		}
		if !base64 {
			_, parseErr := revocation.ParseBatch([]byte(body))
			switch {
			case parseErr != nil && resp.StatusCode == 202:
				t.Fatalf("invalid batch accepted: %q", body)
			case parseErr == nil && resp.StatusCode == 400 && !strings.Contains(resp.Body, "same requestId"):
				// A valid batch is rejected only for repeated request ids.
				t.Fatalf("valid batch rejected: %s", resp.Body)
			}
		}
	})
}
