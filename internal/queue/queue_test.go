package queue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// fakeAPI records every SendMessageBatch call and answers with respond
// (default: every entry succeeds).
type fakeAPI struct {
	mu      sync.Mutex
	calls   []*sqs.SendMessageBatchInput
	respond func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)

	visibility []*sqs.ChangeMessageVisibilityInput
	visErr     error
}

func (f *fakeAPI) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	call := len(f.calls)
	f.calls = append(f.calls, in)
	respond := f.respond
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if respond == nil {
		return allOK(in), nil
	}
	return respond(call, in)
}

func (f *fakeAPI) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.visibility = append(f.visibility, in)
	if f.visErr != nil {
		return nil, f.visErr
	}
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// sentBodies is every body in every call, in order.
func (f *fakeAPI) sentBodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		for _, e := range c.Entries {
			out = append(out, aws.ToString(e.MessageBody))
		}
	}
	return out
}

func allOK(in *sqs.SendMessageBatchInput) *sqs.SendMessageBatchOutput {
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("mid-" + aws.ToString(e.Id))})
	}
	return out
}

// failSome answers entries whose body is in fail with the given failure
// and lets the others through.
func failSome(in *sqs.SendMessageBatchInput, fail map[string]bool, code string, senderFault bool) *sqs.SendMessageBatchOutput {
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if fail[aws.ToString(e.MessageBody)] {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String(code), Message: aws.String("fake failure"), SenderFault: senderFault})
			continue
		}
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out
}

func messages(n int) []Message {
	ms := make([]Message, n)
	for i := range ms {
		ms[i] = Message{ID: fmt.Sprintf("req-%02d", i), Body: fmt.Sprintf(`{"n":%d}`, i), Attributes: map[string]string{"source": "test"}}
	}
	return ms
}

func fastPublisher(api API) *Publisher {
	p := NewPublisher(api, "https://sqs.example/123/q")
	p.minBackoff, p.maxBackoff = time.Millisecond, 5*time.Millisecond
	return p
}

var entryIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func TestPublishChunks(t *testing.T) {
	big := strings.Repeat("x", 100<<10) // three fit under 256 KiB? no: two do
	tests := []struct {
		name  string
		msgs  []Message
		sizes []int // entries per SendMessageBatch call
	}{
		{"one", messages(1), []int{1}},
		{"ten", messages(10), []int{10}},
		{"eleven", messages(11), []int{10, 1}},
		{"twenty-five", messages(25), []int{10, 10, 5}},
		{"by bytes", []Message{{ID: "a", Body: big}, {ID: "b", Body: big}, {ID: "c", Body: big}, {ID: "d", Body: "small"}}, []int{2, 2}},
		{"oversized alone", []Message{{ID: "a", Body: strings.Repeat("y", 300<<10)}, {ID: "b", Body: "small"}}, []int{1, 1}},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{}
			if err := fastPublisher(api).Publish(context.Background(), tt.msgs); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			var sizes []int
			for _, c := range api.calls {
				sizes = append(sizes, len(c.Entries))
				if aws.ToString(c.QueueUrl) != "https://sqs.example/123/q" {
					t.Errorf("QueueUrl = %q", aws.ToString(c.QueueUrl))
				}
				for _, e := range c.Entries {
					if !entryIDPattern.MatchString(aws.ToString(e.Id)) {
						t.Errorf("entry id %q does not match SQS's pattern", aws.ToString(e.Id))
					}
				}
			}
			if !slices.Equal(sizes, tt.sizes) {
				t.Fatalf("batch sizes = %v, want %v", sizes, tt.sizes)
			}
			var want []string
			for _, m := range tt.msgs {
				want = append(want, m.Body)
			}
			if got := api.sentBodies(); !slices.Equal(got, want) {
				t.Fatalf("sent %d bodies, want %d in order", len(got), len(want))
			}
		})
	}
}

