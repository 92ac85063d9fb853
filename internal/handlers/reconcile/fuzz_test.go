package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// unreachableTable fails every call: the handler must fail open.
type unreachableTable struct{}

var errUnreachable = errors.New("connection refused")

func (unreachableTable) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, errUnreachable
}
func (unreachableTable) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, errUnreachable
}
func (unreachableTable) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, errUnreachable
}
func (unreachableTable) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errUnreachable
}

// checkingPublisher accepts only valid revocation requests.
type checkingPublisher struct{ t *testing.T }

func (p checkingPublisher) Publish(_ context.Context, msgs []queue.Message) error {
	for _, m := range msgs {
		r, err := revocation.Parse([]byte(m.Body))
		if err != nil || r.RequestID != m.ID {
			p.t.Fatalf("queued an invalid request %s: %v", m.Body, err)
		}
	}
	return nil
}

// FuzzStreamedEvent feeds arbitrary log stream events: the handler never
// panics, never fails on a malformed event (a retry cannot fix it) and
// queues only valid requests.
func FuzzStreamedEvent(f *testing.F) {
	f.Add([]byte(oktafake.NewLogEvent("user.lifecycle.suspend", admin, oktafake.LogTarget{ID: jane, Type: "User"})))
	f.Add([]byte(oktafake.NewLogEvent("application.user_membership.remove", admin, oktafake.LogTarget{ID: jane, Type: "User"}, oktafake.LogTarget{ID: portal, Type: "AppInstance"})))
	f.Add([]byte(oktafake.NewLogEvent(HookDeliveryEventType, admin, oktafake.LogTarget{ID: "who1", Type: "EventHook"})))
	f.Add([]byte(`{"uuid":"u","eventType":"user.account.lock","outcome":{"result":"SUCCESS"},"actor":{"id":"00u/../x","type":"User"}}`))
	f.Add([]byte(`{"eventType":"event_hook.delivery","debugContext":{"debugData":[1]}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"target":"x"}`))
	f.Fuzz(func(t *testing.T, detail []byte) {
		if !json.Valid(detail) {
			return // EventBridge only delivers JSON
		}
		h, err := New(Config{Logs: failingLogs{errUnreachable}, Store: dedupe.New(unreachableTable{}, "t"),
			Publisher: checkingPublisher{t}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ev := events.EventBridgeEvent{Source: PartnerSourcePrefix + "acme/logs", DetailType: "SystemLog", Detail: detail}
		if err := h.Handle(context.Background(), ev); err != nil {
			t.Fatalf("detail %s: %v", detail, err)
		}
	})
}
