//go:build proof

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/okta-token-revoker/okta-token-revoker/cmd/runlocal/stack"
	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

// Fault injection settings: a share of Okta's answers are 5xx (some after
// the revocation took effect), 429 or never come, and every call is slow.
const (
	faultServerErrorRate = 0.2
	faultRateLimitRate   = 0.1
	faultHangRate        = 0.01
	faultLatency         = 20 * time.Millisecond
	// faultMaxHang outlasts the Okta client's 10 s per-attempt timeout, so
	// a hung call is abandoned by the client, not answered by the fake.
	faultMaxHang = 12 * time.Second
	// faultDrainLimit bounds the wait for every request to be revoked.
	faultDrainLimit = 100 * time.Second
)

// userEvents are the Okta event types that revoke all of a user's tokens
// by default.
var userEvents = []string{
	"user.lifecycle.suspend", "user.lifecycle.deactivate", "user.lifecycle.delete.initiated", "user.account.lock",
	"user.account.reset_password", "user.mfa.factor.reset_all", "user.session.clear",
}

// TestProofFaults sends a few hundred revocation requests through the hook
// (some deliveries twice, as Okta may), straight to the queue and through
// POST /revocations, to a stack whose Okta (authenticated as a service app)
// fails or stalls a third of its calls. Afterwards every requested
// revocation happened, no bystander token was touched, the queue and the
// dead-letter queue are empty, and no invocation crashed or timed out.
func TestProofFaults(t *testing.T) {
	seed := int64(8)
	if s := os.Getenv("PROOF_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("PROOF_SEED: %v", err)
		}
	}
	t.Logf("fault seed %d (set PROOF_SEED to replay another)", seed)
	window := time.Duration(0)
	p := startProofStack(t, "fault stack", stack.Options{
		OktaServiceApp: true,
		// Longer than a batch that meets a hung call (10 s) and its retry,
		// so a batch is not redelivered while it is still being worked on.
		VisibilityTimeout: 15 * time.Second,
		MaxReceiveCount:   10,
		BatchingWindow:    &window,
	})
	org := p.Okta
	rng := rand.New(rand.NewPCG(uint64(seed), 1))

	const appID = "0oafaultapp000000001"
	org.AddApp(appID, "", "Fault app")
	clients := []string{oktafake.DemoAppPortal, oktafake.DemoAppMobile, oktafake.DemoClientReports}

	// The expected end state, checked once everything is drained.
	var (
		revokedUsers  []string              // every token of the user revoked
		revokedClient = map[string]string{} // user -> the client whose tokens are revoked
		revokedTokens []string              // single tokens revoked
		untouched     []string              // tokens that must stay active
	)
	bystander := func() {
		_, tokens := newUserIn(t, org, clients[rng.IntN(len(clients))], appID)
		for _, ids := range tokens {
			untouched = append(untouched, ids...)
		}
	}
	for range 30 {
		bystander()
	}

	// Requests for the queue and for POST /revocations, in four scopes.
	newRequest := func() map[string]string {
		switch n := rng.IntN(10); {
		case n < 5: // all of a user's tokens
			user, _ := newUserIn(t, org, clients[0], clients[1+rng.IntN(2)])
			revokedUsers = append(revokedUsers, user)
			return map[string]string{"userId": user}
		case n < 7: // one client of a user; the other client's token stays
			user, tokens := newUserIn(t, org, clients[0], clients[1])
			revokedClient[user] = clients[0]
			untouched = append(untouched, tokens[clients[1]]...)
			return map[string]string{"userId": user, "clientId": clients[0]}
		case n < 9: // one token of a user; the sibling token stays
			user, tokens := newUserIn(t, org, clients[2], clients[2])
			revokedTokens = append(revokedTokens, tokens[clients[2]][0])
			untouched = append(untouched, tokens[clients[2]][1])
			return map[string]string{"userId": user, "clientId": clients[2], "tokenId": tokens[clients[2]][0]}
		default: // one token of an app
			_, tokens := newUserIn(t, org, appID)
			revokedTokens = append(revokedTokens, tokens[appID][0])
			return map[string]string{"appId": appID, "tokenId": tokens[appID][0]}
		}
	}
	var queued, posted [][]map[string]string
	for range 80 {
		queued = append(queued, []map[string]string{newRequest()})
	}
	for remaining := 80; remaining > 0; {
		n := min(remaining, 1+rng.IntN(8))
		var batch []map[string]string
		for range n {
			batch = append(batch, newRequest())
		}
		posted = append(posted, batch)
		remaining -= n
	}
	// Hook deliveries of 1 to 5 user events; a quarter are delivered twice.
	var deliveries [][]byte
	for remaining := 120; remaining > 0; {
		n := min(remaining, 1+rng.IntN(5))
		var users []string
		for range n {
			user, _ := newUserIn(t, org, clients[rng.IntN(len(clients))], clients[rng.IntN(len(clients))])
			users = append(users, user)
		}
		revokedUsers = append(revokedUsers, users...)
		body := oktaDelivery(p.OktaOrgURL, uuid.NewString(), userEvents[rng.IntN(len(userEvents))], users...)
		deliveries = append(deliveries, body)
		if rng.IntN(4) == 0 {
			deliveries = append(deliveries, body)
		}
		remaining -= n
	}
	rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	t.Logf("%d deliveries (%d users), %d queued and %d posted requests (%d calls); %d users revoked entirely, %d one client, %d single tokens; %d tokens must stay",
		len(deliveries), 120, len(queued), 80, len(posted), len(revokedUsers), len(revokedClient), len(revokedTokens), len(untouched))

	// Faults start now: the org is seeded, the functions not yet called.
	org.SetFaults(oktafake.Faults{
		ServerErrorRate:        faultServerErrorRate,
		RateLimitRate:          faultRateLimitRate,
		HangRate:               faultHangRate,
		MaxHang:                faultMaxHang,
		Latency:                faultLatency,
		Seed:                   seed,
		ServerErrorAfterCommit: true,
	})
	org.ResetRequests()

	// Send everything at once, from several producers.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	const producers = 6
	for w := range producers {
		wg.Go(func() {
			for i := w; i < len(deliveries); i += producers {
				// Okta retries a delivery once after a 5xx or a timeout.
				r, err := send(p.URL, p.out, http.MethodPost, p.HookPath, deliveries[i], p.hookHeaders())
				if err != nil || r.Status >= 500 {
					r, err = send(p.URL, p.out, http.MethodPost, p.HookPath, deliveries[i], p.hookHeaders())
				}
				if err != nil || r.Status != http.StatusOK {
					fail("hook delivery %d: %s %v, want 200", i, r, err)
				}
			}
			for i := w; i < len(queued); i += producers {
				b, _ := json.Marshal(queued[i][0])
				if _, err := p.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{
					QueueUrl: aws.String(p.RevocationQueue.URL), MessageBody: aws.String(string(b)),
				}); err != nil {
					fail("send message %d: %v", i, err)
				}
			}
			for i := w; i < len(posted); i += producers {
				b, _ := json.Marshal(posted[i])
				r, err := send(p.URL, p.out, http.MethodPost, "/revocations", b, map[string]string{"Content-Type": "application/json"})
				if err != nil || r.Status != http.StatusAccepted {
					fail("POST /revocations %d: %s %v, want 202", i, r, err)
				}
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}

	start := time.Now()
	done := func() bool {
		for _, u := range revokedUsers {
			if len(org.ActiveTokens(u, "")) != 0 {
				return false
			}
		}
		for u, c := range revokedClient {
			if len(org.ActiveTokens(u, c)) != 0 {
				return false
			}
		}
		for _, id := range revokedTokens {
			if info, ok := org.Token(id); !ok || info.Status == oktafake.StatusActive {
				return false
			}
		}
		return p.queueDepth(t) == 0
	}
	eventuallyWithin(t, faultDrainLimit, "every requested revocation and an empty queue", done)
	t.Logf("drained %s after the last request was sent: %d SQS batches, %d messages left for redelivery",
		time.Since(start).Round(100*time.Millisecond), p.batches.Load(), p.retried.Load())

	for _, id := range untouched {
		if info, ok := org.Token(id); !ok || info.Status != oktafake.StatusActive {
			t.Errorf("bystander token %s of user %s was revoked", id, info.UserID)
		}
	}
	if n := p.dlqDepth(t); n != 0 {
		t.Errorf("the dead-letter queue holds %d messages", n)
	}
	st := org.Stats()
	t.Logf("Okta: %d calls, %d answered 5xx, %d 429, faults %v, at most %d in flight, by status %v",
		st.Requests, st.ServerError, st.RateLimited, st.Faults, st.MaxInFlight, st.ByStatus)
	for _, kind := range []string{oktafake.FaultServerError, oktafake.FaultRateLimit, oktafake.FaultHang} {
		if st.Faults[kind] == 0 {
			t.Errorf("no %s fault was injected: the suite proved less than it claims", kind)
		}
	}
	if share := float64(st.Faults[oktafake.FaultServerError]) / float64(st.Requests); share < 0.1 {
		t.Errorf("only %.0f%% of Okta calls failed with 5xx, want about %.0f%%", 100*share, 100*faultServerErrorRate)
	}
	checkOktaPaths(t, org, 0)
	p.checkFunctions(t)
}