func TestPublishDelay(t *testing.T) {
	api := &fakeAPI{}
	msgs := []Message{{ID: "now", Body: "b"}, {ID: "later", Body: "b", Delay: 1500 * time.Millisecond}, {ID: "max", Body: "b", Delay: MaxDelay}}
	if err := fastPublisher(api).Publish(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	var got []int32
	for _, e := range api.calls[0].Entries {
		got = append(got, e.DelaySeconds)
	}
	if !slices.Equal(got, []int32{0, 2, 900}) {
		t.Fatalf("DelaySeconds = %v, want [0 2 900] (rounded up)", got)
	}
}

func TestPublishAttributesAreStrings(t *testing.T) {
	api := &fakeAPI{}
	msg := Message{ID: "x", Body: "b", Attributes: map[string]string{"scope": "user", "eventType": "user.lifecycle.deactivate"}}
	if err := fastPublisher(api).Publish(context.Background(), []Message{msg}); err != nil {
		t.Fatal(err)
	}
	got := api.calls[0].Entries[0].MessageAttributes
	if len(got) != 2 {
		t.Fatalf("attributes = %v", got)
	}
	for k, v := range msg.Attributes {
		a := got[k]
		if aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != v {
			t.Errorf("attribute %s = %s/%s, want String/%s", k, aws.ToString(a.DataType), aws.ToString(a.StringValue), v)
		}
	}
}

func TestPublishRetriesOnlyFailedEntries(t *testing.T) {
	msgs := messages(12)
	flaky := map[string]bool{msgs[1].Body: true, msgs[7].Body: true, msgs[11].Body: true}
	api := &fakeAPI{respond: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		if call < 2 { // the first round: two batches
			return failSome(in, flaky, "InternalError", false), nil
		}
		return allOK(in), nil
	}}
	if err := fastPublisher(api).Publish(context.Background(), msgs); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if len(api.calls) != 3 {
		t.Fatalf("%d calls, want 3 (two batches, one retry)", len(api.calls))
	}
	var retried []string
	for _, e := range api.calls[2].Entries {
		retried = append(retried, aws.ToString(e.MessageBody))
	}
	want := []string{msgs[1].Body, msgs[7].Body, msgs[11].Body}
	if !slices.Equal(retried, want) {
		t.Fatalf("retried %v, want %v", retried, want)
	}
}

