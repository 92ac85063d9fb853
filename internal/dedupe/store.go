// Package dedupe makes sure each Okta event is queued for revocation once,
// whichever producer sees it first: the event hook, the System Log
// reconciler or the EventBridge log stream. It keeps, in one DynamoDB
// table, a record per event uuid that was queued and the reconciler's
// System Log cursor.
//
// DynamoDB, not SSM Parameter Store: a conditional PutItem
// (attribute_not_exists) is an atomic "first one wins" across every
// producer and every concurrent invocation, and a TTL attribute expires the
// records without a sweeper. Parameter Store has neither conditional writes
// (so two runs could both think they were first) nor expiry, and its
// throughput (40 writes a second by default, shared by the account) would
// make every hook delivery contend for it.
//
// The order of a producer is: claim each event (a record in state
// "claimed" with a lease), queue the requests of the events it claimed,
// then confirm the claims (state "queued") or, when queueing failed,
// release them (delete) so that a retry can queue them. A claim whose
// holder died before confirming or releasing expires with its lease and can
// then be claimed again. See Enqueuer.
package dedupe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// API is the part of *dynamodb.Client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Defaults of the store's options.
const (
	// DefaultTTL is how long a queued event is remembered. It must be
	// longer than the reconciler's look-back and than any delay of Okta's
	// hook deliveries; a delivery arriving later is queued again, which is
	// harmless (revocation is idempotent) but wasted work.
	DefaultTTL = 7 * 24 * time.Hour
	// DefaultLease is how long a claim blocks other producers before it is
	// considered abandoned. It must be longer than the longest time a
	// producer holds a claim before confirming or releasing it (the
	// reconciler's run timeout).
	DefaultLease = 5 * time.Minute
)

// Attribute names of the table. The key is the string pk; TTLAttribute
// must be configured as the table's TTL attribute.
const (
	KeyAttribute = "pk"
	TTLAttribute = "expiresAt"
)

// Item states.
const (
	stateClaimed = "claimed"
	stateQueued  = "queued"
)

// maxUUIDLength bounds an event uuid used in a key; Okta's are 36
// characters, DynamoDB allows 2048 bytes.
const maxUUIDLength = 256

// claimConcurrency bounds the parallel writes of ClaimAll and friends.
const claimConcurrency = 8

// ErrClaimLost means a claim was no longer held when it was confirmed or
// released: its lease expired and another producer took it over.
var ErrClaimLost = errors.New("dedupe: claim no longer held")

// ErrCursorConflict means the cursor changed since it was read: another
// run advanced it.
var ErrCursorConflict = errors.New("dedupe: cursor changed by another run")

// Store is the dedupe table. It is safe for concurrent use.
type Store struct {
	api   API
	table string
	ttl   time.Duration
	lease time.Duration
	now   func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithTTL sets how long queued events are remembered (default DefaultTTL).
func WithTTL(d time.Duration) Option { return func(s *Store) { s.ttl = d } }

// WithLease sets how long a claim blocks others (default DefaultLease).
func WithLease(d time.Duration) Option { return func(s *Store) { s.lease = d } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a store on table. It makes no call.
func New(api API, table string, opts ...Option) *Store {
	s := &Store{api: api, table: table, ttl: DefaultTTL, lease: DefaultLease, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.lease <= 0 {
		s.lease = DefaultLease
	}
	return s
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// TTL returns how long queued events are remembered.
func (s *Store) TTL() time.Duration { return s.ttl }

// Status is the outcome of claiming an event.
type Status int

const (
	// Claimed: the caller holds the claim and must Confirm it after
	// queueing, or Release it when queueing failed.
	Claimed Status = iota + 1
	// AlreadyQueued: a producer queued the event before.
	AlreadyQueued
	// InProgress: another producer holds an unexpired claim: it is queueing
	// the event right now, or died doing so and the lease has not run out.
	InProgress
)

func (s Status) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case AlreadyQueued:
		return "already queued"
	case InProgress:
		return "in progress elsewhere"
	}
	return "unknown"
}

// Claim is a held claim on an event.
type Claim struct {
	EventUUID string
	owner     string
}

// Result is the outcome of claiming one event.
type Result struct {
	EventUUID string
	Status    Status // zero when Err is set
	// Claim is set when Status is Claimed.
	Claim *Claim
	// Holder is the source of the record when Status is AlreadyQueued or
	// InProgress, as far as the table says.
	Holder string
	// Err is set when the table could not answer.
	Err error
}

func eventKey(eventUUID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: "event#" + eventUUID}}
}

func checkUUID(eventUUID string) error {
	if eventUUID == "" || len(eventUUID) > maxUUIDLength {
		return fmt.Errorf("dedupe: event uuid must be 1..%d bytes", maxUUIDLength)
	}
	return nil
}

