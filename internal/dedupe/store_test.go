package dedupe_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe/dedupetest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/fakeclock"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

var motoSrv *moto.Server

func TestMain(m *testing.M) { moto.Main(m, &motoSrv) }

var tableSeq atomic.Int64

// newTable creates a fresh table on the shared moto_server.
func newTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	name := fmt.Sprintf("dedupe-%d", tableSeq.Add(1))
	return dedupetest.CreateTable(t, motoSrv.AWSConfig(), name), name
}

// newClock returns a settable time source.
func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)) }

func TestClaimLifecycle(t *testing.T) {
	api, table := newTable(t)
	clk := newClock()
	s := dedupe.New(api, table, dedupe.WithClock(clk.Now), dedupe.WithLease(time.Minute), dedupe.WithTTL(time.Hour))
	ctx := context.Background()
	const ev = "3f9a2b1c-f7e0-11f0-9c1d-5b1e2f3a4c5d"

	type step struct {
		name   string
		do     func() dedupe.Result
		status dedupe.Status
		holder string
	}
	var first, second dedupe.Result
	steps := []step{
		{"first claim wins", func() dedupe.Result { first = s.Claim(ctx, ev, "hook"); return first }, dedupe.Claimed, ""},
		{"a second claim while held", func() dedupe.Result { return s.Claim(ctx, ev, "reconciler") }, dedupe.InProgress, "hook"},
		{"after a release it is free again", func() dedupe.Result {
			if err := s.Release(ctx, first.Claim); err != nil {
				t.Fatal(err)
			}
			second = s.Claim(ctx, ev, "reconciler")
			return second
		}, dedupe.Claimed, ""},
		{"the old claim cannot release the new one", func() dedupe.Result {
			if err := s.Release(ctx, first.Claim); !errors.Is(err, dedupe.ErrClaimLost) {
				t.Fatalf("releasing a released claim: %v, want ErrClaimLost", err)
			}
			return s.Claim(ctx, ev, "hook")
		}, dedupe.InProgress, "reconciler"},
		{"confirmed: queued for everyone", func() dedupe.Result {
			if err := s.Confirm(ctx, second.Claim); err != nil {
				t.Fatal(err)
			}
			return s.Claim(ctx, ev, "hook")
		}, dedupe.AlreadyQueued, "reconciler"},
		{"a queued event outlives the lease", func() dedupe.Result {
			clk.Advance(30 * time.Minute)
			return s.Claim(ctx, ev, "hook")
		}, dedupe.AlreadyQueued, "reconciler"},
		{"past the TTL it may be queued again", func() dedupe.Result {
			clk.Advance(time.Hour)
			return s.Claim(ctx, ev, "hook")
		}, dedupe.Claimed, ""},
	}
	for _, st := range steps {
		r := st.do()
		if r.Err != nil || r.Status != st.status || r.Holder != st.holder {
			t.Fatalf("%s: got %v (holder %q, err %v), want %v (holder %q)", st.name, r.Status, r.Holder, r.Err, st.status, st.holder)
		}
		if (r.Claim != nil) != (r.Status == dedupe.Claimed) {
			t.Fatalf("%s: Claim %v with status %v", st.name, r.Claim, r.Status)
		}
	}
}

func TestAbandonedClaimExpiresWithItsLease(t *testing.T) {
	api, table := newTable(t)
	clk := newClock()
	s := dedupe.New(api, table, dedupe.WithClock(clk.Now), dedupe.WithLease(time.Minute))
	ctx := context.Background()
	dead := s.Claim(ctx, "ev-1", "hook") // its holder dies
	clk.Advance(59 * time.Second)
	if r := s.Claim(ctx, "ev-1", "reconciler"); r.Status != dedupe.InProgress {
		t.Fatalf("within the lease: %v %v, want in progress", r.Status, r.Err)
	}
	clk.Advance(2 * time.Second)
	taken := s.Claim(ctx, "ev-1", "reconciler")
	if taken.Status != dedupe.Claimed {
		t.Fatalf("after the lease: %v %v, want claimed", taken.Status, taken.Err)
	}
	// The late holder learns it lost the claim, and cannot undo the new one.
	if err := s.Confirm(ctx, dead.Claim); !errors.Is(err, dedupe.ErrClaimLost) {
		t.Fatalf("late confirm: %v, want ErrClaimLost", err)
	}
	if err := s.Release(ctx, dead.Claim); !errors.Is(err, dedupe.ErrClaimLost) {
		t.Fatalf("late release: %v, want ErrClaimLost", err)
	}
	if err := s.Confirm(ctx, taken.Claim); err != nil {
		t.Fatal(err)
	}
	if r := s.Claim(ctx, "ev-1", "hook"); r.Status != dedupe.AlreadyQueued {
		t.Fatalf("after the takeover: %v, want already queued", r.Status)
	}
}