func TestPublishFailures(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "RequestThrottled", Message: "slow down", Fault: smithy.FaultClient}
	noQueue := &types.QueueDoesNotExist{Message: aws.String("The specified queue does not exist.")}
	tests := []struct {
		name          string
		msgs          []Message
		respond       func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)
		timeout       time.Duration
		wantFailed    []string
		wantPermanent []string
		wantCalls     int // -1: don't check
		wantIs        error
		wantInError   string
	}{
		{
			name: "sender fault is permanent and not retried",
			msgs: messages(3),
			respond: func(_ int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
				return failSome(in, map[string]bool{`{"n":1}`: true}, "InvalidParameterValue", true), nil
			},
			wantFailed: []string{"req-01"}, wantPermanent: []string{"req-01"}, wantCalls: 1,
			wantInError: "InvalidParameterValue",
		},
		{
			name: "throttled call is retried",
			msgs: messages(3),
			respond: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
				if call < 2 {
					return nil, throttled
				}
				return allOK(in), nil
			},
			wantCalls: 3,
		},
		{
			name: "missing queue stops at once",
			msgs: messages(25),
			respond: func(int, *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
				return nil, noQueue
			},
			wantFailed: ids(messages(25)), wantPermanent: ids(messages(25)), wantCalls: 1,
			wantIs: noQueue, wantInError: "does not exist",
		},
		{
			name: "retryable failures until the context ends",
			msgs: messages(11),
			respond: func(_ int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
				return failSome(in, map[string]bool{`{"n":4}`: true, `{"n":10}`: true}, "ServiceUnavailable", false), nil
			},
			timeout:    50 * time.Millisecond,
			wantFailed: []string{"req-04", "req-10"}, wantCalls: -1,
			wantIs: context.DeadlineExceeded, wantInError: "ServiceUnavailable",
		},
		{
			name: "entry missing from the answer is retried",
			msgs: messages(2),
			respond: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
				out := allOK(in)
				if call == 0 {
					out.Successful = out.Successful[:1]
				}
				return out, nil
			},
			wantCalls: 2,
		},
		{
			name: "invalid messages are reported, the rest sent",
			msgs: []Message{
				{ID: "ok", Body: "fine"},
				{ID: "empty", Body: ""},
				{ID: "nul", Body: "a\x00b"},
				{ID: "bad-utf8", Body: "a\xffb"},
				{ID: "attr-name", Body: "x", Attributes: map[string]string{"AWS.x": "v"}},
				{ID: "attr-empty", Body: "x", Attributes: map[string]string{"k": ""}},
				{ID: "dup", Body: "x"},
				{ID: "dup", Body: "y"},
				{ID: "", Body: "no id"},
				{ID: "delay-neg", Body: "x", Delay: -time.Second},
				{ID: "delay-long", Body: "x", Delay: MaxDelay + time.Second},
				{ID: "ok2", Body: "also fine"},
			},
			wantFailed:    []string{"empty", "nul", "bad-utf8", "attr-name", "attr-empty", "dup", "dup", "", "delay-neg", "delay-long"},
			wantPermanent: []string{"empty", "nul", "bad-utf8", "attr-name", "attr-empty", "dup", "dup", "", "delay-neg", "delay-long"},
			wantCalls:     1, wantIs: ErrInvalidMessage,
		},
		{
			name: "invalid message and a transient failure",
			msgs: []Message{{ID: "bad", Body: ""}, {ID: "ok", Body: "fine"}},
			respond: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
				if call == 0 {
					return nil, throttled
				}
				return allOK(in), nil
			},
			wantFailed: []string{"bad"}, wantPermanent: []string{"bad"}, wantCalls: 2,
			wantIs: ErrInvalidMessage, wantInError: "empty body",
		},
		{
			name:       "context already done",
			msgs:       messages(3),
			timeout:    -1,
			wantFailed: ids(messages(3)), wantCalls: 0, wantIs: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{respond: tt.respond}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			switch {
			case tt.timeout > 0:
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			case tt.timeout < 0:
				cancel()
			}
			err := fastPublisher(api).Publish(ctx, tt.msgs)
			if tt.wantCalls >= 0 && len(api.calls) != tt.wantCalls {
				t.Errorf("%d SendMessageBatch calls, want %d", len(api.calls), tt.wantCalls)
			}
			if tt.wantFailed == nil {
				if err != nil {
					t.Fatalf("Publish: %v", err)
				}
				return
			}
			var pe *PublishError
			if !errors.As(err, &pe) {
				t.Fatalf("Publish = %v, want *PublishError", err)
			}
			if !slices.Equal(pe.Failed, tt.wantFailed) {
				t.Errorf("Failed = %q, want %q", pe.Failed, tt.wantFailed)
			}
			if !slices.Equal(pe.Permanent, tt.wantPermanent) {
				t.Errorf("Permanent = %q, want %q", pe.Permanent, tt.wantPermanent)
			}
			for _, id := range pe.Failed {
				if pe.Reasons[id] == "" {
					t.Errorf("no reason for %q", id)
				}
			}
			if pe.Total != len(tt.msgs) {
				t.Errorf("Total = %d, want %d", pe.Total, len(tt.msgs))
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not match %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q lacks %q", err, tt.wantInError)
			}
			// Nothing reported failed may have been accepted.
			sent := api.sentBodies()
			for _, m := range tt.msgs {
				if slices.Contains(pe.Failed, m.ID) && tt.respond == nil && slices.Contains(sent, m.Body) {
					t.Errorf("message %q reported failed but was sent", m.ID)
				}
			}
		})
	}
}

