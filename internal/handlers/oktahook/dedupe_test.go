package oktahook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe/dedupetest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

func TestLoadConfigDedupe(t *testing.T) {
	base := map[string]string{"HOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:h-AbCdEf", "REVOCATION_QUEUE_URL": "https://sqs/q"}
	tests := []struct {
		name      string
		env       map[string]string
		wantTable string
		wantTTL   time.Duration
		wantErr   string
	}{
		{name: "off by default", env: base},
		{name: "table", env: merge(base, map[string]string{"DEDUPE_TABLE_NAME": " okta-token-revoker-dedupe "}), wantTable: "okta-token-revoker-dedupe"},
		{name: "ttl", env: merge(base, map[string]string{"DEDUPE_TABLE_NAME": "t", "DEDUPE_TTL": "48h"}), wantTable: "t", wantTTL: 48 * time.Hour},
		{name: "bad ttl", env: merge(base, map[string]string{"DEDUPE_TTL": "a week"}), wantErr: "DEDUPE_TTL"},
		{name: "negative ttl", env: merge(base, map[string]string{"DEDUPE_TTL": "-1h"}), wantErr: "DEDUPE_TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one about %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg.DedupeTable != tt.wantTable || cfg.DedupeTTL != tt.wantTTL {
				t.Fatalf("got table %q ttl %v err %v, want %q %v", cfg.DedupeTable, cfg.DedupeTTL, err, tt.wantTable, tt.wantTTL)
			}
		})
	}
}

// tableSeq numbers the tables of one moto_server (subtests run in turn).
var tableSeq int

// dedupeFixture is a handler recording into a fresh table on moto_server.
type dedupeFixture struct {
	*fixture
	store  *dedupe.Store
	client *dynamodb.Client
}

func newDedupeFixture(t *testing.T, srv *moto.Server, store func(*dynamodb.Client, string) *dedupe.Store) *dedupeFixture {
	t.Helper()
	tableSeq++
	table := fmt.Sprintf("dedupe-%d", tableSeq)
	client := dedupetest.CreateTable(t, srv.AWSConfig(), table)
	s := dedupe.New(client, table)
	if store != nil {
		s = store(client, table)
	}
	f := newFixture(t, Config{})
	WithDedupe(s)(f.h)
	return &dedupeFixture{fixture: f, store: s, client: client}
}