func TestConcurrentClaimsHaveOneWinner(t *testing.T) {
	api, table := newTable(t)
	s := dedupe.New(api, table)
	ctx := context.Background()
	const n = 16
	results := make([]dedupe.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.Claim(ctx, "contended", fmt.Sprintf("producer-%d", i))
		}()
	}
	wg.Wait()
	won := 0
	for _, r := range results {
		switch {
		case r.Err != nil:
			t.Fatal(r.Err)
		case r.Status == dedupe.Claimed:
			won++
		case r.Status != dedupe.InProgress:
			t.Fatalf("status %v", r.Status)
		}
	}
	if won != 1 {
		t.Fatalf("%d winners, want exactly 1", won)
	}
}

func TestClaimAll(t *testing.T) {
	api, table := newTable(t)
	s := dedupe.New(api, table)
	ctx := context.Background()
	held := s.Claim(ctx, "b", "other")
	if err := s.Confirm(ctx, s.Claim(ctx, "c", "other").Claim); err != nil {
		t.Fatal(err)
	}
	results := s.ClaimAll(ctx, "me", []string{"a", "b", "a", "c", "", "d"})
	type got struct {
		uuid   string
		status dedupe.Status
		err    bool
	}
	want := []got{{"a", dedupe.Claimed, false}, {"b", dedupe.InProgress, false}, {"c", dedupe.AlreadyQueued, false}, {"", 0, true}, {"d", dedupe.Claimed, false}}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d (one per distinct uuid): %+v", len(results), len(want), results)
	}
	for i, r := range results {
		if g := (got{r.EventUUID, r.Status, r.Err != nil}); g != want[i] {
			t.Errorf("result %d = %+v, want %+v", i, g, want[i])
		}
	}
	if held.Status != dedupe.Claimed {
		t.Fatal("setup")
	}
}

func TestCursor(t *testing.T) {
	api, table := newTable(t)
	clk := newClock()
	s := dedupe.New(api, table, dedupe.WithClock(clk.Now))
	ctx := context.Background()

	c0, err := s.Cursor(ctx, "system-log")
	if err != nil || c0.Version != 0 || c0.Next != "" {
		t.Fatalf("missing cursor: %+v %v, want version 0", c0, err)
	}
	c1, err := s.SaveCursor(ctx, c0, "https://acme.okta.com/api/v1/logs?after=1", time.Time{})
	if err != nil || c1.Version != 1 {
		t.Fatalf("first save: %+v %v", c1, err)
	}
	if _, err := s.SaveCursor(ctx, c0, "https://acme.okta.com/api/v1/logs?after=x", time.Time{}); !errors.Is(err, dedupe.ErrCursorConflict) {
		t.Fatalf("second first save: %v, want ErrCursorConflict", err)
	}
	clk.Advance(time.Minute)
	reached := time.Date(2026, 3, 2, 11, 59, 30, 123000000, time.UTC)
	c2, err := s.SaveCursor(ctx, c1, "https://acme.okta.com/api/v1/logs?after=2", reached)
	if err != nil || c2.Version != 2 {
		t.Fatalf("second save: %+v %v", c2, err)
	}
	if _, err := s.SaveCursor(ctx, c1, "https://acme.okta.com/api/v1/logs?after=3", time.Time{}); !errors.Is(err, dedupe.ErrCursorConflict) {
		t.Fatalf("save from a stale cursor: %v, want ErrCursorConflict", err)
	}
	read, err := s.Cursor(ctx, "system-log")
	if err != nil || read.Next != c2.Next || read.Version != 2 || !read.UpdatedAt.Equal(clk.Now()) || !read.Reached.Equal(reached) || !c2.Reached.Equal(reached) {
		t.Fatalf("read back %+v %v, want %+v", read, err, c2)
	}
	if !c1.Reached.IsZero() {
		t.Errorf("a cursor saved without a time reached has Reached %v", c1.Reached)
	}
	if other, err := s.Cursor(ctx, "other"); err != nil || other.Version != 0 {
		t.Fatalf("cursors are named: %+v %v", other, err)
	}
	if _, err := s.SaveCursor(ctx, read, "", time.Time{}); err == nil {
		t.Fatal("saved an empty position")
	}

	// Concurrent runs advancing from the same cursor: one wins.
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.SaveCursor(ctx, read, fmt.Sprintf("https://acme.okta.com/api/v1/logs?after=run%d", i), time.Time{})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, dedupe.ErrCursorConflict):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent saves won, want 1", wins.Load())
	}
}

