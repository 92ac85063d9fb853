package revocation

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// eventsDir holds the sample events the functions are invoked with.
const eventsDir = "../../events"

// seedRequests adds, from the sample events, every SQS message body and
// every POST /revocations body: the requests real producers send.
func seedRequests(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample events in %s: %v", eventsDir, err)
	}
	seeded := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var sqsEvent events.SQSEvent
		if json.Unmarshal(data, &sqsEvent) == nil {
			for _, r := range sqsEvent.Records {
				f.Add([]byte(r.Body))
				seeded++
			}
		}
		var httpEvent events.APIGatewayV2HTTPRequest
		if json.Unmarshal(data, &httpEvent) == nil && httpEvent.RouteKey == "POST /revocations" && !httpEvent.IsBase64Encoded {
			f.Add([]byte(httpEvent.Body))
			seeded++
		}
	}
	if seeded == 0 {
		f.Fatalf("the sample events in %s hold no revocation request", eventsDir)
	}
}

// FuzzParseBatch checks POST /revocations' parser: errors wrap ErrInvalid,
// and whatever it accepts is a non-empty list of valid requests that read
// back unchanged from their queue form (what the function enqueues).
func FuzzParseBatch(f *testing.F) {
	seedRequests(f)
	f.Add([]byte(`[{"userId":"00u1"},{"userId":"00u1","clientId":"0oa1"}]`))
	f.Add([]byte(`[{"userId":"00u1","clientID":"0oa1"}]`))
	f.Add([]byte(`[{"appId":"0oa1","tokenId":"../x"}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		reqs, err := ParseBatch(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if len(reqs) == 0 {
			t.Fatalf("ParseBatch(%q) accepted an empty batch", data)
		}
		for i, r := range reqs {
			if err := r.Validate(); err != nil {
				t.Fatalf("request %d fails validation: %v", i, err)
			}
			body, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(body)
			if err != nil {
				t.Fatalf("request %d as queued (%s) does not parse: %v", i, body, err)
			}
			if back.Scope() != r.Scope() || back.UserID != r.UserID || back.ClientID != r.ClientID ||
				back.AppID != r.AppID || back.TokenID != r.TokenID || back.RequestID != r.RequestID {
				t.Fatalf("request %d changed on the way through the queue: %+v became %+v", i, r, back)
			}
		}
	})
}
