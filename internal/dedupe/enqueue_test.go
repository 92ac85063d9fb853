package dedupe_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// publisher records what it accepts; fail decides per message whether SQS
// refuses it.
type publisher struct {
	mu   sync.Mutex
	got  []revocation.Request
	fail func(revocation.Request) bool
	err  error // returned as is when set (not a PublishError)
}

func (p *publisher) Publish(_ context.Context, msgs []queue.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	pe := &queue.PublishError{Total: len(msgs), Reasons: map[string]string{}}
	for _, m := range msgs {
		var r revocation.Request
		if err := json.Unmarshal([]byte(m.Body), &r); err != nil {
			panic(err)
		}
		if m.ID != r.RequestID {
			panic("message id is not the request id")
		}
		if p.fail != nil && p.fail(r) {
			pe.Failed = append(pe.Failed, m.ID)
			continue
		}
		p.got = append(p.got, r)
	}
	if len(pe.Failed) > 0 {
		return pe
	}
	return nil
}

func (p *publisher) queued() []revocation.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

var policy = func() *revocation.Policy {
	p, err := revocation.NewPolicy(nil)
	if err != nil {
		panic(err)
	}
	return p
}()

// event builds a mapped user.lifecycle.suspend event for user.
func event(uuid, user string) dedupe.Event {
	ev := revocation.Event{UUID: uuid, EventType: "user.lifecycle.suspend", Published: "2026-03-02T10:15:01.201Z",
		Outcome: revocation.Outcome{Result: "SUCCESS"}, Targets: []revocation.Target{{ID: user, Type: "User"}}}
	reqs, skip := policy.Map(ev)
	if skip != "" {
		panic(skip)
	}
	return dedupe.Event{Event: ev, Requests: reqs}
}

func reasonOf(t *testing.T, r revocation.Request) revocation.Reason {
	t.Helper()
	reason, err := r.DecodeReason()
	if err != nil {
		t.Fatal(err)
	}
	return reason
}

func users(rs []revocation.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.UserID)
	}
	sort.Strings(out)
	return out
}

const (
	alice = "00ualice000000000001"
	bob   = "00ubob00000000000002"
	carol = "00ucarol000000000003"
)

func TestEnqueueWithoutStoreQueuesEverything(t *testing.T) {
	pub := &publisher{}
	e := &dedupe.Enqueuer{Publisher: pub, Source: "okta-event-hook"}
	evs := []dedupe.Event{event("e1", alice), event("e2", bob), event("e3", alice)}
	for range 2 {
		out, err := e.Enqueue(context.Background(), "delivery-1", evs)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.Queued, []string{"e1", "e2", "e3"}) || len(out.Requests) != 2 {
			t.Fatalf("outcome %+v", out)
		}
	}
	got := pub.queued()
	if len(got) != 4 {
		t.Fatalf("%d messages, want 2 per call (no dedupe without a store)", len(got))
	}
	r := reasonOf(t, got[0])
	want := revocation.Reason{Source: "okta-event-hook", EventID: "delivery-1", EventUUID: "e1", EventType: "user.lifecycle.suspend",
		Published: "2026-03-02T10:15:01.201Z", MergedEventUUIDs: []string{"e3"}}
	if !slicesEqualReason(r, want) {
		t.Fatalf("reason %+v, want %+v", r, want)
	}
	if got[0].RequestID != evs[0].Requests[0].RequestID {
		t.Fatal("the batched request lost the event's deterministic id")
	}
}

func slicesEqualReason(a, b revocation.Reason) bool {
	return a.Source == b.Source && a.EventID == b.EventID && a.EventUUID == b.EventUUID && a.EventType == b.EventType &&
		a.Published == b.Published && slices.Equal(a.MergedEventUUIDs, b.MergedEventUUIDs)
}