// Claim claims eventUUID for source. A record that is queued (and not past
// its TTL) or claimed under an unexpired lease is someone else's: the
// result says which. An error is a failure of the table, not a conflict.
//
// A record that blocks the claim but is gone when read back (its holder
// released it in between) is claimed again, once; if that races too, the
// result is an error, so the caller queues the event anyway (fail open).
func (s *Store) Claim(ctx context.Context, eventUUID, source string) Result {
	if err := checkUUID(eventUUID); err != nil {
		return Result{EventUUID: eventUUID, Err: err}
	}
	for range 2 {
		if res, vanished := s.claimOnce(ctx, eventUUID, source); !vanished {
			return res
		}
	}
	return Result{EventUUID: eventUUID, Err: fmt.Errorf("dedupe: claim event %s: its record kept changing", eventUUID)}
}

// claimOnce tries to claim eventUUID; vanished reports a conflicting record
// that no longer existed when read back.
func (s *Store) claimOnce(ctx context.Context, eventUUID, source string) (res Result, vanished bool) {
	res = Result{EventUUID: eventUUID}
	now := s.now()
	owner := uuid.NewString()
	item := eventKey(eventUUID)
	item["kind"] = &types.AttributeValueMemberS{Value: "event"}
	item["state"] = &types.AttributeValueMemberS{Value: stateClaimed}
	item["owner"] = &types.AttributeValueMemberS{Value: owner}
	item["source"] = &types.AttributeValueMemberS{Value: source}
	item["claimedAt"] = &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)}
	item["leaseUntil"] = number(now.Add(s.lease).UnixMilli())
	item[TTLAttribute] = number(now.Add(s.ttl).Unix())
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item:      item,
		// Free: no record; a record past its TTL that DynamoDB has not
		// deleted yet (it may take days); or a claim whose lease ran out.
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #exp < :nowSec OR (#state = :claimed AND #lease < :nowMs)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": KeyAttribute, "#exp": TTLAttribute, "#state": "state", "#lease": "leaseUntil",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":nowSec":  number(now.Unix()),
			":nowMs":   number(now.UnixMilli()),
			":claimed": &types.AttributeValueMemberS{Value: stateClaimed},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		res.Status, res.Claim = Claimed, &Claim{EventUUID: eventUUID, owner: owner}
		return res, false
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		res.Err = fmt.Errorf("dedupe: claim event %s: %w", eventUUID, err)
		return res, false
	}
	old := ccf.Item
	if old == nil {
		// Not every implementation returns the item; read it.
		out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: eventKey(eventUUID), ConsistentRead: aws.Bool(true)})
		if err != nil {
			res.Err = fmt.Errorf("dedupe: read claim of event %s: %w", eventUUID, err)
			return res, false
		}
		if out.Item == nil {
			return res, true
		}
		old = out.Item
	}
	res.Holder = stringAttr(old, "source")
	if stringAttr(old, "state") == stateQueued {
		res.Status = AlreadyQueued
	} else {
		res.Status = InProgress
	}
	return res, false
}

// ClaimAll claims each distinct uuid (in parallel, a few at a time) and
// returns one result per distinct uuid, in order of first appearance.
func (s *Store) ClaimAll(ctx context.Context, source string, eventUUIDs []string) []Result {
	var distinct []string
	seen := make(map[string]bool, len(eventUUIDs))
	for _, u := range eventUUIDs {
		if !seen[u] {
			seen[u] = true
			distinct = append(distinct, u)
		}
	}
	results := make([]Result, len(distinct))
	var g errgroup.Group
	g.SetLimit(claimConcurrency)
	for i, u := range distinct {
		g.Go(func() error {
			results[i] = s.Claim(ctx, u, source)
			return nil
		})
	}
	_ = g.Wait()
	return results
}

// Confirm marks a claimed event as queued, to be remembered for the TTL.
// ErrClaimLost means the lease had expired and another producer took the
// event over (it may be queued twice; revocation is idempotent).
func (s *Store) Confirm(ctx context.Context, c *Claim) error {
	now := s.now()
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 eventKey(c.EventUUID),
		UpdateExpression:    aws.String("SET #state = :queued, queuedAt = :now REMOVE #lease"),
		ConditionExpression: aws.String("#owner = :owner AND #state = :claimed"),
		ExpressionAttributeNames: map[string]string{
			"#state": "state", "#owner": "owner", "#lease": "leaseUntil",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":queued":  &types.AttributeValueMemberS{Value: stateQueued},
			":claimed": &types.AttributeValueMemberS{Value: stateClaimed},
			":owner":   &types.AttributeValueMemberS{Value: c.owner},
			":now":     &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)},
		},
	})
	return claimError("confirm", c, err)
}