func ids(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func TestPublishErrorMessage(t *testing.T) {
	var failed []string
	for i := range 12 {
		failed = append(failed, "id"+strconv.Itoa(i))
	}
	e := &PublishError{
		Failed: failed, Permanent: []string{"id3"}, Total: 20,
		Reasons: map[string]string{"id3": "InvalidParameterValue: bad"},
		Err:     context.DeadlineExceeded,
	}
	msg := e.Error()
	for _, want := range []string{"12 of 20 messages not sent", "id0, id1", "and 2 more", "1 rejected permanently", "id3: InvalidParameterValue: bad", "context deadline exceeded"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "id11") {
		t.Errorf("%q lists more than 10 ids", msg)
	}
	if !errors.Is(e, context.DeadlineExceeded) {
		t.Error("PublishError does not unwrap to its cause")
	}
}

func TestDelayRedelivery(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int32
	}{
		{-time.Second, 0},
		{0, 0},
		{time.Millisecond, 1},
		{1500 * time.Millisecond, 2},
		{30 * time.Second, 30},
		{12 * time.Hour, 43200},
		{13 * time.Hour, 43200},
		{1<<63 - 1, 43200},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			api := &fakeAPI{}
			if err := DelayRedelivery(context.Background(), api, "q-url", "rh", tt.d); err != nil {
				t.Fatal(err)
			}
			in := api.visibility[0]
			if in.VisibilityTimeout != tt.want || aws.ToString(in.QueueUrl) != "q-url" || aws.ToString(in.ReceiptHandle) != "rh" {
				t.Fatalf("sent %d s to %s/%s, want %d s", in.VisibilityTimeout, aws.ToString(in.QueueUrl), aws.ToString(in.ReceiptHandle), tt.want)
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		api := &fakeAPI{visErr: &smithy.GenericAPIError{Code: "ReceiptHandleIsInvalid", Message: "bad handle"}}
		err := DelayRedelivery(context.Background(), api, "q-url", "rh", time.Minute)
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ReceiptHandleIsInvalid" || !strings.Contains(err.Error(), "delay redelivery by 60s") {
			t.Fatalf("error = %v, want the wrapped API error", err)
		}
		if err := DelayRedelivery(context.Background(), api, "q-url", "", time.Minute); err == nil || len(api.visibility) != 1 {
			t.Fatalf("empty receipt handle: %v, %d calls", err, len(api.visibility))
		}
	})
}

func TestValidAttributeName(t *testing.T) {
	tests := map[string]bool{
		"scope": true, "event-type": true, "a.b_c": true, "X1": true,
		"": false, ".a": false, "a.": false, "a..b": false, "aws.x": false, "Amazon.y": false,
		"with space": false, "ünï": false, strings.Repeat("a", 256): true, strings.Repeat("a", 257): false,
	}
	for name, ok := range tests {
		if err := validAttributeName(name); (err == nil) != ok {
			t.Errorf("validAttributeName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestBackoffStaysInWindow(t *testing.T) {
	p := NewPublisher(&fakeAPI{}, "q")
	for attempt := 1; attempt < 70; attempt++ {
		if d := p.backoff(attempt); d <= 0 || d > p.maxBackoff {
			t.Fatalf("backoff(%d) = %s, want (0, %s]", attempt, d, p.maxBackoff)
		}
	}
}

// FuzzPublish checks, for arbitrary messages and arbitrary per-entry
// failures, that Publish never loses a message: each is either accepted or
// named in the PublishError, and every entry id sent is valid for SQS.
func FuzzPublish(f *testing.F) {
	f.Add("a", "body", "k", "v", uint16(0), uint8(3))
	f.Add("id with spaces/and:colons", "{}", "AWS.bad", "v", uint16(0xffff), uint8(25))
	f.Add("", "\x00", "", "", uint16(5), uint8(1))
	f.Fuzz(func(t *testing.T, id, body, key, value string, failMask uint16, n uint8) {
		msgs := make([]Message, int(n)%30)
		for i := range msgs {
			msgs[i] = Message{ID: id + strconv.Itoa(i), Body: body, Attributes: map[string]string{key: value}}
		}
		accepted := map[string]bool{}
		var mu sync.Mutex
		api := &fakeAPI{respond: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
			out := &sqs.SendMessageBatchOutput{}
			for j, e := range in.Entries {
				if !entryIDPattern.MatchString(aws.ToString(e.Id)) {
					t.Errorf("invalid entry id %q", aws.ToString(e.Id))
				}
				if call < 3 && failMask&(1<<j) != 0 {
					out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("X"), SenderFault: j%2 == 0})
					continue
				}
				idx, _ := strconv.Atoi(aws.ToString(e.Id))
				mu.Lock()
				accepted[msgs[idx].ID] = true
				mu.Unlock()
				out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
			}
			return out, nil
		}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := fastPublisher(api).Publish(ctx, msgs)
		var failed []string
		if err != nil {
			var pe *PublishError
			if !errors.As(err, &pe) {
				t.Fatalf("Publish = %v, want *PublishError", err)
			}
			failed = pe.Failed
		}
		for _, m := range msgs {
			if accepted[m.ID] == slices.Contains(failed, m.ID) {
				t.Fatalf("message %q: accepted=%v, reported failed=%v", m.ID, accepted[m.ID], slices.Contains(failed, m.ID))
			}
		}
	})
}
