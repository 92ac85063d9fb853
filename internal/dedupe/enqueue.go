package dedupe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Publisher queues messages; *queue.Publisher implements it. Publish
// returns nil only when every message was accepted, and a
// *queue.PublishError naming the ones that were not otherwise.
type Publisher interface {
	Publish(ctx context.Context, msgs []queue.Message) error
}

// Event is an Okta event and the revocation requests the policy mapped it
// to (at least one).
type Event struct {
	Event    revocation.Event
	Requests []revocation.Request
}

// Enqueuer queues the revocation requests of Okta events, each event once
// across every producer that shares the Store:
//
//  1. claim every event (a conditional write per event uuid);
//  2. queue, in one batch, the requests of the events this call claimed
//     (and of those the table could not answer for: see below);
//  3. on success confirm the claims; on failure release the claims of the
//     events whose requests were not all queued, so a retry (Okta's, the
//     next reconcile run's, EventBridge's) claims and queues them again.
//
// At least once, never lost: a crash between 1 and 3 leaves a claim that
// blocks others until its lease ends, after which the reconciler queues
// the event (it does not advance past events claimed elsewhere). A crash
// between queueing and confirming, or a failed confirm, can make the event
// queued twice after the lease; so can a partial queue failure for the
// requests that did go through. Both are harmless: request ids are derived
// from the event, and revoking twice revokes nothing more.
//
// When the table cannot be reached, events are queued without a record
// (fail open): for a security control a duplicate revocation is better
// than a missed one.
type Enqueuer struct {
	// Store is the dedupe table; nil queues every event (no deduplication).
	Store *Store
	// Publisher is the revocation queue.
	Publisher Publisher
	// Source names the producer in Reason.Source and in the table.
	Source string
	// ClaimTimeout bounds the claim step, so a slow table leaves time to
	// queue; 0 = only ctx.
	ClaimTimeout time.Duration
	// FinishTimeout bounds confirming or releasing the claims once the
	// queue has answered; they run even when ctx has ended, since the
	// outcome is known. 0 = DefaultFinishTimeout.
	FinishTimeout time.Duration
}

// DefaultFinishTimeout is the default Enqueuer.FinishTimeout.
const DefaultFinishTimeout = 2 * time.Second

// Outcome reports what Enqueue did, by event uuid.
type Outcome struct {
	// Requests are the distinct requests that were sent to the queue, with
	// their final reasons.
	Requests []revocation.Request
	// Queued are the events whose requests were all queued.
	Queued []string
	// AlreadyQueued are events another producer queued before.
	AlreadyQueued []string
	// InProgress are events another producer holds a claim on: it is
	// queueing them, or died doing so (then the reconciler queues them
	// once the lease ends).
	InProgress []string
	// Unrecorded are events queued (or attempted) without a record because
	// the table could not answer; StoreErr says why.
	Unrecorded []string
	// NotQueued are events whose requests were not all queued (only with an
	// error); their claims were released.
	NotQueued []string
	// StoreErr joins the table's failures: claims that could not be made,
	// confirmed or released. None of them loses an event.
	StoreErr error
}

// Enqueue claims, queues and confirms (or releases) evs; eventID is the
// hook delivery's id, or "". The error is the queue's (a
// *queue.PublishError when some requests were refused) or ctx's; then
// Outcome.NotQueued names the events to retry.
func (e *Enqueuer) Enqueue(ctx context.Context, eventID string, evs []Event) (Outcome, error) {
	var out Outcome
	claims := map[string]*Claim{}
	var storeErrs []error
	take := evs
	if e.Store != nil {
		take = nil
		uuids := make([]string, len(evs))
		for i, ev := range evs {
			uuids[i] = ev.Event.UUID
		}
		claimCtx, cancel := ctx, context.CancelFunc(func() {})
		if e.ClaimTimeout > 0 {
			claimCtx, cancel = context.WithTimeout(ctx, e.ClaimTimeout)
		}
		results := e.Store.ClaimAll(claimCtx, e.Source, uuids)
		cancel()
		status := make(map[string]Result, len(results))
		for _, r := range results {
			status[r.EventUUID] = r
			switch {
			case r.Err != nil:
				out.Unrecorded = append(out.Unrecorded, r.EventUUID)
				storeErrs = append(storeErrs, r.Err)
			case r.Status == Claimed:
				claims[r.EventUUID] = r.Claim
			case r.Status == AlreadyQueued:
				out.AlreadyQueued = append(out.AlreadyQueued, r.EventUUID)
			case r.Status == InProgress:
				out.InProgress = append(out.InProgress, r.EventUUID)
			}
		}
		for _, ev := range evs {
			if r := status[ev.Event.UUID]; r.Err != nil || r.Status == Claimed {
				take = append(take, ev)
			}
		}
	}

	batch := revocation.NewBatch(e.Source, eventID)
	var taken []string
	for _, ev := range take {
		batch.Add(ev.Event, ev.Requests)
		taken = appendOnce(taken, ev.Event.UUID)
	}
	out.Requests = batch.Requests()
	if len(out.Requests) == 0 {
		out.StoreErr = errors.Join(storeErrs...)
		return out, nil
	}
	msgs := make([]queue.Message, len(out.Requests))
	for i, r := range out.Requests {
		b, err := json.Marshal(r)
		if err != nil {
			// A Request is strings and a valid JSON object: cannot happen.
			panic(fmt.Sprintf("marshal revocation request: %v", err))
		}
		msgs[i] = queue.Message{ID: r.RequestID, Body: string(b)}
	}

	pubErr := e.Publisher.Publish(ctx, msgs)
	failed := map[string]bool{} // events not fully queued
	if pubErr != nil {
		var pe *queue.PublishError
		if errors.As(pubErr, &pe) {
			byID := make(map[string]revocation.Request, len(out.Requests))
			for _, r := range out.Requests {
				byID[r.RequestID] = r
			}
			for _, id := range pe.Failed {
				for _, u := range eventsOf(byID[id]) {
					failed[u] = true
				}
			}
		}
		if len(failed) == 0 { // not a PublishError, or one naming nothing known
			for _, u := range taken {
				failed[u] = true
			}
		}
	}
	var confirm, release []*Claim
	for _, u := range taken {
		if failed[u] {
			out.NotQueued = append(out.NotQueued, u)
		} else {
			out.Queued = append(out.Queued, u)
		}
		if c, ok := claims[u]; ok {
			if failed[u] {
				release = append(release, c)
			} else {
				confirm = append(confirm, c)
			}
		}
	}
	grace := e.FinishTimeout
	if grace <= 0 {
		grace = DefaultFinishTimeout
	}
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if len(release) > 0 {
		if err := e.Store.ReleaseAll(finishCtx, release); err != nil {
			storeErrs = append(storeErrs, err)
		}
	}
	if len(confirm) > 0 {
		if err := e.Store.ConfirmAll(finishCtx, confirm); err != nil {
			storeErrs = append(storeErrs, err)
		}
	}
	out.StoreErr = errors.Join(storeErrs...)
	if pubErr != nil {
		return out, fmt.Errorf("queue revocations of %d events: %w", len(out.NotQueued), pubErr)
	}
	return out, nil
}

// eventsOf returns the event uuids a batched request stands for: the one
// its reason names and those merged into it.
func eventsOf(r revocation.Request) []string {
	reason, err := r.DecodeReason()
	if err != nil || reason.EventUUID == "" {
		return nil
	}
	return append([]string{reason.EventUUID}, reason.MergedEventUUIDs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func appendOnce(list []string, s string) []string {
	if contains(list, s) {
		return list
	}
	return append(list, s)
}