func TestEnqueueOncePerEventAcrossProducers(t *testing.T) {
	api, table := newTable(t)
	store := dedupe.New(api, table)
	pub := &publisher{}
	hook := &dedupe.Enqueuer{Store: store, Publisher: pub, Source: "okta-event-hook"}
	reconciler := &dedupe.Enqueuer{Store: store, Publisher: pub, Source: "okta-system-log"}
	ctx := context.Background()

	out, err := hook.Enqueue(ctx, "d1", []dedupe.Event{event("e1", alice), event("e2", bob)})
	if err != nil || !slices.Equal(out.Queued, []string{"e1", "e2"}) || out.StoreErr != nil {
		t.Fatalf("hook: %+v %v", out, err)
	}
	// The reconciler reads the same events and one the hook missed.
	out, err = reconciler.Enqueue(ctx, "", []dedupe.Event{event("e1", alice), event("e2", bob), event("e3", carol)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.AlreadyQueued, []string{"e1", "e2"}) || !slices.Equal(out.Queued, []string{"e3"}) {
		t.Fatalf("reconciler: %+v", out)
	}
	// Okta redelivers the first delivery.
	out, err = hook.Enqueue(ctx, "d1", []dedupe.Event{event("e1", alice), event("e2", bob)})
	if err != nil || len(out.Requests) != 0 || len(out.AlreadyQueued) != 2 {
		t.Fatalf("redelivery: %+v %v", out, err)
	}
	got := pub.queued()
	if !slices.Equal(users(got), []string{alice, bob, carol}) {
		t.Fatalf("queued %v, want each user once", users(got))
	}
	for _, r := range got {
		wantSource := "okta-event-hook"
		if r.UserID == carol {
			wantSource = "okta-system-log"
		}
		if src := reasonOf(t, r).Source; src != wantSource {
			t.Errorf("%s queued by %s, want %s", r.UserID, src, wantSource)
		}
	}
}

func TestEnqueueFailureReleasesClaims(t *testing.T) {
	api, table := newTable(t)
	store := dedupe.New(api, table)
	ctx := context.Background()
	evs := []dedupe.Event{event("e1", alice), event("e2", bob)}

	down := &publisher{err: errors.New("connection refused")}
	out, err := (&dedupe.Enqueuer{Store: store, Publisher: down, Source: "okta-event-hook"}).Enqueue(ctx, "d1", evs)
	if err == nil || !slices.Equal(out.NotQueued, []string{"e1", "e2"}) || len(out.Queued) != 0 || out.StoreErr != nil {
		t.Fatalf("outcome %+v, err %v; want both not queued, claims released", out, err)
	}
	// Okta's retry claims and queues them.
	pub := &publisher{}
	out, err = (&dedupe.Enqueuer{Store: store, Publisher: pub, Source: "okta-event-hook"}).Enqueue(ctx, "d1", evs)
	if err != nil || !slices.Equal(out.Queued, []string{"e1", "e2"}) {
		t.Fatalf("retry: %+v %v", out, err)
	}
	if len(pub.queued()) != 2 {
		t.Fatalf("retry queued %d", len(pub.queued()))
	}
}

func TestPartialFailureReleasesOnlyTheEventsNotQueued(t *testing.T) {
	api, table := newTable(t)
	store := dedupe.New(api, table)
	ctx := context.Background()
	// e1 and e3 both ask for alice's tokens (merged into one request); bob's
	// request is refused.
	evs := []dedupe.Event{event("e1", alice), event("e2", bob), event("e3", alice)}
	pub := &publisher{fail: func(r revocation.Request) bool { return r.UserID == bob }}
	e := &dedupe.Enqueuer{Store: store, Publisher: pub, Source: "okta-system-log"}
	out, err := e.Enqueue(ctx, "", evs)
	var pe *queue.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("err %v, want the PublishError", err)
	}
	if !slices.Equal(out.Queued, []string{"e1", "e3"}) || !slices.Equal(out.NotQueued, []string{"e2"}) {
		t.Fatalf("outcome %+v", out)
	}
	pub.fail = nil
	out, err = e.Enqueue(ctx, "", evs)
	if err != nil || !slices.Equal(out.Queued, []string{"e2"}) || !slices.Equal(out.AlreadyQueued, []string{"e1", "e3"}) {
		t.Fatalf("retry: %+v %v", out, err)
	}
	if got := users(pub.queued()); !slices.Equal(got, []string{alice, bob}) {
		t.Fatalf("queued %v", got)
	}
}

func TestEventsClaimedElsewhereAreNotQueued(t *testing.T) {
	api, table := newTable(t)
	store := dedupe.New(api, table)
	ctx := context.Background()
	if r := store.Claim(ctx, "e1", "okta-system-log"); r.Status != dedupe.Claimed {
		t.Fatal(r)
	}
	pub := &publisher{}
	out, err := (&dedupe.Enqueuer{Store: store, Publisher: pub, Source: "okta-event-hook"}).Enqueue(ctx, "d", []dedupe.Event{event("e1", alice), event("e2", bob)})
	if err != nil || !slices.Equal(out.InProgress, []string{"e1"}) || !slices.Equal(out.Queued, []string{"e2"}) {
		t.Fatalf("outcome %+v %v", out, err)
	}
	if got := users(pub.queued()); !slices.Equal(got, []string{bob}) {
		t.Fatalf("queued %v", got)
	}
}

func TestUnreachableTableFailsOpen(t *testing.T) {
	boom := errors.New("dial tcp: connection refused")
	store := dedupe.New(failingAPI{boom}, "t")
	pub := &publisher{}
	out, err := (&dedupe.Enqueuer{Store: store, Publisher: pub, Source: "okta-event-hook"}).Enqueue(context.Background(), "d", []dedupe.Event{event("e1", alice)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Unrecorded, []string{"e1"}) || !slices.Equal(out.Queued, []string{"e1"}) || !errors.Is(out.StoreErr, boom) {
		t.Fatalf("outcome %+v", out)
	}
	if len(pub.queued()) != 1 {
		t.Fatal("not queued")
	}
}

func TestConcurrentProducersQueueEachEventOnce(t *testing.T) {
	api, table := newTable(t)
	store := dedupe.New(api, table)
	pub := &publisher{}
	var evs []dedupe.Event
	var want []string
	for i, u := range []string{alice, bob, carol} {
		evs = append(evs, event("e"+string(rune('1'+i)), u))
		want = append(want, u)
	}
	sort.Strings(want)
	var wg sync.WaitGroup
	for _, src := range []string{"okta-event-hook", "okta-system-log", "okta-log-stream", "okta-system-log"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := (&dedupe.Enqueuer{Store: store, Publisher: pub, Source: src}).Enqueue(context.Background(), "", evs); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := users(pub.queued()); !slices.Equal(got, want) {
		t.Fatalf("queued %v, want each once: %v", got, want)
	}
}