func TestMalformedCursorItem(t *testing.T) {
	api, table := newTable(t)
	s := dedupe.New(api, table)
	_, err := api.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			dedupe.KeyAttribute: &types.AttributeValueMemberS{Value: "cursor#system-log"},
			"next":              &types.AttributeValueMemberS{Value: "https://acme.okta.com/api/v1/logs"},
			"version":           &types.AttributeValueMemberS{Value: "one"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Cursor(context.Background(), "system-log"); err == nil {
		t.Fatalf("read a malformed cursor as %+v", c)
	}
}

// failingAPI fails every call, like an unreachable or throttled table.
type failingAPI struct{ err error }

func (f failingAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, f.err
}
func (f failingAPI) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, f.err
}
func (f failingAPI) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, f.err
}
func (f failingAPI) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, f.err
}

func TestTableErrorsAreNotConflicts(t *testing.T) {
	boom := errors.New("ProvisionedThroughputExceededException")
	s := dedupe.New(failingAPI{boom}, "t")
	ctx := context.Background()
	if r := s.Claim(ctx, "ev", "hook"); !errors.Is(r.Err, boom) || r.Status != 0 {
		t.Errorf("claim: %+v, want the table's error", r)
	}
	c := &dedupe.Claim{EventUUID: "ev"}
	if err := s.Confirm(ctx, c); !errors.Is(err, boom) || errors.Is(err, dedupe.ErrClaimLost) {
		t.Errorf("confirm: %v", err)
	}
	if err := s.Release(ctx, c); !errors.Is(err, boom) || errors.Is(err, dedupe.ErrClaimLost) {
		t.Errorf("release: %v", err)
	}
	if _, err := s.Cursor(ctx, "x"); !errors.Is(err, boom) {
		t.Errorf("cursor: %v", err)
	}
	if _, err := s.SaveCursor(ctx, dedupe.Cursor{Name: "x"}, "n", time.Time{}); !errors.Is(err, boom) || errors.Is(err, dedupe.ErrCursorConflict) {
		t.Errorf("save cursor: %v", err)
	}
}

// racingAPI is the real table with another producer racing each claim: a
// conditional put that fails hides the old item (as implementations that
// do not return it do) and the holder releases its record before it is
// read back. With flapping, the holder claims it again right after the
// read, every time.
type racingAPI struct {
	*dynamodb.Client
	races    int // failed puts to race; -1: every one
	flapping bool
	held     map[string]types.AttributeValue
}

func (r *racingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := r.Client.PutItem(ctx, in, opts...)
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || r.races == 0 {
		return out, err
	}
	r.races--
	ccf.Item = nil
	got, gerr := r.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: in.TableName, Key: map[string]types.AttributeValue{dedupe.KeyAttribute: in.Item[dedupe.KeyAttribute]}})
	if gerr != nil {
		return nil, gerr
	}
	r.held = got.Item
	if _, derr := r.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: in.TableName, Key: map[string]types.AttributeValue{dedupe.KeyAttribute: in.Item[dedupe.KeyAttribute]}}); derr != nil {
		return nil, derr
	}
	return out, err
}

func (r *racingAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := r.Client.GetItem(ctx, in, opts...)
	if err == nil && r.flapping && r.held != nil {
		if _, perr := r.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: in.TableName, Item: r.held}); perr != nil {
			return nil, perr
		}
	}
	return out, err
}

func TestClaimWhileTheHolderReleases(t *testing.T) {
	const ev = "7c1d2e3f-f7e0-11f0-9c1d-5b1e2f3a4c5d"
	ctx := context.Background()
	tests := []struct {
		name     string
		races    int
		flapping bool
		want     dedupe.Status
		wantErr  bool
	}{
		// The record vanished between the put and the read: claim again.
		{name: "released in between", races: 1, want: dedupe.Claimed},
		// It keeps coming back: give up with an error so the caller
		// queues the event anyway, never "in progress" for nobody.
		{name: "keeps changing", races: -1, flapping: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, table := newTable(t)
			holder := dedupe.New(client, table)
			if r := holder.Claim(ctx, ev, "reconciler"); r.Status != dedupe.Claimed {
				t.Fatalf("holder's claim: %+v", r)
			}
			api := &racingAPI{Client: client, races: tt.races, flapping: tt.flapping}
			r := dedupe.New(api, table).Claim(ctx, ev, "hook")
			if tt.wantErr {
				if r.Err == nil {
					t.Fatalf("claim = %+v, want an error", r)
				}
				return
			}
			if r.Err != nil || r.Status != tt.want || r.Claim == nil {
				t.Fatalf("claim = %+v, want %v", r, tt.want)
			}
		})
	}
}