func TestDedupeOnMoto(t *testing.T) {
	srv := moto.Start(t)
	suspend := func(uuid, user string) string {
		return logEvent(uuid, "user.lifecycle.suspend", "SUCCESS", "User:00uadm1nXyZ12345h1d7", "User:"+user)
	}

	t.Run("a redelivery is not queued twice", func(t *testing.T) {
		f := newDedupeFixture(t, srv, nil)
		body := delivery("d1", suspend("e1", jane), suspend("e2", john))
		for i := range 2 {
			if resp := f.call(t, post(body)); resp.StatusCode != http.StatusOK {
				t.Fatalf("delivery %d: %d %s", i+1, resp.StatusCode, resp.Body)
			}
		}
		got := queuedOf(t, f.pub.msgs)
		if len(got) != 2 {
			t.Fatalf("queued %+v, want jane and john once", got)
		}
		if !strings.Contains(f.logs.String(), "delivery already queued by another source") {
			t.Errorf("the skipped redelivery is not logged:\n%s", f.logs)
		}
	})

	t.Run("events the reconciler queued are skipped", func(t *testing.T) {
		f := newDedupeFixture(t, srv, nil)
		ctx := context.Background()
		r := f.store.Claim(ctx, "e1", "okta-system-log")
		if r.Status != dedupe.Claimed || f.store.Confirm(ctx, r.Claim) != nil {
			t.Fatalf("setup: %+v", r)
		}
		if resp := f.call(t, post(delivery("d1", suspend("e1", jane), suspend("e2", john)))); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, resp.Body)
		}
		got := queuedOf(t, f.pub.msgs)
		if len(got) != 1 || got[0].User != john {
			t.Fatalf("queued %+v, want only john", got)
		}
		var line map[string]any
		for _, rec := range f.logs.Records(t) {
			if rec["msg"] == "delivery queued" {
				line = rec
			}
		}
		if line == nil || !reflect.DeepEqual(line["alreadyQueued"], []any{"e1"}) {
			t.Fatalf("log line %v, want alreadyQueued [e1]", line)
		}
	})

	t.Run("a failed enqueue releases the claims so Okta's retry queues them", func(t *testing.T) {
		f := newDedupeFixture(t, srv, nil)
		body := delivery("d1", suspend("e1", jane))
		f.pub.err = errors.New("throttled")
		if resp := f.call(t, post(body)); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("first try: %d, want 503", resp.StatusCode)
		}
		f.pub.err = nil
		if resp := f.call(t, post(body)); resp.StatusCode != http.StatusOK {
			t.Fatalf("retry: %d", resp.StatusCode)
		}
		if got := queuedOf(t, f.pub.msgs); len(got) != 1 || got[0].User != jane {
			t.Fatalf("queued %+v, want jane on the retry", got)
		}
		// And it is now recorded.
		if r := f.store.Claim(context.Background(), "e1", "okta-system-log"); r.Status != dedupe.AlreadyQueued {
			t.Fatalf("after the retry the table says %v", r.Status)
		}
	})

	t.Run("a claim left by a failed release: the failed attempt answers for it", func(t *testing.T) {
		f := newDedupeFixture(t, srv, func(c *dynamodb.Client, table string) *dedupe.Store {
			return dedupe.New(failingDelete{c}, table)
		})
		body := delivery("d1", suspend("e1", jane))
		f.pub.err = errors.New("SQS unreachable")
		if resp := f.call(t, post(body)); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("first try: %d, want 503", resp.StatusCode)
		}
		// The failed attempt alarms and logs what to replay.
		var failed map[string]any
		for _, rec := range f.logs.Records(t) {
			if rec["level"] == "ERROR" {
				failed = rec
			}
		}
		if replay, _ := failed["replay"].([]any); len(replay) != 1 || !strings.Contains(fmt.Sprint(replay[0]), jane) {
			t.Fatalf("ERROR line %v, want a replay of jane's request", failed)
		}
		// Okta's retry finds the claim still held: the holder has answered
		// for it, so the retry is acknowledged, and says why.
		f.pub.err = nil
		if resp := f.call(t, post(body)); resp.StatusCode != http.StatusOK || len(f.pub.msgs) != 0 {
			t.Fatalf("retry: %d with %d queued, want 200 with none", resp.StatusCode, len(f.pub.msgs))
		}
		var retry map[string]any
		for _, rec := range f.logs.Records(t) {
			if rec["msg"] == "delivery already queued by another source" {
				retry = rec
			}
		}
		if retry == nil || !reflect.DeepEqual(retry["inProgressElsewhere"], []any{"e1"}) {
			t.Fatalf("retry log %v, want inProgressElsewhere [e1]", retry)
		}
	})

	t.Run("an unreachable table does not stop revocations", func(t *testing.T) {
		f := newDedupeFixture(t, srv, func(*dynamodb.Client, string) *dedupe.Store {
			return dedupe.New(dynamodb.NewFromConfig(srv.AWSConfig()), "no-such-table")
		})
		if resp := f.call(t, post(delivery("d1", suspend("e1", jane)))); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, resp.Body)
		}
		if got := queuedOf(t, f.pub.msgs); len(got) != 1 {
			t.Fatalf("queued %+v", got)
		}
		if !strings.Contains(f.logs.String(), `"dedupeError"`) {
			t.Errorf("the table's failure is not logged:\n%s", f.logs)
		}
	})

	t.Run("metrics count what was already queued", func(t *testing.T) {
		f := newDedupeFixture(t, srv, nil)
		out := &logtest.Buffer{}
		WithMetrics(out)(f.h)
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "r"})
		body := delivery("d1", suspend("e1", jane), suspend("e2", john))
		for range 2 {
			if _, err := f.h.Handle(ctx, post(body)); err != nil {
				t.Fatal(err)
			}
		}
		recs := out.Records(t)
		if len(recs) != 2 {
			t.Fatalf("%d metric lines", len(recs))
		}
		for i, want := range []map[string]float64{
			{MetricRevocationsQueued: 2, MetricEventsAlreadyQueued: 0},
			{MetricRevocationsQueued: 0, MetricEventsAlreadyQueued: 2},
		} {
			for name, v := range want {
				if recs[i][name] != v {
					t.Errorf("delivery %d: %s = %v, want %v", i+1, name, recs[i][name], v)
				}
			}
		}
	})
}

// TestDedupeIsOptional: without a table the handler queues every delivery,
// as before deduplication existed.
func TestDedupeIsOptional(t *testing.T) {
	f := newFixture(t, Config{})
	body := delivery("d1", logEvent("e1", "user.lifecycle.suspend", "SUCCESS", "User:00uadm1nXyZ12345h1d7", "User:"+jane))
	for range 2 {
		if resp := f.call(t, post(body)); resp.StatusCode != http.StatusOK {
			t.Fatal(resp.StatusCode)
		}
	}
	if len(f.pub.msgs) != 2 {
		t.Fatalf("%d messages, want 2 (no dedupe)", len(f.pub.msgs))
	}
	if strings.Contains(f.logs.String(), "alreadyQueued") {
		t.Errorf("dedupe fields logged without a table:\n%s", f.logs)
	}
}

// failingDelete is a DynamoDB client whose DeleteItem (the release of a
// claim) fails, as when the table is as unreachable as the queue was.
type failingDelete struct{ *dynamodb.Client }

func (failingDelete) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errors.New("RequestTimeout: the release did not finish in time")
}
