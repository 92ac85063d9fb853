package drain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/bench/sdkbaseline"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

func TestSteadyShare(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	w := func(start, end float64, used, rejected int) oktafake.RateLimitWindow {
		return oktafake.RateLimitWindow{Start: sec(start), End: sec(end), Limit: 60, Used: used, Rejected: rejected}
	}
	for _, tt := range []struct {
		name    string
		ws      []oktafake.RateLimitWindow
		want    Share
		epsilon float64
	}{
		{"too few windows", []oktafake.RateLimitWindow{w(0, 2, 60, 0), w(2, 4, 10, 0)}, Share{}, 0},
		{
			"back to back, full",
			[]oktafake.RateLimitWindow{w(0, 2, 60, 5), w(2, 4, 60, 3), w(4, 6, 60, 0), w(6, 8, 12, 7)},
			Share{Windows: 2, Used: 120, Rejected: 3, Fill: 1, Share: 1}, 0,
		},
		{
			"half full",
			[]oktafake.RateLimitWindow{w(0, 2, 60, 0), w(2, 4, 30, 0), w(4, 6, 30, 0), w(6, 8, 1, 0)},
			Share{Windows: 2, Used: 60, Fill: 0.5, Share: 0.5}, 0,
		},
		{
			// A client that waits a second after each reset: full windows,
			// yet a third of the time nobody calls.
			"full, one idle second before each 2 s window",
			[]oktafake.RateLimitWindow{w(0, 2, 60, 0), w(3, 5, 60, 0), w(6, 8, 60, 0), w(9, 11, 5, 0)},
			Share{Windows: 2, Used: 120, Fill: 1, Idle: 2 * time.Second, Share: 2.0 / 3}, 1e-9,
		},
		{
			"first and last windows do not count",
			[]oktafake.RateLimitWindow{w(0, 2, 0, 0), w(2, 4, 60, 0), w(4, 6, 0, 0)},
			Share{Windows: 1, Used: 60, Fill: 1, Share: 1}, 0,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := SteadyShare(tt.ws)
			if got.Windows != tt.want.Windows || got.Used != tt.want.Used || got.Rejected != tt.want.Rejected || got.Idle != tt.want.Idle ||
				math.Abs(got.Fill-tt.want.Fill) > tt.epsilon || math.Abs(got.Share-tt.want.Share) > tt.epsilon {
				t.Errorf("SteadyShare = %+v, want %+v", got, tt.want)
			}
		})
	}
}

const token = "00Drain-Test-Token"

func seededOrg(t *testing.T, users int) (*oktafake.Server, []string) {
	org := oktafake.NewTest(t, oktafake.WithAPIToken(token), oktafake.WithBucketRateLimit(oktafake.BucketOther, 1000, time.Second))
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("00udrain%012d", i)
		org.AddToken(ids[i], "0oadrainclient")
	}
	return org, ids
}

func baseline(org *oktafake.Server, apiToken string) func() (revocation.OktaAPI, error) {
	return func() (revocation.OktaAPI, error) {
		return sdkbaseline.New(sdkbaseline.Config{OrgURL: org.URL, APIToken: apiToken, MaxRetries: 5})
	}
}

func TestRunRevokesEverything(t *testing.T) {
	org, users := seededOrg(t, 30)
	res, err := Run(context.Background(), Config{
		Org: org, Bucket: oktafake.BucketOther, Users: users, Environments: 3, NewClient: baseline(org, token),
	})
	if err != nil {
		t.Fatal(err)
	}
	// One GET of the clients and one DELETE per user.
	if res.Revocations != 30 || res.Calls != 60 || res.RateLimited != 0 || res.Redelivered != 0 {
		t.Errorf("result %+v, want 30 revocations in 60 calls, none limited or redelivered", res)
	}
}

// flaky fails every user's first revocation with a rate-limit error, then
// passes to the real client.
type flaky struct {
	revocation.OktaAPI
	mu   sync.Mutex
	seen map[string]bool
}

func (f *flaky) UserClientIDs(ctx context.Context, userID string) ([]string, error) {
	f.mu.Lock()
	first := !f.seen[userID]
	f.seen[userID] = true
	f.mu.Unlock()
	if first {
		return nil, &okta.Error{StatusCode: 429, Method: "GET", Path: "/api/v1/users/" + userID + "/clients"}
	}
	return f.OktaAPI.UserClientIDs(ctx, userID)
}

func TestRunRedeliversFailures(t *testing.T) {
	org, users := seededOrg(t, 10)
	// One environment, so the one flaky client sees every user.
	real, err := baseline(org, token)()
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{OktaAPI: real, seen: map[string]bool{}}
	res, err := Run(context.Background(), Config{
		Org: org, Bucket: oktafake.BucketOther, Users: users, Environments: 1,
		NewClient: func() (revocation.OktaAPI, error) { return f, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Redelivered != 10 {
		t.Errorf("%d redelivered, want 10", res.Redelivered)
	}
}

func TestRunFails(t *testing.T) {
	org, users := seededOrg(t, 5)
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"wrong credentials stop the drain", Config{Environments: 2, NewClient: baseline(org, "wrong")}, "401"},
		{"no environments", Config{NewClient: baseline(org, token)}, "required"},
		{"client cannot be built", Config{Environments: 1, NewClient: func() (revocation.OktaAPI, error) { return nil, errors.New("boom") }}, "boom"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Org, tt.cfg.Bucket, tt.cfg.Users = org, oktafake.BucketOther, users
			org.SetBucketRateLimit(oktafake.BucketOther, 1000, time.Second)
			_, err := Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("bucket without a limit", func(t *testing.T) {
		org.SetBucketRateLimit(oktafake.BucketOther, 0, 0)
		_, err := Run(context.Background(), Config{Org: org, Bucket: oktafake.BucketOther, Users: users, Environments: 1, NewClient: baseline(org, token)})
		if err == nil || !strings.Contains(err.Error(), "no rate limit") {
			t.Errorf("Run: %v, want a no rate limit error", err)
		}
	})
}