// Release deletes a claim, so a retry can claim and queue the event.
// ErrClaimLost means it was no longer held (nothing was deleted).
func (s *Store) Release(ctx context.Context, c *Claim) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      eventKey(c.EventUUID),
		ConditionExpression:      aws.String("#owner = :owner AND #state = :claimed"),
		ExpressionAttributeNames: map[string]string{"#state": "state", "#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":claimed": &types.AttributeValueMemberS{Value: stateClaimed},
			":owner":   &types.AttributeValueMemberS{Value: c.owner},
		},
	})
	return claimError("release", c, err)
}

func claimError(op string, c *Claim, err error) error {
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("dedupe: %s event %s: %w", op, c.EventUUID, ErrClaimLost)
	}
	return fmt.Errorf("dedupe: %s event %s: %w", op, c.EventUUID, err)
}

// ConfirmAll confirms each claim; the errors of those that failed are
// joined.
func (s *Store) ConfirmAll(ctx context.Context, claims []*Claim) error {
	return s.each(ctx, claims, s.Confirm)
}

// ReleaseAll releases each claim; the errors of those that failed are
// joined.
func (s *Store) ReleaseAll(ctx context.Context, claims []*Claim) error {
	return s.each(ctx, claims, s.Release)
}

func (s *Store) each(ctx context.Context, claims []*Claim, op func(context.Context, *Claim) error) error {
	var (
		mu   sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(claimConcurrency)
	for _, c := range claims {
		g.Go(func() error {
			if err := op(ctx, c); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// Cursor is a stored position in a stream, with the version that guards
// its updates.
type Cursor struct {
	Name string
	// Next is the stored position (for the System Log: the next link);
	// "" when nothing is stored yet.
	Next string
	// Reached is how far the position has got in time (for the System
	// Log: the published time of the newest event handled); zero when
	// unknown, as for cursors saved before it was kept.
	Reached time.Time
	// Version counts the saves; 0 = never saved.
	Version   int64
	UpdatedAt time.Time
}

func cursorKey(name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: "cursor#" + name}}
}

// Cursor reads the named cursor (strongly consistent). A cursor never
// saved has Version 0 and an empty Next.
func (s *Store) Cursor(ctx context.Context, name string) (Cursor, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: cursorKey(name), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Cursor{}, fmt.Errorf("dedupe: read cursor %s: %w", name, err)
	}
	c := Cursor{Name: name}
	if out.Item == nil {
		return c, nil
	}
	c.Next = stringAttr(out.Item, "next")
	v, err := strconv.ParseInt(numberAttr(out.Item, "version"), 10, 64)
	if err != nil || v < 1 || c.Next == "" {
		return Cursor{}, fmt.Errorf("dedupe: cursor %s: stored item is malformed (want next and a positive version)", name)
	}
	c.Version = v
	c.UpdatedAt, _ = time.Parse(time.RFC3339Nano, stringAttr(out.Item, "updatedAt"))
	c.Reached, _ = time.Parse(time.RFC3339Nano, stringAttr(out.Item, "reached"))
	return c, nil
}

// SaveCursor replaces prev (as read by Cursor, or returned by the last
// SaveCursor) with next, reached so far in time (zero: unknown), only if
// nobody saved another value since: ErrCursorConflict otherwise. It
// returns the new cursor.
func (s *Store) SaveCursor(ctx context.Context, prev Cursor, next string, reached time.Time) (Cursor, error) {
	if next == "" {
		return Cursor{}, fmt.Errorf("dedupe: save cursor %s: empty position", prev.Name)
	}
	now := s.now()
	c := Cursor{Name: prev.Name, Next: next, Reached: reached, Version: prev.Version + 1, UpdatedAt: now}
	item := cursorKey(prev.Name)
	item["kind"] = &types.AttributeValueMemberS{Value: "cursor"}
	item["next"] = &types.AttributeValueMemberS{Value: next}
	item["version"] = number(c.Version)
	item["updatedAt"] = &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)}
	if !reached.IsZero() {
		item["reached"] = &types.AttributeValueMemberS{Value: reached.UTC().Format(time.RFC3339Nano)}
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}
	if prev.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": KeyAttribute}
	} else {
		in.ConditionExpression = aws.String("#version = :version AND #next = :next")
		in.ExpressionAttributeNames = map[string]string{"#version": "version", "#next": "next"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":version": number(prev.Version),
			":next":    &types.AttributeValueMemberS{Value: prev.Next},
		}
	}
	if _, err := s.api.PutItem(ctx, in); err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return Cursor{}, fmt.Errorf("dedupe: save cursor %s (version %d): %w", prev.Name, prev.Version, ErrCursorConflict)
		}
		return Cursor{}, fmt.Errorf("dedupe: save cursor %s: %w", prev.Name, err)
	}
	return c, nil
}

func number(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func numberAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}
